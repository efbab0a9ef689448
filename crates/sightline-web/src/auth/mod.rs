//! Who is calling. Three ways in, checked in this order:
//! 1. `Authorization: Bearer slk_…`: an API key, scoped to its role, until
//!    it expires or is revoked.
//! 2. Behind an ALB with OIDC: the `x-amzn-oidc-data` assertion, mapped to a
//!    user of the configured workspace by the IdP's issuer and subject (an
//!    e-mail match binds a user once, never rebinds one).
//! 3. The `__Host-sl_session` cookie of a local sign-in.
//!
//! Cookie and ALB principals carry a signed double-submit CSRF token on
//! every state-changing request (bound to the session, or to the ALB user).

pub mod oidc;
pub mod password;
pub mod tokens;
pub mod totp;

use axum::http::{HeaderMap, Method};
use chrono::{Duration, Utc};
use serde_json::json;
use sightline_core::roles::Role;
use sightline_store::tenant::CredentialKind;
use sightline_store::{credentials, identity};
use uuid::Uuid;

use crate::error::ApiError;
use crate::state::AppState;

/// `__Host-`: the browser keeps them to this exact host, over HTTPS, path `/`.
pub const SESSION_COOKIE: &str = "__Host-sl_session";
pub const CSRF_COOKIE: &str = "__Host-sl_csrf";
pub const CSRF_HEADER: &str = "x-csrf-token";
pub const OIDC_HEADER: &str = "x-amzn-oidc-data";
pub const API_KEY_PREFIX: &str = "slk_";
/// Sessions end after this much inactivity; each request slides the window.
pub const SESSION_IDLE: Duration = Duration::days(7);
/// And after this long whatever their use.
pub const SESSION_ABSOLUTE: Duration = Duration::days(30);
/// An ALB user's first request after this long without one is a new sign-in (audited).
pub const ALB_SIGN_IN_GAP: Duration = Duration::minutes(30);

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
    /// The workspace requires two-factor sign-in of this owner or admin, who has none yet.
    pub must_enrol_totp: bool,
    /// The CSRF token this caller's forms carry (cookie and ALB principals).
    pub csrf: Option<String>,
    /// The CSRF token was minted for this request: the response sets its cookie.
    pub csrf_minted: bool,
    /// Seconds the session cookie may live from now (sliding, within the absolute lifetime).
    pub session_max_age: Option<i64>,
}

impl Principal {
    /// A key for per-principal rate limiting.
    pub fn limit_key(&self) -> String {
        match (self.kind, self.user_id, self.api_key_id) {
            (PrincipalKind::ApiKey, _, Some(key)) => format!("key:{key}"),
            (_, Some(user), _) => format!("user:{user}"),
            _ => self.actor.clone(),
        }
    }

    /// The signed-in user; an API key is refused.
    pub fn require_user(&self) -> Result<Uuid, ApiError> {
        match (self.kind, self.user_id) {
            (PrincipalKind::Session | PrincipalKind::Oidc, Some(id)) => Ok(id),
            _ => Err(ApiError::forbidden(
                "this action needs a signed-in user, not an API key",
            )),
        }
    }

    /// The user of a local sign-in (password, TOTP); API keys and ALB users are refused.
    /// A person (a session or an ALB user), not an API key.
    pub fn require_person(&self) -> Result<(), ApiError> {
        match (self.kind, self.user_id) {
            (PrincipalKind::Session | PrincipalKind::Oidc, Some(_)) => Ok(()),
            _ => Err(ApiError::forbidden(
                "this action needs a signed-in user (a person), not an API key",
            )),
        }
    }

    pub fn require_local_user(&self) -> Result<Uuid, ApiError> {
        match (self.kind, self.user_id) {
            (PrincipalKind::Session, Some(id)) => Ok(id),
            (PrincipalKind::Oidc, _) => Err(ApiError::forbidden(
                "this server signs users in through the ALB's identity provider, which owns passwords and second factors",
            )),
            _ => Err(ApiError::forbidden(
                "this action needs a signed-in user, not an API key",
            )),
        }
    }
}

