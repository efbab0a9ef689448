//! Credentials that stand for a user or a role: server-side sessions and
//! API keys. Only the SHA-256 of their secrets is stored. Every function runs
//! on a [`WorkspaceTx`], so row-level security keeps it inside one workspace.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::FromRow;
use uuid::Uuid;

use crate::identity::found;
use crate::tenant::WorkspaceTx;
use crate::StoreError;

/// Where a session was opened, as the server saw it.
#[derive(Debug, Clone, Default)]
pub struct SessionOrigin {
    pub ip: String,
    pub user_agent: String,
}

/// What a user sees of their own sessions: never the token.
#[derive(Debug, Clone, Serialize, FromRow)]
pub struct SessionSummary {
    pub id: Uuid,
    pub created_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    pub client_ip: Option<String>,
    pub user_agent: Option<String>,
}

#[derive(Debug, Clone, Serialize, FromRow)]
pub struct ApiKeySummary {
    pub id: Uuid,
    pub name: String,
    pub prefix: String,
    pub role: String,
    pub created_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A new API key, before it is stored.
#[derive(Debug, Clone)]
pub struct NewApiKey<'a> {
    pub name: &'a str,
    pub prefix: &'a str,
    pub key_sha256: &'a str,
    pub role: &'a str,
    pub created_by: Option<Uuid>,
    pub expires_at: Option<DateTime<Utc>>,
}

const KEY_SUMMARY: &str =
    "id, name, prefix, role, created_by, created_at, expires_at, last_used_at, revoked_at";

fn clip(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

pub async fn create_session(
    tx: &mut WorkspaceTx,
    user_id: Uuid,
    token_sha256: &str,
    origin: &SessionOrigin,
) -> Result<Uuid, StoreError> {
    let workspace_id = tx.workspace_id();
    Ok(sqlx::query_scalar(
        "INSERT INTO sessions (workspace_id, user_id, token_sha256, client_ip, user_agent)
         VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(workspace_id)
    .bind(user_id)
    .bind(token_sha256)
    .bind(clip(&origin.ip, 64))
    .bind(clip(&origin.user_agent, 200))
    .fetch_one(tx.conn())
    .await?)
}

/// Commit `tx` without waiting for its WAL to reach the disk, once it has
/// written a mark of use: a crash may lose one at no cost (a session idles
/// out after days, to the minute), and no request should wait on it. Read
/// at commit, so it may follow the write; call it last in the transaction.
async fn commit_lazily(tx: &mut WorkspaceTx) -> Result<(), StoreError> {
    sqlx::query("SET LOCAL synchronous_commit = off")
        .execute(tx.conn())
        .await?;
    Ok(())
}

/// Run `mark`, an UPDATE of row `id` that writes only when its last mark is
/// a minute old, and commit lazily when it wrote.
async fn mark_use(tx: &mut WorkspaceTx, mark: &'static str, id: Uuid) -> Result<(), StoreError> {
    let written = sqlx::query(mark).bind(id).execute(tx.conn()).await?;
    if written.rows_affected() > 0 {
        commit_lazily(tx).await?;
    }
    Ok(())
}

/// Slide a session's inactivity window (days long) at most once a minute:
/// most requests then write nothing, so their commit waits on no WAL flush,
/// and the one that writes does not wait either (`commit_lazily`).
pub async fn touch_session(tx: &mut WorkspaceTx, id: Uuid) -> Result<(), StoreError> {
    mark_use(
        tx,
        "UPDATE sessions SET last_seen_at = now() WHERE id = $1 AND last_seen_at < now() - interval '1 minute'",
        id,
    )
    .await
}

pub async fn revoke_session(tx: &mut WorkspaceTx, id: Uuid) -> Result<(), StoreError> {
    sqlx::query("UPDATE sessions SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL")
        .bind(id)
        .execute(tx.conn())
        .await?;
    Ok(())
}

/// Revoke one of `user_id`'s own live sessions; `NotFound` for anyone else's.
pub async fn revoke_own_session(
    tx: &mut WorkspaceTx,
    user_id: Uuid,
    id: Uuid,
) -> Result<(), StoreError> {
    let done = sqlx::query(
        "UPDATE sessions SET revoked_at = now() WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL",
    )
    .bind(id)
    .bind(user_id)
    .execute(tx.conn())
    .await?;
    found(done.rows_affected(), "session", id)
}

/// Revoke every session of a user (on a role change, removal or new
/// password) but `keep`; the number revoked.
pub async fn revoke_user_sessions(
    tx: &mut WorkspaceTx,
    user_id: Uuid,
    keep: Option<Uuid>,
) -> Result<u64, StoreError> {
    let done = sqlx::query(
        "UPDATE sessions SET revoked_at = now()
         WHERE user_id = $1 AND revoked_at IS NULL AND id IS DISTINCT FROM $2",
    )
    .bind(user_id)
    .bind(keep)
    .execute(tx.conn())
    .await?;
    Ok(done.rows_affected())
}

/// A user's live sessions, newest use first.
pub async fn sessions_of(
    tx: &mut WorkspaceTx,
    user_id: Uuid,
    idle_days: i64,
    absolute_days: i64,
) -> Result<Vec<SessionSummary>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT id, created_at, last_seen_at, client_ip, user_agent FROM sessions
         WHERE user_id = $1 AND revoked_at IS NULL
           AND last_seen_at > now() - make_interval(days => $2::int)
           AND created_at > now() - make_interval(days => $3::int)
         ORDER BY last_seen_at DESC",
    )
    .bind(user_id)
    .bind(idle_days as i32)
    .bind(absolute_days as i32)
    .fetch_all(tx.conn())
    .await?)
}

