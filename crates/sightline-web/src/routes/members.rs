//! Members of a workspace and the API keys they issue: add (one-time
//! password), change role, remove, unlock; issue, list, revoke keys. The
//! in-handler rules beside the permission table live here: admins manage
//! operators and viewers, owners everyone; the last owner stays.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::Utc;
use serde::Deserialize;
use serde_json::{json, Value};
use sightline_core::roles::Role;
use sightline_store::credentials::{self, ApiKeySummary, NewApiKey};
use sightline_store::identity::{self, UserSummary};
use sightline_store::lockout;
use uuid::Uuid;

use crate::auth::{password, tokens, Principal, API_KEY_PREFIX};
use crate::error::{ApiError, ApiResult};
use crate::extract::{JsonBody, PathId};
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
    // Only a person issues keys (a key minting keys would outlive its own
    // revocation), and only while an owner: the issuer's role now, locked
    // against a concurrent demotion; a key is never issued above it.
    p.require_person()?;
    let user_id = p
        .user_id
        .ok_or_else(|| ApiError::forbidden("an API key is issued by a signed-in owner"))?;
    let current = identity::role_for_share(&mut tx, user_id)
        .await?
        .map(|r| parse_role(&r))
        .transpose()?;
    match current {
        Some(now) if now >= Role::Owner && now >= role => {}
        _ => {
            return Err(ApiError::forbidden(
                "the issuer's role changed: only a current owner issues API keys",
            ))
        }
    }
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
