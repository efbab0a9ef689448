//! The deployment's side of the database: the login roles' passwords and the
//! lock that serialises `sightline setup` across tasks starting together.
//!
//! Passwords are set as SCRAM-SHA-256 verifiers computed here, so the
//! password never reaches the server, its statement log or `pg_stat_activity`.

use sqlx::{AssertSqlSafe, Postgres, Transaction};

use crate::{Store, StoreError};

/// The roles the migrations create, the only ones `set_login_password` touches.
pub const LOGIN_ROLES: &[&str] = &["sightline_app", "sightline_worker", "sightline_console"];

/// Any fixed number unique to Sightline's setup.
const SETUP_LOCK: i64 = 0x5349_4748_544c_4e45; // "SIGHTLNE"

/// Held while setup runs; released on `release` or when the connection ends.
pub struct SetupLock(Transaction<'static, Postgres>);

impl SetupLock {
    pub async fn release(self) -> Result<(), StoreError> {
        Ok(self.0.commit().await?)
    }
}

impl Store {
    /// Give `role` (one of `LOGIN_ROLES`) LOGIN with this password.
    pub async fn set_login_password(&self, role: &str, password: &str) -> Result<(), StoreError> {
        let Some(role) = LOGIN_ROLES.iter().find(|r| **r == role) else {
            return Err(StoreError::InvalidInput {
                field: "login role",
                expected: "sightline_app, sightline_worker or sightline_console".into(),
                found: role.to_owned(),
            });
        };
        let verifier =
            sightline_crypto::scram::verifier(password).map_err(|e| StoreError::InvalidInput {
                field: "login password",
                expected: "a non-empty password of printable ASCII characters".into(),
                found: format!("another value (not shown): {e}"),
            })?;
        // Utility statements take no bind parameters. The role is one of the
        // constants above and the verifier is base64 and separators only
        // (checked), so nothing here can end the quoted literal.
        assert!(sightline_crypto::scram::is_verifier(&verifier));
        let sql = format!("ALTER ROLE {role} WITH LOGIN PASSWORD '{verifier}'");
        sqlx::query(AssertSqlSafe(sql)).execute(&self.pool).await?;
        Ok(())
    }

    /// Wait for, then hold, the cluster-wide setup lock.
    pub async fn setup_lock(&self) -> Result<SetupLock, StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(SETUP_LOCK)
            .execute(&mut *tx)
            .await?;
        Ok(SetupLock(tx))
    }
}
