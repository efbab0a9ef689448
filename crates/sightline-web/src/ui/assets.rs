//! The stylesheet and the one small script, compiled into the binary so the
//! Content Security Policy can stay `'self'` with no inline code.

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};

use crate::error::{ApiError, ApiResult};
use crate::extract::PathName;

const ASSETS: &[(&str, &str, &str)] = &[
    (
        "app.css",
        "text/css; charset=utf-8",
        include_str!("../../static/app.css"),
    ),
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_str!("../../static/app.js"),
    ),
];

pub async fn serve(PathName(name): PathName) -> ApiResult<Response> {
    let (_, content_type, body) = ASSETS.iter().find(|(n, _, _)| *n == name).ok_or_else(|| {
        ApiError::NotFound(format!("no asset {name:?}: expected app.css or app.js"))
    })?;
    Ok((
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=3600"),
            ),
        ],
        *body,
    )
        .into_response())
}
