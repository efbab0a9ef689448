//! `sightline worker` end to end: accounts registered from the CLI, a scan
//! job claimed from a real PostgreSQL, the emulator scanned, and every
//! finding and resource stored once, with the job completed once.

mod support;

use support::db::{execute, sql, TestDatabase};
use support::{run, stderr, Emulator};

fn cli(emulator: &Emulator, db: &TestDatabase, args: &[&str]) -> std::process::Output {
    run(emulator.sightline().env("DATABASE_URL", &db.url).args(args))
}

#[test]
fn a_worker_scans_a_registered_account_and_stores_it_once() {
    let emulator = Emulator::start("test");
    let db = TestDatabase::create();

    // A database at an older migration is refused, with the fix in the message.
    let out = cli(&emulator, &db, &["account", "list", "--workspace", "acme"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("run `sightline migrate`"),
        "{}",
        stderr(&out)
    );

    for _ in 0..2 {
        let out = cli(&emulator, &db, &["migrate"]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "migrate is idempotent: {}",
            stderr(&out)
        );
    }
    let out = cli(&emulator, &db, &["audit", "verify"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "audit chain empty"
    );
    assert_eq!(
        cli(
            &emulator,
            &db,
            &["workspace", "add", "acme", "--external-id", "acme-xid"]
        )
        .status
        .code(),
        Some(0)
    );
    let add = [
        "account",
        "add",
        "--workspace",
        "acme",
        "--account-id",
        "123456789012",
        "--regions",
        "us-east-1,eu-west-1",
    ];
    let out = cli(&emulator, &db, &add);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    // Bad input: clear errors, nothing written.
    let out = cli(&emulator, &db, &add);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("account 123456789012 is already registered in workspace acme"),
        "{}",
        stderr(&out)
    );
    let out = cli(
        &emulator,
        &db,
        &[
            "account",
            "add",
            "--workspace",
            "acme",
            "--account-id",
            "12345",
        ],
    );
    assert!(
        stderr(&out).contains("invalid AWS account id \"12345\": expected 12 digits"),
        "{}",
        stderr(&out)
    );
    let out = cli(
        &emulator,
        &db,
        &[
            "account",
            "add",
            "--workspace",
            "acme",
            "--account-id",
            "210987654321",
            "--role-arn",
            "arn:aws:iam::210987654321:user/x",
        ],
    );
    assert!(
        stderr(&out).contains("expected arn:aws:iam::<12-digit account id>:role/<name>"),
        "{}",
        stderr(&out)
    );
    assert_eq!(sql(&db.url, "SELECT count(*) FROM accounts"), "1");

    assert_eq!(
        cli(&emulator, &db, &["enqueue", "--workspace", "acme"])
            .status
            .code(),
        Some(0)
    );
    let out = cli(
        &emulator,
        &db,
        &["worker", "--exit-when-idle", "--name", "w1"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    assert_eq!(
        sql(
            &db.url,
            "SELECT string_agg(status || ':' || attempts, ',') FROM jobs"
        ),
        "succeeded:1"
    );
    // The emulator has no IAM Access Analyzer, so the scan is partial, never 'running'.
    assert_eq!(
        sql(&db.url, "SELECT string_agg(status, ',') FROM scans"),
        "partial"
    );
    let expected = emulator.expected().len();
    assert_eq!(
        sql(
            &db.url,
            "SELECT count(*) FROM findings WHERE status = 'open'"
        ),
        expected.to_string()
    );
    assert_eq!(
        sql(
            &db.url,
            "SELECT count(*) FROM scan_finding_changes WHERE change = 'new'"
        ),
        expected.to_string()
    );
    for (check, label) in emulator.expected() {
        let q = format!(
            "SELECT count(*) FROM findings f LEFT JOIN resources r ON r.arn = f.resource_arn
             WHERE f.check_id = '{check}' AND (coalesce(r.name, f.resource_id) = '{label}' OR f.resource_id = '{label}')"
        );
        assert_eq!(sql(&db.url, &q), "1", "{check} on {label}");
    }
    let resources: i64 = sql(&db.url, "SELECT count(*) FROM resources")
        .parse()
        .unwrap();
    assert!(resources > 50, "{resources}");
    assert_eq!(
        sql(&db.url, "SELECT count(DISTINCT arn) FROM resources"),
        resources.to_string()
    );
    // Neither the planted Lambda value nor the canaries inside resources
    // are in any row of any table.
    for secret in emulator.canaries() {
        let rows = format!(
            "SELECT count(*) FROM information_schema.tables t,
                 LATERAL query_to_xml(format('SELECT * FROM %I.%I', t.table_schema, t.table_name), true, false, '') x
             WHERE t.table_schema NOT IN ('pg_catalog', 'information_schema') AND t.table_type = 'BASE TABLE'
               AND x::text LIKE '%{secret}%'"
        );
        assert_eq!(sql(&db.url, &rows), "0", "{secret} in the database");
    }
    assert!(sql(
        &db.url,
        "SELECT attributes::text FROM resources WHERE resource_id = 'fn-leaky'"
    )
    .contains("DB_PASSWORD"));
}

#[test]
fn an_unreachable_database_at_start_up_is_one_clear_line() {
    let out = run(
        std::process::Command::new(env!("CARGO_BIN_EXE_sightline")).args([
            "worker",
            "--database-url",
            "postgres://app:pw@127.0.0.1:1/sightline",
        ]),
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("cannot reach the database at postgres://app:***@127.0.0.1:1/sightline"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}

#[test]
fn member_accounts_are_discovered_from_organizations_once() {
    let emulator = Emulator::start("empty");
    let db = TestDatabase::create();
    emulator.aws(
        "o = c('organizations')\n\
         o.create_organization(FeatureSet='ALL')\n\
         for i in range(3):\n    o.create_account(Email=f'member{i}@example.com', AccountName=f'member-{i}')",
    );
    let cli = |args: &[&str]| cli(&emulator, &db, args);
    assert_eq!(cli(&["migrate"]).status.code(), Some(0));
    assert_eq!(
        cli(&["workspace", "add", "org", "--external-id", "org-xid"])
            .status
            .code(),
        Some(0)
    );
    let out = cli(&["account", "discover", "--workspace", "org"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let added = String::from_utf8_lossy(&out.stdout).lines().count();
    assert_eq!(added, 4, "the management account and three members");
    assert_eq!(sql(&db.url, "SELECT count(*) FROM accounts WHERE source = 'organizations' AND role_arn = 'arn:aws:iam::' || aws_account_id || ':role/SightlineMonitoring'"), "4");
    assert_eq!(
        sql(
            &db.url,
            "SELECT count(*) FROM accounts WHERE name LIKE 'member-%'"
        ),
        "3"
    );
    let again = cli(&["account", "discover", "--workspace", "org"]);
    assert!(
        stderr(&again).contains("4 active member account(s), 0 newly registered"),
        "{}",
        stderr(&again)
    );
}

#[test]
fn demo_scans_into_a_private_postgres_when_no_database_url_is_set() {
    let emulator = Emulator::start("test");
    let dir = tempfile::tempdir().unwrap();
    let demo = || {
        let out = run(emulator
            .sightline()
            .env_remove("DATABASE_URL")
            .args(["demo", "--regions", "us-east-1", "--data-dir"])
            .arg(dir.path()));
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        String::from_utf8(out.stdout).unwrap()
    };
    let first = demo();
    let findings = emulator
        .expected()
        .iter()
        .filter(|(_, label)| label != "123456789012/eu-west-1" && !label.starts_with("eu-"))
        .count();
    assert!(
        first.contains(&format!(
            "{findings} open findings, 1 scan(s) of account 123456789012"
        )),
        "{first}"
    );
    assert!(
        first.contains(&format!("This scan: {findings} new, 0 still open")),
        "{first}"
    );
    // The private server was stopped on exit and is reused: the second scan is a diff.
    let second = demo();
    assert!(second.contains(&format!("2 scan(s) of account 123456789012. This scan: 0 new, {findings} still open, 0 resolved, 0 regressed")), "{second}");
}

#[test]
fn the_audit_chain_head_is_published_to_cloudwatch_logs_only_when_intact() {
    let emulator = Emulator::start("empty");
    let db = TestDatabase::create();
    assert_eq!(cli(&emulator, &db, &["migrate"]).status.code(), Some(0));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let head = runtime.block_on(async {
        let store = sightline_store::Store::connect(&db.url).await.unwrap();
        let ws = store.create_workspace("audited", "x-id").await.unwrap();
        let mut last = None;
        for action in ["sign_in", "role_change", "export"] {
            last = Some(
                store
                    .append_audit(ws.id, "alice", action, "", serde_json::json!({}))
                    .await
                    .unwrap(),
            );
        }
        last.unwrap()
    });

    let out = cli(&emulator, &db, &["audit", "publish-head"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let published = emulator.aws(
        "events = c('logs').get_log_events(logGroupName='/sightline/audit', logStreamName='chain-head')['events']\n\
         print(events[-1]['message'])",
    );
    assert!(
        published.starts_with(&format!("sequence=3 hash={}", head.hash)),
        "{published}"
    );

    // Rewrite history in the database: the head is not published, and verify says where.
    execute(&db.url, "ALTER TABLE audit_log DISABLE TRIGGER USER; UPDATE audit_log SET actor = 'mallory' WHERE sequence = 2; ALTER TABLE audit_log ENABLE TRIGGER USER");
    let out = cli(&emulator, &db, &["audit", "publish-head"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("record 2: its content does not match its hash"),
        "{}",
        stderr(&out)
    );
    let out = cli(&emulator, &db, &["audit", "verify"]);
    assert_eq!(out.status.code(), Some(1));
}
