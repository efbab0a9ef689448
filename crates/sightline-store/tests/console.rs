//! The SQL console against a real PostgreSQL, logged in as
//! `sightline_console`: a corpus of escape attempts is refused, each with a
//! clear message, and none returns or changes another workspace's rows.
//! Underneath the parser, the database refuses the same things on its own.

use std::time::Duration;

use sightline_store::console::{self, ConsolePool, Limits};
use sightline_store::{Store, StoreError, MIGRATOR};
use sqlx::PgPool;
use uuid::Uuid;

struct Fixture {
    console: ConsolePool,
    a: Uuid,
    b: Uuid,
}

async fn url_as(pool: &PgPool, user: &str) -> String {
    let db: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(pool)
        .await
        .unwrap();
    let base = std::env::var("DATABASE_URL").expect("DATABASE_URL is set by make test");
    let rest = base.split_once("://").unwrap().1;
    let host = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
    let host = host.split('/').next().unwrap();
    format!("postgres://{user}@{host}/{db}")
}

/// Two workspaces, each with an account, a scan, a resource and a finding.
async fn fixture(admin: &PgPool) -> Fixture {
    let store = Store {
        pool: admin.clone(),
    };
    let mut ids = vec![];
    for (name, account) in [("alpha", "111111111111"), ("bravo", "222222222222")] {
        let ws = store
            .create_workspace(name, &format!("ext-{name}"))
            .await
            .unwrap();
        let account_id: Uuid = sqlx::query_scalar(
            "INSERT INTO accounts (workspace_id, aws_account_id) VALUES ($1, $2) RETURNING id",
        )
        .bind(ws.id)
        .bind(account)
        .fetch_one(admin)
        .await
        .unwrap();
        let scan_id: Uuid = sqlx::query_scalar(
            "INSERT INTO scans (workspace_id, account_id, status, finished_at) VALUES ($1, $2, 'succeeded', now()) RETURNING id",
        )
        .bind(ws.id)
        .bind(account_id)
        .fetch_one(admin)
        .await
        .unwrap();
        let arn = format!("arn:aws:ec2:us-east-1:{account}:volume/vol-{name}");
        sqlx::query(
            "INSERT INTO resources (workspace_id, account_id, arn, resource_type, resource_id, region, name, first_seen, last_seen, last_scan_id)
             VALUES ($1, $2, $3, 'ec2.volume', $4, 'us-east-1', $5, now(), now(), $6)",
        )
        .bind(ws.id)
        .bind(account_id)
        .bind(&arn)
        .bind(format!("vol-{name}"))
        .bind(format!("{name}-secret-name"))
        .bind(scan_id)
        .execute(admin)
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO findings (workspace_id, account_id, check_id, resource_arn, resource_type, resource_id, region, severity,
                                   category, title, message, evidence, evidence_sha256, status, first_seen, last_seen, last_scan_id)
             VALUES ($1, $2, 'ebs.unattached_volume', $3, 'ec2.volume', $4, 'us-east-1', 'low', 'cost', 'Unattached volume',
                     'unattached', '{}', repeat('a', 64), 'open', now(), now(), $5)",
        )
        .bind(ws.id)
        .bind(account_id)
        .bind(&arn)
        .bind(format!("vol-{name}"))
        .bind(scan_id)
        .execute(admin)
        .await
        .unwrap();
        ids.push(ws.id);
    }
    let app = Store::connect(&url_as(admin, "sightline_app").await)
        .await
        .unwrap();
    Fixture {
        console: ConsolePool::connect_lazy(&url_as(admin, "sightline_console").await)
            .unwrap()
            .with_binder(app),
        a: ids[0],
        b: ids[1],
    }
}

