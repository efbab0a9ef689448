//! Signing in and out, the caller, password change and re-authentication.
//! Two-factor enrolment and your sessions are in `routes::account`.
//!
//! A sign-in attempt is counted (under the user's row lock) before its
//! password is checked, and the check runs off the async threads; ten
//! failures lock the account for an hour. An e-mail may belong to users of
//! several workspaces: the password says which one signs in.

use axum::extract::State;
use axum::http::header::{SET_COOKIE, USER_AGENT};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{Duration, Utc};
use serde::Deserialize;
use serde_json::{json, Value};
use sightline_crypto::FieldAad;
use sightline_store::credentials::{self, SessionOrigin};
use sightline_store::identity::{self, User};
use sightline_store::keyring;
use sightline_store::lockout::{self, Attempt, AuthEvent};

use crate::auth::{
    password, tokens, totp, Principal, PrincipalKind, CSRF_COOKIE, SESSION_COOKIE, SESSION_IDLE,
};
use crate::error::{ApiError, ApiResult};
use crate::extract::{ClientAddr, JsonBody};
use crate::state::AppState;

/// Failed sign-ins before the account locks.
pub const LOCKOUT_AFTER: i32 = 10;
/// How long a locked account stays locked.
pub const LOCKOUT_FOR: Duration = Duration::hours(1);
/// The workspaces one e-mail address can sign in to (oldest first).
pub const MAX_WORKSPACES_PER_EMAIL: i64 = 5;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignIn {
    pub email: String,
    pub password: String,
    pub totp_code: Option<String>,
    pub recovery_code: Option<String>,
}

/// A new session: its secret, its CSRF token, and who it is for.
pub struct SignedIn {
    pub token: String,
    pub csrf: String,
    pub email: String,
    pub role: String,
    pub workspace_id: uuid::Uuid,
    pub must_change_password: bool,
}

/// Where a request comes from, for the session it opens.
pub(crate) fn origin(ip: std::net::IpAddr, headers: &HeaderMap) -> SessionOrigin {
    SessionOrigin {
        ip: ip.to_string(),
        user_agent: headers
            .get(USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned(),
    }
}

pub(crate) fn totp_aad<'a>(row_id: &'a str, column: &'a str) -> FieldAad<'a> {
    FieldAad {
        table: "users",
        row_id,
        column,
    }
}

fn set_cookie(text: String) -> HeaderValue {
    HeaderValue::from_str(&text).expect("cookie text is ASCII")
}

/// The session and CSRF cookies, living `max_age` seconds.
pub(crate) fn session_cookies(token: &str, csrf: &str, max_age: i64) -> [HeaderValue; 2] {
    [
        set_cookie(format!(
            "{SESSION_COOKIE}={token}; Path=/; HttpOnly; Secure; SameSite=Strict; Max-Age={max_age}"
        )),
        csrf_cookie(csrf, max_age),
    ]
}

/// The CSRF cookie alone (readable by the page, never by another site).
pub(crate) fn csrf_cookie(csrf: &str, max_age: i64) -> HeaderValue {
    set_cookie(format!(
        "{CSRF_COOKIE}={csrf}; Path=/; Secure; SameSite=Strict; Max-Age={max_age}"
    ))
}

/// Headers that set a new session's cookies.
pub(crate) fn new_session_headers(done: &SignedIn) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for cookie in session_cookies(&done.token, &done.csrf, SESSION_IDLE.num_seconds()) {
        headers.append(SET_COOKIE, cookie);
    }
    headers
}

fn refused() -> ApiError {
    ApiError::Unauthenticated("invalid_credentials", "wrong e-mail or password".into())
}

fn locked(until: chrono::DateTime<Utc>) -> ApiError {
    ApiError::Forbidden(
        "account_locked",
        format!(
            "the account is locked until {} after {LOCKOUT_AFTER} failed attempts; an owner or admin can unlock it",
            until.to_rfc3339()
        ),
    )
}

pub async fn sign_in(
    State(state): State<AppState>,
    ClientAddr(ip): ClientAddr,
    headers: HeaderMap,
    JsonBody(body): JsonBody<SignIn>,
) -> ApiResult<Response> {
    let done = password_sign_in(&state, &origin(ip, &headers), &body).await?;
    let body = json!({
        "email": done.email,
        "role": done.role,
        "workspace_id": done.workspace_id,
        "csrf_token": done.csrf,
        "must_change_password": done.must_change_password,
    });
    Ok((new_session_headers(&done), Json(body)).into_response())
}

