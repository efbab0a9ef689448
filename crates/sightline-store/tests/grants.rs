//! What the database itself guarantees, under the application: the worker
//! role cannot touch people, credentials, keys or the audit head; the
//! console cannot spoof its workspace binding with a temporary table, and a
//! result row over the byte cap is refused by PostgreSQL before it is sent;
//! a recovery code is spent once however the transactions interleave; and
//! two owners cannot demote each other to no owner at all.

use std::time::Duration;

use sightline_store::console::{self, ConsolePool, Limits};
use sightline_store::{identity, Store, StoreError, MIGRATOR};
use sqlx::{Connection, PgConnection, PgPool};
use uuid::Uuid;

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

async fn workspace(admin: &PgPool, name: &str) -> Uuid {
    Store {
        pool: admin.clone(),
    }
    .create_workspace(name, &format!("ext-{name}"))
    .await
    .unwrap()
    .id
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn the_worker_role_cannot_touch_people_credentials_keys_or_the_audit_head(admin: PgPool) {
    let ws = workspace(&admin, "alpha").await;
    let mut worker = PgConnection::connect(&url_as(&admin, "sightline_worker").await)
        .await
        .unwrap();
    let refused = |table: &str| {
        let id = Uuid::new_v4();
        vec![
            format!("SELECT * FROM {table}"),
            format!("INSERT INTO {table} (workspace_id) VALUES ('{ws}')"),
            format!("UPDATE {table} SET workspace_id = workspace_id WHERE workspace_id = '{id}'"),
            format!("DELETE FROM {table} WHERE workspace_id = '{id}'"),
        ]
    };
    let mut statements = vec![];
    for table in [
        "users",
        "recovery_codes",
        "sessions",
        "api_keys",
        "data_keys",
        "integrations",
        "saved_queries",
        "console_bindings",
    ] {
        statements.extend(refused(table));
    }
    statements.extend([
        "UPDATE audit_head SET sequence = 0".to_owned(),
        "DELETE FROM audit_head".to_owned(),
        "INSERT INTO audit_head (singleton, sequence, hash) VALUES (false, 0, repeat('0', 64))".to_owned(),
        format!(
            "INSERT INTO audit_log (sequence, workspace_id, occurred_at, actor, action, previous_hash, hash)
             VALUES (999, '{ws}', now(), 'x', 'x', repeat('0', 64), repeat('1', 64))"
        ),
        "SELECT * FROM auth_events".to_owned(),
        // Of a workspace, only what setup keeps in step with the stack.
        format!("UPDATE workspaces SET require_mfa_for_admins = false WHERE id = '{ws}'"),
        format!("DELETE FROM workspaces WHERE id = '{ws}'"),
        "SELECT * FROM kek_current".to_owned(),
    ]);
    for sql in &statements {
        let err = sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
            .execute(&mut worker)
            .await
            .unwrap_err();
        assert!(
            err.to_string().contains("permission denied"),
            "{sql}: {err}"
        );
    }
    // What publishing the chain's head needs, it may read.
    let head: i64 = sqlx::query_scalar("SELECT sequence FROM audit_head")
        .fetch_one(&mut worker)
        .await
        .unwrap();
    assert_eq!(head, 0);
    sqlx::query("SELECT count(*) FROM audit_log")
        .execute(&mut worker)
        .await
        .unwrap();
    // And setup may keep a workspace's name and ExternalId in step.
    sqlx::query("UPDATE workspaces SET external_id = 'ext-alpha-2' WHERE id = $1")
        .bind(ws)
        .execute(&mut worker)
        .await
        .unwrap();
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_temporary_table_cannot_spoof_the_console_binding(admin: PgPool) {
    let bravo = workspace(&admin, "bravo").await;
    let console_url = url_as(&admin, "sightline_console").await;
    let mut console = PgConnection::connect(&console_url).await.unwrap();
    // The console role may not create temporary tables at all.
    let err =
        sqlx::query("CREATE TEMP TABLE pg_stat_activity (pid integer, backend_start timestamptz)")
            .execute(&mut console)
            .await
            .unwrap_err();
    assert!(err.to_string().contains("permission denied"), "{err}");
    // And were it given that right by mistake, the lookup still reads the
    // catalog: a temp table named like it, claiming this connection started
    // when a stale binding of workspace B says, is not consulted.
    let db: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(&admin)
        .await
        .unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "GRANT TEMPORARY ON DATABASE \"{db}\" TO sightline_console"
    )))
    .execute(&admin)
    .await
    .unwrap();
    let mut console = PgConnection::connect(&console_url).await.unwrap();
    let pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(&mut console)
        .await
        .unwrap();
    let stale = "2001-01-01T00:00:00Z";
    sqlx::query("INSERT INTO console_bindings (pid, backend_start, workspace_id) VALUES ($1, $2::timestamptz, $3)")
        .bind(pid)
        .bind(stale)
        .bind(bravo)
        .execute(&admin)
        .await
        .unwrap();
    sqlx::query("CREATE TEMP TABLE pg_stat_activity (pid integer, backend_start timestamptz)")
        .execute(&mut console)
        .await
        .unwrap();
    sqlx::query("INSERT INTO pg_stat_activity VALUES (pg_backend_pid(), $1::timestamptz)")
        .bind(stale)
        .execute(&mut console)
        .await
        .unwrap();
    let bound: Option<Uuid> = sqlx::query_scalar("SELECT console_workspace()")
        .fetch_one(&mut console)
        .await
        .unwrap();
    assert_eq!(bound, None, "the spoofed binding was honoured");
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_console_row_over_the_byte_cap_is_refused_by_the_database(admin: PgPool) {
    let ws = workspace(&admin, "alpha").await;
    let account: Uuid = sqlx::query_scalar(
        "INSERT INTO accounts (workspace_id, aws_account_id) VALUES ($1, '111111111111') RETURNING id",
    )
    .bind(ws)
    .fetch_one(&admin)
    .await
    .unwrap();
    let scan: Uuid = sqlx::query_scalar(
        "INSERT INTO scans (workspace_id, account_id, status, finished_at) VALUES ($1, $2, 'succeeded', now()) RETURNING id",
    )
    .bind(ws)
    .bind(account)
    .fetch_one(&admin)
    .await
    .unwrap();
    // 2,000 resources with 200-character names: 400 kB in one string_agg.
    sqlx::query(
        "INSERT INTO resources (workspace_id, account_id, arn, resource_type, resource_id, region, name, first_seen, last_seen, last_scan_id)
         SELECT $1, $2, 'arn:aws:ec2:us-east-1:111111111111:volume/vol-' || i, 'ec2.volume', 'vol-' || i, 'us-east-1',
                repeat('n', 200), now(), now(), $3
         FROM generate_series(1, 2000) AS i",
    )
    .bind(ws)
    .bind(account)
    .bind(scan)
    .execute(&admin)
    .await
    .unwrap();
    let app = Store::connect(&url_as(&admin, "sightline_app").await)
        .await
        .unwrap();
    let pool = ConsolePool::connect_lazy(&url_as(&admin, "sightline_console").await)
        .unwrap()
        .with_binder(app);
    let limits = Limits {
        statement_timeout: Duration::from_secs(10),
        max_rows: 1000,
        max_bytes: 64 * 1024,
    };
    let err = console::run(
        &pool,
        ws,
        "SELECT string_agg(name, ',') AS everything FROM resources",
        limits,
    )
    .await
    .unwrap_err();
    match err {
        StoreError::ConsoleRefused(message) => assert!(
            message.contains("a single result row is larger than 64 KiB"),
            "{message}"
        ),
        other => panic!("expected a refusal, found {other:?}"),
    }
    // Rows under the cap still stream, up to the total cap.
    let out = console::run(&pool, ws, "SELECT name FROM resources", limits)
        .await
        .unwrap();
    assert!(
        out.truncated.as_deref().unwrap_or("").contains("64 KiB"),
        "{:?}",
        out.truncated
    );
    assert!(!out.rows.is_empty());
}

