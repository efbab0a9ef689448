//! The signed-in user's own account security: two-factor sign-in (enrol,
//! confirm, disable, new recovery codes), each behind the current password,
//! and their own sessions. Shared by the JSON API and the settings pages.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::Utc;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sightline_core::roles::Role;
use sightline_store::credentials::{self, SessionSummary};
use sightline_store::{identity, keyring};
use uuid::Uuid;

use super::session::totp_aad;
use super::sign_in::{reauthenticate, reauthenticate_with_code};
use crate::auth::{tokens, totp, Principal, SESSION_ABSOLUTE, SESSION_IDLE};
use crate::error::{ApiError, ApiResult};
use crate::extract::{JsonBody, PathId};
use crate::state::AppState;

/// Recovery codes issued at a time, each usable once.
pub const RECOVERY_CODES: usize = 10;

/// A new TOTP secret, shown once.
#[derive(Debug, Serialize)]
pub struct Enrolment {
    pub secret: String,
    pub otpauth_uri: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CurrentPassword {
    pub current_password: String,
}

pub async fn totp_begin(
    State(state): State<AppState>,
    principal: Principal,
    JsonBody(body): JsonBody<CurrentPassword>,
) -> ApiResult<Json<Enrolment>> {
    Ok(Json(
        begin_enrolment(&state, &principal, &body.current_password).await?,
    ))
}

/// Start TOTP enrolment (after the current password): a new secret, kept
/// sealed until a code of it confirms it.
pub(crate) async fn begin_enrolment(
    state: &AppState,
    principal: &Principal,
    current_password: &str,
) -> ApiResult<Enrolment> {
    let user = reauthenticate(state, principal, current_password).await?;
    if user.totp_secret.is_some() {
        return Err(ApiError::Conflict(
            "two-factor sign-in is already on for this user".into(),
        ));
    }
    let secret = tokens::random_bytes::<{ totp::SECRET_LEN }>()?;
    let mut tx = state
        .store()
        .begin_workspace_tx(principal.workspace_id)
        .await?;
    let row_id = user.id.to_string();
    let sealed = keyring::seal_field(
        &mut tx,
        state.kek(),
        totp_aad(&row_id, "totp_pending"),
        &secret,
    )
    .await?;
    identity::set_totp_pending(&mut tx, user.id, &sealed).await?;
    tx.audit(
        &principal.actor,
        "user.totp_enrolment_started",
        &principal.actor,
        json!({}),
    )
    .await?;
    tx.commit().await?;
    let encoded = totp::base32(&secret);
    // The new secret is shown this once, for the authenticator app; it is stored only sealed.
    Ok(Enrolment {
        otpauth_uri: totp::otpauth_uri(&user.email, &encoded),
        secret: encoded,
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfirmTotp {
    code: String,
}

pub async fn totp_confirm(
    State(state): State<AppState>,
    principal: Principal,
    JsonBody(body): JsonBody<ConfirmTotp>,
) -> ApiResult<Json<Value>> {
    let codes = confirm_enrolment(&state, &principal, &body.code).await?;
    Ok(Json(json!({ "recovery_codes": codes })))
}

fn new_recovery_codes() -> ApiResult<(Vec<String>, Vec<String>)> {
    let codes: Vec<String> = (0..RECOVERY_CODES)
        .map(|_| tokens::random_token(10))
        .collect::<Result<_, _>>()?;
    let hashes = codes.iter().map(|c| tokens::sha256_hex(c)).collect();
    Ok((codes, hashes))
}

/// Turn TOTP on with a code of the pending secret: ten recovery codes, shown once.
pub(crate) async fn confirm_enrolment(
    state: &AppState,
    principal: &Principal,
    code: &str,
) -> ApiResult<Vec<String>> {
    let user_id = principal.require_local_user()?;
    let mut tx = state
        .store()
        .begin_workspace_tx(principal.workspace_id)
        .await?;
    let user = identity::user(&mut tx, user_id).await?;
    let pending = user.totp_pending.ok_or_else(|| {
        ApiError::Conflict("no TOTP enrolment in progress: POST /api/v1/me/totp first".into())
    })?;
    let row_id = user_id.to_string();
    let secret = keyring::open_field(
        &mut tx,
        state.kek(),
        totp_aad(&row_id, "totp_pending"),
        &pending,
    )
    .await?;
    let step =
        totp::matching_step(&secret, code.trim(), Utc::now().timestamp()).ok_or_else(|| {
            ApiError::BadRequest(
                "code: expected the current six-digit code of the new secret".into(),
            )
        })?;
    let sealed = keyring::seal_field(
        &mut tx,
        state.kek(),
        totp_aad(&row_id, "totp_secret"),
        &secret,
    )
    .await?;
    identity::activate_totp(&mut tx, user_id, &sealed, step).await?;
    let (codes, hashes) = new_recovery_codes()?;
    identity::replace_recovery_codes(&mut tx, user_id, &hashes).await?;
    tx.audit(
        &principal.actor,
        "user.totp_enabled",
        &principal.actor,
        json!({}),
    )
    .await?;
    tx.commit().await?;
    Ok(codes)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DisableTotp {
    current_password: String,
    /// A current TOTP code or an unused recovery code.
    code: String,
}

pub async fn totp_disable(
    State(state): State<AppState>,
    principal: Principal,
    JsonBody(body): JsonBody<DisableTotp>,
) -> ApiResult<StatusCode> {
    disable(&state, &principal, &body.current_password, &body.code).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Turn TOTP off: the current password and a code (TOTP or recovery) both,
/// counted together toward the lockout. Refused while the workspace
/// requires two-factor sign-in of this role.
pub(crate) async fn disable(
    state: &AppState,
    principal: &Principal,
    current_password: &str,
    code: &str,
) -> ApiResult<()> {
    let mut tx = state
        .store()
        .begin_workspace_tx(principal.workspace_id)
        .await?;
    let required = principal.role >= Role::Admin
        && identity::sign_in_settings(&mut tx)
            .await?
            .require_mfa_for_admins;
    tx.commit().await?;
    if required {
        return Err(ApiError::Forbidden(
            "mfa_required",
            "this workspace requires two-factor sign-in of owners and admins: it cannot be turned off".into(),
        ));
    }
    let user = reauthenticate_with_code(state, principal, current_password, code).await?;
    let mut tx = state
        .store()
        .begin_workspace_tx(principal.workspace_id)
        .await?;
    identity::disable_totp(&mut tx, user.id).await?;
    tx.audit(
        &principal.actor,
        "user.totp_disabled",
        &principal.actor,
        json!({}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegenerateCodes {
    current_password: String,
    /// A current TOTP code or an unused recovery code.
    code: String,
}

pub async fn regenerate_recovery_codes(
    State(state): State<AppState>,
    principal: Principal,
    JsonBody(body): JsonBody<RegenerateCodes>,
) -> ApiResult<Json<Value>> {
    let codes = regenerate(&state, &principal, &body.current_password, &body.code).await?;
    Ok(Json(json!({ "recovery_codes": codes })))
}

/// Ten new recovery codes, after the current password and a second factor
/// (the password alone would let a session thief mint codes that outlive
/// the authenticator); the old codes stop working.
pub(crate) async fn regenerate(
    state: &AppState,
    principal: &Principal,
    current_password: &str,
    code: &str,
) -> ApiResult<Vec<String>> {
    let user = reauthenticate_with_code(state, principal, current_password, code).await?;
    let (codes, hashes) = new_recovery_codes()?;
    let mut tx = state
        .store()
        .begin_workspace_tx(principal.workspace_id)
        .await?;
    identity::replace_recovery_codes(&mut tx, user.id, &hashes).await?;
    tx.audit(
        &principal.actor,
        "user.recovery_codes_regenerated",
        &principal.actor,
        json!({}),
    )
    .await?;
    tx.commit().await?;
    Ok(codes)
}

/// One of your sessions, and whether it is the one asking.
#[derive(Debug, Serialize)]
pub struct YourSession {
    #[serde(flatten)]
    pub session: SessionSummary,
    pub current: bool,
}

pub async fn sessions(
    State(state): State<AppState>,
    principal: Principal,
) -> ApiResult<Json<Vec<YourSession>>> {
    Ok(Json(your_sessions(&state, &principal).await?))
}

pub(crate) async fn your_sessions(
    state: &AppState,
    principal: &Principal,
) -> ApiResult<Vec<YourSession>> {
    let user_id = principal.require_local_user()?;
    let mut tx = state
        .store()
        .begin_workspace_tx(principal.workspace_id)
        .await?;
    let rows = credentials::sessions_of(
        &mut tx,
        user_id,
        SESSION_IDLE.num_days(),
        SESSION_ABSOLUTE.num_days(),
    )
    .await?;
    tx.commit().await?;
    Ok(rows
        .into_iter()
        .map(|session| YourSession {
            current: Some(session.id) == principal.session_id,
            session,
        })
        .collect())
}

pub async fn revoke_session(
    State(state): State<AppState>,
    principal: Principal,
    PathId(id): PathId,
) -> ApiResult<StatusCode> {
    end_your_session(&state, &principal, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// End one of your own sessions (audited); another user's is not found.
pub(crate) async fn end_your_session(
    state: &AppState,
    principal: &Principal,
    id: Uuid,
) -> ApiResult<()> {
    let user_id = principal.require_local_user()?;
    let mut tx = state
        .store()
        .begin_workspace_tx(principal.workspace_id)
        .await?;
    credentials::revoke_own_session(&mut tx, user_id, id).await?;
    tx.audit(
        &principal.actor,
        "auth.session_revoked",
        &principal.actor,
        json!({"session": id}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