/// Everything of workspace B, as the admin sees it.
async fn b_rows(admin: &PgPool, b: Uuid) -> String {
    let mut out = String::new();
    for table in [
        "accounts",
        "resources",
        "findings",
        "scans",
        "saved_queries",
    ] {
        let rows: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT t::text FROM {table} t WHERE workspace_id = $1 ORDER BY 1"
        )))
        .bind(b)
        .fetch_all(admin)
        .await
        .unwrap();
        out.push_str(&format!("{table}: {rows:?}\n"));
    }
    out
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn escape_attempts_are_refused_with_a_clear_message(admin: PgPool) {
    let f = fixture(&admin).await;
    let before = b_rows(&admin, f.b).await;
    let b = f.b.to_string();
    let corpus: Vec<(String, &str)> = vec![
        // Changing the workspace, the role or settings.
        (format!("SELECT set_config('app.workspace_id', '{b}', true)"), "function set_config is not allowed"),
        (format!("SELECT * FROM resources WHERE set_config('app.workspace_id', '{b}', true) IS NOT NULL"), "set_config is not allowed"),
        (format!("SELECT (SELECT set_config('app.workspace_id', '{b}', true))"), "set_config is not allowed"),
        (format!("SELECT \"set_config\"('app.workspace_id', '{b}', true)"), "is not allowed"),
        (format!("SELECT pg_catalog.set_config('app.workspace_id', '{b}', true)"), "is not allowed"),
        (format!("SET app.workspace_id = '{b}'"), "SET is not allowed"),
        ("RESET ROLE".into(), "RESET is not allowed"),
        ("SET ROLE postgres".into(), "SET is not allowed"),
        ("SET SESSION AUTHORIZATION postgres".into(), "SET is not allowed"),
        ("SELECT current_setting('app.workspace_id')".into(), "current_setting is not allowed"),
        // Files, large objects, other databases.
        ("SELECT pg_read_file('/etc/passwd')".into(), "pg_read_file is not allowed"),
        ("SELECT pg_catalog.pg_read_file('/etc/passwd')".into(), "is not allowed"),
        ("SELECT lo_import('/etc/passwd')".into(), "lo_import is not allowed"),
        ("COPY (SELECT * FROM resources) TO '/tmp/stolen'".into(), "COPY is not allowed"),
        ("COPY resources TO STDOUT".into(), "COPY is not allowed"),
        ("SELECT * FROM dblink('host=127.0.0.1 dbname=postgres', 'SELECT 1') AS t(x int)".into(), "table functions are not allowed"),
        ("SELECT query_to_xml('SELECT * FROM users', true, true, '')".into(), "query_to_xml is not allowed"),
        // More than one statement, hidden in comments or not.
        ("SELECT 1; DROP TABLE findings".into(), "2 statements"),
        ("SELECT 1 -- harmless\n; DELETE FROM findings".into(), "2 statements"),
        ("SELECT 1 /* ; */ ; UPDATE findings SET status = 'resolved'".into(), "2 statements"),
        ("/* SELECT */ DELETE FROM findings".into(), "DELETE is not allowed"),
        // Data-modifying CTEs and other writes.
        ("WITH gone AS (DELETE FROM findings RETURNING *) SELECT * FROM gone".into(), "only reads"),
        ("WITH x AS (UPDATE findings SET status = 'resolved' RETURNING id) SELECT count(*) FROM x".into(), "only reads"),
        ("WITH x AS (INSERT INTO saved_queries (name, sql) VALUES ('x', 'y') RETURNING id) SELECT * FROM x".into(), "only reads"),
        ("SELECT * INTO stolen FROM resources".into(), "SELECT INTO creates a table"),
        ("SELECT * FROM resources FOR UPDATE".into(), "FOR UPDATE/SHARE"),
        ("CREATE TEMP TABLE x AS SELECT 1".into(), "CREATE is not allowed"),
        ("DO $$ BEGIN PERFORM 1; END $$".into(), "cannot parse the statement"),
        ("EXPLAIN ANALYZE SELECT * FROM resources".into(), "EXPLAIN is not allowed"),
        ("PREPARE p AS SELECT 1".into(), "PREPARE is not allowed"),
        // Relations other than the four views.
        ("SELECT * FROM users".into(), "relation users is not allowed"),
        ("SELECT * FROM public.findings".into(), "relation public.findings is not allowed"),
        ("SELECT * FROM pg_catalog.pg_authid".into(), "is not allowed"),
        ("SELECT usename FROM pg_user".into(), "relation pg_user is not allowed"),
        ("SELECT * FROM information_schema.tables".into(), "is not allowed"),
        ("SELECT * FROM resources r JOIN audit_log l ON true".into(), "relation audit_log is not allowed"),
        ("TABLE resources".into(), "cannot parse the statement"),
        ("SELECT * FROM generate_series(1, 100000000)".into(), "table functions are not allowed"),
        // A CTE name used out of its scope resolves to a real relation: none may shadow a catalog.
        (
            "WITH a AS (SELECT * FROM pg_stat_activity), pg_stat_activity AS (SELECT 1) SELECT * FROM a".into(),
            "names starting with pg_ are reserved",
        ),
        (
            "SELECT query FROM pg_stat_activity WHERE EXISTS (WITH pg_stat_activity AS (SELECT 1) SELECT 1)".into(),
            "names starting with pg_ are reserved",
        ),
        (
            "WITH a AS (SELECT * FROM x), x AS (SELECT 1) SELECT * FROM a".into(),
            "PostgreSQL refused the query: relation \"x\" does not exist",
        ),
        // Time.
        ("SELECT pg_sleep(10)".into(), "pg_sleep is not allowed"),
        (
            "WITH RECURSIVE t(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM t) SELECT count(*) FROM t".into(),
            "ran past the 300 ms limit and was cancelled",
        ),
        // Not SQL at all, or nothing.
        ("SELEC * FROM resources".into(), "cannot parse the statement"),
        ("".into(), "no statement"),
        ("SELECT nope FROM resources".into(), "PostgreSQL refused the query: column \"nope\" does not exist"),
    ];
    assert!(
        corpus.len() >= 30,
        "the corpus holds {} attempts",
        corpus.len()
    );
    let limits = Limits {
        statement_timeout: Duration::from_millis(300),
        ..Limits::default()
    };
    for (sql, expected) in &corpus {
        match console::run(&f.console, f.a, sql, limits).await {
            Err(e @ (StoreError::ConsoleRefused(_) | StoreError::ConsoleFailed { .. })) => assert!(
                e.to_string().contains(expected),
                "{sql:?}: expected a message containing {expected:?}, got {e}"
            ),
            Err(other) => panic!("{sql:?}: refused, but not clearly: {other}"),
            Ok(result) => panic!("{sql:?} ran: {result:?}"),
        }
    }
    assert_eq!(b_rows(&admin, f.b).await, before, "workspace B changed");
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn queries_see_only_their_workspace_and_are_capped(admin: PgPool) {
    let f = fixture(&admin).await;
    let limits = Limits::default();
    let run = |sql: &'static str, ws: Uuid| {
        let pool = f.console.clone();
        async move { console::run(&pool, ws, sql, limits).await.unwrap() }
    };
    // Each workspace sees its own rows through every view, and only those.
    let a = run(
        "SELECT r.account, r.arn, f.check_id, f.status FROM resources r JOIN findings f ON f.resource_arn = r.arn",
        f.a,
    )
    .await;
    assert_eq!(a.columns, vec!["account", "arn", "check_id", "status"]);
    assert_eq!(
        a.rows,
        vec![vec![
            Some("111111111111".to_owned()),
            Some("arn:aws:ec2:us-east-1:111111111111:volume/vol-alpha".to_owned()),
            Some("ebs.unattached_volume".to_owned()),
            Some("open".to_owned()),
        ]]
    );
    for sql in [
        "SELECT account FROM accounts",
        "SELECT account FROM scans",
        "SELECT account FROM inventory.findings",
    ] {
        let r = console::run(&f.console, f.a, sql, limits).await.unwrap();
        assert_eq!(r.rows, vec![vec![Some("111111111111".to_owned())]], "{sql}");
    }
    // Asking for B's account by name finds nothing.
    let none = run(
        "SELECT * FROM resources WHERE account = '222222222222'",
        f.a,
    )
    .await;
    assert!(none.rows.is_empty(), "{none:?}");

    // Very large results stop at the row cap, and say so.
    let many = run(
        "WITH RECURSIVE t(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM t WHERE n < 5000) SELECT n FROM t",
        f.a,
    )
    .await;
    assert_eq!(many.rows.len(), 1000);
    assert!(many.truncated.unwrap().contains("only the first 1000 rows"));
    // ... and at the byte cap.
    let wide = console::run(
        &f.console,
        f.a,
        "WITH RECURSIVE t(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM t WHERE n < 3000) SELECT concat(n, 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx') FROM t",
        Limits {
            max_bytes: 64 * 1024,
            ..limits
        },
    )
    .await
    .unwrap();
    assert!(wide.rows.len() < 1000, "{}", wide.rows.len());
    assert!(wide.truncated.unwrap().contains("only those are shown"));
}