/// Until another transaction of this database waits on a row lock.
async fn wait_for_a_lock_wait(admin: &PgPool) {
    for _ in 0..500 {
        let waiting: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'",
        )
        .fetch_one(admin)
        .await
        .unwrap();
        if waiting > 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("no transaction ever waited on the lock");
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_recovery_code_is_spent_once_however_the_uses_interleave(admin: PgPool) {
    let ws = workspace(&admin, "alpha").await;
    let store = Store::connect(&url_as(&admin, "sightline_app").await)
        .await
        .unwrap();
    let mut tx = store.begin_workspace_tx(ws).await.unwrap();
    let user = identity::create_user(&mut tx, "a@example.com", "viewer", None, false)
        .await
        .unwrap();
    let hash = "c".repeat(64);
    identity::replace_recovery_codes(&mut tx, user.id, std::slice::from_ref(&hash))
        .await
        .unwrap();
    tx.commit().await.unwrap();

    // The first use takes the row and has not committed; the second waits on it.
    let mut first = store.begin_workspace_tx(ws).await.unwrap();
    assert!(identity::use_recovery_code(&mut first, user.id, &hash)
        .await
        .unwrap());
    let second = {
        let (store, hash) = (store.clone(), hash.clone());
        tokio::spawn(async move {
            let mut tx = store.begin_workspace_tx(ws).await.unwrap();
            let used = identity::use_recovery_code(&mut tx, user.id, &hash)
                .await
                .unwrap();
            tx.commit().await.unwrap();
            used
        })
    };
    wait_for_a_lock_wait(&admin).await;
    first.commit().await.unwrap();
    assert!(
        !second.await.unwrap(),
        "a spent code was accepted a second time"
    );
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn the_owner_count_waits_for_a_concurrent_demotion(admin: PgPool) {
    let ws = workspace(&admin, "alpha").await;
    let store = Store::connect(&url_as(&admin, "sightline_app").await)
        .await
        .unwrap();
    let mut tx = store.begin_workspace_tx(ws).await.unwrap();
    let a = identity::create_user(&mut tx, "a@example.com", "owner", None, false)
        .await
        .unwrap();
    let b = identity::create_user(&mut tx, "b@example.com", "owner", None, false)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    // A demotes B: two owners counted, B demoted, not yet committed.
    let mut first = store.begin_workspace_tx(ws).await.unwrap();
    assert_eq!(identity::lock_owners(&mut first).await.unwrap(), 2);
    identity::set_role(&mut first, b.id, "admin").await.unwrap();
    // B, at the same time, counts before demoting A: it must wait, then see one.
    let second = {
        let store = store.clone();
        tokio::spawn(async move {
            let mut tx = store.begin_workspace_tx(ws).await.unwrap();
            let owners = identity::lock_owners(&mut tx).await.unwrap();
            tx.rollback().await.unwrap();
            owners
        })
    };
    wait_for_a_lock_wait(&admin).await;
    first.commit().await.unwrap();
    assert_eq!(second.await.unwrap(), 1);
    let _ = a;
}

/// An account of `ws` with one scan, and one row of each table a scan
/// writes naming it: a resource, its history, a finding and its change.
/// Returns the account and the scan.
async fn scanned_account(admin: &PgPool, ws: Uuid, aws_account_id: &str) -> (Uuid, Uuid) {
    let account: Uuid = sqlx::query_scalar(
        "INSERT INTO accounts (workspace_id, aws_account_id) VALUES ($1, $2) RETURNING id",
    )
    .bind(ws)
    .bind(aws_account_id)
    .fetch_one(admin)
    .await
    .unwrap();
    let scan: Uuid = sqlx::query_scalar(
        "INSERT INTO scans (workspace_id, account_id, status) VALUES ($1, $2, 'running') RETURNING id",
    )
    .bind(ws)
    .bind(account)
    .fetch_one(admin)
    .await
    .unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "INSERT INTO resources (workspace_id, account_id, arn, resource_type, resource_id, region, first_seen, last_seen, last_scan_id)
         VALUES ('{ws}', '{account}', 'arn:aws:ec2:us-east-1:{aws_account_id}:volume/vol-1', 'ec2.volume', 'vol-1', 'us-east-1', now(), now(), '{scan}');
         INSERT INTO resource_history (workspace_id, account_id, arn, scan_id, observed_at, change)
         VALUES ('{ws}', '{account}', 'arn:aws:ec2:us-east-1:{aws_account_id}:volume/vol-1', '{scan}', now(), 'appeared');
         WITH f AS (
             INSERT INTO findings (workspace_id, account_id, check_id, resource_arn, resource_type, resource_id, region, severity,
                                   category, title, message, evidence, evidence_sha256, status, first_seen, last_seen, last_scan_id)
             VALUES ('{ws}', '{account}', 'ebs.unattached', 'arn:aws:ec2:us-east-1:{aws_account_id}:volume/vol-1', 'ec2.volume',
                     'vol-1', 'us-east-1', 'low', 'cost', 't', 'm', '{{}}', repeat('a', 64), 'open', now(), now(), '{scan}')
             RETURNING id
         )
         INSERT INTO scan_finding_changes (workspace_id, scan_id, finding_id, change) SELECT '{ws}', '{scan}', id, 'new' FROM f;"
    )))
    .execute(admin)
    .await
    .unwrap();
    (account, scan)
}

