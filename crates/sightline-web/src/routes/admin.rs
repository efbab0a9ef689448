//! Users, API keys, the audit trail and integrations.

use axum::extract::State;
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{json, Value};
use sightline_core::report::csv_format::write_safe_record;
use sightline_core::roles::Role;
use sightline_store::audit::AuditRecord;
use sightline_store::credentials::{self, ApiKeySummary, NewApiKey};
use sightline_store::identity::{self, SignInSettings, UserSummary};
use sightline_store::keyring::{self, IntegrationSummary};
use sightline_store::lockout;
use sightline_store::views::{self, AuditFilter};
use uuid::Uuid;

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
    let (user, one_time) = add_user_audited(&state, &p, &body.email, &body.role).await?;
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

/// Add a user (checked, audited); the user and their one-time password.
pub(crate) async fn add_user_audited(
    state: &AppState,
    p: &Principal,
    email: &str,
    role: &str,
) -> ApiResult<(UserSummary, String)> {
    let email = check_email(email)?;
    let role = parse_role(role)?;
    if role >= Role::Admin && p.role < Role::Owner {
        return Err(ApiError::forbidden(format!(
            "only owners may add a user with the {role} role"
        )));
    }
    let one_time = password::one_time()?;
    let hash = password::hash_async(&one_time).await?;
    let mut tx = state.store().begin_workspace_tx(p.workspace_id).await?;
    let user = identity::create_user(&mut tx, &email, role.as_str(), Some(&hash), true).await?;
    tx.audit(
        &p.actor,
        "user.added",
        &format!("user:{email}"),
        json!({"role": role}),
    )
    .await?;
    let summary = identity::user_summary(&mut tx, user.id).await?;
    tx.commit().await?;
    Ok((summary, one_time))
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
    Ok(Json(set_role_audited(&state, &p, id, &body.role).await?))
}

/// Change a user's role (owners only, by the table). The last owner cannot
/// be demoted, even by two owners demoting each other at once: every
/// owner's row is locked while the owners are counted. The user's sessions
/// end, and the API keys they issued come down to the new role.
pub(crate) async fn set_role_audited(
    state: &AppState,
    p: &Principal,
    id: Uuid,
    role: &str,
) -> ApiResult<UserSummary> {
    let role = parse_role(role)?;
    let mut tx = state.store().begin_workspace_tx(p.workspace_id).await?;
    let owners = identity::lock_owners(&mut tx).await?;
    let user = identity::user(&mut tx, id).await?;
    if user.role == "owner" && role != Role::Owner && owners <= 1 {
        return Err(ApiError::Conflict(
            "the last owner cannot be demoted".into(),
        ));
    }
    identity::set_role(&mut tx, id, role.as_str()).await?;
    // Sessions carry no role, but a demotion should take effect everywhere at once.
    credentials::revoke_user_sessions(&mut tx, id, None).await?;
    let rescoped = credentials::rescope_keys_of(&mut tx, id, role.as_str()).await?;
    tx.audit(
        &p.actor,
        "user.role_changed",
        &format!("user:{}", user.email),
        json!({"from": user.role, "to": role, "api_keys_rescoped": rescoped}),
    )
    .await?;
    let summary = identity::user_summary(&mut tx, id).await?;
    tx.commit().await?;
    Ok(summary)
}

