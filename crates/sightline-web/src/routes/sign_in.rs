//! The checks of a sign-in and of a re-authentication. A sign-in is for one
//! user of one workspace (named, or the deployment's only one): a password
//! is only ever checked against that user, so nothing about another
//! workspace's users can change the answer. An attempt is counted, under the
//! user's row lock, before its password is checked; the check runs off the
//! async threads; ten failures lock the account for an hour. Each check runs
//! in a task of its own to the end, audit included, even when the client
//! goes away before the answer.

use chrono::{Duration, Utc};
use serde_json::json;
use sightline_store::credentials::{self, SessionOrigin};
use sightline_store::identity::{self, User};
use sightline_store::keyring;
use sightline_store::lockout::{self, Attempt, AuthEvent};
use sightline_store::tenant::SignInTarget;

use super::session::{totp_aad, SignIn, SignedIn};
use crate::auth::{password, tokens, totp, Principal};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// Failed sign-ins before the account locks.
pub const LOCKOUT_AFTER: i32 = 10;
/// How long a locked account stays locked.
pub const LOCKOUT_FOR: Duration = Duration::hours(1);

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

/// Sign-in checks running at once, in this process, beyond which a new one
/// is refused (429): the tasks outlive their requests, so they are bounded.
const CHECKS_AT_ONCE: usize = 256;

/// Run `check` to its end in a task of its own: a request that is
/// cancelled (the client left, the request timed out) does not stop a
/// counted attempt from being checked and audited.
async fn to_the_end<T: Send + 'static>(
    check: impl std::future::Future<Output = ApiResult<T>> + Send + 'static,
) -> ApiResult<T> {
    static RUNNING: std::sync::OnceLock<std::sync::Arc<tokio::sync::Semaphore>> =
        std::sync::OnceLock::new();
    let running = RUNNING
        .get_or_init(|| std::sync::Arc::new(tokio::sync::Semaphore::new(CHECKS_AT_ONCE)))
        .clone();
    let permit = running.try_acquire_owned().map_err(|_| {
        ApiError::rate_limited("too many sign-ins are in progress; try again shortly", 1)
    })?;
    tokio::spawn(async move {
        let _permit = permit;
        check.await
    })
    .await
    .map_err(|e| ApiError::Internal(format!("sign-in check: {e}")))?
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
    let (state, origin, body) = (state.clone(), origin.clone(), body.clone());
    to_the_end(async move { checked_sign_in(&state, &origin, &body).await }).await
}