/// The layers under the parser, tried directly on a console connection.
#[sqlx::test(migrator = "MIGRATOR")]
async fn the_console_role_itself_can_only_read_the_views(admin: PgPool) {
    let f = fixture(&admin).await;
    let pool = &f.console.pool;
    for (sql, expected) in [
        ("SELECT * FROM public.users", "permission denied"),
        ("SELECT * FROM public.audit_log", "permission denied"),
        ("SELECT * FROM public.sessions", "permission denied"),
        ("SELECT pg_read_file('/etc/passwd')", "permission denied"),
        ("DELETE FROM public.findings", "permission denied"),
        ("INSERT INTO public.saved_queries (workspace_id, name, sql, created_by) SELECT id, 'x', 'y', 'z' FROM public.workspaces", "permission denied"),
        ("CREATE TABLE public.stolen (x int)", "permission denied"),
    ] {
        let err = sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(pool)
            .await
            .unwrap_err();
        assert!(err.to_string().contains(expected), "{sql}: {err}");
    }
    // Without a binding, the views are empty, and setting the workspace
    // variable by hand (what the parser refuses) changes nothing: the
    // binding is a row the console role can neither read nor write.
    let mut conn = pool.acquire().await.unwrap();
    for bound_to in [None, Some(f.a), Some(f.b)] {
        if let Some(ws) = bound_to {
            sqlx::query("SELECT set_config('app.workspace_id', $1, false)")
                .bind(ws.to_string())
                .execute(&mut *conn)
                .await
                .unwrap();
        }
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM inventory.resources")
            .fetch_one(&mut *conn)
            .await
            .unwrap();
        assert_eq!(n, 0, "bound by set_config to {bound_to:?}");
    }
    for sql in [
        "SELECT * FROM public.console_bindings",
        "INSERT INTO public.console_bindings (pid, workspace_id) SELECT pg_backend_pid(), id FROM public.workspaces",
        "UPDATE public.console_bindings SET pid = pg_backend_pid()",
    ] {
        let err = sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(&mut *conn)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("permission denied"), "{sql}: {err}");
    }
    drop(conn);
    let mut tx = pool.begin_with("BEGIN READ ONLY").await.unwrap();
    let err = sqlx::query("UPDATE public.findings SET status = 'resolved'")
        .execute(&mut *tx)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("read-only transaction"), "{err}");
}