pub async fn remove_user(
    State(state): State<AppState>,
    p: Principal,
    PathId(id): PathId,
) -> ApiResult<StatusCode> {
    remove_user_audited(&state, &p, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The in-handler rule beside the table: admins manage operators and
/// viewers; only owners manage admins and owners.
fn may_manage(p: &Principal, target_role: &str, what: &str) -> ApiResult<Role> {
    let role = parse_role(target_role)?;
    if role >= Role::Admin && p.role < Role::Owner {
        return Err(ApiError::forbidden(format!(
            "only owners may {what} a user with the {role} role"
        )));
    }
    Ok(role)
}

/// Remove a user: their sessions end with them, and the API keys they
/// issued are revoked. The last owner cannot be removed (owners locked, as
/// for a demotion).
pub(crate) async fn remove_user_audited(
    state: &AppState,
    p: &Principal,
    id: Uuid,
) -> ApiResult<()> {
    let mut tx = state.store().begin_workspace_tx(p.workspace_id).await?;
    let owners = identity::lock_owners(&mut tx).await?;
    let user = identity::user(&mut tx, id).await?;
    let role = may_manage(p, &user.role, "remove")?;
    if role == Role::Owner && owners <= 1 {
        return Err(ApiError::Conflict(
            "the last owner cannot be removed".into(),
        ));
    }
    let revoked = credentials::revoke_keys_of(&mut tx, id).await?;
    identity::delete_user(&mut tx, id).await?;
    tx.audit(
        &p.actor,
        "user.removed",
        &format!("user:{}", user.email),
        json!({"role": user.role, "api_keys_revoked": revoked}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

pub async fn unlock_user(
    State(state): State<AppState>,
    p: Principal,
    PathId(id): PathId,
) -> ApiResult<Json<UserSummary>> {
    Ok(Json(unlock_user_audited(&state, &p, id).await?))
}

/// Lift a user's lockout and failure count (admins for operators and
/// viewers, owners for anyone), audited.
pub(crate) async fn unlock_user_audited(
    state: &AppState,
    p: &Principal,
    id: Uuid,
) -> ApiResult<UserSummary> {
    let mut tx = state.store().begin_workspace_tx(p.workspace_id).await?;
    let user = identity::user(&mut tx, id).await?;
    may_manage(p, &user.role, "unlock")?;
    let was_locked = lockout::unlock(&mut tx, id).await?;
    tx.audit(
        &p.actor,
        "user.unlocked",
        &format!("user:{}", user.email),
        json!({"was_locked": was_locked}),
    )
    .await?;
    let summary = identity::user_summary(&mut tx, id).await?;
    tx.commit().await?;
    Ok(summary)
}

pub async fn api_keys(
    State(state): State<AppState>,
    p: Principal,
) -> ApiResult<Json<Vec<ApiKeySummary>>> {
    let mut tx = state.store().begin_workspace_tx(p.workspace_id).await?;
    let rows = credentials::api_keys(&mut tx).await?;
    tx.commit().await?;
    Ok(Json(rows))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssueKey {
    name: String,
    role: String,
    /// Days until the key stops working (1 to 365); none: until revoked.
    expires_in_days: Option<i64>,
}

/// The longest a key may be issued for, when it expires at all.
pub const MAX_KEY_DAYS: i64 = 365;

/// Issue a key: random, prefixed, returned this once, stored as SHA-256.
pub async fn issue_api_key(
    State(state): State<AppState>,
    p: Principal,
    JsonBody(body): JsonBody<IssueKey>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let (summary, key) =
        issue_api_key_audited(&state, &p, &body.name, &body.role, body.expires_in_days).await?;
    let mut body = serde_json::to_value(&summary).map_err(|e| ApiError::Internal(e.to_string()))?;
    body["key"] = json!(key);
    Ok((StatusCode::CREATED, Json(body)))
}

/// Issue a key (checked, audited); its summary and the key, shown once.
pub(crate) async fn issue_api_key_audited(
    state: &AppState,
    p: &Principal,
    name: &str,
    role: &str,
    expires_in_days: Option<i64>,
) -> ApiResult<(ApiKeySummary, String)> {
    let role = parse_role(role)?;
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(ApiError::BadRequest(
            "name: expected 1 to 100 characters".into(),
        ));
    }
    let expires_at = match expires_in_days {
        None => None,
        Some(d) if (1..=MAX_KEY_DAYS).contains(&d) => Some(Utc::now() + chrono::Duration::days(d)),
        Some(d) => {
            return Err(ApiError::BadRequest(format!(
                "expires_in_days: expected 1 to {MAX_KEY_DAYS}, found {d}"
            )))
        }
    };
    let key = format!("{API_KEY_PREFIX}{}", tokens::random_token(32)?);
    let prefix = &key[..12];
    let mut tx = state.store().begin_workspace_tx(p.workspace_id).await?;
    let summary = credentials::create_api_key(
        &mut tx,
        &NewApiKey {
            name,
            prefix,
            key_sha256: &tokens::sha256_hex(&key),
            role: role.as_str(),
            created_by: p.user_id,
            expires_at,
        },
    )
    .await?;
    tx.audit(
        &p.actor,
        "api_key.issued",
        &format!("api-key:{prefix}"),
        json!({"name": name, "role": role, "id": summary.id, "expires_at": expires_at}),
    )
    .await?;
    tx.commit().await?;
    Ok((summary, key))
}

pub async fn revoke_api_key(
    State(state): State<AppState>,
    p: Principal,
    PathId(id): PathId,
) -> ApiResult<StatusCode> {
    revoke_api_key_audited(&state, &p, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(crate) async fn revoke_api_key_audited(
    state: &AppState,
    p: &Principal,
    id: Uuid,
) -> ApiResult<()> {
    if p.api_key_id == Some(id) {
        return Err(ApiError::Conflict(
            "an API key cannot revoke itself: revoke it with another key or from a signed-in session".into(),
        ));
    }
    let mut tx = state.store().begin_workspace_tx(p.workspace_id).await?;
    credentials::revoke_api_key(&mut tx, id).await?;
    tx.audit(&p.actor, "api_key.revoked", &id.to_string(), json!({}))
        .await?;
    tx.commit().await?;
    Ok(())
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
