//! The checks of a sign-in and of a re-authentication. An attempt is
//! counted (under the user's row lock) before its password is checked, and
//! the check runs off the async threads; ten failures lock the account for
//! an hour. An e-mail may belong to users of several workspaces: the
//! password says which one signs in, and the attempt is withdrawn from the
//! others.

use chrono::{Duration, Utc};
use serde_json::json;
use sightline_store::credentials::{self, SessionOrigin};
use sightline_store::identity::{self, User};
use sightline_store::keyring;
use sightline_store::lockout::{self, Attempt, AuthEvent};

use super::session::{totp_aad, SignIn, SignedIn};
use crate::auth::{password, tokens, totp, Principal};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// Failed sign-ins before the account locks.
pub const LOCKOUT_AFTER: i32 = 10;
/// How long a locked account stays locked.
pub const LOCKOUT_FOR: Duration = Duration::hours(1);
/// The workspaces one e-mail address can sign in to (oldest first).
pub const MAX_WORKSPACES_PER_EMAIL: i64 = 5;

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