/// The database error's constraint, or a panic naming what happened.
fn refused_by(result: Result<sqlx::postgres::PgQueryResult, sqlx::Error>, what: &str) -> String {
    let err = result.expect_err(what);
    let db = err.as_database_error().expect("a database error");
    assert_eq!(db.code().as_deref(), Some("23503"), "{what}: {db}");
    db.constraint().unwrap_or_default().to_owned()
}

/// A scan's resources, history, findings and changes are checked against
/// their scan once per statement (20261207000010), not by row-by-row keys.
/// An update that makes a row name another account's scan, another
/// workspace, or no scan at all is refused under the key's name, as an
/// insert is (`a_row_cannot_pair_one_workspaces_account_with_another_workspace`
/// in store.rs); an update that leaves the reference alone is not checked;
/// and a scan's own id, account and workspace cannot change under its rows.
#[sqlx::test(migrator = "MIGRATOR")]
async fn a_scans_rows_cannot_be_moved_off_their_scan(admin: PgPool) {
    let ws = workspace(&admin, "alpha").await;
    let (account, scan) = scanned_account(&admin, ws, "111111111111").await;
    let (sibling, sibling_scan) = scanned_account(&admin, ws, "222222222222").await;
    let other_ws = workspace(&admin, "bravo").await;
    let (_, other_scan) = scanned_account(&admin, other_ws, "333333333333").await;
    let nowhere = Uuid::new_v4();

    let tables = [
        ("resources", "last_scan_id", "resources_last_scan_fkey"),
        ("resource_history", "scan_id", "resource_history_scan_fkey"),
        ("findings", "last_scan_id", "findings_last_scan_fkey"),
    ];
    for (table, column, constraint) in tables {
        let only_ours = format!("WHERE account_id = '{account}'");
        for (what, set) in [
            (
                "a sibling account's scan",
                format!("{column} = '{sibling_scan}'"),
            ),
            (
                "another workspace's scan",
                format!("{column} = '{other_scan}'"),
            ),
            ("no scan", format!("{column} = '{nowhere}'")),
            (
                "another account, the scan kept",
                format!("account_id = '{sibling}'"),
            ),
            (
                "another workspace, the scan kept",
                format!("workspace_id = '{other_ws}'"),
            ),
        ] {
            let sql = format!("UPDATE {table} SET {set} {only_ours}");
            let result = sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
                .execute(&admin)
                .await;
            if table == "findings" && what.ends_with("the scan kept") {
                // A finding's account and workspace never change at all, so
                // that its changes never name another workspace's finding.
                let err = result.expect_err(&sql);
                assert!(
                    err.to_string()
                        .contains("a finding's id, account and workspace cannot change"),
                    "{sql}: {err}"
                );
                continue;
            }
            assert_eq!(refused_by(result, &sql), constraint, "{table}: {what}");
        }
    }
    // A change names its scan and workspace (its account is its scan's).
    for (what, set) in [
        (
            "another workspace's scan",
            format!("scan_id = '{other_scan}'"),
        ),
        ("no scan", format!("scan_id = '{nowhere}'")),
        (
            "another workspace, the scan kept",
            format!("workspace_id = '{other_ws}'"),
        ),
    ] {
        let sql = format!("UPDATE scan_finding_changes SET {set} WHERE scan_id = '{scan}'");
        let result = sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
            .execute(&admin)
            .await;
        assert_eq!(
            refused_by(result, &sql),
            "scan_finding_changes_scan_fkey",
            "{what}"
        );
    }

    // A change names a finding of its own workspace (the key it replaces
    // held the id alone).
    let other_finding: Uuid = sqlx::query_scalar("SELECT id FROM findings WHERE workspace_id = $1")
        .bind(other_ws)
        .fetch_one(&admin)
        .await
        .unwrap();
    for (what, finding) in [
        ("no finding", nowhere),
        ("another workspace's finding", other_finding),
    ] {
        let sql = format!(
            "UPDATE scan_finding_changes SET finding_id = '{finding}' WHERE scan_id = '{scan}'"
        );
        let result = sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
            .execute(&admin)
            .await;
        assert_eq!(
            refused_by(result, &sql),
            "scan_finding_changes_finding_id_fkey",
            "{what}"
        );
    }

    // Moving a row to another scan of its own account is what a rescan does.
    let rescan: Uuid = sqlx::query_scalar(
        "INSERT INTO scans (workspace_id, account_id, status) VALUES ($1, $2, 'running') RETURNING id",
    )
    .bind(ws)
    .bind(account)
    .fetch_one(&admin)
    .await
    .unwrap();
    for (table, column, _) in tables {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE {table} SET {column} = '{rescan}' WHERE account_id = '{account}'"
        )))
        .execute(&admin)
        .await
        .unwrap_or_else(|e| panic!("{table}: {e}"));
    }
    // An update that leaves the reference alone is not checked at all: the
    // rows of a scan being deleted can still be updated (a finding's
    // resolving scan is cleared as its last scan goes).
    sqlx::query("UPDATE findings SET status = 'resolved', resolved_at = now(), resolved_scan_id = $2 WHERE account_id = $1")
        .bind(account)
        .bind(scan)
        .execute(&admin)
        .await
        .unwrap();

    for set in [
        "id = gen_random_uuid()".to_string(),
        format!("account_id = '{sibling}'"),
        format!("workspace_id = '{other_ws}'"),
    ] {
        let sql = format!("UPDATE scans SET {set} WHERE id = '{scan}'");
        let err = sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
            .execute(&admin)
            .await
            .expect_err(&sql);
        assert!(
            err.to_string()
                .contains("a scan's id, account and workspace cannot change"),
            "{sql}: {err}"
        );
    }
    // Nor a row's id: the check tells a row whose reference changed by its
    // id, and one statement swapping two rows' ids and scans would move a
    // row to another scan unchecked.
    let row = "a row's id cannot change";
    let finding = "a finding's id, account and workspace cannot change";
    let statements = [
        (format!("UPDATE resources SET id = gen_random_uuid() WHERE account_id = '{account}'"), row),
        (format!("UPDATE resource_history SET id = id + 1000 WHERE account_id = '{account}'"), row),
        (format!("UPDATE findings SET id = gen_random_uuid() WHERE account_id = '{account}'"), finding),
        // An upsert's update, the write's own shape.
        (format!(
            "INSERT INTO resources (workspace_id, account_id, arn, resource_type, resource_id, region, first_seen, last_seen, last_scan_id)
             SELECT workspace_id, account_id, arn, resource_type, resource_id, region, first_seen, last_seen, last_scan_id
             FROM resources WHERE account_id = '{account}'
             ON CONFLICT (account_id, arn) DO UPDATE SET id = gen_random_uuid()"
        ), row),
    ];
    for (sql, refusal) in statements {
        let err = sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
            .execute(&admin)
            .await
            .expect_err(&sql);
        assert!(err.to_string().contains(refusal), "{sql}: {err}");
    }
    sqlx::query("UPDATE scans SET status = 'succeeded' WHERE id = $1")
        .bind(scan)
        .execute(&admin)
        .await
        .unwrap();
}

