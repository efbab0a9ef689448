//! Who is calling. Three ways in, checked in this order:
//! 1. `Authorization: Bearer slk_…`: an API key, scoped to its role.
//! 2. Behind an ALB with OIDC: the `x-amzn-oidc-data` assertion, mapped to a
//!    user of the configured workspace by e-mail.
//! 3. The `sl_session` cookie of a local sign-in, with a signed
//!    double-submit CSRF token on every state-changing request.

pub mod oidc;
pub mod password;
pub mod tokens;
pub mod totp;

use axum::http::{HeaderMap, Method};
use chrono::{Duration, Utc};
use sightline_core::roles::Role;
use sightline_store::identity;
use sightline_store::tenant::CredentialKind;
use uuid::Uuid;

use crate::error::ApiError;
use crate::state::AppState;

pub const SESSION_COOKIE: &str = "sl_session";
pub const CSRF_COOKIE: &str = "sl_csrf";
pub const CSRF_HEADER: &str = "x-csrf-token";
pub const OIDC_HEADER: &str = "x-amzn-oidc-data";
pub const API_KEY_PREFIX: &str = "slk_";
/// Sessions end after this much inactivity; each request slides the window.
pub const SESSION_IDLE: Duration = Duration::days(7);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrincipalKind {
    Session,
    ApiKey,
    Oidc,
}

/// The authenticated caller of one request.
#[derive(Debug, Clone)]
pub struct Principal {
    pub workspace_id: Uuid,
    pub role: Role,
    pub kind: PrincipalKind,
    /// The signed-in user (sessions and OIDC).
    pub user_id: Option<Uuid>,
    pub session_id: Option<Uuid>,
    pub api_key_id: Option<Uuid>,
    /// How the audit trail names the caller: `user:<email>` or `api-key:<prefix>`.
    pub actor: String,
    pub must_change_password: bool,
}

impl Principal {
    /// A key for per-principal rate limiting.
    pub fn limit_key(&self) -> String {
        match (self.user_id, self.api_key_id) {
            (Some(user), _) => format!("user:{user}"),
            (None, Some(key)) => format!("key:{key}"),
            _ => self.actor.clone(),
        }
    }

    pub fn require_user(&self) -> Result<Uuid, ApiError> {
        self.user_id.ok_or_else(|| {
            ApiError::forbidden("this action needs a signed-in user, not an API key")
        })
    }
}

pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

fn state_changing(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

fn parse_role(role: &str) -> Result<Role, ApiError> {
    role.parse()
        .map_err(|e: sightline_core::roles::UnknownRole| ApiError::Internal(e.to_string()))
}

/// Establish the principal of a request, or say why not.
pub async fn authenticate(
    state: &AppState,
    method: &Method,
    headers: &HeaderMap,
) -> Result<Principal, ApiError> {
    if let Some(value) = headers.get(axum::http::header::AUTHORIZATION) {
        let value = value
            .to_str()
            .map_err(|_| ApiError::unauthenticated("Authorization header is not text"))?;
        let key = value
            .strip_prefix("Bearer ")
            .filter(|k| k.starts_with(API_KEY_PREFIX))
            .ok_or_else(|| {
                ApiError::unauthenticated(format!(
                    "Authorization: expected \"Bearer {API_KEY_PREFIX}…\" (a Sightline API key)"
                ))
            })?;
        return api_key(state, key).await;
    }
    if let Some(verifier) = state.oidc() {
        let token = headers
            .get(OIDC_HEADER)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| {
                ApiError::unauthenticated(format!(
                    "expected the ALB's {OIDC_HEADER} header: sign in through the load balancer"
                ))
            })?;
        let identity = verifier
            .verify(token, Utc::now().timestamp())
            .await
            .map_err(|e| {
                tracing::warn!(claim = e.claim, reason = %e.reason, "refused ALB OIDC token");
                ApiError::unauthenticated(format!("ALB OIDC token refused: {e}"))
            })?;
        return oidc_user(state, &identity.email).await;
    }
    let token = cookie(headers, SESSION_COOKIE)
        .ok_or_else(|| ApiError::unauthenticated("not signed in: no session cookie"))?;
    session(state, method, headers, token).await
}

