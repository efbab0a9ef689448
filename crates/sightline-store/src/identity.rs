//! People: users (password hash, sealed TOTP secret, the identity provider's
//! issuer and subject), their recovery codes, and the workspace's sign-in
//! settings. Every function runs on a [`WorkspaceTx`], so row-level security
//! keeps it inside one workspace. Secrets are stored only as hashes or sealed
//! ciphertexts. Sessions and API keys are in `credentials`, lockout in `lockout`.

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
    /// The ALB identity provider's issuer and subject this user is bound to.
    pub oidc_issuer: Option<String>,
    pub oidc_subject: Option<String>,
    pub oidc_seen_at: Option<DateTime<Utc>>,
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
    /// Whether the ALB's identity provider has bound this user to a subject.
    pub oidc_bound: bool,
}

const USER_SUMMARY: &str = "id, email, role, totp_secret IS NOT NULL AS totp_enabled, \
     CASE WHEN locked_until > now() THEN locked_until END AS locked_until, created_at, \
     oidc_subject IS NOT NULL AS oidc_bound";

/// Create a user; a second user with the same e-mail in this workspace is
/// refused (another workspace's users are neither seen nor named).
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
            detail: format!("{email} is already a member of this workspace"),
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
    // Their Ask sessions go with them: a later member with the same email
    // must not inherit their questions and results.
    sqlx::query(
        "DELETE FROM ask_sessions WHERE owner = (SELECT 'user:' || email FROM users WHERE id = $1)",
    )
    .bind(id)
    .execute(tx.conn())
    .await?;
    let done = sqlx::query("DELETE FROM users WHERE id = $1")
        .bind(id)
        .execute(tx.conn())
        .await?;
    found(done.rows_affected(), "user", id)
}

/// The number of owners, with every owner's row locked until the
/// transaction ends, so that two concurrent demotions or removals cannot
/// both see a second owner: the later one waits, then counts again.
pub async fn lock_owners(tx: &mut WorkspaceTx) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT count(*) FROM (SELECT id FROM users WHERE role = 'owner' FOR UPDATE) owners",
    )
    .fetch_one(tx.conn())
    .await?)
}

/// A user's current role, with their row share-locked until the transaction
/// ends: a concurrent role change waits for this transaction, or this one
/// sees its result. `None` when the user is gone.
pub async fn role_for_share(tx: &mut WorkspaceTx, id: Uuid) -> Result<Option<String>, StoreError> {
    Ok(
        sqlx::query_scalar("SELECT role FROM users WHERE id = $1 FOR SHARE")
            .bind(id)
            .fetch_optional(tx.conn())
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

/// Spend a recovery code: true once, false ever after. The conditions are
/// on the UPDATE itself, so a concurrent use that waited for this one finds
/// the code spent when it re-reads the row.
pub async fn use_recovery_code(
    tx: &mut WorkspaceTx,
    user_id: Uuid,
    hash: &str,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE recovery_codes SET used_at = now()
         WHERE user_id = $1 AND code_sha256 = $2 AND used_at IS NULL",
    )
    .bind(user_id)
    .bind(hash)
    .execute(tx.conn())
    .await?;
    Ok(done.rows_affected() >= 1)
}

/// How many unused recovery codes a user has left.
pub async fn recovery_codes_left(tx: &mut WorkspaceTx, user_id: Uuid) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT count(*) FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL",
    )
    .bind(user_id)
    .fetch_one(tx.conn())
    .await?)
}

/// Turn two-factor sign-in off: the secret, any pending one and the recovery codes go.
pub async fn disable_totp(tx: &mut WorkspaceTx, id: Uuid) -> Result<(), StoreError> {
    let done = sqlx::query(
        "UPDATE users SET totp_secret = NULL, totp_pending = NULL, totp_last_step = NULL WHERE id = $1",
    )
    .bind(id)
    .execute(tx.conn())
    .await?;
    found(done.rows_affected(), "user", id)?;
    sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
        .bind(id)
        .execute(tx.conn())
        .await?;
    Ok(())
}