/// A binding left behind (a crashed request) is replaced by the next bind of
/// that connection, from any workspace; and a transaction can bind a console
/// connection only to its own workspace.
#[sqlx::test(migrator = "MIGRATOR")]
async fn stale_bindings_are_replaced_and_only_the_callers_workspace_is_bound(admin: PgPool) {
    let f = fixture(&admin).await;
    let app = Store::connect(&url_as(&admin, "sightline_app").await)
        .await
        .unwrap();
    let started = chrono::Utc::now();
    let mut tx = app.begin_workspace_tx(f.a).await.unwrap();
    console::bind(&mut tx, 4242, started).await.unwrap();
    tx.commit().await.unwrap();
    // Workspace B's request gets the same connection: its bind replaces A's.
    let mut tx = app.begin_workspace_tx(f.b).await.unwrap();
    console::bind(&mut tx, 4242, started).await.unwrap();
    tx.commit().await.unwrap();
    let bound: Uuid =
        sqlx::query_scalar("SELECT workspace_id FROM console_bindings WHERE pid = 4242")
            .fetch_one(&admin)
            .await
            .unwrap();
    assert_eq!(bound, f.b);
    // A binding names the connection by pid and start time: the same pid
    // with another start (a recycled pid) reads nothing.
    let mut conn = f.console.pool.acquire().await.unwrap();
    let (pid, real_start): (i32, chrono::DateTime<chrono::Utc>) = sqlx::query_as(
        "SELECT pid, backend_start FROM pg_stat_activity WHERE pid = pg_backend_pid()",
    )
    .fetch_one(&mut *conn)
    .await
    .unwrap();
    for (start, expected) in [
        (real_start - chrono::Duration::seconds(1), 0i64),
        (real_start, 1),
    ] {
        let mut tx = app.begin_workspace_tx(f.a).await.unwrap();
        console::bind(&mut tx, pid, start).await.unwrap();
        tx.commit().await.unwrap();
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM inventory.resources")
            .fetch_one(&mut *conn)
            .await
            .unwrap();
        assert_eq!(n, expected, "bound with start {start}");
    }
    drop(conn);
    // Binding another workspace than the transaction's is refused.
    let mut tx = app.pool.begin().await.unwrap();
    sqlx::query("SELECT set_config('app.workspace_id', $1, true)")
        .bind(f.a.to_string())
        .execute(&mut *tx)
        .await
        .unwrap();
    let err = sqlx::query("SELECT bind_console(4243, now(), $1)")
        .bind(f.b)
        .execute(&mut *tx)
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("only be bound to the transaction's own workspace"),
        "{err}"
    );
}

