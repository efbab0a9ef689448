//! `sightline serve` as it runs in AWS: its database credentials and
//! key-encryption key come from Secrets Manager (the moto server's), the
//! first owner's one-time password is stored there by `sightline user
//! bootstrap`, logs are JSON without a secret in them, and SIGTERM stops it
//! cleanly. `setup.rs` covers the deployment's start-up (`sightline setup`)
//! and the worker's audit-head publication.

mod support;

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::db::TestDatabase;
use support::{run, stderr, Emulator};

const KEK: &str = "8f0e1d2c3b4a59687766554433221100ffeeddccbbaa99887766554433221100";
const DB_PASSWORD: &str = "db-password-from-the-rds-secret";

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

fn http(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Option<Reply> {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
    for (k, v) in headers {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes()).ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    let mut lines = head.lines();
    let status = lines.next()?.split_whitespace().nth(1)?.parse().ok()?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_lowercase(), v.trim().to_owned()))
        .collect();
    Some(Reply {
        status,
        headers,
        body: body.to_owned(),
    })
}

fn cookie(reply: &Reply, name: &str) -> String {
    reply
        .headers
        .iter()
        .filter(|(k, _)| k == "set-cookie")
        .find_map(|(_, v)| {
            v.strip_prefix(&format!("{name}="))
                .map(|r| r.split(';').next().unwrap().to_owned())
        })
        .unwrap_or_else(|| panic!("no {name} cookie"))
}

#[test]
fn serve_reads_its_secrets_from_secrets_manager_logs_no_secret_and_stops_cleanly() {
    let emulator = Emulator::start("empty");
    let db = TestDatabase::create();
    let cli = |args: &[&str]| run(emulator.sightline().env("DATABASE_URL", &db.url).args(args));
    assert_eq!(cli(&["migrate"]).status.code(), Some(0));
    assert_eq!(
        cli(&["workspace", "add", "acme", "--external-id", "acme-external"])
            .status
            .code(),
        Some(0)
    );

    let (host_port, name) = db.url.rsplit_once('@').unwrap().1.split_once('/').unwrap();
    let (host, port) = host_port.split_once(':').unwrap();
    emulator.aws(&format!(
        "sm = c('secretsmanager')\n\
         sm.create_secret(Name='sightline/db', SecretString=json.dumps({{'username': 'sightline_app', 'password': '{DB_PASSWORD}', 'engine': 'postgres', 'host': '{host}', 'port': {port}, 'dbname': '{name}'}}))\n\
         sm.create_secret(Name='sightline/kek', SecretString='{KEK}')\n\
         sm.create_secret(Name='sightline/bootstrap', SecretString='pending')\n"
    ));

    // The first owner: the one-time password goes to Secrets Manager, not the terminal.
    let out = cli(&[
        "user",
        "bootstrap",
        "--workspace",
        "acme",
        "--email",
        "Owner@Acme.example",
        "--secret-id",
        "sightline/bootstrap",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let printed = String::from_utf8_lossy(&out.stdout).into_owned();
    let one_time = emulator.aws("print(c('secretsmanager').get_secret_value(SecretId='sightline/bootstrap')['SecretString'], end='')");
    assert!(
        one_time.len() >= 20 && !printed.contains(&one_time),
        "{printed}"
    );
    let again = cli(&[
        "user",
        "bootstrap",
        "--workspace",
        "acme",
        "--email",
        "second@acme.example",
    ]);
    assert_eq!(again.status.code(), Some(1));
    assert!(
        stderr(&again).contains("already has users"),
        "{}",
        stderr(&again)
    );

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let log_path = tempfile::NamedTempFile::new().unwrap().into_temp_path();
    let mut server = emulator
        .sightline()
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .env("SIGHTLINE_DATABASE_SECRET_ID", "sightline/db")
        .env("SIGHTLINE_KEK_SECRET_ID", "sightline/kek")
        .env_remove("DATABASE_URL")
        .env("SIGHTLINE_LOG", "info")
        .env("SIGHTLINE_LOG_FORMAT", "json")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log_path).unwrap())
        .spawn()
        .unwrap();

    let started = Instant::now();
    loop {
        if http(port, "GET", "/readyz", &[], "").is_some_and(|r| r.status == 200) {
            break;
        }
        let exited = server.try_wait().unwrap().is_some();
        assert!(
            !exited && started.elapsed() < Duration::from_secs(30),
            "not ready: {}",
            std::fs::read_to_string(&log_path).unwrap()
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    // Sign in with the one-time password; it must be replaced before anything else.
    let json = |email: &str, password: &str| {
        format!("{{\"email\":\"{email}\",\"password\":\"{password}\"}}")
    };
    let ct = ("content-type", "application/json");
    let signed_in = http(
        port,
        "POST",
        "/api/v1/session",
        &[ct],
        &json("owner@acme.example", &one_time),
    )
    .unwrap();
    assert_eq!(signed_in.status, 200, "{}", signed_in.body);
    let (token, csrf) = (
        cookie(&signed_in, "__Host-sl_session"),
        cookie(&signed_in, "__Host-sl_csrf"),
    );
    let cookies = format!("__Host-sl_session={token}; __Host-sl_csrf={csrf}");
    let blocked = http(port, "GET", "/api/v1/accounts", &[("cookie", &cookies)], "").unwrap();
    assert_eq!(blocked.status, 403, "{}", blocked.body);
    let new_password = "a new and long passphrase";
    let change =
        format!("{{\"current_password\":\"{one_time}\",\"new_password\":\"{new_password}\"}}");
    let changed = http(
        port,
        "POST",
        "/api/v1/me/password",
        &[ct, ("cookie", &cookies), ("x-csrf-token", &csrf)],
        &change,
    )
    .unwrap();
    assert_eq!(changed.status, 200, "{}", changed.body);
    // The change ends the session it ran in and opens a new one.
    let old = http(port, "GET", "/api/v1/me", &[("cookie", &cookies)], "").unwrap();
    assert_eq!(old.status, 401, "{}", old.body);
    let cookies = format!(
        "__Host-sl_session={}; __Host-sl_csrf={}",
        cookie(&changed, "__Host-sl_session"),
        cookie(&changed, "__Host-sl_csrf")
    );
    let me = http(port, "GET", "/api/v1/me", &[("cookie", &cookies)], "").unwrap();
    assert!(me.body.contains("\"role\":\"owner\""), "{}", me.body);
    assert_eq!(
        http(
            port,
            "POST",
            "/api/v1/session",
            &[ct],
            &json("owner@acme.example", "wrong password")
        )
        .unwrap()
        .status,
        401
    );
    let openapi = http(port, "GET", "/api/v1/openapi.json", &[], "").unwrap();
    assert!(openapi.body.contains("\"openapi\":\"3.0.3\""));

    // SIGTERM: the server finishes and exits 0.
    let killed = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(status) = server.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "still running 15 s after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(status.code(), Some(0));

    let log = std::fs::read_to_string(&log_path).unwrap();
    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|l| {
            serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON log line ({e}): {l}"))
        })
        .collect();
    assert!(
        lines
            .iter()
            .any(|l| l["fields"]["route"] == "/api/v1/session" && l["fields"]["status"] == 200),
        "{log}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l["fields"]["message"] == "shutting down: finishing requests in flight"),
        "{log}"
    );
    for secret in [
        one_time.as_str(),
        new_password,
        token.as_str(),
        csrf.as_str(),
        KEK,
        DB_PASSWORD,
        "wrong password",
    ] {
        assert!(
            !log.contains(secret),
            "the log holds a secret ({secret}):\n{log}"
        );
    }
}

#[test]
fn serve_refuses_a_wildcard_origin() {
    let out = run(Command::new(env!("CARGO_BIN_EXE_sightline")).args([
        "serve",
        "--allowed-origins",
        "https://ok.example.com,*",
        "--database-url",
        "postgres://nobody@127.0.0.1:1/none",
        "--kek",
        KEK,
    ]));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("\"*\" is refused; list each origin"),
        "{}",
        stderr(&out)
    );
}