/// Record a failure in the user's workspace trail, and in the platform log
/// when it locked the account.
async fn audit_failure(
    state: &AppState,
    user: &User,
    attempt: &Attempt,
    ip: &str,
    reason: &str,
) -> ApiResult<()> {
    let actor = format!("user:{}", user.email);
    let mut tx = state.store().begin_workspace_tx(user.workspace_id).await?;
    tx.audit(
        &actor,
        "auth.sign_in_failed",
        &actor,
        json!({"reason": reason, "ip": ip, "failures": attempt.failures}),
    )
    .await?;
    if attempt.locked_now {
        tx.audit(
            &actor,
            "auth.locked",
            &actor,
            json!({"ip": ip, "for_minutes": LOCKOUT_FOR.num_minutes()}),
        )
        .await?;
    }
    tx.commit().await?;
    if attempt.locked_now {
        state
            .store()
            .record_auth_event(
                AuthEvent::Locked,
                &user.email,
                ip,
                json!({"reason": reason}),
            )
            .await?;
    }
    Ok(())
}

/// Check e-mail, password and second factor (with lockout, rate limit and
/// audit) and open a session: shared by the JSON API and the sign-in form.
pub(crate) async fn password_sign_in(
    state: &AppState,
    origin: &SessionOrigin,
    body: &SignIn,
) -> ApiResult<SignedIn> {
    let ip: std::net::IpAddr = origin
        .ip
        .parse()
        .map_err(|_| ApiError::Internal("a session origin without an address".into()))?;
    state
        .limiter()
        .check_login(ip, state.limits().logins_per_ip_per_minute)?;
    if state.oidc().is_some() {
        return Err(ApiError::forbidden(
            "local sign-in is off: this server authenticates through the ALB's identity provider",
        ));
    }
    let email = body.email.trim().to_lowercase();
    let candidates = state
        .store()
        .users_for_login(&email, MAX_WORKSPACES_PER_EMAIL)
        .await?;
    if candidates.is_empty() {
        // As slow as a wrong password, so e-mails cannot be probed by timing.
        password::verify_async(&body.password, password::decoy()).await?;
        tracing::info!("sign-in refused: unknown e-mail");
        state
            .store()
            .record_auth_event(AuthEvent::UnknownEmail, &email, &origin.ip, json!({}))
            .await?;
        return Err(refused());
    }
    // Count the attempt on every user of this e-mail before checking anything.
    let mut attempts = Vec::with_capacity(candidates.len());
    for user in &candidates {
        let mut tx = state.store().begin_workspace_tx(user.workspace_id).await?;
        attempts.push(lockout::begin_attempt(&mut tx, user.id, LOCKOUT_AFTER, LOCKOUT_FOR).await?);
        tx.commit().await?;
    }
    if let Some(until) = attempts
        .iter()
        .map(|a| a.locked_until)
        .collect::<Option<Vec<_>>>()
        .and_then(|all| all.into_iter().min())
    {
        // Every user of this e-mail is locked: refused whatever the password.
        for user in &candidates {
            let actor = format!("user:{}", user.email);
            let mut tx = state.store().begin_workspace_tx(user.workspace_id).await?;
            tx.audit(
                &actor,
                "auth.sign_in_refused",
                &actor,
                json!({"reason": "locked", "ip": origin.ip}),
            )
            .await?;
            tx.commit().await?;
        }
        state
            .store()
            .record_auth_event(AuthEvent::RefusedLocked, &email, &origin.ip, json!({}))
            .await?;
        return Err(locked(until));
    }
    let mut matched = None;
    for (i, user) in candidates.iter().enumerate() {
        if attempts[i].locked_until.is_some() {
            continue;
        }
        if let Some(hash) = &user.password_hash {
            if password::verify_async(&body.password, hash).await? {
                matched = Some(i);
                break;
            }
        }
    }
    let Some(i) = matched else {
        for (user, attempt) in candidates.iter().zip(&attempts) {
            if attempt.locked_until.is_none() {
                audit_failure(state, user, attempt, &origin.ip, "password").await?;
            }
        }
        return Err(refused());
    };
    // The password chose this user: the others' attempts are withdrawn.
    for (j, (other, attempt)) in candidates.iter().zip(&attempts).enumerate() {
        if j != i {
            let mut tx = state.store().begin_workspace_tx(other.workspace_id).await?;
            lockout::withdraw_attempt(&mut tx, other.id, attempt).await?;
            tx.commit().await?;
        }
    }
    let (user, attempt) = (&candidates[i], &attempts[i]);
    let mut tx = state.store().begin_workspace_tx(user.workspace_id).await?;
    let fresh = identity::user(&mut tx, user.id).await?;
    match second_factor(state, &mut tx, &fresh, body).await? {
        Ok(()) => {}
        Err(reason) => {
            tx.commit().await?;
            audit_failure(state, user, attempt, &origin.ip, reason).await?;
            state
                .store()
                .record_auth_event(
                    AuthEvent::SecondFactorFailed,
                    &user.email,
                    &origin.ip,
                    json!({"reason": reason}),
                )
                .await?;
            return Err(match reason {
                "totp_missing" => ApiError::Unauthenticated(
                    "totp_required",
                    "this account has two-factor sign-in: send totp_code or recovery_code".into(),
                ),
                "totp_replay" => ApiError::Unauthenticated(
                    "totp_replay",
                    "this code was used already: wait for the next one".into(),
                ),
                _ => ApiError::Unauthenticated(
                    "invalid_second_factor",
                    "wrong two-factor code".into(),
                ),
            });
        }
    }
    lockout::clear_failed_logins(&mut tx, user.id).await?;
    let token = tokens::random_token(32)?;
    let session_id =
        credentials::create_session(&mut tx, user.id, &tokens::sha256_hex(&token), origin).await?;
    let csrf = tokens::csrf_token(state.csrf_key(), &session_id.to_string())?;
    let actor = format!("user:{}", user.email);
    tx.audit(
        &actor,
        "auth.sign_in",
        &actor,
        json!({"ip": origin.ip, "session": session_id, "method": if body.recovery_code.is_some() { "recovery-code" } else { "password" }}),
    )
    .await?;
    tx.commit().await?;
    Ok(SignedIn {
        token,
        csrf,
        email: fresh.email,
        role: fresh.role,
        workspace_id: fresh.workspace_id,
        must_change_password: fresh.must_change_password,
    })
}

