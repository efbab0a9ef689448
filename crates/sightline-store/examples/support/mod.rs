//! What the store's benchmarks share: a database of their own on the
//! server `DATABASE_URL` names (the local one by default), dropped after.

use sqlx::Connection;

pub struct BenchDatabase {
    /// The URL of the benchmark's own database.
    pub url: String,
    name: String,
    admin: sqlx::PgConnection,
}

impl BenchDatabase {
    pub async fn create() -> Result<Self, sqlx::Error> {
        let admin_url = std::env::var("DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres:postgres@127.0.0.1:5432/postgres".into());
        let name = format!("sightline_bench_{}", uuid::Uuid::new_v4().simple());
        let mut admin = sqlx::PgConnection::connect(&admin_url).await?;
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await?;
        let url = format!(
            "{}/{name}",
            admin_url
                .rsplit_once('/')
                .map(|(b, _)| b)
                .unwrap_or(&admin_url)
        );
        Ok(Self { url, name, admin })
    }

    /// Drop the database, whatever the benchmark left connected to it.
    pub async fn drop(mut self) -> Result<(), sqlx::Error> {
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        )))
        .execute(&mut self.admin)
        .await?;
        Ok(())
    }
}