pub async fn create_api_key(
    tx: &mut WorkspaceTx,
    key: &NewApiKey<'_>,
) -> Result<ApiKeySummary, StoreError> {
    let workspace_id = tx.workspace_id();
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO api_keys (workspace_id, name, prefix, key_sha256, role, created_by, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         RETURNING {KEY_SUMMARY}"
    )))
    .bind(workspace_id)
    .bind(key.name)
    .bind(key.prefix)
    .bind(key.key_sha256)
    .bind(key.role)
    .bind(key.created_by)
    .bind(key.expires_at)
    .fetch_one(tx.conn())
    .await?)
}

pub async fn api_keys(tx: &mut WorkspaceTx) -> Result<Vec<ApiKeySummary>, StoreError> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {KEY_SUMMARY} FROM api_keys ORDER BY created_at"
    )))
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

/// Revoke every live key a user issued (the user is being removed); their ids.
pub async fn revoke_keys_of(tx: &mut WorkspaceTx, user_id: Uuid) -> Result<Vec<Uuid>, StoreError> {
    Ok(sqlx::query_scalar(
        "UPDATE api_keys SET revoked_at = now()
         WHERE created_by = $1 AND revoked_at IS NULL RETURNING id",
    )
    .bind(user_id)
    .fetch_all(tx.conn())
    .await?)
}

/// Bring a user's live keys down to `role` where they are above it (the
/// user was demoted); their ids.
pub async fn rescope_keys_of(
    tx: &mut WorkspaceTx,
    user_id: Uuid,
    role: &str,
) -> Result<Vec<Uuid>, StoreError> {
    Ok(sqlx::query_scalar(
        "UPDATE api_keys SET role = $2
         WHERE created_by = $1 AND revoked_at IS NULL
           AND array_position(ARRAY['viewer', 'operator', 'admin', 'owner'], role)
             > array_position(ARRAY['viewer', 'operator', 'admin', 'owner'], $2)
         RETURNING id",
    )
    .bind(user_id)
    .bind(role)
    .fetch_all(tx.conn())
    .await?)
}

/// Record an API key's use, to the minute (as a session's, and for the same reason).
pub async fn touch_api_key(tx: &mut WorkspaceTx, id: Uuid) -> Result<(), StoreError> {
    mark_use(
        tx,
        "UPDATE api_keys SET last_used_at = now()
         WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')",
        id,
    )
    .await
}
