//! Extractors that turn every malformed input into a clear `ApiError`:
//! JSON bodies (unknown fields refused, the field named), query strings and
//! path ids.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use crate::error::ApiError;

/// A JSON body; its type should `deny_unknown_fields`.
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let content_type = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let essence = content_type.split(';').next().unwrap_or("").trim();
        if !essence.eq_ignore_ascii_case("application/json") {
            return Err(ApiError::UnsupportedMediaType(format!(
                "expected Content-Type: application/json, found {:?}",
                content_type
            )));
        }
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|e| {
                if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::PayloadTooLarge(
                        "the body is larger than the server accepts (64 KiB)".into(),
                    )
                } else {
                    ApiError::BadRequest(format!("cannot read the body: {e}"))
                }
            })?;
        serde_json::from_slice(&bytes)
            .map(JsonBody)
            .map_err(|e| ApiError::BadRequest(format!("invalid JSON body: {e}")))
    }
}

/// Query parameters; the type should `deny_unknown_fields`.
pub struct QueryParams<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for QueryParams<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::try_from_uri(&parts.uri)
            .map(|q| QueryParams(q.0))
            .map_err(|e| ApiError::BadRequest(format!("invalid query string: {}", e.body_text())))
    }
}

/// The `{id}` of a path, which must be a UUID.
pub struct PathId(pub Uuid);

impl<S: Send + Sync> FromRequestParts<S> for PathId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let axum::extract::Path(raw): axum::extract::Path<String> =
            axum::extract::Path::from_request_parts(parts, state)
                .await
                .map_err(|e| ApiError::BadRequest(e.body_text()))?;
        Uuid::try_parse(&raw)
            .map(PathId)
            .map_err(|_| ApiError::BadRequest(format!("id: expected a UUID, found {raw:?}")))
    }
}

/// The `{name}` segment of a path.
pub struct PathName(pub String);

impl<S: Send + Sync> FromRequestParts<S> for PathName {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let axum::extract::Path(raw): axum::extract::Path<String> =
            axum::extract::Path::from_request_parts(parts, state)
                .await
                .map_err(|e| ApiError::BadRequest(e.body_text()))?;
        Ok(PathName(raw))
    }
}

/// The client address (see `state::client_ip`); refused when it cannot be told.
pub struct ClientAddr(pub std::net::IpAddr);

impl FromRequestParts<crate::state::AppState> for ClientAddr {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &crate::state::AppState,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|c| c.0);
        crate::state::client_ip(state.config(), &parts.headers, peer)
            .map(ClientAddr)
            .ok_or_else(|| ApiError::BadRequest("cannot tell the client address".into()))
    }
}

/// The authenticated caller, put in place by `layers::authorize`.
impl<S: Send + Sync> FromRequestParts<S> for crate::auth::Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<crate::auth::Principal>()
            .cloned()
            .ok_or_else(|| ApiError::unauthenticated("not signed in"))
    }
}

/// The store a read-only page reads: the read replica when one is
/// configured, except for a request that must see what its client just
/// wrote. A browser that wrote within [`WROTE_FOR_SECS`] carries the
/// [`WROTE_COOKIE`] the write set; an API-key call (a script that may read
/// right after its own write, and keeps no cookie) and any request with
/// `Cache-Control: no-cache` read the primary. Only `GET` and `HEAD` read
/// the replica; a replica that cannot be reached sends the page to the
/// primary.
pub struct Reads {
    store: sightline_store::Store,
    /// Set when `store` is the replica: where to go if it fails.
    primary: Option<sightline_store::Store>,
}

/// Set on the response to a successful write; while it lasts, reads go to
/// the primary, which has the write (a replica may lag behind it).
pub const WROTE_COOKIE: &str = "__Host-sl_wrote";
/// Longer than Aurora replicas lag, short enough that the replica soon
/// serves the client again.
pub const WROTE_FOR_SECS: u32 = 10;

impl Reads {
    /// A transaction bound to `workspace`, as `Store::begin_workspace_tx`:
    /// the only thing a page does with the store it reads.
    pub async fn begin_workspace_tx(
        &self,
        workspace: uuid::Uuid,
    ) -> Result<sightline_store::tenant::WorkspaceTx, sightline_store::StoreError> {
        match (
            self.store.begin_workspace_tx(workspace).await,
            &self.primary,
        ) {
            (Err(e), Some(primary)) => {
                tracing::warn!(error = %e, "the read replica failed; reading the primary");
                primary.begin_workspace_tx(workspace).await
            }
            (result, _) => result,
        }
    }

    /// Whether this request must read the primary.
    pub fn needs_primary(parts: &Parts) -> bool {
        use axum::http::{header, Method};
        let safe = parts.method == Method::GET || parts.method == Method::HEAD;
        let values = |name: header::HeaderName| {
            parts
                .headers
                .get_all(name)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .map(str::to_owned)
                .collect::<Vec<_>>()
        };
        let wrote = values(header::COOKIE).iter().any(|v| {
            v.split(';').any(|c| {
                c.trim_start()
                    .strip_prefix(WROTE_COOKIE)
                    .is_some_and(|rest| rest.starts_with('='))
            })
        });
        let no_cache = values(header::CACHE_CONTROL).iter().any(|v| {
            v.split(',')
                .any(|d| d.trim().eq_ignore_ascii_case("no-cache"))
        });
        let api_key = parts.headers.contains_key(header::AUTHORIZATION);
        !safe || wrote || no_cache || api_key
    }
}

impl FromRequestParts<crate::state::AppState> for Reads {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &crate::state::AppState,
    ) -> Result<Self, Self::Rejection> {
        let primary = Self::needs_primary(parts);
        let store = state.reads_from(primary).clone();
        let fallback = state
            .reader()
            .filter(|_| !primary)
            .map(|_| state.reads_from(true).clone());
        Ok(Reads {
            store,
            primary: fallback,
        })
    }
}
