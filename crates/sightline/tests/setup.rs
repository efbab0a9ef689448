//! The deployment's start-up, as the stack runs it: `sightline setup` reads
//! the database owner's secret (Aurora's managed master secret has no host,
//! so the endpoint comes from the environment), connects with
//! `sslmode=verify-full` to a server that only accepts TLS and SCRAM
//! passwords, migrates, gives each login role the password from its own
//! secret, and prepares the workspace, its first owner and the account. Then
//! the web server and the worker start from their own secrets: the owner
//! signs in with the one-time password, the worker answers its health check
//! and publishes the audit head to CloudWatch Logs.

mod support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::db::sql;
use support::deployment::{
    owner_first_sign_in, seed_secrets, APP, CONSOLE, LOGINS, ONE_TIME, OWNER_DB, WORKER,
};
use support::private_pg::PrivatePostgres;
use support::webdriver::{free_port, http};
use support::{run, stderr, Emulator};

const WORKSPACE: &str = "3f1d7c1e-8a8b-4d0c-9a51-2f8f1b7e6a10";

fn role_url(user: &str, password: &str, host: &str, port: u16, ca: &std::path::Path) -> String {
    format!(
        "postgres://{user}:{password}@{host}:{port}/sightline?sslmode=verify-full&sslrootcert={}",
        ca.display()
    )
}

/// Whether a connection to `url` succeeds (the error otherwise).
fn connects(url: &str) -> Result<(), String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            use sqlx::Connection;
            sqlx::PgConnection::connect(url)
                .await
                .map(drop)
                .map_err(|e| e.to_string())
        })
}

