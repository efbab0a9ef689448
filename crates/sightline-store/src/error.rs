//! Storage errors: each says what was expected and what was found.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("cannot reach the database at {url}: {detail}; expected a running PostgreSQL (set DATABASE_URL)")]
    Unreachable { url: String, detail: String },
    #[error("migration failed: {detail}")]
    Migration { detail: String },
    #[error("the database is at migration {found}, older than migration {needs}, the oldest this build runs on: run `sightline migrate` (in a deployment, its `sightline setup`) with this build first")]
    SchemaTooOld { found: i64, needs: i64 },
    #[error("the database is at migration {found} and admits only builds of migration {compatible_from} or later; this build knows up to {build}: deploy a newer build (a rollback past a contracting migration needs a snapshot restore, docs/deploy.md)")]
    SchemaTooNew {
        found: i64,
        compatible_from: i64,
        build: i64,
    },
    #[error("invalid AWS account id {found:?}: expected 12 digits")]
    InvalidAccountId { found: String },
    #[error("invalid role ARN {found:?}: expected arn:aws:iam::<12-digit account id>:role/<name>")]
    InvalidRoleArn { found: String },
    #[error("the role ARN {role_arn} belongs to account {role_account}, expected account {aws_account_id}")]
    RoleAccountMismatch {
        role_arn: String,
        role_account: String,
        aws_account_id: String,
    },
    #[error(
        "invalid schedule {found:?}: expected an interval of at least 5 minutes, like \"6 hours\""
    )]
    InvalidSchedule { found: String },
    #[error("invalid region {found:?}: expected a region name like us-east-1")]
    InvalidRegion { found: String },
    #[error("invalid workspace {what} {found:?}: expected {expected}")]
    InvalidWorkspace {
        what: &'static str,
        expected: &'static str,
        found: String,
    },
    #[error("account {aws_account_id} is already registered in workspace {workspace}")]
    DuplicateAccount {
        workspace: String,
        aws_account_id: String,
    },
    #[error("workspace {name:?} already exists")]
    DuplicateWorkspace { name: String },
    #[error("{field}: expected {expected}, found {found:?}")]
    InvalidInput {
        field: &'static str,
        expected: String,
        found: String,
    },
    /// The evidence changed since the decision brief was shown.
    #[error("the evidence of finding {finding} changed since it was shown (shown {shown}, now {current}): review the new brief")]
    EvidenceChanged {
        finding: uuid::Uuid,
        shown: String,
        current: String,
    },
    /// This process holds a key-encryption key that is no longer the current one.
    #[error("this server's key-encryption key ({running}) is not the current one ({current}): restart it with the new key (SIGHTLINE_KEK_ID={current})")]
    StaleKek { running: String, current: String },
    /// A SQL console statement refused before or while it ran.
    #[error("{0}")]
    ConsoleRefused(String),
    /// PostgreSQL refused a console statement while it ran. Its message
    /// may quote a value the statement read (a failed cast, say).
    #[error("PostgreSQL refused the query: {message}")]
    ConsoleFailed { sqlstate: String, message: String },
    #[error("no {what} {id}")]
    NotFound { what: &'static str, id: String },
    #[error("{what} conflict: {detail}")]
    Conflict { what: &'static str, detail: String },
    #[error("encryption: {0}")]
    Crypto(#[from] sightline_crypto::CryptoError),
    #[error("job {job_id} is no longer leased to this worker (its lease expired and another worker took it)")]
    LeaseLost { job_id: uuid::Uuid },
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}

impl StoreError {
    /// Whether the error is a lost or refused connection, worth retrying after a reconnect.
    pub fn is_connection(&self) -> bool {
        match self {
            StoreError::Database(e) => {
                matches!(
                    e,
                    sqlx::Error::Io(_)
                        | sqlx::Error::PoolTimedOut
                        | sqlx::Error::PoolClosed
                        | sqlx::Error::WorkerCrashed
                ) || e
                    .as_database_error()
                    .and_then(|d| d.code())
                    .is_some_and(|c| c.starts_with("57P") || c.starts_with("08"))
            }
            StoreError::Unreachable { .. } => true,
            _ => false,
        }
    }
}

/// The constraint a unique violation names, if that is what `e` is.
pub(crate) fn unique_violation(e: &sqlx::Error) -> Option<String> {
    let db = e.as_database_error()?;
    (db.code().as_deref() == Some("23505")).then(|| db.constraint().unwrap_or_default().to_owned())
}