/// Start-up from Secrets Manager fails with one line naming the secret that
/// is missing or malformed, and never printing a secret's value.
#[test]
fn serve_names_the_secret_that_is_missing_or_malformed() {
    let emulator = Emulator::start("empty");
    let db = TestDatabase::create();
    assert_eq!(
        run(emulator
            .sightline()
            .env("DATABASE_URL", &db.url)
            .arg("migrate"))
        .status
        .code(),
        Some(0)
    );
    let (host_port, name) = db.url.rsplit_once('@').unwrap().1.split_once('/').unwrap();
    let (host, port) = host_port.split_once(':').unwrap();
    emulator.aws(&format!(
        "sm = c('secretsmanager')\n\
         sm.create_secret(Name='sightline/db', SecretString=json.dumps({{'username': 'sightline_app', 'password': 'pw-{DB_PASSWORD}', 'host': '{host}', 'port': {port}, 'dbname': '{name}'}}))\n\
         sm.create_secret(Name='sightline/db-not-json', SecretString='postgres://sightline_app:hunter2@db/sightline')\n\
         sm.create_secret(Name='sightline/kek-short', SecretString='deadbeef-not-a-key')\n"
    ));
    let serve = |db_secret: &str, kek_secret: &str| {
        let out = run(emulator
            .sightline()
            .args(["serve", "--listen", "127.0.0.1:0"])
            .env("SIGHTLINE_DATABASE_SECRET_ID", db_secret)
            .env("SIGHTLINE_KEK_SECRET_ID", kek_secret)
            .env_remove("DATABASE_URL"));
        (out.status.code(), stderr(&out))
    };
    let cases = [
        (
            "sightline/missing",
            "sightline/kek-short",
            "cannot read secret sightline/missing",
        ),
        (
            "sightline/db-not-json",
            "sightline/kek-short",
            "secret sightline/db-not-json: expected the RDS JSON secret",
        ),
        (
            "sightline/db",
            "sightline/kek-missing",
            "cannot read secret sightline/kek-missing",
        ),
        (
            "sightline/db",
            "sightline/kek-short",
            "secret sightline/kek-short: expected the key-encryption key as 64 hex digits",
        ),
    ];
    for (db_secret, kek_secret, expected) in cases {
        let (code, err) = serve(db_secret, kek_secret);
        assert_eq!(code, Some(1), "{db_secret} {kek_secret}: {err}");
        assert!(
            err.contains(expected),
            "{db_secret} {kek_secret}: expected {expected:?} in {err:?}"
        );
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        for value in ["hunter2", "deadbeef-not-a-key", DB_PASSWORD] {
            assert!(!err.contains(value), "a secret value in the error: {err}");
        }
    }
}