async fn api_key(state: &AppState, key: &str) -> Result<Principal, ApiError> {
    let found = state
        .store()
        .credential(CredentialKind::ApiKey, &tokens::sha256_hex(key))
        .await?
        .ok_or_else(|| ApiError::unauthenticated("unknown API key"))?;
    if found.revoked_at.is_some() {
        return Err(ApiError::Unauthenticated(
            "api_key_revoked",
            "this API key was revoked".into(),
        ));
    }
    let mut tx = state.store().begin_workspace_tx(found.workspace_id).await?;
    identity::touch_api_key(&mut tx, found.id).await?;
    tx.commit().await?;
    let role = parse_role(found.role.as_deref().unwrap_or("viewer"))?;
    Ok(Principal {
        workspace_id: found.workspace_id,
        role,
        kind: PrincipalKind::ApiKey,
        user_id: None,
        session_id: None,
        api_key_id: Some(found.id),
        actor: format!("api-key:{}", &key[..key.len().min(12)]),
        must_change_password: false,
    })
}

async fn oidc_user(state: &AppState, email: &str) -> Result<Principal, ApiError> {
    let user = state
        .store()
        .user_for_login(email)
        .await?
        .filter(|u| Some(u.workspace_id) == state.oidc_workspace())
        .ok_or_else(|| {
            ApiError::forbidden(format!(
                "no Sightline user {email} in this workspace: an admin must add them"
            ))
        })?;
    Ok(Principal {
        workspace_id: user.workspace_id,
        role: parse_role(&user.role)?,
        kind: PrincipalKind::Oidc,
        user_id: Some(user.id),
        session_id: None,
        api_key_id: None,
        actor: format!("user:{}", user.email),
        must_change_password: false,
    })
}

async fn session(
    state: &AppState,
    method: &Method,
    headers: &HeaderMap,
    token: &str,
) -> Result<Principal, ApiError> {
    let found = state
        .store()
        .credential(CredentialKind::Session, &tokens::sha256_hex(token))
        .await?
        .ok_or_else(|| ApiError::unauthenticated("unknown session: sign in again"))?;
    if found.revoked_at.is_some() {
        return Err(ApiError::Unauthenticated(
            "session_revoked",
            "this session was signed out: sign in again".into(),
        ));
    }
    let mut tx = state.store().begin_workspace_tx(found.workspace_id).await?;
    let last_seen = found.last_seen_at.unwrap_or_default();
    if last_seen + SESSION_IDLE <= Utc::now() {
        identity::revoke_session(&mut tx, found.id).await?;
        tx.commit().await?;
        return Err(ApiError::Unauthenticated(
            "session_expired",
            format!(
                "the session expired after {} days without use: sign in again",
                SESSION_IDLE.num_days()
            ),
        ));
    }
    if state_changing(method) {
        let sent = headers
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| {
                ApiError::Forbidden(
                    "csrf_missing",
                    format!("a state-changing request needs the {CSRF_HEADER} header"),
                )
            })?;
        let cookie_value = cookie(headers, CSRF_COOKIE).unwrap_or_default();
        let id = found.id.to_string();
        if !tokens::constant_time_eq(sent, cookie_value)
            || !tokens::csrf_valid(state.csrf_key(), &id, sent)
        {
            return Err(ApiError::Forbidden(
                "csrf_mismatch",
                format!("the {CSRF_HEADER} header does not match this session's CSRF cookie"),
            ));
        }
    }
    let user_id = found
        .user_id
        .ok_or_else(|| ApiError::Internal("session without a user".into()))?;
    let user = identity::user(&mut tx, user_id).await?;
    identity::touch_session(&mut tx, found.id).await?;
    tx.commit().await?;
    Ok(Principal {
        workspace_id: found.workspace_id,
        role: parse_role(&user.role)?,
        kind: PrincipalKind::Session,
        user_id: Some(user.id),
        session_id: Some(found.id),
        api_key_id: None,
        actor: format!("user:{}", user.email),
        must_change_password: user.must_change_password,
    })
}
