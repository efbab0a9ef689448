//! A PostgreSQL database of its own for one test, and plain SQL helpers.

/// A database of its own for one test, dropped afterwards.
pub struct TestDatabase {
    admin_url: String,
    name: String,
    pub url: String,
}

impl TestDatabase {
    pub fn create() -> Self {
        let admin_url = std::env::var("DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres:postgres@127.0.0.1:5432/postgres".into());
        let name = format!("sightline_test_{}", uuid::Uuid::new_v4().simple());
        execute(&admin_url, &format!("CREATE DATABASE {name}"));
        let base = admin_url
            .rsplit_once('/')
            .map(|(b, _)| b)
            .unwrap_or(&admin_url);
        let url = format!("{base}/{name}");
        Self {
            admin_url,
            name,
            url,
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        execute(
            &self.admin_url,
            &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
        );
    }
}

fn block_on<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

async fn connect(url: &str) -> sqlx::PgConnection {
    use sqlx::Connection;
    sqlx::PgConnection::connect(url)
        .await
        .expect("connect to DATABASE_URL")
}

/// Run a statement that returns nothing (DDL).
pub fn execute(url: &str, statement: &str) {
    block_on(async {
        let mut conn = connect(url).await;
        sqlx::raw_sql(sqlx::AssertSqlSafe(statement.to_owned()))
            .execute(&mut conn)
            .await
            .expect(statement);
    })
}

/// The single value a query returns, as text.
pub fn sql(url: &str, query: &str) -> String {
    block_on(async {
        let mut conn = connect(url).await;
        let value: Option<String> =
            sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT ({query})::text")))
                .fetch_one(&mut conn)
                .await
                .expect(query);
        value.unwrap_or_default()
    })
}
