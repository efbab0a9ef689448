//! Sightline's state in PostgreSQL: migrations, workspaces and accounts,
//! scans written atomically with their diff, and the job queue that any
//! number of stateless workers share. Knows nothing of HTTP.

pub mod accounts;
pub mod ask;
pub mod assistant;
pub mod audit;
pub mod compliance;
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

    /// A pool for a read replica (Aurora's reader endpoint) for pages that
    /// only read, connecting lazily: a replica that is down at start stops
    /// nothing. Every transaction on it is read-only, so a write that strays
    /// onto the reader fails loudly here as it would on a replica, whatever
    /// server `url` names.
    pub fn connect_reader(url: &str) -> Result<Self, StoreError> {
        let options: PgConnectOptions =
            url.parse()
                .map_err(|e: sqlx::Error| StoreError::Unreachable {
                    url: redact_url(url),
                    detail: e.to_string(),
                })?;
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(2))
            .connect_lazy_with(
                options
                    .application_name("sightline-reader")
                    .options([("default_transaction_read_only", "on")]),
            );
        Ok(Self { pool })
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
    /// On a database a newer build has migrated (a rollback), nothing is
    /// applied and nothing undone: this build runs on it if the database's
    /// window admits it, and is refused otherwise.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        if let Some(window) = self.schema_window().await? {
            if Self::expected_version() < window.compatible_from {
                return Err(window.too_new());
            }
        }
        let mut migrator = Migrator::with_migrations(MIGRATOR.iter().cloned().collect());
        // Migrations this build does not know are a newer build's, and the
        // window above has admitted this build to them.
        migrator.set_ignore_missing(true);
        migrator
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

    /// Refuse to work on a database outside this build's compatibility
    /// window: older than [`RUNS_ON_SCHEMA_FROM`] (setup has not migrated
    /// it yet), or newer than a contracting migration this build predates.
    /// Inside the window a build runs on a newer schema, so that a
    /// CloudFormation rollback to the previous image can start.
    pub async fn ensure_current(&self) -> Result<(), StoreError> {
        let applied: Option<i64> =
            sqlx::query_scalar("SELECT max(version) FROM _sqlx_migrations WHERE success")
                .fetch_one(&self.pool)
                .await
                .unwrap_or(None);
        let found = applied.unwrap_or(0);
        if found < RUNS_ON_SCHEMA_FROM {
            return Err(StoreError::SchemaTooOld {
                found,
                needs: RUNS_ON_SCHEMA_FROM,
            });
        }
        match self.schema_window().await? {
            Some(window) if Self::expected_version() < window.compatible_from => {
                Err(window.too_new())
            }
            // No contracting migration yet: every build from RUNS_ON_SCHEMA_FROM runs.
            _ => Ok(()),
        }
    }

    /// The database's window, once the migration that creates it has run.
    async fn schema_window(&self) -> Result<Option<SchemaWindow>, StoreError> {
        let row: Option<(Option<i64>, Option<i64>)> = sqlx::query_as(
            "SELECT (SELECT compatible_from FROM schema_window),
                    (SELECT max(version) FROM _sqlx_migrations WHERE success)
             WHERE to_regclass('public.schema_window') IS NOT NULL",
        )
        .fetch_optional(&self.pool)
        .await
        .or_else(|e| match &e {
            // Before any migration, _sqlx_migrations itself is missing.
            sqlx::Error::Database(d) if d.code().as_deref() == Some("42P01") => Ok(None),
            _ => Err(e),
        })?;
        Ok(row.and_then(|(from, found)| {
            Some(SchemaWindow {
                compatible_from: from?,
                found: found.unwrap_or(0),
            })
        }))
    }
}

/// The oldest schema this build runs on. Raise it to a migration's version
/// when the code starts to use what that migration added (the expand step
/// has to be everywhere first); never lower it.
pub const RUNS_ON_SCHEMA_FROM: i64 = 20261129000002;

/// `schema_window.compatible_from`: builds that know at least this
/// migration may run on the database. Expanding migrations (new tables,
/// nullable or defaulted columns) leave it; a contracting one (dropping or
/// renaming what an older build reads or writes) comes at least one release
/// after the build that stopped using what it removes, and raises it to its
/// own version. The first contracting migration creates the table:
///
/// ```sql
/// CREATE TABLE IF NOT EXISTS schema_window (
///     singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
///     compatible_from bigint NOT NULL);
/// GRANT SELECT ON schema_window TO sightline_app, sightline_worker;
/// INSERT INTO schema_window (compatible_from) VALUES (<its version>)
///     ON CONFLICT (singleton) DO UPDATE SET compatible_from = EXCLUDED.compatible_from;
/// ```
///
/// Until then every build from [`RUNS_ON_SCHEMA_FROM`] on is admitted. This
/// release brings the window and no migration, so the previous image (which
/// compared versions exactly) still starts after it: a rollback works.
struct SchemaWindow {
    compatible_from: i64,
    found: i64,
}

impl SchemaWindow {
    fn too_new(&self) -> StoreError {
        StoreError::SchemaTooNew {
            found: self.found,
            compatible_from: self.compatible_from,
            build: Store::expected_version(),
        }
    }
}

impl Store {
    /// One round trip to the database, for readiness checks.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }
}
