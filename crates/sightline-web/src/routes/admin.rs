//! The audit trail, integrations and the workspace's sign-in settings.

use axum::extract::State;
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{json, Value};
use sightline_core::report::csv_format::write_safe_record;
use sightline_store::audit::AuditRecord;
use sightline_store::identity::{self, SignInSettings};
use sightline_store::keyring::{self, IntegrationSummary};
use sightline_store::views::{self, AuditFilter};

use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::extract::{JsonBody, PathName, QueryParams};
use crate::state::AppState;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    actor: Option<String>,
    action: Option<String>,
    since: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
    limit: Option<i64>,
}

impl AuditQuery {
    fn filter(self) -> ApiResult<AuditFilter> {
        let limit = match self.limit {
            None => 1000,
            Some(n) if (1..=10_000).contains(&n) => n,
            Some(n) => {
                return Err(ApiError::BadRequest(format!(
                    "limit: expected 1 to 10000, found {n}"
                )))
            }
        };
        Ok(AuditFilter {
            actor: self.actor,
            action: self.action,
            since: self.since,
            until: self.until,
            limit,
            newest_first: false,
        })
    }
}

pub async fn audit(
    State(state): State<AppState>,
    p: Principal,
    QueryParams(q): QueryParams<AuditQuery>,
) -> ApiResult<Json<Vec<Value>>> {
    let filter = q.filter()?;
    let mut tx = state.store().begin_workspace_tx(p.workspace_id).await?;
    let rows = views::audit_records(&mut tx, &filter).await?;
    tx.commit().await?;
    Ok(Json(rows.iter().map(record_json).collect()))
}

fn record_json(r: &AuditRecord) -> Value {
    json!({
        "sequence": r.sequence,
        "occurred_at": r.occurred_at,
        "actor": r.actor,
        "action": r.action,
        "target": r.target,
        "details": r.details,
        "previous_hash": r.previous_hash,
        "hash": r.hash,
    })
}

/// The filtered audit trail as CSV; the export itself is audited.
pub async fn audit_csv(
    State(state): State<AppState>,
    p: Principal,
    QueryParams(q): QueryParams<AuditQuery>,
) -> ApiResult<Response> {
    let filter = q.filter()?;
    let mut tx = state.store().begin_workspace_tx(p.workspace_id).await?;
    let rows = views::audit_records(&mut tx, &filter).await?;
    tx.audit(
        &p.actor,
        "audit.exported",
        "audit_log",
        json!({"rows": rows.len(), "actor": filter.actor, "action": filter.action, "since": filter.since, "until": filter.until}),
    )
    .await?;
    tx.commit().await?;
    let mut out = csv::Writer::from_writer(Vec::new());
    let csv_error = |e: csv::Error| ApiError::Internal(e.to_string());
    write_safe_record(
        &mut out,
        [
            "sequence",
            "occurred_at",
            "actor",
            "action",
            "target",
            "details",
            "previous_hash",
            "hash",
        ],
    )
    .map_err(csv_error)?;
    for r in &rows {
        let (sequence, at, details) = (
            r.sequence.to_string(),
            r.occurred_at.to_rfc3339(),
            r.details.to_string(),
        );
        write_safe_record(
            &mut out,
            [
                sequence.as_str(),
                &at,
                &r.actor,
                &r.action,
                &r.target,
                &details,
                &r.previous_hash,
                &r.hash,
            ],
        )
        .map_err(csv_error)?;
    }
    let bytes = out
        .into_inner()
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok((
        [
            (CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                CONTENT_DISPOSITION,
                "attachment; filename=\"sightline-audit.csv\"",
            ),
        ],
        bytes,
    )
        .into_response())
}

pub async fn integrations(
    State(state): State<AppState>,
    p: Principal,
) -> ApiResult<Json<Vec<IntegrationSummary>>> {
    let mut tx = state.store().begin_workspace_tx(p.workspace_id).await?;
    let rows = keyring::integrations(&mut tx).await?;
    tx.commit().await?;
    Ok(Json(rows))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PutIntegration {
    credential: String,
}

/// Store an integration credential, sealed; the response says only that it is set.
pub async fn put_integration(
    State(state): State<AppState>,
    p: Principal,
    PathName(name): PathName,
    JsonBody(body): JsonBody<PutIntegration>,
) -> ApiResult<Json<IntegrationSummary>> {
    Ok(Json(
        put_integration_audited(&state, &p, &name, &body.credential).await?,
    ))
}

/// Check an integration's name and credential, seal and store it, audited.
pub(crate) async fn put_integration_audited(
    state: &AppState,
    p: &Principal,
    name: &str,
    credential: &str,
) -> ApiResult<IntegrationSummary> {
    let valid = !name.is_empty()
        && name.len() <= 40
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
    if !valid {
        return Err(ApiError::BadRequest(format!(
            "name: expected lowercase letters, digits, '-' or '_' (up to 40, starting with a letter), found {name:?}"
        )));
    }
    if credential.is_empty() || credential.len() > 8192 {
        return Err(ApiError::BadRequest(
            "credential: expected 1 to 8192 bytes".into(),
        ));
    }
    let mut tx = state.store().begin_workspace_tx(p.workspace_id).await?;
    let summary = keyring::put_integration(&mut tx, state.kek(), name, credential).await?;
    tx.audit(&p.actor, "settings.integration_set", name, json!({}))
        .await?;
    tx.commit().await?;
    Ok(summary)
}

pub async fn delete_integration(
    State(state): State<AppState>,
    p: Principal,
    PathName(name): PathName,
) -> ApiResult<StatusCode> {
    disconnect_integration(&state, &p, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Disconnect an integration: its sealed credential is deleted (audited),
/// and nothing can show it again.
pub(crate) async fn disconnect_integration(
    state: &AppState,
    p: &Principal,
    name: &str,
) -> ApiResult<()> {
    let mut tx = state.store().begin_workspace_tx(p.workspace_id).await?;
    keyring::delete_integration(&mut tx, name).await?;
    tx.audit(
        &p.actor,
        "settings.integration_disconnected",
        name,
        json!({}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

pub async fn sign_in_settings(
    State(state): State<AppState>,
    p: Principal,
) -> ApiResult<Json<SignInSettings>> {
    let mut tx = state.store().begin_workspace_tx(p.workspace_id).await?;
    let settings = identity::sign_in_settings(&mut tx).await?;
    tx.commit().await?;
    Ok(Json(settings))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PutSignInSettings {
    require_mfa_for_admins: bool,
}

pub async fn put_sign_in_settings(
    State(state): State<AppState>,
    p: Principal,
    JsonBody(body): JsonBody<PutSignInSettings>,
) -> ApiResult<Json<SignInSettings>> {
    Ok(Json(
        set_require_mfa_audited(&state, &p, body.require_mfa_for_admins).await?,
    ))
}

/// Require (or stop requiring) two-factor sign-in of owners and admins, audited.
pub(crate) async fn set_require_mfa_audited(
    state: &AppState,
    p: &Principal,
    on: bool,
) -> ApiResult<SignInSettings> {
    let mut tx = state.store().begin_workspace_tx(p.workspace_id).await?;
    let before = identity::sign_in_settings(&mut tx).await?;
    identity::set_require_mfa_for_admins(&mut tx, on).await?;
    tx.audit(
        &p.actor,
        "settings.sign_in_changed",
        "require_mfa_for_admins",
        json!({"from": before.require_mfa_for_admins, "to": on}),
    )
    .await?;
    let after = identity::sign_in_settings(&mut tx).await?;
    tx.commit().await?;
    Ok(after)
}