/// The second factor of a user whose password was right: `Err(reason)`
/// when it is missing, wrong or replayed.
async fn second_factor(
    state: &AppState,
    tx: &mut sightline_store::WorkspaceTx,
    user: &User,
    body: &SignIn,
) -> ApiResult<Result<(), &'static str>> {
    let Some(sealed) = &user.totp_secret else {
        return Ok(Ok(()));
    };
    let present = |c: &Option<String>| {
        c.as_deref()
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map(str::to_owned)
    };
    if let Some(code) = present(&body.totp_code) {
        let row_id = user.id.to_string();
        let secret =
            keyring::open_field(tx, state.kek(), totp_aad(&row_id, "totp_secret"), sealed).await?;
        return Ok(
            match totp::matching_step(&secret, &code, Utc::now().timestamp()) {
                None => Err("totp"),
                Some(step) if !identity::accept_totp_step(tx, user.id, step).await? => {
                    Err("totp_replay")
                }
                Some(_) => Ok(()),
            },
        );
    }
    if let Some(code) = present(&body.recovery_code) {
        let hash = tokens::sha256_hex(&code);
        return Ok(if identity::use_recovery_code(tx, user.id, &hash).await? {
            Ok(())
        } else {
            Err("recovery_code")
        });
    }
    Ok(Err("totp_missing"))
}

/// Check the caller's current password again before a sensitive change.
/// The attempt counts toward the lockout like a sign-in; a locked account
/// is refused, and a failure that locks it also ends this session.
pub(crate) async fn reauthenticate(
    state: &AppState,
    principal: &Principal,
    current_password: &str,
) -> ApiResult<User> {
    let user_id = principal.require_local_user()?;
    let mut tx = state
        .store()
        .begin_workspace_tx(principal.workspace_id)
        .await?;
    let attempt = lockout::begin_attempt(&mut tx, user_id, LOCKOUT_AFTER, LOCKOUT_FOR).await?;
    let user = identity::user(&mut tx, user_id).await?;
    tx.commit().await?;
    if let Some(until) = attempt.locked_until {
        return Err(locked(until));
    }
    let ok = match &user.password_hash {
        Some(hash) => password::verify_async(current_password, hash).await?,
        None => false,
    };
    if ok {
        let mut tx = state
            .store()
            .begin_workspace_tx(principal.workspace_id)
            .await?;
        lockout::clear_failed_logins(&mut tx, user_id).await?;
        tx.commit().await?;
        return Ok(user);
    }
    audit_failure(state, &user, &attempt, "-", "current_password").await?;
    if attempt.locked_now {
        if let Some(session) = principal.session_id {
            let mut tx = state
                .store()
                .begin_workspace_tx(principal.workspace_id)
                .await?;
            credentials::revoke_session(&mut tx, session).await?;
            tx.commit().await?;
        }
    }
    Err(ApiError::Forbidden(
        "invalid_credentials",
        "current_password is wrong".into(),
    ))
}

