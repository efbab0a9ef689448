//! People and credentials: users (password hash, sealed TOTP secret, lockout
//! counters), their recovery codes, server-side sessions and API keys. Every
//! function runs on a [`WorkspaceTx`], so row-level security keeps it inside
//! one workspace. Secrets are stored only as hashes or sealed ciphertexts.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::FromRow;
use uuid::Uuid;

use crate::error::unique_violation;
use crate::tenant::WorkspaceTx;
use crate::StoreError;

#[derive(Clone, FromRow)]
pub struct User {
    pub id: Uuid,
    pub workspace_id: Uuid,
    pub email: String,
    pub role: String,
    pub password_hash: Option<String>,
    pub must_change_password: bool,
    pub totp_secret: Option<Vec<u8>>,
    pub totp_pending: Option<Vec<u8>>,
    pub totp_last_step: Option<i64>,
    pub failed_logins: i32,
    pub locked_until: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("workspace_id", &self.workspace_id)
            .field("email", &self.email)
            .field("role", &self.role)
            .field("totp", &self.totp_secret.is_some())
            .finish_non_exhaustive()
    }
}

/// What the API shows of a user: no hash, no secret.
#[derive(Debug, Clone, Serialize, FromRow)]
pub struct UserSummary {
    pub id: Uuid,
    pub email: String,
    pub role: String,
    pub totp_enabled: bool,
    pub locked_until: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, FromRow)]
pub struct ApiKeySummary {
    pub id: Uuid,
    pub name: String,
    pub prefix: String,
    pub role: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

const USER_SUMMARY: &str =
    "id, email, role, totp_secret IS NOT NULL AS totp_enabled, locked_until, created_at";

/// Create a user; a second user with the same e-mail is refused.
pub async fn create_user(
    tx: &mut WorkspaceTx,
    email: &str,
    role: &str,
    password_hash: Option<&str>,
    must_change_password: bool,
) -> Result<User, StoreError> {
    let workspace_id = tx.workspace_id();
    sqlx::query_as(
        "INSERT INTO users (workspace_id, email, role, password_hash, must_change_password)
         VALUES ($1, $2, $3, $4, $5) RETURNING *",
    )
    .bind(workspace_id)
    .bind(email)
    .bind(role)
    .bind(password_hash)
    .bind(must_change_password)
    .fetch_one(tx.conn())
    .await
    .map_err(|e| match unique_violation(&e) {
        Some(_) => StoreError::Conflict {
            what: "user",
            detail: format!("a user with e-mail {email} already exists"),
        },
        None => e.into(),
    })
}

pub async fn user(tx: &mut WorkspaceTx, id: Uuid) -> Result<User, StoreError> {
    sqlx::query_as("SELECT * FROM users WHERE id = $1")
        .bind(id)
        .fetch_optional(tx.conn())
        .await?
        .ok_or_else(|| StoreError::NotFound {
            what: "user",
            id: id.to_string(),
        })
}

pub async fn users(tx: &mut WorkspaceTx) -> Result<Vec<UserSummary>, StoreError> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {USER_SUMMARY} FROM users ORDER BY email"
    )))
    .fetch_all(tx.conn())
    .await?)
}

pub async fn user_summary(tx: &mut WorkspaceTx, id: Uuid) -> Result<UserSummary, StoreError> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {USER_SUMMARY} FROM users WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(tx.conn())
    .await?
    .ok_or_else(|| StoreError::NotFound {
        what: "user",
        id: id.to_string(),
    })
}

pub async fn set_role(tx: &mut WorkspaceTx, id: Uuid, role: &str) -> Result<(), StoreError> {
    let done = sqlx::query("UPDATE users SET role = $2 WHERE id = $1")
        .bind(id)
        .bind(role)
        .execute(tx.conn())
        .await?;
    found(done.rows_affected(), "user", id)
}

pub async fn delete_user(tx: &mut WorkspaceTx, id: Uuid) -> Result<(), StoreError> {
    let done = sqlx::query("DELETE FROM users WHERE id = $1")
        .bind(id)
        .execute(tx.conn())
        .await?;
    found(done.rows_affected(), "user", id)
}

