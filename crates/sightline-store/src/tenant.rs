//! Tenant isolation: the one way the server reaches workspace-scoped tables.
//!
//! The server connects as `sightline_app`, which owns nothing and sees rows
//! only through row-level security. [`Store::begin_workspace_tx`] binds a
//! transaction to one workspace with `set_config('app.workspace_id', $1, true)`;
//! every query the server sends on a workspace-scoped table runs on a
//! [`WorkspaceTx`] (a test walks the source to hold that). Before the
//! workspace is known, the two lookups below see only the one row whose
//! secret they hold.

use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgConnection, Postgres, Transaction};
use uuid::Uuid;

use crate::audit::{self, AuditRecord};
use crate::identity::User;
use crate::{Store, StoreError};

/// A transaction bound to one workspace: row-level security shows it that
/// workspace's rows and refuses writes to any other.
pub struct WorkspaceTx {
    tx: Transaction<'static, Postgres>,
    workspace_id: Uuid,
}

impl std::fmt::Debug for WorkspaceTx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkspaceTx")
            .field("workspace_id", &self.workspace_id)
            .finish()
    }
}

impl WorkspaceTx {
    pub fn workspace_id(&self) -> Uuid {
        self.workspace_id
    }

    pub(crate) fn conn(&mut self) -> &mut PgConnection {
        &mut self.tx
    }

    pub async fn commit(self) -> Result<(), StoreError> {
        Ok(self.tx.commit().await?)
    }

    pub async fn rollback(self) -> Result<(), StoreError> {
        Ok(self.tx.rollback().await?)
    }

    /// Append to the audit trail in this transaction, so the record and the
    /// change it describes commit together.
    pub async fn audit(
        &mut self,
        actor: &str,
        action: &str,
        target: &str,
        details: serde_json::Value,
    ) -> Result<AuditRecord, StoreError> {
        let workspace_id = self.workspace_id;
        audit::append(self.conn(), workspace_id, actor, action, target, details).await
    }
}

/// A session or API key found by the SHA-256 of its secret.
#[derive(Debug, Clone, FromRow)]
pub struct Credential {
    pub id: Uuid,
    pub workspace_id: Uuid,
    /// The user a session belongs to; `None` for an API key.
    pub user_id: Option<Uuid>,
    /// The role an API key is scoped to; `None` for a session (the user's role applies).
    pub role: Option<String>,
    pub last_seen_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    /// When an API key stops working; `None` for sessions and keys without one.
    pub expires_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialKind {
    Session,
    ApiKey,
}

impl Store {
    /// Begin a transaction bound to `workspace_id`.
    pub async fn begin_workspace_tx(&self, workspace_id: Uuid) -> Result<WorkspaceTx, StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT set_config('app.workspace_id', $1, true)")
            .bind(workspace_id.to_string())
            .execute(&mut *tx)
            .await?;
        Ok(WorkspaceTx { tx, workspace_id })
    }

    /// The session or API key whose secret hashes to `sha256`, whatever its
    /// workspace. Row-level security lets this transaction see that row only.
    /// For an API key, `user_id` is the user who issued it.
    pub async fn credential(
        &self,
        kind: CredentialKind,
        sha256: &str,
    ) -> Result<Option<Credential>, StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT set_config('app.credential_sha256', $1, true)")
            .bind(sha256)
            .execute(&mut *tx)
            .await?;
        let sql = match kind {
            CredentialKind::Session => {
                "SELECT id, workspace_id, user_id, NULL::text AS role, last_seen_at, revoked_at,
                        created_at, NULL::timestamptz AS expires_at
                 FROM sessions WHERE token_sha256 = $1"
            }
            CredentialKind::ApiKey => {
                "SELECT id, workspace_id, created_by AS user_id, role, last_used_at AS last_seen_at,
                        revoked_at, created_at, expires_at
                 FROM api_keys WHERE key_sha256 = $1"
            }
        };
        let found = sqlx::query_as(sql)
            .bind(sha256)
            .fetch_optional(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(found)
    }

    /// Who a sign-in is for: the user with `email` in the workspace named
    /// `workspace`, or, without a name, in the deployment's only workspace.
    /// Row-level security lets this transaction see that one user only; no
    /// other workspace's users are looked at.
    pub async fn sign_in_target(
        &self,
        workspace: Option<&str>,
        email: &str,
    ) -> Result<SignInTarget, StoreError> {
        let mut tx = self.pool.begin().await?;
        let (workspace_id, needs_workspace): (Option<Uuid>, bool) =
            sqlx::query_as("SELECT sign_in_workspace($1), sign_in_needs_workspace()")
                .bind(workspace)
                .fetch_one(&mut *tx)
                .await?;
        let Some(workspace_id) = workspace_id else {
            tx.commit().await?;
            return Ok(match workspace {
                None if needs_workspace => SignInTarget::WorkspaceNeeded,
                _ => SignInTarget::Unknown,
            });
        };
        sqlx::query(
            "SELECT set_config('app.login_email', $1, true), set_config('app.login_workspace', $2, true)",
        )
        .bind(email)
        .bind(workspace_id.to_string())
        .execute(&mut *tx)
        .await?;
        let found: Option<User> =
            sqlx::query_as("SELECT * FROM users WHERE email = $1 AND workspace_id = $2")
                .bind(email)
                .bind(workspace_id)
                .fetch_optional(&mut *tx)
                .await?;
        tx.commit().await?;
        Ok(found.map_or(SignInTarget::Unknown, |u| SignInTarget::User(Box::new(u))))
    }

    /// Whether a sign-in must name its workspace (the deployment has
    /// several); a property of the deployment, never of a user.
    pub async fn sign_in_needs_workspace(&self) -> Result<bool, StoreError> {
        Ok(sqlx::query_scalar("SELECT sign_in_needs_workspace()")
            .fetch_one(&self.pool)
            .await?)
    }
}

/// Who a sign-in is for.
#[derive(Debug)]
pub enum SignInTarget {
    /// This user of the named (or only) workspace.
    User(Box<User>),
    /// No such user there (or no such workspace): refused like a wrong password.
    Unknown,
    /// The deployment has several workspaces and none was named.
    WorkspaceNeeded,
}