pub async fn sign_out(State(state): State<AppState>, principal: Principal) -> ApiResult<Response> {
    let headers = end_session(&state, &principal).await?;
    Ok((headers, Json(json!({"signed_out": true}))).into_response())
}

/// Headers that clear the session and CSRF cookies.
pub(crate) fn clear_cookies() -> HeaderMap {
    let mut headers = HeaderMap::new();
    for name in [SESSION_COOKIE, CSRF_COOKIE] {
        headers.append(
            SET_COOKIE,
            set_cookie(format!(
                "{name}=; Path=/; Secure; SameSite=Strict; Max-Age=0"
            )),
        );
    }
    headers
}

/// Revoke the caller's session (audited); the headers that clear its cookies.
pub(crate) async fn end_session(state: &AppState, principal: &Principal) -> ApiResult<HeaderMap> {
    let session_id = principal.session_id.ok_or_else(|| {
        ApiError::BadRequest(
            "there is no session to sign out: this caller uses an API key or the ALB".into(),
        )
    })?;
    let mut tx = state
        .store()
        .begin_workspace_tx(principal.workspace_id)
        .await?;
    credentials::revoke_session(&mut tx, session_id).await?;
    tx.audit(
        &principal.actor,
        "auth.sign_out",
        &principal.actor,
        json!({"session": session_id}),
    )
    .await?;
    tx.commit().await?;
    Ok(clear_cookies())
}

pub async fn me(State(state): State<AppState>, principal: Principal) -> ApiResult<Json<Value>> {
    let kind = match principal.kind {
        PrincipalKind::Session => "session",
        PrincipalKind::ApiKey => "api_key",
        PrincipalKind::Oidc => "oidc",
    };
    let mut body = json!({
        "actor": principal.actor,
        "role": principal.role,
        "workspace_id": principal.workspace_id,
        "auth": kind,
        "must_change_password": principal.must_change_password,
        "must_enrol_totp": principal.must_enrol_totp,
    });
    if let (Some(user_id), true) = (principal.user_id, principal.kind != PrincipalKind::ApiKey) {
        let mut tx = state
            .store()
            .begin_workspace_tx(principal.workspace_id)
            .await?;
        let user = identity::user_summary(&mut tx, user_id).await?;
        let left = identity::recovery_codes_left(&mut tx, user_id).await?;
        tx.commit().await?;
        body["email"] = json!(user.email);
        body["totp_enabled"] = json!(user.totp_enabled);
        body["recovery_codes_left"] = json!(left);
    }
    if let Some(csrf) = &principal.csrf {
        body["csrf_token"] = json!(csrf);
    }
    Ok(Json(body))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangePassword {
    current_password: String,
    new_password: String,
}

pub async fn change_password(
    State(state): State<AppState>,
    principal: Principal,
    ClientAddr(ip): ClientAddr,
    headers: HeaderMap,
    JsonBody(body): JsonBody<ChangePassword>,
) -> ApiResult<Response> {
    let done = replace_password(
        &state,
        &principal,
        &body.current_password,
        &body.new_password,
        &origin(ip, &headers),
    )
    .await?;
    Ok((
        new_session_headers(&done),
        Json(json!({"changed": true, "csrf_token": done.csrf})),
    )
        .into_response())
}

/// Check the current password and set a new one (audited). Every session of
/// the user ends, this one included, and a new session replaces this one:
/// a session stolen before the change does not survive it.
pub(crate) async fn replace_password(
    state: &AppState,
    principal: &Principal,
    current_password: &str,
    new_password: &str,
    origin: &SessionOrigin,
) -> ApiResult<SignedIn> {
    principal.require_local_user()?;
    password::check_strength(new_password)?;
    let user = reauthenticate(state, principal, current_password).await?;
    let hash = password::hash_async(new_password).await?;
    let mut tx = state
        .store()
        .begin_workspace_tx(principal.workspace_id)
        .await?;
    identity::set_password(&mut tx, user.id, &hash).await?;
    let revoked = credentials::revoke_user_sessions(&mut tx, user.id, None).await?;
    let token = tokens::random_token(32)?;
    let session_id =
        credentials::create_session(&mut tx, user.id, &tokens::sha256_hex(&token), origin).await?;
    tx.audit(
        &principal.actor,
        "user.password_changed",
        &principal.actor,
        json!({"sessions_ended": revoked, "session": session_id}),
    )
    .await?;
    tx.commit().await?;
    Ok(SignedIn {
        csrf: tokens::csrf_token(state.csrf_key(), &session_id.to_string())?,
        token,
        email: user.email,
        role: user.role,
        workspace_id: user.workspace_id,
        must_change_password: false,
    })
}
