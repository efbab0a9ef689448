//! Sightline's state in PostgreSQL: migrations, workspaces and accounts,
//! scans written atomically with their diff, and the job queue that any
//! number of stateless workers share. Knows nothing of HTTP.

pub mod accounts;
pub mod audit;
pub mod console;
pub mod credentials;
pub mod embedded;
pub mod error;
pub mod explorer;
pub mod identity;
pub mod inbox;
pub mod jobs;
pub mod keyring;
pub mod lockout;
pub mod logins;
pub mod overview;
pub mod scans;
pub mod tenant;
pub mod views;

use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;

pub use error::StoreError;
pub use tenant::WorkspaceTx;

pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// A handle on the database; cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    pub pool: PgPool,
}

/// The URL with any password replaced, fit for messages and logs.
pub fn redact_url(url: &str) -> String {
    match url.split_once("://").and_then(|(scheme, rest)| {
        rest.split_once('@')
            .map(|(user, host)| (scheme, user, host))
    }) {
        Some((scheme, userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or_default();
            let masked = if userinfo.contains(':') {
                format!("{user}:***")
            } else {
                user.to_owned()
            };
            format!("{scheme}://{masked}@{host}")
        }
        None => url.to_owned(),
    }
}

impl Store {
    /// Connect, failing fast with a clear error when the database is unreachable.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_options(url, |o| o).await
    }

    /// Connect to the same server and database as `url`, as another role.
    pub async fn connect_as(url: &str, user: &str, password: &str) -> Result<Self, StoreError> {
        Self::connect_options(url, |o| o.username(user).password(password)).await
    }

    async fn connect_options(
        url: &str,
        adjust: impl FnOnce(PgConnectOptions) -> PgConnectOptions,
    ) -> Result<Self, StoreError> {
        let unreachable = |detail: String| StoreError::Unreachable {
            url: redact_url(url),
            detail,
        };
        let options: PgConnectOptions = url
            .parse()
            .map_err(|e: sqlx::Error| unreachable(e.to_string()))?;
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(adjust(options))
            .await
            .map_err(|e| unreachable(e.to_string()))?;
        Ok(Self { pool })
    }

    /// Apply every pending migration; running it again changes nothing.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        MIGRATOR
            .run(&self.pool)
            .await
            .map_err(|e| StoreError::Migration {
                detail: e.to_string(),
            })
    }

    /// The newest migration this build knows.
    pub fn expected_version() -> i64 {
        MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0)
    }

    /// Refuse to work on a database that is not at this build's migration.
    pub async fn ensure_current(&self) -> Result<(), StoreError> {
        let applied: Option<i64> =
            sqlx::query_scalar("SELECT max(version) FROM _sqlx_migrations WHERE success")
                .fetch_one(&self.pool)
                .await
                .unwrap_or(None);
        let found = applied.unwrap_or(0);
        let expected = Self::expected_version();
        if found != expected {
            return Err(StoreError::SchemaMismatch { found, expected });
        }
        Ok(())
    }
}

impl Store {
    /// One round trip to the database, for readiness checks.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }
}