/// What a CSRF token is bound to: the session, or the ALB user.
pub fn csrf_binding(
    kind: PrincipalKind,
    session_id: Option<Uuid>,
    user_id: Option<Uuid>,
) -> Option<String> {
    match kind {
        PrincipalKind::Session => session_id.map(|s| s.to_string()),
        PrincipalKind::Oidc => user_id.map(|u| format!("alb:{u}")),
        PrincipalKind::ApiKey => None,
    }
}

/// The value of cookie `name`, from every `Cookie` header.
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

pub fn state_changing(method: &Method) -> bool {
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
    let mut principal = if let Some(verifier) = state.oidc() {
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
                // The log names the claim and why; the caller learns only the
                // claim, never the configured ALB, issuer or key URL.
                tracing::warn!(claim = e.claim, reason = %e.reason, "refused ALB OIDC token");
                ApiError::unauthenticated(format!("ALB OIDC token refused: {}", e.claim))
            })?;
        oidc_user(state, &identity).await?
    } else {
        let token = cookie(headers, SESSION_COOKIE)
            .ok_or_else(|| ApiError::unauthenticated("not signed in: no session cookie"))?;
        session(state, token).await?
    };
    let binding = csrf_binding(principal.kind, principal.session_id, principal.user_id)
        .ok_or_else(|| ApiError::Internal("a cookie principal without a CSRF binding".into()))?;
    let sent_cookie =
        cookie(headers, CSRF_COOKIE).filter(|c| tokens::csrf_valid(state.csrf_key(), &binding, c));
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
        if !tokens::constant_time_eq(sent, cookie_value)
            || !tokens::csrf_valid(state.csrf_key(), &binding, sent)
        {
            return Err(ApiError::Forbidden(
                "csrf_mismatch",
                format!("the {CSRF_HEADER} header does not match this session's CSRF cookie"),
            ));
        }
    }
    match sent_cookie {
        Some(token) => principal.csrf = Some(token.to_owned()),
        None => {
            principal.csrf = Some(tokens::csrf_token(state.csrf_key(), &binding)?);
            principal.csrf_minted = true;
        }
    }
    Ok(principal)
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
    if let Some(expired) = found.expires_at.filter(|e| *e <= Utc::now()) {
        return Err(ApiError::Unauthenticated(
            "api_key_expired",
            format!("this API key expired at {}", expired.to_rfc3339()),
        ));
    }
    let mut tx = state.store().begin_workspace_tx(found.workspace_id).await?;
    credentials::touch_api_key(&mut tx, found.id).await?;
    tx.commit().await?;
    let role = parse_role(found.role.as_deref().unwrap_or("viewer"))?;
    Ok(Principal {
        workspace_id: found.workspace_id,
        role,
        kind: PrincipalKind::ApiKey,
        user_id: found.user_id,
        session_id: None,
        api_key_id: Some(found.id),
        actor: format!("api-key:{}", &key[..key.len().min(12)]),
        must_change_password: false,
        must_enrol_totp: false,
        csrf: None,
        csrf_minted: false,
        session_max_age: None,
    })
}

