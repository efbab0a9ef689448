//! Signing in and out, the caller, password change and TOTP enrolment.

use axum::extract::State;
use axum::http::header::SET_COOKIE;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{Duration, Utc};
use serde::Deserialize;
use serde_json::{json, Value};
use sightline_crypto::FieldAad;
use sightline_store::{identity, keyring};

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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignIn {
    pub email: String,
    pub password: String,
    pub totp_code: Option<String>,
    pub recovery_code: Option<String>,
}

/// A successful sign-in: the new session's secret and CSRF token.
pub struct SignedIn {
    pub token: String,
    pub csrf: String,
    pub email: String,
    pub role: String,
    pub workspace_id: uuid::Uuid,
    pub must_change_password: bool,
}

fn totp_aad<'a>(row_id: &'a str, column: &'a str) -> FieldAad<'a> {
    FieldAad {
        table: "users",
        row_id,
        column,
    }
}

pub(crate) fn session_cookies(token: &str, csrf: &str) -> [HeaderValue; 2] {
    let max_age = SESSION_IDLE.num_seconds();
    [
        HeaderValue::from_str(&format!(
            "{SESSION_COOKIE}={token}; Path=/; HttpOnly; Secure; SameSite=Strict; Max-Age={max_age}"
        ))
        .expect("cookie text is ASCII"),
        HeaderValue::from_str(&format!(
            "{CSRF_COOKIE}={csrf}; Path=/; Secure; SameSite=Strict; Max-Age={max_age}"
        ))
        .expect("cookie text is ASCII"),
    ]
}

fn refused() -> ApiError {
    ApiError::Unauthenticated("invalid_credentials", "wrong e-mail or password".into())
}

pub async fn sign_in(
    State(state): State<AppState>,
    ClientAddr(ip): ClientAddr,
    JsonBody(body): JsonBody<SignIn>,
) -> ApiResult<Response> {
    let done = password_sign_in(&state, ip, &body).await?;
    let mut headers = HeaderMap::new();
    for cookie in session_cookies(&done.token, &done.csrf) {
        headers.append(SET_COOKIE, cookie);
    }
    let body = json!({
        "email": done.email,
        "role": done.role,
        "workspace_id": done.workspace_id,
        "csrf_token": done.csrf,
        "must_change_password": done.must_change_password,
    });
    Ok((headers, Json(body)).into_response())
}

/// Check e-mail, password and second factor (with lockout, rate limit and
/// audit) and open a session: shared by the JSON API and the sign-in form.
pub(crate) async fn password_sign_in(
    state: &AppState,
    ip: std::net::IpAddr,
    body: &SignIn,
) -> ApiResult<SignedIn> {
    state.limiter().check(
        &format!("login:{ip}"),
        state.limits().logins_per_ip_per_minute,
    )?;
    if state.oidc().is_some() {
        return Err(ApiError::forbidden(
            "local sign-in is off: this server authenticates through the ALB's identity provider",
        ));
    }
    let email = body.email.trim().to_lowercase();
    let Some(user) = state.store().user_for_login(&email).await? else {
        // As slow as a wrong password, so e-mails cannot be probed by timing.
        password::verify(&body.password, password::decoy());
        tracing::info!("sign-in refused: unknown e-mail");
        return Err(refused());
    };
    let actor = format!("user:{}", user.email);
    let mut tx = state.store().begin_workspace_tx(user.workspace_id).await?;
    let now = Utc::now();
    if let Some(until) = user.locked_until.filter(|u| *u > now) {
        tx.audit(
            &actor,
            "auth.sign_in_refused",
            &actor,
            json!({"reason": "locked", "ip": ip.to_string()}),
        )
        .await?;
        tx.commit().await?;
        return Err(ApiError::Forbidden(
            "account_locked",
            format!(
                "the account is locked until {} after {LOCKOUT_AFTER} failed sign-ins",
                until.to_rfc3339()
            ),
        ));
    }
    let password_ok = user
        .password_hash
        .as_deref()
        .is_some_and(|h| password::verify(&body.password, h));
    let second_factor = if !password_ok {
        Err("password")
    } else if let Some(sealed) = &user.totp_secret {
        let row_id = user.id.to_string();
        if let Some(code) = &body.totp_code {
            let secret = keyring::open_field(
                &mut tx,
                state.kek(),
                totp_aad(&row_id, "totp_secret"),
                sealed,
            )
            .await?;
            match totp::matching_step(&secret, code.trim(), now.timestamp()) {
                None => Err("totp"),
                Some(step) if !identity::accept_totp_step(&mut tx, user.id, step).await? => {
                    Err("totp_replay")
                }
                Some(_) => Ok(()),
            }
        } else if let Some(code) = &body.recovery_code {
            let hash = tokens::sha256_hex(code.trim());
            if identity::use_recovery_code(&mut tx, user.id, &hash).await? {
                Ok(())
            } else {
                Err("recovery_code")
            }
        } else {
            tx.commit().await?;
            return Err(ApiError::Unauthenticated(
                "totp_required",
                "this account has two-factor sign-in: send totp_code or recovery_code".into(),
            ));
        }
    } else {
        Ok(())
    };
    if let Err(reason) = second_factor {
        let locked =
            identity::record_failed_login(&mut tx, user.id, LOCKOUT_AFTER, now + LOCKOUT_FOR)
                .await?;
        tx.audit(
            &actor,
            "auth.sign_in_failed",
            &actor,
            json!({"reason": reason, "ip": ip.to_string(), "failures": locked.failed_logins}),
        )
        .await?;
        tx.commit().await?;
        return Err(match reason {
            "totp_replay" => ApiError::Unauthenticated(
                "totp_replay",
                "this code was used already: wait for the next one".into(),
            ),
            "totp" | "recovery_code" => {
                ApiError::Unauthenticated("invalid_second_factor", "wrong two-factor code".into())
            }
            _ => refused(),
        });
    }
    identity::clear_failed_logins(&mut tx, user.id).await?;
    let token = tokens::random_token(32)?;
    let session_id =
        identity::create_session(&mut tx, user.id, &tokens::sha256_hex(&token)).await?;
    let csrf = tokens::csrf_token(state.csrf_key(), &session_id.to_string())?;
    tx.audit(
        &actor,
        "auth.sign_in",
        &actor,
        json!({"ip": ip.to_string(), "session": session_id}),
    )
    .await?;
    tx.commit().await?;
    Ok(SignedIn {
        token,
        csrf,
        email: user.email,
        role: user.role,
        workspace_id: user.workspace_id,
        must_change_password: user.must_change_password,
    })
}

