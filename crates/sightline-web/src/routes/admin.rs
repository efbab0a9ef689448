//! Users, API keys, the audit trail and integrations.

use axum::extract::State;
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{json, Value};
use sightline_core::roles::Role;
use sightline_store::audit::AuditRecord;
use sightline_store::identity::{self, ApiKeySummary, UserSummary};
use sightline_store::keyring::{self, IntegrationSummary};
use sightline_store::views::{self, AuditFilter};

use crate::auth::{password, tokens, Principal, API_KEY_PREFIX};
use crate::error::{ApiError, ApiResult};
use crate::extract::{JsonBody, PathId, PathName, QueryParams};
use crate::state::AppState;

fn parse_role(found: &str) -> ApiResult<Role> {
    found
        .parse()
        .map_err(|e: sightline_core::roles::UnknownRole| ApiError::BadRequest(format!("role: {e}")))
}

pub async fn users(
    State(state): State<AppState>,
    p: Principal,
) -> ApiResult<Json<Vec<UserSummary>>> {
    let mut tx = state.store().begin_workspace_tx(p.workspace_id).await?;
    let rows = identity::users(&mut tx).await?;
    tx.commit().await?;
    Ok(Json(rows))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddUser {
    email: String,
    role: String,
}

fn check_email(email: &str) -> ApiResult<String> {
    let email = email.trim().to_lowercase();
    let ok = email.len() <= 254
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && !domain.is_empty() && !domain.contains('@')
        })
        && !email.chars().any(char::is_whitespace);
    if ok {
        Ok(email)
    } else {
        Err(ApiError::BadRequest(format!(
            "email: expected an e-mail address, found {email:?}"
        )))
    }
}

/// Add a user with a one-time password, shown once; they must replace it.
/// Admins add operators and viewers; only owners add admins and owners.
pub async fn add_user(
    State(state): State<AppState>,
    p: Principal,
    JsonBody(body): JsonBody<AddUser>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let email = check_email(&body.email)?;
    let role = parse_role(&body.role)?;
    if role >= Role::Admin && p.role < Role::Owner {
        return Err(ApiError::forbidden(format!(
            "only owners may add a user with the {role} role"
        )));
    }
    let one_time = password::one_time()?;
    let mut tx = state.store().begin_workspace_tx(p.workspace_id).await?;
    let user = identity::create_user(
        &mut tx,
        &email,
        role.as_str(),
        Some(&password::hash(&one_time)?),
        true,
    )
    .await?;
    tx.audit(
        &p.actor,
        "user.added",
        &format!("user:{email}"),
        json!({"role": role}),
    )
    .await?;
    tx.commit().await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "id": user.id,
            "email": user.email,
            "role": user.role,
            "one_time_password": one_time,
        })),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetRole {
    role: String,
}

pub async fn set_role(
    State(state): State<AppState>,
    p: Principal,
    PathId(id): PathId,
    JsonBody(body): JsonBody<SetRole>,
) -> ApiResult<Json<UserSummary>> {
    let role = parse_role(&body.role)?;
    let mut tx = state.store().begin_workspace_tx(p.workspace_id).await?;
    let user = identity::user(&mut tx, id).await?;
    if user.role == "owner" && role != Role::Owner && identity::owner_count(&mut tx).await? <= 1 {
        return Err(ApiError::Conflict(
            "the last owner cannot be demoted".into(),
        ));
    }
    identity::set_role(&mut tx, id, role.as_str()).await?;
    // Sessions carry no role, but a demotion should take effect everywhere at once.
    identity::revoke_user_sessions(&mut tx, id).await?;
    tx.audit(
        &p.actor,
        "user.role_changed",
        &format!("user:{}", user.email),
        json!({"from": user.role, "to": role}),
    )
    .await?;
    let summary = identity::user_summary(&mut tx, id).await?;
    tx.commit().await?;
    Ok(Json(summary))
}