/// The count of each table's rows naming `scan`.
async fn rows_of_scan(admin: &PgPool, scan: Uuid) -> (i64, i64, i64, i64) {
    sqlx::query_as(
        "SELECT (SELECT count(*) FROM resources WHERE last_scan_id = $1),
                (SELECT count(*) FROM resource_history WHERE scan_id = $1),
                (SELECT count(*) FROM findings WHERE last_scan_id = $1),
                (SELECT count(*) FROM scan_finding_changes WHERE scan_id = $1)",
    )
    .bind(scan)
    .fetch_one(admin)
    .await
    .unwrap()
}

/// The set-based check locks the scan as a key did, and the deletion's
/// cascade reads what is committed when it runs: a deletion that comes
/// after a write waits for it and takes the written rows too; a write that
/// comes after a deletion waits for it and fails. The deletion runs as the
/// application role (an account deleted in the web UI), another account's
/// rows stay, a deletion at REPEATABLE READ is refused rather than leave a
/// row behind, and a TRUNCATE of the scans takes their rows too.
#[sqlx::test(migrator = "MIGRATOR")]
async fn a_scans_deletion_and_a_write_naming_it_wait_for_each_other(admin: PgPool) {
    let ws = workspace(&admin, "alpha").await;
    let (first, first_scan) = scanned_account(&admin, ws, "111111111111").await;
    let (second, second_scan) = scanned_account(&admin, ws, "222222222222").await;
    let (_, kept_scan) = scanned_account(&admin, ws, "333333333333").await;
    let worker_url = url_as(&admin, "sightline_worker").await;
    let app = Store::connect(&url_as(&admin, "sightline_app").await)
        .await
        .unwrap();
    let insert_resource = |account: Uuid, scan: Uuid| {
        format!(
            "INSERT INTO resources (workspace_id, account_id, arn, resource_type, resource_id, region, first_seen, last_seen, last_scan_id)
             VALUES ('{ws}', '{account}', 'arn:aws:ec2:us-east-1:1:volume/vol-late', 'ec2.volume', 'vol-late', 'us-east-1', now(), now(), '{scan}')"
        )
    };

    // A write, then the deletion: the deletion waits and takes the new row.
    let mut writer = PgConnection::connect(&worker_url).await.unwrap();
    sqlx::query("BEGIN").execute(&mut writer).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(insert_resource(first, first_scan)))
        .execute(&mut writer)
        .await
        .unwrap();
    let deletion = {
        let app = app.clone();
        tokio::spawn(async move {
            let mut tx = app.begin_workspace_tx(ws).await.unwrap();
            sightline_store::views::delete_account(&mut tx, first)
                .await
                .unwrap();
            tx.commit().await.unwrap();
        })
    };
    wait_for_a_lock_wait(&admin).await;
    sqlx::query("COMMIT").execute(&mut writer).await.unwrap();
    deletion.await.unwrap();
    assert_eq!(rows_of_scan(&admin, first_scan).await, (0, 0, 0, 0));

    // The deletion, then a write: the write waits and fails.
    let mut tx = app.begin_workspace_tx(ws).await.unwrap();
    sightline_store::views::delete_account(&mut tx, second)
        .await
        .unwrap();
    let write = {
        let sql = insert_resource(second, second_scan);
        tokio::spawn(async move {
            let mut writer = PgConnection::connect(&worker_url).await.unwrap();
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .execute(&mut writer)
                .await
        })
    };
    wait_for_a_lock_wait(&admin).await;
    tx.commit().await.unwrap();
    assert_eq!(
        refused_by(write.await.unwrap(), "a write after the deletion"),
        "resources_last_scan_fkey"
    );
    assert_eq!(rows_of_scan(&admin, second_scan).await, (0, 0, 0, 0));
    assert_eq!(
        rows_of_scan(&admin, kept_scan).await,
        (1, 1, 1, 1),
        "another account's rows went with the deleted ones"
    );

    // At REPEATABLE READ the cascade could miss a row committed after the
    // deletion's snapshot: refused, nothing deleted.
    let mut conn = admin.acquire().await.unwrap();
    sqlx::query("BEGIN ISOLATION LEVEL REPEATABLE READ")
        .execute(&mut *conn)
        .await
        .unwrap();
    let err = sqlx::query("DELETE FROM scans WHERE id = $1")
        .bind(kept_scan)
        .execute(&mut *conn)
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains(
            "scans can be deleted only at READ COMMITTED isolation, found REPEATABLE READ"
        ),
        "{err}"
    );
    sqlx::query("ROLLBACK").execute(&mut *conn).await.unwrap();
    // And so is a deletion of findings, whose cascade takes their changes.
    sqlx::query("BEGIN ISOLATION LEVEL REPEATABLE READ")
        .execute(&mut *conn)
        .await
        .unwrap();
    let err = sqlx::query("DELETE FROM findings WHERE last_scan_id = $1")
        .bind(kept_scan)
        .execute(&mut *conn)
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains(
            "findings can be deleted only at READ COMMITTED isolation, found REPEATABLE READ"
        ),
        "{err}"
    );
    sqlx::query("ROLLBACK").execute(&mut *conn).await.unwrap();
    assert_eq!(rows_of_scan(&admin, kept_scan).await, (1, 1, 1, 1));

    // A finding's deletion takes its changes, whichever scan recorded them.
    sqlx::query("DELETE FROM findings WHERE last_scan_id = $1")
        .bind(kept_scan)
        .execute(&mut *conn)
        .await
        .unwrap();
    assert_eq!(rows_of_scan(&admin, kept_scan).await, (1, 1, 0, 0));

    // TRUNCATE fires no delete trigger: truncating the scans (the owner's
    // alone) still empties every table that names them, and the changes
    // that name the findings it reaches, whether or not the statement
    // names those tables itself.
    for (n, statement) in [
        "TRUNCATE scans CASCADE",
        "TRUNCATE scans, resources, resource_history CASCADE",
        "TRUNCATE findings, scan_finding_changes, scans CASCADE",
    ]
    .into_iter()
    .enumerate()
    {
        scanned_account(&admin, ws, &format!("44444444444{n}")).await;
        sqlx::query(statement).execute(&mut *conn).await.unwrap();
        let left: (i64, i64, i64, i64) = sqlx::query_as(
            "SELECT (SELECT count(*) FROM resources), (SELECT count(*) FROM resource_history),
                    (SELECT count(*) FROM findings), (SELECT count(*) FROM scan_finding_changes)",
        )
        .fetch_one(&mut *conn)
        .await
        .unwrap();
        assert_eq!(left, (0, 0, 0, 0), "{statement} left a scan's rows behind");
    }
}