async fn checked_sign_in(
    state: &AppState,
    origin: &SessionOrigin,
    body: &SignIn,
) -> ApiResult<SignedIn> {
    let email = body.email.trim().to_lowercase();
    let workspace = body
        .workspace
        .as_deref()
        .map(str::trim)
        .filter(|w| !w.is_empty());
    let user = match state.store().sign_in_target(workspace, &email).await? {
        SignInTarget::User(user) => *user,
        SignInTarget::WorkspaceNeeded => {
            return Err(ApiError::BadRequest(
                "workspace: this deployment has several workspaces; name the one to sign in to"
                    .into(),
            ))
        }
        SignInTarget::Unknown => {
            // As slow as a wrong password, so e-mails cannot be probed by timing.
            password::verify_async(&body.password, password::decoy()).await?;
            tracing::info!("sign-in refused: unknown e-mail");
            state
                .store()
                .record_auth_event(
                    AuthEvent::UnknownEmail,
                    &email,
                    &origin.ip,
                    json!({"workspace": workspace.map(|w| w.chars().take(100).collect::<String>())}),
                )
                .await?;
            return Err(refused());
        }
    };
    let actor = format!("user:{}", user.email);
    // A hashing CPU first (a full queue refuses here, before anything is
    // counted); then the attempt, counted under the user's row lock.
    let slot = password::slot().await?;
    let mut tx = state.store().begin_workspace_tx(user.workspace_id).await?;
    let attempt = lockout::begin_attempt(&mut tx, user.id, LOCKOUT_AFTER, LOCKOUT_FOR).await?;
    if let Some(until) = attempt.locked_until {
        tx.audit(
            &actor,
            "auth.sign_in_refused",
            &actor,
            json!({"reason": "locked", "ip": origin.ip}),
        )
        .await?;
        tx.commit().await?;
        state
            .store()
            .record_auth_event(AuthEvent::RefusedLocked, &email, &origin.ip, json!({}))
            .await?;
        return Err(locked(until));
    }
    tx.commit().await?;
    let password_ok = match &user.password_hash {
        Some(hash) => slot.verify(&body.password, hash).await?,
        None => slot
            .verify(&body.password, password::decoy())
            .await
            .map(|_| false)?,
    };
    if !password_ok {
        audit_failure(state, &user, &attempt, &origin.ip, "password").await?;
        return Err(refused());
    }
    let mut tx = state.store().begin_workspace_tx(user.workspace_id).await?;
    let fresh = identity::user(&mut tx, user.id).await?;
    let factor = match (&body.totp_code, &body.recovery_code) {
        (None, None) if fresh.totp_secret.is_some() => Err("totp_missing"),
        (code, recovery) => second_factor(state, &mut tx, &fresh, code, recovery).await?,
    };
    if let Err(reason) = factor {
        tx.commit().await?;
        audit_failure(state, &user, &attempt, &origin.ip, reason).await?;
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
            _ => ApiError::Unauthenticated("invalid_second_factor", "wrong two-factor code".into()),
        });
    }
    lockout::clear_failed_logins(&mut tx, user.id).await?;
    let token = tokens::random_token(32)?;
    let session_id =
        credentials::create_session(&mut tx, user.id, &tokens::sha256_hex(&token), origin).await?;
    let csrf = tokens::csrf_token(state.csrf_key(), &session_id.to_string())?;
    let method = if body.recovery_code.is_some() && body.totp_code.is_none() {
        "recovery-code"
    } else {
        "password"
    };
    tx.audit(
        &actor,
        "auth.sign_in",
        &actor,
        json!({"ip": origin.ip, "session": session_id, "method": method}),
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

/// A second factor of `user`: a TOTP code (each time step once) or an
/// unused recovery code. `Ok(Ok(()))` when the user has none and none is
/// sent; `Ok(Err(reason))` when it is missing, wrong or replayed.
pub(crate) async fn second_factor(
    state: &AppState,
    tx: &mut sightline_store::WorkspaceTx,
    user: &User,
    totp_code: &Option<String>,
    recovery_code: &Option<String>,
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
    if let Some(code) = present(totp_code) {
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
    if let Some(code) = present(recovery_code) {
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
    reauthenticate_with(state, principal, current_password, None).await
}

/// `reauthenticate`, and then a second factor too (a current TOTP code or
/// an unused recovery code), counted in the same attempt: the count is
/// lifted only when both are right.
pub(crate) async fn reauthenticate_with_code(
    state: &AppState,
    principal: &Principal,
    current_password: &str,
    code: &str,
) -> ApiResult<User> {
    reauthenticate_with(state, principal, current_password, Some(code)).await
}

async fn reauthenticate_with(
    state: &AppState,
    principal: &Principal,
    current_password: &str,
    code: Option<&str>,
) -> ApiResult<User> {
    principal.require_local_user()?;
    let (state, principal) = (state.clone(), principal.clone());
    let (current_password, code) = (current_password.to_owned(), code.map(str::to_owned));
    to_the_end(async move {
        checked_reauthentication(&state, &principal, &current_password, code.as_deref()).await
    })
    .await
}

async fn checked_reauthentication(
    state: &AppState,
    principal: &Principal,
    current_password: &str,
    code: Option<&str>,
) -> ApiResult<User> {
    let user_id = principal.require_local_user()?;
    let slot = password::slot().await?;
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
    let password_ok = match &user.password_hash {
        Some(hash) => slot.verify(current_password, hash).await?,
        None => false,
    };
    let mut tx = state
        .store()
        .begin_workspace_tx(principal.workspace_id)
        .await?;
    if password_ok && code.is_some() && user.totp_secret.is_none() {
        // Nothing to check the code against: not a failed attempt.
        lockout::clear_failed_logins(&mut tx, user_id).await?;
        tx.commit().await?;
        return Err(ApiError::Conflict(
            "two-factor sign-in is not on for this user".into(),
        ));
    }
    let failure = if !password_ok {
        Some(("current_password", "current_password is wrong"))
    } else if let Some(code) = code {
        // A six-digit code is a TOTP code; anything else is a recovery code.
        let code = code.trim();
        let is_totp = code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit());
        let (totp_code, recovery_code) = match is_totp {
            true => (Some(code.to_owned()), None),
            false => (None, Some(code.to_owned())),
        };
        match second_factor(state, &mut tx, &user, &totp_code, &recovery_code).await? {
            Ok(()) => None,
            Err(_) => Some((
                "code",
                "code: expected a current two-factor code or an unused recovery code",
            )),
        }
    } else {
        None
    };
    let Some((reason, message)) = failure else {
        lockout::clear_failed_logins(&mut tx, user_id).await?;
        tx.commit().await?;
        return Ok(user);
    };
    tx.commit().await?;
    audit_failure(state, &user, &attempt, "-", reason).await?;
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
    Err(match reason {
        "current_password" => ApiError::Forbidden("invalid_credentials", message.into()),
        _ => ApiError::Forbidden("invalid_second_factor", message.into()),
    })
}