/// Every question of Ask's library runs through the console's whole path
/// (parser, console role, the asker's workspace, caps) and answers from the
/// asker's workspace alone.
#[sqlx::test(migrator = "MIGRATOR")]
async fn every_library_question_runs_on_the_console_path_in_its_workspace(admin: PgPool) {
    use std::collections::BTreeMap;

    use sightline_store::ask;

    let f = fixture(&admin).await;
    let mut answers = BTreeMap::new();
    for entry in ask::LIBRARY {
        let sql = ask::render(entry, &ask::example_params(entry)).unwrap();
        let result = match console::run(&f.console, f.a, &sql, Limits::default()).await {
            Ok(r) => r,
            Err(e) => panic!("{}: {e}\n{sql}", entry.id),
        };
        let text = format!("{:?}", result.rows);
        assert!(
            !text.contains("222222222222") && !text.contains("bravo"),
            "{}: another workspace's rows: {text}",
            entry.id
        );
        answers.insert(entry.id, result.rows);
    }
    let row = |cells: &[&str]| {
        cells
            .iter()
            .map(|c| Some(c.to_string()))
            .collect::<Vec<_>>()
    };
    assert_eq!(answers["open-by-severity"], vec![row(&["low", "1"])]);
    assert_eq!(
        answers["resources-by-type"],
        vec![row(&["ec2.volume", "1"])]
    );
    assert_eq!(
        answers["resources-in-region"],
        vec![row(&["ec2.volume", "1"])],
        "us-east-1 by default"
    );
    assert_eq!(answers["accounts"].len(), 1);
    assert_eq!(answers["accounts"][0][0].as_deref(), Some("111111111111"));
    // The alpha volume has no owner tag.
    assert_eq!(
        answers["no-owner-tag"].len(),
        1,
        "{:?}",
        answers["no-owner-tag"]
    );
}
