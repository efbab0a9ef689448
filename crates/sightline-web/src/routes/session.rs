//! Sessions: signing in and out (the checks are in `routes::sign_in`), the
//! cookies, the caller, and password change. Two-factor enrolment and your
//! sessions are in `routes::account`.

use axum::extract::State;
use axum::http::header::{SET_COOKIE, USER_AGENT};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use sightline_crypto::FieldAad;
use sightline_store::credentials::{self, SessionOrigin};
use sightline_store::identity;

use crate::auth::{
    password, tokens, Principal, PrincipalKind, CSRF_COOKIE, SESSION_COOKIE, SESSION_IDLE,
};
use crate::error::{ApiError, ApiResult};
use crate::extract::{ClientAddr, JsonBody};
use crate::state::AppState;

pub(crate) use super::sign_in::{password_sign_in, reauthenticate};

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignIn {
    pub email: String,
    pub password: String,
    /// The workspace's name; needed only when the deployment has several.
    pub workspace: Option<String>,
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
