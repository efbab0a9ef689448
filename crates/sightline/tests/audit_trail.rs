//! The audit trail from the operator's side: `sightline audit verify`
//! compares the chain with the head row and with the head the workers
//! published to CloudWatch Logs, so deleting the newest records (which
//! leaves an intact, shorter chain) is caught even when the head row is
//! rewritten to match; `sightline keys rotate` re-wraps the data keys under
//! a new key-encryption key, audited, leaving sealed rows as they are, and
//! a server still holding the old key neither starts nor wraps new keys; and
//! `sightline audit auth-log` reads the platform-level sign-in log.

mod support;

use serde_json::json;
use sightline_crypto::KeyEncryptionKey;
use sightline_store::lockout::AuthEvent;
use sightline_store::{keyring, Store};
use support::db::{execute, sql, TestDatabase};
use support::{run, stderr, Emulator};

const OLD: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
const NEW: &str = "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100";

fn block_on<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

#[test]
fn verify_catches_deleted_newest_records_and_keys_rotate_rewraps_audited() {
    let emulator = Emulator::start("empty");
    let db = TestDatabase::create();
    let cli = |args: &[&str]| run(emulator.sightline().env("DATABASE_URL", &db.url).args(args));
    assert_eq!(cli(&["migrate"]).status.code(), Some(0));
    assert_eq!(
        cli(&["workspace", "add", "acme", "--external-id", "acme-xid"])
            .status
            .code(),
        Some(0)
    );
    let workspace: uuid::Uuid = sql(&db.url, "SELECT id FROM workspaces").parse().unwrap();

    // A sealed credential under the current key, and a few records.
    let old = KeyEncryptionKey::from_hex("kek-1", OLD).unwrap();
    let new = KeyEncryptionKey::from_hex("kek-2", NEW).unwrap();
    let url = db.url.clone();
    let sealed_before: Vec<u8> = block_on(async {
        let store = Store::connect(&url).await.unwrap();
        let mut tx = store.begin_workspace_tx(workspace).await.unwrap();
        keyring::put_integration(&mut tx, &old, "slack", "xoxb-secret")
            .await
            .unwrap();
        tx.commit().await.unwrap();
        for i in 0..4 {
            store
                .append_audit(
                    workspace,
                    "user:ops@acme.example",
                    "test.event",
                    &format!("#{i}"),
                    json!({}),
                )
                .await
                .unwrap();
        }
        store
            .record_auth_event(
                AuthEvent::UnknownEmail,
                "nobody@acme.example",
                "203.0.113.9",
                json!({}),
            )
            .await
            .unwrap();
        sqlx::query_scalar("SELECT credential FROM integrations")
            .fetch_one(&store.pool)
            .await
            .unwrap()
    });

    // keys rotate: every data key re-wrapped, the sealed row untouched, audited.
    let out = run(emulator
        .sightline()
        .env("DATABASE_URL", &db.url)
        .env("SIGHTLINE_KEK", OLD)
        .env("SIGHTLINE_KEK_ID", "kek-1")
        .env("SIGHTLINE_NEW_KEK", NEW)
        .env("SIGHTLINE_NEW_KEK_ID", "kek-2")
        .args(["keys", "rotate"]));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(
        printed.contains("1 data key(s) of 1 workspace(s) re-wrapped from kek-1 to kek-2"),
        "{printed}"
    );
    assert!(!printed.contains(OLD) && !printed.contains(NEW) && !stderr(&out).contains(NEW));
    assert_eq!(
        sql(&db.url, "SELECT string_agg(kek_id, ',') FROM data_keys"),
        "kek-2"
    );
    assert_eq!(
        sql(
            &db.url,
            "SELECT details::text FROM audit_log WHERE action = 'keys.rotated'"
        ),
        r#"{"to_kek": "kek-2", "from_kek": "kek-1", "data_keys": 1}"#
    );
    let url = db.url.clone();
    block_on(async {
        let store = Store::connect(&url).await.unwrap();
        let sealed_after: Vec<u8> = sqlx::query_scalar("SELECT credential FROM integrations")
            .fetch_one(&store.pool)
            .await
            .unwrap();
        assert_eq!(sealed_after, sealed_before);
        let mut tx = store.begin_workspace_tx(workspace).await.unwrap();
        assert_eq!(
            keyring::integration_credential(&mut tx, &new, "slack")
                .await
                .unwrap(),
            "xoxb-secret"
        );
        assert!(keyring::integration_credential(&mut tx, &old, "slack")
            .await
            .is_err());
        drop(tx);
        // A server still holding the previous key does not wrap a new
        // workspace's data key with it (nothing could open it after a
        // restart); with the current key it does.
        let bravo = store.create_workspace("bravo", "bravo-xid").await.unwrap();
        let mut tx = store.begin_workspace_tx(bravo.id).await.unwrap();
        let err = keyring::put_integration(&mut tx, &old, "slack", "xoxb-bravo")
            .await
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("key-encryption key (kek-1) is not the current one (kek-2)"),
            "{err}"
        );
        drop(tx);
        let mut tx = store.begin_workspace_tx(bravo.id).await.unwrap();
        keyring::put_integration(&mut tx, &new, "slack", "xoxb-bravo")
            .await
            .unwrap();
        tx.commit().await.unwrap();
    });
    // And a server started with the previous key refuses to start at all.
    let mut stale = emulator
        .sightline()
        .env_remove("DATABASE_URL")
        .env("SIGHTLINE_DATABASE_URL", &db.url)
        .env("SIGHTLINE_KEK", OLD)
        .env("SIGHTLINE_KEK_ID", "kek-1")
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(status) = stale.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > std::time::Duration::from_secs(60) {
            let _ = stale.kill();
            panic!("serve started with a stale key-encryption key");
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut stale.stderr.take().unwrap(), &mut err).unwrap();
    assert_eq!(status.code(), Some(1), "{err}");
    assert!(
        err.contains("restart it with the new key (SIGHTLINE_KEK_ID=kek-2)"),
        "{err}"
    );
    // Rotating to the same id is refused, naming both.
    let same = run(emulator
        .sightline()
        .env("DATABASE_URL", &db.url)
        .env("SIGHTLINE_KEK", NEW)
        .env("SIGHTLINE_KEK_ID", "kek-2")
        .env("SIGHTLINE_NEW_KEK", OLD)
        .env("SIGHTLINE_NEW_KEK_ID", "kek-2")
        .args(["keys", "rotate"]));
    assert_eq!(same.status.code(), Some(1));
    assert!(
        stderr(&same).contains("an id other than the current one (kek-2)"),
        "{}",
        stderr(&same)
    );

    // The head goes to CloudWatch Logs; the trail verifies against it.
    let group = [
        "--log-group",
        "/sightline/audit",
        "--log-stream",
        "audit-head",
    ];
    let out = cli(&[&["audit", "publish-head"][..], &group].concat());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = cli(&[&["audit", "verify"][..], &group].concat());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .contains("the 1 head(s) published to /sightline/audit (newest sequence 5) are in it"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    // A database administrator deletes the two newest records: the chain that
    // is left links up, but no longer reaches the head row.
    execute(
        &db.url,
        "ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only;
         DELETE FROM audit_log WHERE sequence > 3;
         ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only",
    );
    let out = cli(&["audit", "verify"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(
        stderr(&out).contains("the chain ends at sequence 3 but the head row says 5"),
        "{}",
        stderr(&out)
    );
    // And rewrites the head row to match: only the published head tells.
    execute(
        &db.url,
        "UPDATE audit_head SET sequence = 3, hash = (SELECT hash FROM audit_log WHERE sequence = 3)",
    );
    assert_eq!(cli(&["audit", "verify"]).status.code(), Some(0));
    let out = cli(&[&["audit", "verify"][..], &group].concat());
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(
        stderr(&out).contains("the head published outside the database (sequence 5"),
        "{}",
        stderr(&out)
    );
    // Publishing the shorter head afterwards does not hide it: every head
    // ever published must be in the chain.
    let published = cli(&[&["audit", "publish-head"][..], &group].concat());
    assert_eq!(published.status.code(), Some(0), "{}", stderr(&published));
    let out = cli(&[&["audit", "verify"][..], &group].concat());
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(
        stderr(&out).contains("(sequence 5, hash"),
        "{}",
        stderr(&out)
    );

    // The platform-level sign-in log, for the operator.
    let out = cli(&["audit", "auth-log"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let line: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&out.stdout).lines().next().unwrap()).unwrap();
    assert_eq!(
        (
            line["event"].as_str(),
            line["email"].as_str(),
            line["ip"].as_str()
        ),
        (
            Some("unknown_email"),
            Some("nobody@acme.example"),
            Some("203.0.113.9")
        )
    );
}
