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

/// Ready only while the database answers.
pub async fn ready(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let probe = sqlx_probe(&state);
    match tokio::time::timeout(Duration::from_secs(2), probe).await {
        Ok(Ok(())) => (StatusCode::OK, Json(json!({ "status": "ready" }))),
        Ok(Err(e)) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "unavailable", "reason": format!("database: {e}") })),
        ),
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "unavailable", "reason": "database: no answer within 2 s" })),
        ),
    }
}

async fn sqlx_probe(state: &AppState) -> Result<(), sightline_store::StoreError> {
    state.store().ping().await
}

pub async fn openapi() -> Json<Value> {
    Json(crate::openapi::document())
}
