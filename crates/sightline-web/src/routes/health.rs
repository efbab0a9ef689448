//! Health checks for the ALB, and the OpenAPI document.

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

use crate::state::AppState;

pub async fn live() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// Ready only while the database answers. Anyone may ask, so the answer
/// says only that; why is in the server's log.
pub async fn ready(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let probe = sqlx_probe(&state);
    let why = match tokio::time::timeout(Duration::from_secs(2), probe).await {
        Ok(Ok(())) => return (StatusCode::OK, Json(json!({ "status": "ready" }))),
        Ok(Err(e)) => e.to_string(),
        Err(_) => "no answer within 2 s".to_owned(),
    };
    tracing::warn!(reason = %why, "not ready: the database does not answer");
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(json!({ "status": "unavailable", "reason": "the database does not answer" })),
    )
}

async fn sqlx_probe(state: &AppState) -> Result<(), sightline_store::StoreError> {
    state.store().ping().await
}

pub async fn openapi() -> Json<Value> {
    Json(crate::openapi::document())
}