/// The user an ALB identity stands for: the one bound to its issuer and
/// subject; or, the first time, the unbound user with its (verified) e-mail,
/// which is then bound. A user bound to another subject is never taken over.
async fn oidc_user(state: &AppState, identity: &oidc::OidcIdentity) -> Result<Principal, ApiError> {
    let workspace = state
        .oidc_workspace()
        .ok_or_else(|| ApiError::Internal("ALB OIDC without a workspace".into()))?;
    let mut tx = state.store().begin_workspace_tx(workspace).await?;
    let subject = json!({"iss": identity.issuer, "sub": identity.subject});
    let user = match identity::user_by_oidc(&mut tx, &identity.issuer, &identity.subject).await? {
        Some(user) => user,
        None => {
            let refused = |why: String| {
                tracing::warn!(claim = "sub", reason = %why, "refused ALB OIDC user");
                ApiError::forbidden(why)
            };
            if identity.email_verified == Some(false) {
                return Err(refused(format!(
                    "the identity provider says {} is not verified: verify it there first",
                    identity.email
                )));
            }
            let Some(user) = identity::user_by_email(&mut tx, &identity.email).await? else {
                return Err(refused(format!(
                    "no Sightline user {} in this workspace: an admin must add them",
                    identity.email
                )));
            };
            if user.oidc_subject.is_some() {
                tx.audit(
                    "system:alb",
                    "auth.oidc_refused",
                    &format!("user:{}", user.email),
                    json!({"reason": "e-mail bound to another identity", "presented": subject}),
                )
                .await?;
                tx.commit().await?;
                return Err(refused(format!(
                    "{} is bound to another identity of the provider: an admin must remove and re-add the user to rebind it",
                    identity.email
                )));
            }
            if !identity::bind_oidc(&mut tx, user.id, &identity.issuer, &identity.subject).await? {
                // Another request bound the user first: this one counts only
                // if it was bound to the same identity.
                let bound = identity::user(&mut tx, user.id).await?;
                if bound.oidc_issuer.as_deref() != Some(&identity.issuer)
                    || bound.oidc_subject.as_deref() != Some(&identity.subject)
                {
                    tx.rollback().await?;
                    return Err(refused(format!(
                        "{} is bound to another identity of the provider",
                        identity.email
                    )));
                }
                tx.commit().await?;
                return Box::pin(oidc_user(state, identity)).await;
            }
            tx.audit(
                "system:alb",
                "user.oidc_bound",
                &format!("user:{}", user.email),
                subject.clone(),
            )
            .await?;
            user
        }
    };
    if identity::note_oidc_use(&mut tx, user.id, ALB_SIGN_IN_GAP).await? {
        tx.audit(
            &format!("user:{}", user.email),
            "auth.sign_in",
            &format!("user:{}", user.email),
            json!({"method": "alb-oidc", "iss": identity.issuer, "sub": identity.subject}),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(Principal {
        workspace_id: user.workspace_id,
        role: parse_role(&user.role)?,
        kind: PrincipalKind::Oidc,
        user_id: Some(user.id),
        session_id: None,
        api_key_id: None,
        actor: format!("user:{}", user.email),
        must_change_password: false,
        must_enrol_totp: false,
        csrf: None,
        csrf_minted: false,
        session_max_age: None,
    })
}

async fn session(state: &AppState, token: &str) -> Result<Principal, ApiError> {
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
    let now = Utc::now();
    let last_seen = found.last_seen_at.unwrap_or_default();
    let expired = if last_seen + SESSION_IDLE <= now {
        Some(format!(
            "the session expired after {} days without use: sign in again",
            SESSION_IDLE.num_days()
        ))
    } else if found.created_at + SESSION_ABSOLUTE <= now {
        Some(format!(
            "the session reached its {}-day lifetime: sign in again",
            SESSION_ABSOLUTE.num_days()
        ))
    } else {
        None
    };
    if let Some(message) = expired {
        credentials::revoke_session(&mut tx, found.id).await?;
        tx.commit().await?;
        return Err(ApiError::Unauthenticated("session_expired", message));
    }
    let user_id = found
        .user_id
        .ok_or_else(|| ApiError::Internal("session without a user".into()))?;
    let user = identity::user(&mut tx, user_id).await?;
    let role = parse_role(&user.role)?;
    let must_enrol_totp = role >= Role::Admin
        && user.totp_secret.is_none()
        && identity::sign_in_settings(&mut tx)
            .await?
            .require_mfa_for_admins;
    credentials::touch_session(&mut tx, found.id).await?;
    tx.commit().await?;
    let remaining = (found.created_at + SESSION_ABSOLUTE - now).num_seconds();
    Ok(Principal {
        workspace_id: found.workspace_id,
        role,
        kind: PrincipalKind::Session,
        user_id: Some(user.id),
        session_id: Some(found.id),
        api_key_id: None,
        actor: format!("user:{}", user.email),
        must_change_password: user.must_change_password,
        must_enrol_totp,
        csrf: None,
        csrf_minted: false,
        session_max_age: Some(remaining.min(SESSION_IDLE.num_seconds()).max(0)),
    })
}
