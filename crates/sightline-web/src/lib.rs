//! Sightline's server: the JSON API with its security model. `app(state)`
//! builds the whole router, so tests drive exactly what `sightline serve`
//! serves.
//!
//! - `routes`: the permission table (every route, its least role) and handlers;
//! - `auth`: API keys, ALB OIDC, local sessions with CSRF, passwords, TOTP;
//! - `layers`: security headers, rate limits, request log, authorization;
//! - `openapi`: the document, derived from the table;
//! - `ui`: the server-rendered pages and their assets.

pub mod auth;
pub mod error;
pub mod export;
pub mod extract;
pub mod layers;
pub mod openapi;
pub mod ratelimit;
pub mod routes;
pub mod state;
pub mod ui;

use std::net::SocketAddr;

use axum::http::{header, HeaderName, Method};
use axum::middleware::{from_fn, from_fn_with_state};
use axum::Router;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;

pub use error::ApiError;
pub use ipnet::IpNet;
pub use state::{AppState, AskModel, Config, Limits};

/// The whole application.
pub fn app(state: AppState) -> Router {
    let limits = state.limits().clone();
    let cors = CorsLayer::new()
        .allow_origin(AllowOrigin::list(state.config().allowed_origins.clone()))
        .allow_methods([Method::GET, Method::POST, Method::PUT, Method::DELETE])
        .allow_headers([
            header::CONTENT_TYPE,
            header::AUTHORIZATION,
            HeaderName::from_static(auth::CSRF_HEADER),
        ])
        // A script on an allowed origin reads where the next page is and
        // how long to wait after a 429.
        .expose_headers([header::LINK, header::RETRY_AFTER])
        .allow_credentials(true);
    routes::router()
        .route_layer(from_fn_with_state(state.clone(), layers::authorize))
        .fallback(|| async { ApiError::NotFound("no such route".into()) })
        .layer(from_fn_with_state(state.clone(), layers::read_your_writes))
        .layer(from_fn(layers::request_log))
        .layer(from_fn_with_state(state.clone(), layers::per_ip_limit))
        .layer(RequestBodyLimitLayer::new(limits.body_bytes))
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            limits.request_timeout,
        ))
        .layer(cors)
        .layer(from_fn(layers::security_headers))
        .with_state(state)
}

/// Serve until `shutdown` resolves, then finish the requests in flight.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        app(state).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}