/// The number of owners, so that the last one cannot be demoted or removed.
pub async fn owner_count(tx: &mut WorkspaceTx) -> Result<i64, StoreError> {
    Ok(
        sqlx::query_scalar("SELECT count(*) FROM users WHERE role = 'owner'")
            .fetch_one(tx.conn())
            .await?,
    )
}

/// Give a user a new one-time password (to be replaced at the next sign-in)
/// and lift any lockout: what an operator's reset does.
pub async fn reset_to_one_time_password(
    tx: &mut WorkspaceTx,
    id: Uuid,
    hash: &str,
) -> Result<(), StoreError> {
    let done = sqlx::query(
        "UPDATE users SET password_hash = $2, must_change_password = true, failed_logins = 0, locked_until = NULL WHERE id = $1",
    )
    .bind(id)
    .bind(hash)
    .execute(tx.conn())
    .await?;
    found(done.rows_affected(), "user", id)
}

pub async fn set_password(tx: &mut WorkspaceTx, id: Uuid, hash: &str) -> Result<(), StoreError> {
    let done = sqlx::query(
        "UPDATE users SET password_hash = $2, must_change_password = false WHERE id = $1",
    )
    .bind(id)
    .bind(hash)
    .execute(tx.conn())
    .await?;
    found(done.rows_affected(), "user", id)
}

/// Count a failed sign-in; at `limit` failures the account locks until `lock_until`.
pub async fn record_failed_login(
    tx: &mut WorkspaceTx,
    id: Uuid,
    limit: i32,
    lock_until: DateTime<Utc>,
) -> Result<User, StoreError> {
    Ok(sqlx::query_as(
        "UPDATE users SET failed_logins = failed_logins + 1,
                locked_until = CASE WHEN failed_logins + 1 >= $2 THEN $3 ELSE locked_until END
         WHERE id = $1 RETURNING *",
    )
    .bind(id)
    .bind(limit)
    .bind(lock_until)
    .fetch_one(tx.conn())
    .await?)
}

pub async fn clear_failed_logins(tx: &mut WorkspaceTx, id: Uuid) -> Result<(), StoreError> {
    sqlx::query("UPDATE users SET failed_logins = 0, locked_until = NULL WHERE id = $1")
        .bind(id)
        .execute(tx.conn())
        .await?;
    Ok(())
}

/// Keep a sealed TOTP secret awaiting its first code.
pub async fn set_totp_pending(
    tx: &mut WorkspaceTx,
    id: Uuid,
    sealed: &[u8],
) -> Result<(), StoreError> {
    sqlx::query("UPDATE users SET totp_pending = $2 WHERE id = $1")
        .bind(id)
        .bind(sealed)
        .execute(tx.conn())
        .await?;
    Ok(())
}

