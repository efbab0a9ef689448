//! The web UI: server-rendered pages (askama templates under `templates/`,
//! checked at compile time) and the assets the binary serves itself. Every
//! page is a route of the permission table, so it goes through the same
//! authentication, roles, CSRF, isolation and audit as the JSON API.
//! Forms carry the CSRF token as a `csrf_token` field (`layers::authorize`
//! moves it to the header the session check reads).

pub mod accounts;
pub mod ask;
pub mod assets;
pub mod audit;
pub mod chart;
pub mod compliance;
pub mod console;
pub mod explorer;
pub mod findings;
pub mod keys;
pub mod login;
pub mod markdown;
pub mod members;
pub mod overview;
pub mod qr;
pub mod scans;
pub mod settings;

use askama::Template;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use sightline_core::roles::Role;

use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};

/// The form field that carries the CSRF token.
pub const CSRF_FIELD: &str = "csrf_token";

/// What every page's frame shows: who is signed in, what they may reach,
/// and the CSRF token its forms carry.
#[derive(Debug, Clone)]
pub struct Nav {
    pub actor: String,
    pub role: Role,
    pub csrf: String,
    /// The section the page belongs to, for the highlighted tab.
    pub active: &'static str,
    /// Signed in locally (a session): password, two-factor and sessions are theirs to manage.
    pub local: bool,
}

impl Nav {
    pub fn operator(&self) -> bool {
        self.role >= Role::Operator
    }
    pub fn admin(&self) -> bool {
        self.role >= Role::Admin
    }
    pub fn owner(&self) -> bool {
        self.role >= Role::Owner
    }
    pub fn tab(&self, name: &str) -> &'static str {
        if self.active == name {
            "active"
        } else {
            ""
        }
    }
}

/// The signed-in principal of a page request and its CSRF token.
pub struct PageCtx {
    pub principal: Principal,
    pub csrf: String,
}

impl PageCtx {
    pub fn nav(&self, active: &'static str) -> Nav {
        Nav {
            actor: self.principal.actor.clone(),
            role: self.principal.role,
            csrf: self.csrf.clone(),
            active,
            local: self.principal.kind == crate::auth::PrincipalKind::Session,
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for PageCtx {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let principal = Principal::from_request_parts(parts, state).await?;
        // The token `authenticate` checked or minted for this principal.
        let csrf = principal.csrf.clone().unwrap_or_default();
        Ok(PageCtx { principal, csrf })
    }
}

/// Render a template as a page.
pub fn page(template: &impl Template) -> ApiResult<Response> {
    template
        .render()
        .map(|html| Html(html).into_response())
        .map_err(|e| ApiError::Internal(format!("template: {e}")))
}

/// After a form: back to a page (303, so the browser GETs it).
pub fn see_other(to: &str) -> Response {
    Redirect::to(to).into_response()
}

/// A URL-encoded form body, its type refusing unknown fields (apart from the CSRF token).
pub struct Form<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> axum::extract::FromRequest<S> for Form<T> {
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        let pairs = FormPairs::from_request(req, state).await?.0;
        let kept: Vec<(String, String)> =
            pairs.into_iter().filter(|(k, _)| k != CSRF_FIELD).collect();
        let encoded = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(kept)
            .finish();
        serde_urlencoded_from_str(&encoded).map(Form)
    }
}

fn serde_urlencoded_from_str<T: DeserializeOwned>(encoded: &str) -> Result<T, ApiError> {
    axum::extract::Query::<T>::try_from_uri(
        &format!("/?{encoded}")
            .parse()
            .map_err(|_| ApiError::BadRequest("the form is not valid URL encoding".into()))?,
    )
    .map(|q| q.0)
    .map_err(|e| ApiError::BadRequest(format!("invalid form: {}", e.body_text())))
}

/// Every field of a URL-encoded form, repeated names included (bulk selections).
pub struct FormPairs(pub Vec<(String, String)>);

impl<S: Send + Sync> axum::extract::FromRequest<S> for FormPairs {
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        let content_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        if !content_type
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        {
            return Err(ApiError::UnsupportedMediaType(format!(
                "expected Content-Type: application/x-www-form-urlencoded, found {content_type:?}"
            )));
        }
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|e| ApiError::BadRequest(format!("cannot read the form: {e}")))?;
        Ok(FormPairs(
            form_urlencoded::parse(&bytes)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        ))
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    status: u16,
    reason: &'a str,
    message: &'a str,
    signed_in: bool,
}