/// The user of this workspace bound to the identity provider's `issuer` and `subject`.
pub async fn user_by_oidc(
    tx: &mut WorkspaceTx,
    issuer: &str,
    subject: &str,
) -> Result<Option<User>, StoreError> {
    Ok(
        sqlx::query_as("SELECT * FROM users WHERE oidc_issuer = $1 AND oidc_subject = $2")
            .bind(issuer)
            .bind(subject)
            .fetch_optional(tx.conn())
            .await?,
    )
}

/// The user of this workspace with this e-mail.
pub async fn user_by_email(tx: &mut WorkspaceTx, email: &str) -> Result<Option<User>, StoreError> {
    Ok(sqlx::query_as("SELECT * FROM users WHERE email = $1")
        .bind(email)
        .fetch_optional(tx.conn())
        .await?)
}

/// Bind a user, once, to an identity provider's issuer and subject; false
/// when the user is already bound (to these or others).
pub async fn bind_oidc(
    tx: &mut WorkspaceTx,
    id: Uuid,
    issuer: &str,
    subject: &str,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE users SET oidc_issuer = $2, oidc_subject = $3 WHERE id = $1 AND oidc_subject IS NULL",
    )
    .bind(id)
    .bind(issuer)
    .bind(subject)
    .execute(tx.conn())
    .await
    .map_err(|e| match unique_violation(&e) {
        Some(_) => StoreError::Conflict {
            what: "user",
            detail: "this identity is already bound to another user of the workspace".into(),
        },
        None => e.into(),
    })?;
    Ok(done.rows_affected() == 1)
}

/// Note an ALB request of a user: true when it begins a sign-in (the user
/// was not seen for `gap`), which the caller audits. The time is written
/// at most once a minute, not on every request.
pub async fn note_oidc_use(
    tx: &mut WorkspaceTx,
    id: Uuid,
    gap: chrono::Duration,
) -> Result<bool, StoreError> {
    // Read without a lock: most requests change nothing.
    let seen: Option<Option<DateTime<Utc>>> =
        sqlx::query_scalar("SELECT oidc_seen_at FROM users WHERE id = $1")
            .bind(id)
            .fetch_optional(tx.conn())
            .await?;
    let Some(seen) = seen else {
        return Ok(false);
    };
    let now = Utc::now();
    if seen.is_some_and(|t| t > now - chrono::Duration::minutes(1)) {
        return Ok(false);
    }
    let updated = sqlx::query(
        "UPDATE users SET oidc_seen_at = now()
         WHERE id = $1 AND oidc_seen_at IS NOT DISTINCT FROM $2",
    )
    .bind(id)
    .bind(seen)
    .execute(tx.conn())
    .await?;
    // Only the request that moved the time on reports the sign-in.
    Ok(updated.rows_affected() == 1 && seen.is_none_or(|t| t < now - gap))
}

/// A workspace's sign-in settings.
#[derive(Debug, Clone, Copy, Serialize, FromRow)]
pub struct SignInSettings {
    /// Owners and admins must enrol two-factor sign-in before anything else.
    pub require_mfa_for_admins: bool,
}

pub async fn sign_in_settings(tx: &mut WorkspaceTx) -> Result<SignInSettings, StoreError> {
    let id = tx.workspace_id();
    Ok(
        sqlx::query_as("SELECT require_mfa_for_admins FROM workspaces WHERE id = $1")
            .bind(id)
            .fetch_one(tx.conn())
            .await?,
    )
}

pub async fn set_require_mfa_for_admins(tx: &mut WorkspaceTx, on: bool) -> Result<(), StoreError> {
    let id = tx.workspace_id();
    sqlx::query("UPDATE workspaces SET require_mfa_for_admins = $2 WHERE id = $1")
        .bind(id)
        .bind(on)
        .execute(tx.conn())
        .await?;
    Ok(())
}

pub(crate) fn found(rows: u64, what: &'static str, id: Uuid) -> Result<(), StoreError> {
    if rows == 0 {
        Err(StoreError::NotFound {
            what,
            id: id.to_string(),
        })
    } else {
        Ok(())
    }
}