/// Make the pending secret the active one, with its first accepted step.
pub async fn activate_totp(
    tx: &mut WorkspaceTx,
    id: Uuid,
    sealed: &[u8],
    step: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE users SET totp_secret = $2, totp_pending = NULL, totp_last_step = $3 WHERE id = $1",
    )
    .bind(id)
    .bind(sealed)
    .bind(step)
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// Accept a TOTP time step once: false when it (or a later one) was used already.
pub async fn accept_totp_step(
    tx: &mut WorkspaceTx,
    id: Uuid,
    step: i64,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE users SET totp_last_step = $2
         WHERE id = $1 AND (totp_last_step IS NULL OR totp_last_step < $2)",
    )
    .bind(id)
    .bind(step)
    .execute(tx.conn())
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Replace a user's recovery codes with these hashes.
pub async fn replace_recovery_codes(
    tx: &mut WorkspaceTx,
    user_id: Uuid,
    hashes: &[String],
) -> Result<(), StoreError> {
    let workspace_id = tx.workspace_id();
    sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
        .bind(user_id)
        .execute(tx.conn())
        .await?;
    sqlx::query(
        "INSERT INTO recovery_codes (workspace_id, user_id, code_sha256)
         SELECT $1, $2, unnest($3::text[])",
    )
    .bind(workspace_id)
    .bind(user_id)
    .bind(hashes)
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// Spend a recovery code: true once, false ever after.
pub async fn use_recovery_code(
    tx: &mut WorkspaceTx,
    user_id: Uuid,
    hash: &str,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE recovery_codes SET used_at = now()
         WHERE id = (SELECT id FROM recovery_codes
                     WHERE user_id = $1 AND code_sha256 = $2 AND used_at IS NULL LIMIT 1)",
    )
    .bind(user_id)
    .bind(hash)
    .execute(tx.conn())
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn create_session(
    tx: &mut WorkspaceTx,
    user_id: Uuid,
    token_sha256: &str,
) -> Result<Uuid, StoreError> {
    let workspace_id = tx.workspace_id();
    Ok(sqlx::query_scalar(
        "INSERT INTO sessions (workspace_id, user_id, token_sha256) VALUES ($1, $2, $3) RETURNING id",
    )
    .bind(workspace_id)
    .bind(user_id)
    .bind(token_sha256)
    .fetch_one(tx.conn())
    .await?)
}

/// Slide a session's inactivity window.
pub async fn touch_session(tx: &mut WorkspaceTx, id: Uuid) -> Result<(), StoreError> {
    sqlx::query("UPDATE sessions SET last_seen_at = now() WHERE id = $1")
        .bind(id)
        .execute(tx.conn())
        .await?;
    Ok(())
}

pub async fn revoke_session(tx: &mut WorkspaceTx, id: Uuid) -> Result<(), StoreError> {
    sqlx::query("UPDATE sessions SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL")
        .bind(id)
        .execute(tx.conn())
        .await?;
    Ok(())
}

/// Revoke every session of a user (on a role change, removal or new password).
pub async fn revoke_user_sessions(tx: &mut WorkspaceTx, user_id: Uuid) -> Result<(), StoreError> {
    sqlx::query("UPDATE sessions SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL")
        .bind(user_id)
        .execute(tx.conn())
        .await?;
    Ok(())
}

pub async fn create_api_key(
    tx: &mut WorkspaceTx,
    name: &str,
    prefix: &str,
    key_sha256: &str,
    role: &str,
    created_by: Option<Uuid>,
) -> Result<ApiKeySummary, StoreError> {
    let workspace_id = tx.workspace_id();
    Ok(sqlx::query_as(
        "INSERT INTO api_keys (workspace_id, name, prefix, key_sha256, role, created_by)
         VALUES ($1, $2, $3, $4, $5, $6)
         RETURNING id, name, prefix, role, created_at, last_used_at, revoked_at",
    )
    .bind(workspace_id)
    .bind(name)
    .bind(prefix)
    .bind(key_sha256)
    .bind(role)
    .bind(created_by)
    .fetch_one(tx.conn())
    .await?)
}

pub async fn api_keys(tx: &mut WorkspaceTx) -> Result<Vec<ApiKeySummary>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT id, name, prefix, role, created_at, last_used_at, revoked_at
         FROM api_keys ORDER BY created_at",
    )
    .fetch_all(tx.conn())
    .await?)
}

pub async fn revoke_api_key(tx: &mut WorkspaceTx, id: Uuid) -> Result<(), StoreError> {
    let done =
        sqlx::query("UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1")
            .bind(id)
            .execute(tx.conn())
            .await?;
    found(done.rows_affected(), "API key", id)
}

/// Record an API key's use.
pub async fn touch_api_key(tx: &mut WorkspaceTx, id: Uuid) -> Result<(), StoreError> {
    sqlx::query("UPDATE api_keys SET last_used_at = now() WHERE id = $1")
        .bind(id)
        .execute(tx.conn())
        .await?;
    Ok(())
}

fn found(rows: u64, what: &'static str, id: Uuid) -> Result<(), StoreError> {
    if rows == 0 {
        Err(StoreError::NotFound {
            what,
            id: id.to_string(),
        })
    } else {
        Ok(())
    }
}