/// Turn a JSON error of a page route into an HTML page with the same
/// status; a user who must replace a one-time password is sent to do so.
pub async fn html_error(response: Response) -> Response {
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !(status.is_client_error() || status.is_server_error()) || !is_json {
        return response;
    }
    let allow = response.headers().get(header::ALLOW).cloned();
    let retry_after = response.headers().get(header::RETRY_AFTER).cloned();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap_or_default();
    let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
    let code = body["error"].as_str().unwrap_or("error");
    if code == "password_change_required" {
        return see_other("/password");
    }
    if code == "mfa_enrolment_required" {
        return see_other("/settings/two-factor");
    }
    let message = body["message"].as_str().unwrap_or("something went wrong");
    let html = ErrorPage {
        status: status.as_u16(),
        reason: status.canonical_reason().unwrap_or("Error"),
        message,
        signed_in: status != StatusCode::UNAUTHORIZED,
    }
    .render()
    .unwrap_or_else(|_| message.to_owned());
    let mut out = (status, Html(html)).into_response();
    if let Some(allow) = allow {
        out.headers_mut().insert(header::ALLOW, allow);
    }
    if let Some(retry_after) = retry_after {
        out.headers_mut().insert(header::RETRY_AFTER, retry_after);
    }
    out
}

/// A file download.
pub fn download(content_type: &'static str, file_name: &str, body: String) -> Response {
    let disposition = format!(
        "attachment; filename=\"{}\"",
        file_name.replace(
            |c: char| !(c.is_ascii_alphanumeric() || "-_.".contains(c)),
            "_"
        )
    );
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (
                header::CONTENT_DISPOSITION,
                HeaderValue::from_str(&disposition)
                    .unwrap_or(HeaderValue::from_static("attachment")),
            ),
        ],
        body,
    )
        .into_response()
}

/// `2026-11-24 18:02 UTC`.
pub fn when(t: &DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

pub fn when_opt(t: &Option<DateTime<Utc>>) -> String {
    t.as_ref().map(when).unwrap_or_else(|| "—".into())
}

/// `1,234,567`.
pub fn thousands(n: i64) -> String {
    let digits = n.abs().to_string();
    let mut grouped = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(c);
    }
    if n < 0 {
        grouped.insert(0, '-');
    }
    grouped
}

/// `$1,234.50`.
pub fn dollars(amount: f64) -> String {
    let cents = (amount * 100.0).round() as i64;
    format!("${}.{:02}", thousands(cents / 100), (cents % 100).abs())
}

/// Tags as `key=value` pairs, sorted.
pub fn tag_list(tags: &serde_json::Value) -> Vec<String> {
    tags.as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or(&v.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

/// A query string from pairs, skipping empty values.
pub fn query_string(pairs: &[(&str, &str)]) -> String {
    let kept: Vec<_> = pairs.iter().filter(|(_, v)| !v.is_empty()).collect();
    if kept.is_empty() {
        return String::new();
    }
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in kept {
        s.append_pair(k, v);
    }
    format!("?{}", s.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_is_grouped_and_rounded() {
        assert_eq!(dollars(0.0), "$0.00");
        assert_eq!(dollars(1234.506), "$1,234.51");
        assert_eq!(dollars(1_000_000.0), "$1,000,000.00");
        assert_eq!(dollars(99.9), "$99.90");
        assert_eq!(thousands(20_000), "20,000");
        assert_eq!(thousands(-1_234_567), "-1,234,567");
    }
}
