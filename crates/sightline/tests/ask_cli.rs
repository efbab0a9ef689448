//! `sightline ask` from the command line: the library without a database,
//! and a question answered for the workspace named, from its rows only,
//! audited by hash.

mod support;

use support::db::{execute, sql, TestDatabase};
use support::{run, stderr, Emulator};

fn as_role(url: &str, role: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap();
    let host = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
    format!("{scheme}://{role}@{host}")
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn ask_answers_a_question_for_the_workspace_named() {
    let emulator = Emulator::start("empty");
    let listed = run(emulator.sightline().args(["ask", "--list"]));
    assert_eq!(listed.status.code(), Some(0), "{}", stderr(&listed));
    let library = stdout(&listed);
    assert!(library.lines().count() >= 30, "{library}");
    assert!(library.contains("open-to-internet"), "{library}");
    let json = run(emulator
        .sightline()
        .args(["ask", "--list", "--format", "json"]));
    let entries: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(entries[0]["id"], "open-to-internet");
    // A question refused for its shape needs no database at all.
    let nothing = run(emulator.sightline().env_remove("DATABASE_URL").args([
        "ask",
        "--workspace",
        "acme",
        "--database-url",
        "postgres://nobody@127.0.0.1:1/none",
    ]));
    assert_eq!(nothing.status.code(), Some(1));
    assert!(
        stderr(&nothing).contains("found nothing"),
        "{}",
        stderr(&nothing)
    );

    let db = TestDatabase::create();
    let cli = |args: &[&str]| run(emulator.sightline().env("DATABASE_URL", &db.url).args(args));
    assert_eq!(cli(&["migrate"]).status.code(), Some(0));
    for (name, account) in [("acme", "111111111111"), ("other", "222222222222")] {
        let added = cli(&[
            "workspace",
            "add",
            name,
            "--external-id",
            &format!("{name}-xid"),
        ]);
        assert_eq!(added.status.code(), Some(0), "{}", stderr(&added));
        execute(
            &db.url,
            &format!(
                "INSERT INTO accounts (workspace_id, aws_account_id) SELECT id, '{account}' FROM workspaces WHERE name = '{name}'"
            ),
        );
    }
    let console = as_role(&db.url, "sightline_console");
    let asked = run(emulator
        .sightline()
        .env("DATABASE_URL", &db.url)
        .env("SIGHTLINE_CONSOLE_DATABASE_URL", &console)
        .args([
            "ask",
            "which accounts are monitored?",
            "--workspace",
            "acme",
        ]));
    assert_eq!(asked.status.code(), Some(0), "{}", stderr(&asked));
    let out = stdout(&asked);
    assert!(out.starts_with("Which accounts are monitored?\n"), "{out}");
    assert!(out.contains("\n111111111111\t"), "{out}");
    assert!(
        !out.contains("222222222222"),
        "another workspace's rows: {out}"
    );
    assert_eq!(
        sql(
            &db.url,
            "SELECT details->>'question_chars' || ' ' || (details->>'question_sha256' IS NOT NULL) || ' ' || (details ? 'question') FROM audit_log WHERE action = 'ask.question'"
        ),
        "29 true false"
    );
    assert_eq!(
        sql(
            &db.url,
            "SELECT actor FROM audit_log WHERE action = 'ask.question'"
        ),
        "system:ask-cli"
    );

    // A question the library would answer wrongly: a clear error, exit 1.
    let refused = run(emulator
        .sightline()
        .env("DATABASE_URL", &db.url)
        .env("SIGHTLINE_CONSOLE_DATABASE_URL", &console)
        .args([
            "ask",
            "which buckets are not public?",
            "--workspace",
            "acme",
        ]));
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        stderr(&refused).contains("turned around"),
        "{}",
        stderr(&refused)
    );
    // Without the console's URL, Ask is off and says why.
    let off = cli(&[
        "ask",
        "which accounts are monitored?",
        "--workspace",
        "acme",
    ]);
    assert_eq!(off.status.code(), Some(1));
    assert!(
        stderr(&off).contains("SIGHTLINE_CONSOLE_DATABASE_URL"),
        "{}",
        stderr(&off)
    );
}
