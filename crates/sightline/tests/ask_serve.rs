//! `sightline serve` with a model profile, end to end: the real binary,
//! a real PostgreSQL, the emulator's Secrets Manager and STS, and the
//! provider double (`crates/sightline-web/tests/support/llm_double.rs`).
//!
//! - `bedrock`: Converse through the SDK's endpoint override, SigV4-signed;
//!   its default data policy `rows` sends the rows (the canary) to the model.
//! - `openai`: the key read from Secrets Manager, kept for its TTL, a
//!   rotated key used after it; no key in the log.

mod support;

#[path = "../../sightline-web/tests/support/llm_double.rs"]
mod llm_double;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use llm_double::{Double, Scripted, Wire};
use serde_json::{json, Value};
use support::db::{execute, TestDatabase};
use support::webdriver::http;
use support::{run, Emulator};

const CANARY: &str = "canary-5b21e7";
const API_KEY: &str = "slk_operator_for_ask_tests_0123456789";

fn as_role(url: &str, role: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap();
    let host = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
    format!("{scheme}://{role}@{host}")
}

/// A workspace with one account, one resource carrying the canary, and an
/// operator's API key.
fn seed(emulator: &Emulator, db: &TestDatabase) {
    let cli = |args: &[&str]| run(emulator.sightline().env("DATABASE_URL", &db.url).args(args));
    assert_eq!(cli(&["migrate"]).status.code(), Some(0));
    assert_eq!(
        cli(&["workspace", "add", "acme", "--external-id", "acme-xid"])
            .status
            .code(),
        Some(0)
    );
    execute(
        &db.url,
        "INSERT INTO accounts (workspace_id, aws_account_id) SELECT id, '111111111111' FROM workspaces WHERE name = 'acme'",
    );
    execute(
        &db.url,
        &format!(
            "INSERT INTO scans (workspace_id, account_id, status, finished_at)
               SELECT workspace_id, id, 'succeeded', now() FROM accounts;
             INSERT INTO resources (workspace_id, account_id, arn, resource_type, resource_id, region, name, tags, attributes, first_seen, last_seen, last_scan_id)
               SELECT a.workspace_id, a.id, 'arn:aws:s3:::acme-logs', 's3.bucket', 'acme-logs', 'us-east-1', 'acme-logs',
                      '{{\"owner\": \"{CANARY}\"}}', '{{}}', now(), now(), s.id
               FROM accounts a JOIN scans s ON s.account_id = a.id;
             INSERT INTO api_keys (workspace_id, name, prefix, key_sha256, role)
               SELECT id, 'ask', '{}', encode(sha256('{API_KEY}'::bytea), 'hex'), 'operator' FROM workspaces",
            &API_KEY[..12]
        ),
    );
}

