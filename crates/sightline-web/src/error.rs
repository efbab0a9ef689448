//! The one HTTP error type. Every failure becomes a status and a JSON body
//! `{"error": code, "message": text}` that says what was expected and what
//! was found; internal errors are logged and shown only as "internal error".

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use sightline_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Malformed input: bad JSON, an unknown field, a value out of range.
    #[error("{0}")]
    BadRequest(String),
    #[error("{1}")]
    Unauthenticated(&'static str, String),
    #[error("{1}")]
    Forbidden(&'static str, String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    MethodNotAllowed(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    /// Over a rate limit: `retry_after` whole seconds until the next request
    /// could be served, sent as `Retry-After`.
    #[error("too many requests: {message}")]
    RateLimited { message: String, retry_after: u32 },
    #[error("the database is unavailable")]
    Unavailable,
    /// A feature this server was started without.
    #[error("{0}")]
    Off(String),
    #[error("internal error")]
    Internal(String),
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    message: String,
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthenticated(..) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(..) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable | ApiError::Off(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest(_) => "bad_request",
            ApiError::Unauthenticated(code, _) | ApiError::Forbidden(code, _) => code,
            ApiError::NotFound(_) => "not_found",
            ApiError::Conflict(_) => "conflict",
            ApiError::MethodNotAllowed(_) => "method_not_allowed",
            ApiError::UnsupportedMediaType(_) => "unsupported_media_type",
            ApiError::PayloadTooLarge(_) => "payload_too_large",
            ApiError::RateLimited { .. } => "rate_limited",
            ApiError::Unavailable => "unavailable",
            ApiError::Off(_) => "off",
            ApiError::Internal(_) => "internal",
        }
    }

    pub fn unauthenticated(message: impl Into<String>) -> Self {
        ApiError::Unauthenticated("unauthenticated", message.into())
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        ApiError::Forbidden("forbidden", message.into())
    }

    /// Refused for now; the client may ask again in `retry_after` seconds
    /// (at least one).
    pub fn rate_limited(message: impl Into<String>, retry_after: u32) -> Self {
        ApiError::RateLimited {
            message: message.into(),
            retry_after: retry_after.max(1),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Internal(detail) = &self {
            tracing::error!(detail = %detail, "internal error");
        }
        let body = ErrorBody {
            error: self.code(),
            message: self.to_string(),
        };
        let mut response = (self.status(), Json(body)).into_response();
        if let ApiError::RateLimited { retry_after, .. } = self {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound { what, id } => ApiError::NotFound(format!("no {what} {id}")),
            StoreError::Conflict { detail, .. } => ApiError::Conflict(detail),
            StoreError::DuplicateAccount { .. } | StoreError::DuplicateWorkspace { .. } => {
                ApiError::Conflict(e.to_string())
            }
            StoreError::InvalidAccountId { .. }
            | StoreError::InvalidRoleArn { .. }
            | StoreError::RoleAccountMismatch { .. }
            | StoreError::InvalidSchedule { .. }
            | StoreError::InvalidRegion { .. }
            | StoreError::InvalidWorkspace { .. }
            | StoreError::InvalidInput { .. }
            | StoreError::ConsoleRefused(_)
            | StoreError::ConsoleFailed { .. } => ApiError::BadRequest(e.to_string()),
            StoreError::EvidenceChanged { .. } => ApiError::Conflict(e.to_string()),
            StoreError::StaleKek { .. } => ApiError::Off(e.to_string()),
            e if e.is_connection() => ApiError::Unavailable,
            // Class 22, data exceptions: a value the caller sent that PostgreSQL
            // cannot take (a NUL character, a number out of range).
            StoreError::Database(ref db)
                if db
                    .as_database_error()
                    .and_then(|d| d.code())
                    .is_some_and(|c| c.starts_with("22")) =>
            {
                ApiError::BadRequest(format!(
                    "a value cannot be stored or compared: {}",
                    db.as_database_error()
                        .map(|d| d.message())
                        .unwrap_or_default()
                ))
            }
            e => ApiError::Internal(e.to_string()),
        }
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