/// A child process killed when the test ends, passed or not.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn setup_prepares_a_deployment_over_verified_tls_and_each_role_signs_in_with_its_own_secret() {
    let emulator = Emulator::start("empty");
    let tls = PrivatePostgres::start_tls(OWNER_DB);
    let port = tls.pg.port();
    let account = emulator.account_id.clone();
    seed_secrets(&emulator);
    emulator.aws(&format!(
        "c('secretsmanager').create_secret(Name='sightline/not-the-worker', SecretString=json.dumps({{'username': 'sightline_app', 'password': 'x-{APP}'}}))\n"
    ));
    let at_endpoint = |cmd: &mut Command| {
        cmd.env_remove("DATABASE_URL")
            .env("SIGHTLINE_DATABASE_HOST", "localhost")
            .env("SIGHTLINE_DATABASE_PORT", port.to_string())
            .env("SIGHTLINE_DATABASE_NAME", "sightline")
            .env("SIGHTLINE_DATABASE_SSLMODE", "verify-full")
            .env("SIGHTLINE_DATABASE_SSLROOTCERT", &tls.ca);
    };
    let setup = |external_id: &str, logins: &str| {
        let mut cmd = emulator.sightline();
        at_endpoint(&mut cmd);
        run(cmd
            .arg("setup")
            .env("SIGHTLINE_DATABASE_SECRET_ID", "sightline/master")
            .env("SIGHTLINE_LOGIN_SECRETS", logins)
            .env("SIGHTLINE_WORKSPACE_ID", WORKSPACE)
            .env("SIGHTLINE_WORKSPACE_NAME", "acme")
            .env("SIGHTLINE_EXTERNAL_ID", external_id)
            .env("SIGHTLINE_OWNER_EMAIL", "Owner@Acme.example")
            .env("SIGHTLINE_OWNER_PASSWORD_SECRET_ID", "sightline/owner")
            .env("SIGHTLINE_ACCOUNT_ID", &account)
            .env(
                "SIGHTLINE_ACCOUNT_ROLE_ARN",
                format!("arn:aws:iam::{account}:role/SightlineMonitoring"),
            )
            .env("SIGHTLINE_SCAN_SCHEDULE", "6 hours"))
    };
    let logins = LOGINS;

    let out = setup("acme-external-1", logins);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let printed = String::from_utf8_lossy(&out.stdout).into_owned();
    let expected = format!(
        "sightline_app: password set from secret sightline/app\n\
         sightline_worker: password set from secret sightline/worker\n\
         sightline_console: password set from secret sightline/console\n\
         workspace acme ({WORKSPACE})\n\
         owner owner@acme.example created; the one-time password is in secret sightline/owner\n"
    );
    assert!(printed.contains(&expected), "{printed}");
    assert!(
        printed.contains(&format!("account {account} registered")),
        "{printed}"
    );

    // Each role signs in with its own password, over TLS verified against the CA.
    let ca = &tls.ca;
    for (role, password) in [
        ("sightline_app", APP),
        ("sightline_worker", WORKER),
        ("sightline_console", CONSOLE),
    ] {
        assert_eq!(
            sql(
                &role_url(role, password, "localhost", port, ca),
                "current_user"
            ),
            role
        );
        let wrong = connects(&role_url(role, "not-its-password", "localhost", port, ca));
        assert!(
            wrong.is_err_and(|e| e.contains("password authentication failed")),
            "{role}"
        );
    }
    // verify-full: another CA, or a name the certificate does not hold, is refused;
    // the server itself refuses a connection without TLS.
    let refused = [
        role_url("sightline_app", APP, "localhost", port, &tls.other_ca),
        role_url("sightline_app", APP, "127.0.0.1", port, ca),
        format!("postgres://sightline_app:{APP}@localhost:{port}/sightline?sslmode=disable"),
    ];
    for url in refused {
        assert!(connects(&url).is_err(), "connected: {url}");
    }

    let worker_url = role_url("sightline_worker", WORKER, "localhost", port, ca);
    let state = |q: &str| sql(&worker_url, q);
    assert_eq!(
        state("SELECT string_agg(id || ' ' || name || ' ' || external_id, ',') FROM workspaces"),
        format!("{WORKSPACE} acme acme-external-1")
    );
    // The first owner was created by the application role: the worker may not read people.
    let owner_url = role_url("postgres", OWNER_DB, "localhost", port, ca);
    assert_eq!(
        sql(
            &owner_url,
            "SELECT string_agg(email || ' ' || role || ' ' || must_change_password, ',') FROM users"
        ),
        "owner@acme.example owner true"
    );
    assert_eq!(
        state("SELECT string_agg(aws_account_id || ' ' || role_arn || ' ' || schedule_interval::text, ',') FROM accounts"),
        format!("{account} arn:aws:iam::{account}:role/SightlineMonitoring 06:00:00")
    );

    // The server logged every statement, and no password among them: the
    // roles' passwords travelled as SCRAM verifiers, the owner's as a hash.
    let log = tls.pg.log();
    assert!(
        log.contains("ALTER ROLE sightline_app WITH LOGIN PASSWORD 'SCRAM-SHA-256$4096:"),
        "the statement log is not on"
    );
    for secret in [OWNER_DB, APP, WORKER, CONSOLE, ONE_TIME] {
        assert!(
            !log.contains(secret),
            "the server log holds a password ({secret})"
        );
    }

    // Again, as every task start does, with a new ExternalId from a stack
    // update: the parameters win, nothing is duplicated, the owner stays.
    let again = setup("acme-external-2", logins);
    assert_eq!(again.status.code(), Some(0), "{}", stderr(&again));
    let printed = String::from_utf8_lossy(&again.stdout);
    assert!(
        printed.contains("workspace has users: no owner created"),
        "{printed}"
    );
    assert!(
        printed.contains(&format!("account {account} already registered")),
        "{printed}"
    );
    assert_eq!(
        state("SELECT string_agg(external_id, ',') FROM workspaces"),
        "acme-external-2"
    );
    assert_eq!(sql(&owner_url, "SELECT count(*) FROM users"), "1");
    assert_eq!(state("SELECT count(*) FROM accounts"), "1");

    // A secret for the wrong role is named, in one line, without its value.
    let wrong = setup(
        "acme-external-2",
        "sightline_app=sightline/app,sightline_worker=sightline/not-the-worker",
    );
    assert_eq!(wrong.status.code(), Some(1));
    let err = stderr(&wrong);
    assert!(
        err.contains("secret sightline/not-the-worker: expected username \"sightline_worker\", found \"sightline_app\""),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(!err.contains(APP), "{err}");

    // The web server, from the application role's and the console role's secrets.
    let web_port = free_port();
    let mut cmd = emulator.sightline();
    at_endpoint(&mut cmd);
    let mut web = Killed(
        cmd.args(["serve", "--listen", &format!("127.0.0.1:{web_port}")])
            .env("SIGHTLINE_DATABASE_SECRET_ID", "sightline/app")
            .env("SIGHTLINE_CONSOLE_DATABASE_SECRET_ID", "sightline/console")
            .env("SIGHTLINE_KEK_SECRET_ID", "sightline/kek")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    // The worker, from its own secret, with its health check and the audit head.
    let worker_log = tempfile::NamedTempFile::new().unwrap();
    let health_port = free_port();
    let mut cmd = emulator.sightline();
    at_endpoint(&mut cmd);
    let mut worker = Killed(
        cmd.args([
            "worker",
            "--health-listen",
            &format!("127.0.0.1:{health_port}"),
        ])
        .env("SIGHTLINE_DATABASE_SECRET_ID", "sightline/worker")
        .env("SIGHTLINE_AUDIT_LOG_GROUP", "/sightline/audit")
        .env("SIGHTLINE_LOG", "info")
        .stdout(Stdio::null())
        .stderr(worker_log.reopen().unwrap())
        .spawn()
        .unwrap(),
    );

    let deadline = Instant::now() + Duration::from_secs(30);
    let ready =
        |port: u16, path: &str| http(port, "GET", path, &[], "").is_some_and(|r| r.status == 200);
    while !(ready(web_port, "/readyz") && ready(health_port, "/healthz")) {
        assert!(web.0.try_wait().unwrap().is_none(), "serve exited");
        assert!(worker.0.try_wait().unwrap().is_none(), "worker exited");
        assert!(
            Instant::now() < deadline,
            "serve or worker not ready in 30 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        http(health_port, "GET", "/other", &[], "").unwrap().status,
        404
    );
    assert_eq!(
        Command::new(env!("CARGO_BIN_EXE_sightline"))
            .args([
                "healthcheck",
                "--url",
                &format!("http://127.0.0.1:{health_port}/healthz")
            ])
            .status()
            .unwrap()
            .code(),
        Some(0)
    );

    // First sign-in: the one-time password from the owner's secret, which must be replaced.
    let signed_in = owner_first_sign_in(web_port);
    assert_eq!(
        signed_in.status,
        200,
        "{}",
        String::from_utf8_lossy(&signed_in.body)
    );
    assert!(String::from_utf8_lossy(&signed_in.body).contains("\"must_change_password\":true"));

    // The audit head reaches CloudWatch Logs: the chain's head when the
    // worker first looked (the owner's creation, or a sign-in after it,
    // whichever came first), exactly as the database holds it.
    // A liveness wait, generous for a loaded machine; the worker's log says why on failure.
    let deadline = Instant::now() + Duration::from_secs(90);
    let published = loop {
        let events = emulator.aws(
            "try:\n    events = c('logs').get_log_events(logGroupName='/sightline/audit', logStreamName='audit-head')['events']\n    print(events[0]['message'] if events else '')\nexcept Exception:\n    print('')",
        );
        if !events.trim().is_empty() {
            break events;
        }
        assert!(
            Instant::now() < deadline,
            "no audit head published; the worker said:\n{}",
            std::fs::read_to_string(worker_log.path()).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    let sequence: i64 = published
        .strip_prefix("sequence=")
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("not an audit head: {published}"));
    assert!(sequence >= 1, "{published}");
    let hash = state(&format!(
        "SELECT hash FROM audit_log WHERE sequence = {sequence}"
    ));
    assert!(
        published.starts_with(&format!("sequence={sequence} hash={hash} ")),
        "{published}"
    );

    drop((web, worker));
}