fn serve(
    emulator: &Emulator,
    db: &TestDatabase,
    env: &[(&str, &str)],
    log: &std::path::Path,
) -> (Child, u16) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut cmd: Command = emulator.sightline();
    cmd.args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .env("SIGHTLINE_DATABASE_URL", as_role(&db.url, "sightline_app"))
        .env(
            "SIGHTLINE_CONSOLE_DATABASE_URL",
            as_role(&db.url, "sightline_console"),
        )
        .env(
            "SIGHTLINE_KEK",
            "8f0e1d2c3b4a59687766554433221100ffeeddccbbaa99887766554433221100",
        )
        .env_remove("DATABASE_URL")
        .env("SIGHTLINE_LOG", "debug")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let started = Instant::now();
    loop {
        if http(port, "GET", "/readyz", &[], "").is_some_and(|r| r.status == 200) {
            break;
        }
        let exited = child.try_wait().unwrap().is_some();
        assert!(
            !exited && started.elapsed() < Duration::from_secs(30),
            "not ready: {}",
            std::fs::read_to_string(log).unwrap()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    (child, port)
}

fn ask(port: u16, question: &str) -> Value {
    let reply = http(
        port,
        "POST",
        "/api/v1/ask",
        &[
            ("content-type", "application/json"),
            ("authorization", &format!("Bearer {API_KEY}")),
        ],
        &json!({ "question": question }).to_string(),
    )
    .expect("the server answers");
    let body = String::from_utf8_lossy(&reply.body);
    assert_eq!(reply.status, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

fn tool_text(request: &Value) -> String {
    request["messages"].as_array().unwrap().last().unwrap()["content"][0]["toolResult"]["content"]
        [0]["text"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn bedrock_converse_answers_with_the_rows_its_policy_allows() {
    let emulator = Emulator::start("empty");
    let db = TestDatabase::create();
    seed(&emulator, &db);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let model = "anthropic.claude-3-5-sonnet-20240620-v1:0";
    let double = rt.block_on(Double::start(Wire::Bedrock, model, "unused"));
    double.script(vec![
        Scripted::sql("SELECT name, tags->>'owner' AS owner FROM resources"),
        Scripted::answer("The bucket **acme-logs** belongs to its owner."),
    ]);
    let log = tempfile::NamedTempFile::new().unwrap().into_temp_path();
    let (mut server, port) = serve(
        &emulator,
        &db,
        &[
            ("SIGHTLINE_ASK_PROFILE", "bedrock"),
            ("SIGHTLINE_ASK_MODEL", model),
            ("SIGHTLINE_ASK_REGION", "us-east-1"),
            ("SIGHTLINE_ASK_BASE_URL", &double.base_url),
        ],
        &log,
    );
    let a = ask(port, "who owns the buckets?");
    server.kill().unwrap();
    assert_eq!(a["status"], "answered", "{a}");
    assert_eq!(a["provider"], "bedrock");
    assert_eq!(a["model"], model);
    assert_eq!(a["data_policy"], "rows");
    assert_eq!(a["tables"][0]["rows"], json!([["acme-logs", CANARY]]));
    assert_eq!(
        a["usage"],
        json!({"input_tokens": 200, "output_tokens": 40})
    );
    assert_eq!(a["stored"], true);
    assert!(double.violations().is_empty(), "{:?}", double.violations());
    let requests = double.requests();
    assert_eq!(requests.len(), 2);
    let sent: Value = serde_json::from_str(&tool_text(&requests[1])).unwrap();
    assert_eq!(sent["rows"], json!([["acme-logs", CANARY]]));
    // Stored: the session's question, plan and answer.
    let stored = support::db::sql(
        &db.url,
        "SELECT question || ' | ' || answer || ' | ' || (plan->0->>'sql') || ' | ' || provider FROM ask_questions",
    );
    assert_eq!(
        stored,
        "who owns the buckets? | The bucket **acme-logs** belongs to its owner. | SELECT name, tags ->> 'owner' AS owner FROM resources | bedrock"
    );
}

#[test]
fn openai_reads_its_key_from_secrets_manager_and_follows_a_rotation() {
    let emulator = Emulator::start("empty");
    let db = TestDatabase::create();
    seed(&emulator, &db);
    let first_key = "sk-first-1f2e3d4c5b6a";
    let second_key = "sk-second-9a8b7c6d5e4f";
    emulator.aws(&format!(
        "c('secretsmanager').create_secret(Name='sightline/llm', SecretString='{first_key}')\n"
    ));
    let rt = tokio::runtime::Runtime::new().unwrap();
    let double = rt.block_on(Double::start(Wire::OpenAi, "gpt-test", first_key));
    double.script(vec![
        Scripted::sql("SELECT count(*) AS buckets FROM resources"),
        Scripted::answer("One bucket."),
    ]);
    let log = tempfile::NamedTempFile::new().unwrap().into_temp_path();
    let (mut server, port) = serve(
        &emulator,
        &db,
        &[
            ("SIGHTLINE_ASK_PROFILE", "openai"),
            ("SIGHTLINE_ASK_MODEL", "gpt-test"),
            ("SIGHTLINE_ASK_BASE_URL", &double.base_url),
            ("SIGHTLINE_ASK_KEY_SECRET_ID", "sightline/llm"),
            ("SIGHTLINE_ASK_KEY_TTL", "1"),
        ],
        &log,
    );
    let a = ask(port, "how many buckets?");
    assert_eq!(a["status"], "answered", "{a}");
    assert_eq!(a["data_policy"], "schema-only");
    for body in double.bodies() {
        assert!(!body.contains(CANARY), "schema-only sent a value");
    }
    // Rotate: the provider takes only the new key; after the TTL the server uses it.
    emulator.aws(&format!(
        "c('secretsmanager').put_secret_value(SecretId='sightline/llm', SecretString='{second_key}')\n"
    ));
    double.rotate_key(second_key);
    std::thread::sleep(Duration::from_millis(1500));
    double.script(vec![Scripted::answer("Still one bucket.")]);
    let b = ask(port, "and now?");
    server.kill().unwrap();
    assert_eq!(b["status"], "answered", "{b}");
    assert_eq!(b["answer"], "Still one bucket.");
    assert!(double.violations().is_empty(), "{:?}", double.violations());
    let log = std::fs::read_to_string(&log).unwrap();
    for secret in [first_key, second_key, API_KEY] {
        assert!(!log.contains(secret), "the log holds a key: {log}");
    }
}

#[test]
fn the_command_line_asks_the_model_through_the_same_pipeline() {
    let emulator = Emulator::start("empty");
    let db = TestDatabase::create();
    seed(&emulator, &db);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let double = rt.block_on(Double::start(Wire::Anthropic, "claude-test", "sk-ant-cli"));
    double.script(vec![
        Scripted::sql("SELECT name FROM resources ORDER BY name"),
        Scripted::answer("One bucket: **acme-logs**."),
    ]);
    let out = run(emulator
        .sightline()
        .env("DATABASE_URL", &db.url)
        .env(
            "SIGHTLINE_CONSOLE_DATABASE_URL",
            as_role(&db.url, "sightline_console"),
        )
        .env("SIGHTLINE_ASK_PROFILE", "anthropic")
        .env("SIGHTLINE_ASK_MODEL", "claude-test")
        .env("SIGHTLINE_ASK_BASE_URL", &double.base_url)
        .env("SIGHTLINE_ASK_KEY", "sk-ant-cli")
        .args(["ask", "which buckets are there?", "--workspace", "acme"]));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(0), "{}", support::stderr(&out));
    assert_eq!(stdout, "One bucket: **acme-logs**.\n\nname\nacme-logs\n");
    assert!(double.violations().is_empty(), "{:?}", double.violations());
    assert_eq!(
        support::db::sql(
            &db.url,
            "SELECT asked_by || ' | ' || question || ' | ' || provider FROM ask_questions"
        ),
        "system:ask-cli | which buckets are there? | anthropic"
    );
    assert_eq!(
        support::db::sql(
            &db.url,
            "SELECT string_agg(action, ',' ORDER BY sequence) FROM audit_log WHERE actor = 'system:ask-cli'"
        ),
        "ask.question,ask.statement"
    );
    // A model that stops: the reason, exit 1.
    double.script(vec![
        Scripted::Status(500, None),
        Scripted::Status(500, None),
    ]);
    let stopped = run(emulator
        .sightline()
        .env("DATABASE_URL", &db.url)
        .env(
            "SIGHTLINE_CONSOLE_DATABASE_URL",
            as_role(&db.url, "sightline_console"),
        )
        .env("SIGHTLINE_ASK_PROFILE", "anthropic")
        .env("SIGHTLINE_ASK_MODEL", "claude-test")
        .env("SIGHTLINE_ASK_BASE_URL", &double.base_url)
        .env("SIGHTLINE_ASK_KEY", "sk-ant-cli")
        .args(["ask", "and now?", "--workspace", "acme"]));
    assert_eq!(stopped.status.code(), Some(1));
    assert!(
        support::stderr(&stopped).contains("stopped: the model provider is unavailable (HTTP 500)"),
        "{}",
        support::stderr(&stopped)
    );
}