pub async fn remove_user(
    State(state): State<AppState>,
    p: Principal,
    PathId(id): PathId,
) -> ApiResult<StatusCode> {
    let mut tx = state.store().begin_workspace_tx(p.workspace_id).await?;
    let user = identity::user(&mut tx, id).await?;
    let role = parse_role(&user.role)?;
    if role >= Role::Admin && p.role < Role::Owner {
        return Err(ApiError::forbidden(format!(
            "only owners may remove a user with the {role} role"
        )));
    }
    if role == Role::Owner && identity::owner_count(&mut tx).await? <= 1 {
        return Err(ApiError::Conflict(
            "the last owner cannot be removed".into(),
        ));
    }
    identity::delete_user(&mut tx, id).await?;
    tx.audit(
        &p.actor,
        "user.removed",
        &format!("user:{}", user.email),
        json!({"role": user.role}),
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn api_keys(
    State(state): State<AppState>,
    p: Principal,
) -> ApiResult<Json<Vec<ApiKeySummary>>> {
    let mut tx = state.store().begin_workspace_tx(p.workspace_id).await?;
    let rows = identity::api_keys(&mut tx).await?;
    tx.commit().await?;
    Ok(Json(rows))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssueKey {
    name: String,
    role: String,
}

/// Issue a key: random, prefixed, returned this once, stored as SHA-256.
pub async fn issue_api_key(
    State(state): State<AppState>,
    p: Principal,
    JsonBody(body): JsonBody<IssueKey>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let role = parse_role(&body.role)?;
    let name = body.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(ApiError::BadRequest(
            "name: expected 1 to 100 characters".into(),
        ));
    }
    let key = format!("{API_KEY_PREFIX}{}", tokens::random_token(32)?);
    let prefix = &key[..12];
    let mut tx = state.store().begin_workspace_tx(p.workspace_id).await?;
    let summary = identity::create_api_key(
        &mut tx,
        name,
        prefix,
        &tokens::sha256_hex(&key),
        role.as_str(),
        p.user_id,
    )
    .await?;
    tx.audit(
        &p.actor,
        "api_key.issued",
        &format!("api-key:{prefix}"),
        json!({"name": name, "role": role, "id": summary.id}),
    )
    .await?;
    tx.commit().await?;
    let mut body = serde_json::to_value(&summary).map_err(|e| ApiError::Internal(e.to_string()))?;
    body["key"] = json!(key);
    Ok((StatusCode::CREATED, Json(body)))
}

pub async fn revoke_api_key(
    State(state): State<AppState>,
    p: Principal,
    PathId(id): PathId,
) -> ApiResult<StatusCode> {
    if p.api_key_id == Some(id) {
        return Err(ApiError::Conflict(
            "an API key cannot revoke itself: revoke it with another key or from a signed-in session".into(),
        ));
    }
    let mut tx = state.store().begin_workspace_tx(p.workspace_id).await?;
    identity::revoke_api_key(&mut tx, id).await?;
    tx.audit(&p.actor, "api_key.revoked", &id.to_string(), json!({}))
        .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

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
    out.write_record([
        "sequence",
        "occurred_at",
        "actor",
        "action",
        "target",
        "details",
        "previous_hash",
        "hash",
    ])
    .map_err(csv_error)?;
    for r in &rows {
        out.write_record([
            r.sequence.to_string(),
            r.occurred_at.to_rfc3339(),
            r.actor.clone(),
            r.action.clone(),
            r.target.clone(),
            r.details.to_string(),
            r.previous_hash.clone(),
            r.hash.clone(),
        ])
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
    if body.credential.is_empty() || body.credential.len() > 8192 {
        return Err(ApiError::BadRequest(
            "credential: expected 1 to 8192 bytes".into(),
        ));
    }
    let mut tx = state.store().begin_workspace_tx(p.workspace_id).await?;
    let summary = keyring::put_integration(&mut tx, state.kek(), &name, &body.credential).await?;
    tx.audit(&p.actor, "settings.integration_set", &name, json!({}))
        .await?;
    tx.commit().await?;
    Ok(Json(summary))
}
