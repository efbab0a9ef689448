//! Failed sign-ins and the lockout they cause, and the platform-level log of
//! sign-in failures. An attempt is counted, under the user's row lock,
//! before its password is checked: concurrent wrong passwords cannot slip
//! past the limit, and a lock that has run out starts a fresh count.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::FromRow;
use uuid::Uuid;

use crate::identity::found;
use crate::tenant::WorkspaceTx;
use crate::{Store, StoreError};

/// A counted attempt on one user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attempt {
    /// Locked before this attempt, until then: the attempt was not counted
    /// and must be refused whatever the password.
    pub locked_until: Option<DateTime<Utc>>,
    /// This attempt reached the limit and locked the account (undone if it succeeds).
    pub locked_now: bool,
    /// Failures counted so far, this attempt included.
    pub failures: i32,
}

/// Count an attempt on `id` before anything is verified: at `limit`
/// failures the account locks for `lock_for`. A lock that has run out is
/// lifted and its count starts again.
pub async fn begin_attempt(
    tx: &mut WorkspaceTx,
    id: Uuid,
    limit: i32,
    lock_for: chrono::Duration,
) -> Result<Attempt, StoreError> {
    let row: Option<(i32, Option<DateTime<Utc>>, DateTime<Utc>)> = sqlx::query_as(
        "SELECT failed_logins, locked_until, now() FROM users WHERE id = $1 FOR UPDATE",
    )
    .bind(id)
    .fetch_optional(tx.conn())
    .await?;
    let Some((failed, locked_until, now)) = row else {
        return Err(StoreError::NotFound {
            what: "user",
            id: id.to_string(),
        });
    };
    if let Some(until) = locked_until.filter(|u| *u > now) {
        return Ok(Attempt {
            locked_until: Some(until),
            locked_now: false,
            failures: failed,
        });
    }
    let failures = if locked_until.is_some() {
        1
    } else {
        failed + 1
    };
    let locked_now = failures >= limit;
    sqlx::query("UPDATE users SET failed_logins = $2, locked_until = $3 WHERE id = $1")
        .bind(id)
        .bind(failures)
        .bind(locked_now.then(|| now + lock_for))
        .execute(tx.conn())
        .await?;
    Ok(Attempt {
        locked_until: None,
        locked_now,
        failures,
    })
}

/// A successful sign-in: the count starts again.
pub async fn clear_failed_logins(tx: &mut WorkspaceTx, id: Uuid) -> Result<(), StoreError> {
    sqlx::query("UPDATE users SET failed_logins = 0, locked_until = NULL WHERE id = $1")
        .bind(id)
        .execute(tx.conn())
        .await?;
    Ok(())
}

/// An owner's or admin's unlock: the lock and the count are lifted; whether it was locked.
pub async fn unlock(tx: &mut WorkspaceTx, id: Uuid) -> Result<bool, StoreError> {
    let was_locked: Option<bool> = sqlx::query_scalar(
        "WITH before AS (SELECT id, locked_until FROM users WHERE id = $1 FOR UPDATE)
         UPDATE users u SET failed_logins = 0, locked_until = NULL FROM before
         WHERE u.id = before.id RETURNING coalesce(before.locked_until > now(), false)",
    )
    .bind(id)
    .fetch_optional(tx.conn())
    .await?;
    found(u64::from(was_locked.is_some()), "user", id)?;
    Ok(was_locked.unwrap_or(false))
}

/// Sign-in events for the platform-level log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthEvent {
    /// An e-mail no user has: no workspace to audit it in.
    UnknownEmail,
    /// A right password with a wrong, replayed or missing second factor.
    SecondFactorFailed,
    /// This failure locked the account.
    Locked,
    /// An attempt on a locked account.
    RefusedLocked,
}

impl AuthEvent {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthEvent::UnknownEmail => "unknown_email",
            AuthEvent::SecondFactorFailed => "second_factor_failed",
            AuthEvent::Locked => "locked",
            AuthEvent::RefusedLocked => "refused_locked",
        }
    }
}

/// One line of the platform-level sign-in log.
#[derive(Debug, Clone, Serialize, FromRow)]
pub struct AuthEventRow {
    pub id: i64,
    pub occurred_at: DateTime<Utc>,
    pub event: String,
    pub email: String,
    pub ip: String,
    pub detail: serde_json::Value,
}

impl Store {
    /// Append to the platform-level sign-in log (the server may only append).
    pub async fn record_auth_event(
        &self,
        event: AuthEvent,
        email: &str,
        ip: &str,
        detail: serde_json::Value,
    ) -> Result<(), StoreError> {
        let email: String = email.chars().take(320).collect();
        sqlx::query("INSERT INTO auth_events (event, email, ip, detail) VALUES ($1, $2, $3, $4)")
            .bind(event.as_str())
            .bind(&email)
            .bind(ip)
            .bind(detail)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The platform-level sign-in log since `since`, oldest first (the operator's CLI).
    pub async fn auth_events(
        &self,
        since: Option<DateTime<Utc>>,
        limit: i64,
    ) -> Result<Vec<AuthEventRow>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT id, occurred_at, event, email, ip, detail FROM auth_events
             WHERE occurred_at >= coalesce($1, '-infinity') ORDER BY id LIMIT $2",
        )
        .bind(since)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }
}