pub async fn sign_out(State(state): State<AppState>, principal: Principal) -> ApiResult<Response> {
    let headers = end_session(&state, &principal).await?;
    Ok((headers, Json(json!({"signed_out": true}))).into_response())
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
    identity::revoke_session(&mut tx, session_id).await?;
    tx.audit(
        &principal.actor,
        "auth.sign_out",
        &principal.actor,
        json!({"session": session_id}),
    )
    .await?;
    tx.commit().await?;
    let mut headers = HeaderMap::new();
    for name in [SESSION_COOKIE, CSRF_COOKIE] {
        headers.append(
            SET_COOKIE,
            HeaderValue::from_str(&format!(
                "{name}=; Path=/; Secure; SameSite=Strict; Max-Age=0"
            ))
            .expect("cookie text is ASCII"),
        );
    }
    Ok(headers)
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
    });
    if let Some(user_id) = principal.user_id {
        let mut tx = state
            .store()
            .begin_workspace_tx(principal.workspace_id)
            .await?;
        let user = identity::user_summary(&mut tx, user_id).await?;
        tx.commit().await?;
        body["email"] = json!(user.email);
        body["totp_enabled"] = json!(user.totp_enabled);
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
    JsonBody(body): JsonBody<ChangePassword>,
) -> ApiResult<Json<Value>> {
    replace_password(
        &state,
        &principal,
        &body.current_password,
        &body.new_password,
    )
    .await?;
    Ok(Json(json!({"changed": true})))
}

/// Check the current password and set a new one (audited).
pub(crate) async fn replace_password(
    state: &AppState,
    principal: &Principal,
    current_password: &str,
    new_password: &str,
) -> ApiResult<()> {
    let body = ChangePassword {
        current_password: current_password.to_owned(),
        new_password: new_password.to_owned(),
    };
    let user_id = principal.require_user()?;
    password::check_strength(&body.new_password)?;
    let mut tx = state
        .store()
        .begin_workspace_tx(principal.workspace_id)
        .await?;
    let user = identity::user(&mut tx, user_id).await?;
    if !user
        .password_hash
        .as_deref()
        .is_some_and(|h| password::verify(&body.current_password, h))
    {
        return Err(ApiError::Forbidden(
            "invalid_credentials",
            "current_password is wrong".into(),
        ));
    }
    identity::set_password(&mut tx, user_id, &password::hash(&body.new_password)?).await?;
    tx.audit(
        &principal.actor,
        "user.password_changed",
        &principal.actor,
        json!({}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

pub async fn totp_begin(
    State(state): State<AppState>,
    principal: Principal,
) -> ApiResult<Json<Value>> {
    let user_id = principal.require_user()?;
    let secret = tokens::random_bytes::<{ totp::SECRET_LEN }>()?;
    let mut tx = state
        .store()
        .begin_workspace_tx(principal.workspace_id)
        .await?;
    let user = identity::user(&mut tx, user_id).await?;
    if user.totp_secret.is_some() {
        return Err(ApiError::Conflict(
            "two-factor sign-in is already on for this user".into(),
        ));
    }
    let row_id = user_id.to_string();
    let sealed = keyring::seal_field(
        &mut tx,
        state.kek(),
        totp_aad(&row_id, "totp_pending"),
        &secret,
    )
    .await?;
    identity::set_totp_pending(&mut tx, user_id, &sealed).await?;
    tx.commit().await?;
    let encoded = totp::base32(&secret);
    // The new secret is shown this once, for the authenticator app; it is stored only sealed.
    Ok(Json(json!({
        "secret": encoded,
        "otpauth_uri": format!("otpauth://totp/Sightline:{}?secret={encoded}&issuer=Sightline&algorithm=SHA1&digits=6&period=30", user.email),
    })))
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
    let user_id = principal.require_user()?;
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
    let step = totp::matching_step(&secret, body.code.trim(), Utc::now().timestamp()).ok_or_else(
        || {
            ApiError::BadRequest(
                "code: expected the current six-digit code of the new secret".into(),
            )
        },
    )?;
    let sealed = keyring::seal_field(
        &mut tx,
        state.kek(),
        totp_aad(&row_id, "totp_secret"),
        &secret,
    )
    .await?;
    identity::activate_totp(&mut tx, user_id, &sealed, step).await?;
    let codes: Vec<String> = (0..10)
        .map(|_| tokens::random_token(10))
        .collect::<Result<_, _>>()?;
    let hashes: Vec<String> = codes.iter().map(|c| tokens::sha256_hex(c)).collect();
    identity::replace_recovery_codes(&mut tx, user_id, &hashes).await?;
    tx.audit(
        &principal.actor,
        "user.totp_enabled",
        &principal.actor,
        json!({}),
    )
    .await?;
    tx.commit().await?;
    Ok(Json(json!({ "recovery_codes": codes })))
}
