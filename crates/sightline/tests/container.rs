//! The container image, run as the task definitions run it: built here with
//! podman from `FROM scratch` (docker/rootfs.sh, docker/Dockerfile: nothing
//! pulled), each container read-only, as user 65532, with every capability
//! dropped and no-new-privileges. `setup` prepares the deployment over
//! verified TLS from Secrets Manager (the emulator's), `serve` and `worker`
//! start from their own secrets, the image's own `healthcheck` answers, the
//! owner signs in through the container, and a worker scan lands.
//!
//! The image here holds the debug binary `make test` already built; the
//! layout is the release image's (`make image`), only the binary differs.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use support::db::sql;
use support::deployment::{owner_first_sign_in, seed_secrets, LOGINS, OWNER_DB, WORKER};
use support::private_pg::PrivatePostgres;
use support::webdriver::{free_port, http};
use support::{repo_root, Emulator};

const WORKSPACE: &str = "5b2a4c9e-1f0d-4e7a-8c3b-6d9e0f1a2b3c";
/// Where the test's database CA is mounted (the image's own is the RDS bundle).
const CA_IN_CONTAINER: &str = "/etc/sightline/test-ca.pem";

/// The image, removed when the test ends.
struct Image(String);

impl Drop for Image {
    fn drop(&mut self) {
        let _ = Command::new("podman")
            .args(["rmi", "--force", &self.0])
            .output();
    }
}

/// A container in the foreground of a child process, removed when the test ends.
struct Running {
    name: String,
    child: Child,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = Command::new("podman")
            .args([
                "--runtime",
                "runc",
                "rm",
                "--force",
                "--time",
                "2",
                &self.name,
            ])
            .output();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Deployment<'a> {
    image: &'a str,
    emulator: &'a Emulator,
    ca: PathBuf,
    db_port: u16,
}

impl Deployment<'_> {
    /// `podman run` as the task definition runs a container: read-only
    /// root, user 65532, no capabilities, no new privileges; the host's
    /// loopback (the emulator and the database listen there).
    fn run(&self, name: &str, env: &[(&str, String)], args: &[&str]) -> Command {
        let mut cmd = Command::new("podman");
        cmd.args(["--runtime", "runc", "run", "--rm", "--name", name])
            .args(["--read-only", "--user", "65532:65532", "--cap-drop", "ALL"])
            .args(["--security-opt", "no-new-privileges"])
            .args([
                "--ulimit",
                "nofile=1024:1024",
                "--ulimit",
                "nproc=1024:1024",
            ])
            .args(["--network", "host", "--no-healthcheck"])
            .arg("--volume")
            .arg(format!("{}:{CA_IN_CONTAINER}:ro", self.ca.display()));
        let mut all: Vec<(&str, String)> = vec![
            ("AWS_ENDPOINT_URL", self.emulator.endpoint.clone()),
            ("AWS_ACCESS_KEY_ID", "testing".into()),
            ("AWS_SECRET_ACCESS_KEY", "testing".into()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_EC2_METADATA_DISABLED", "true".into()),
            ("SIGHTLINE_DATABASE_HOST", "localhost".into()),
            ("SIGHTLINE_DATABASE_PORT", self.db_port.to_string()),
            ("SIGHTLINE_DATABASE_NAME", "sightline".into()),
            ("SIGHTLINE_DATABASE_SSLMODE", "verify-full".into()),
            ("SIGHTLINE_DATABASE_SSLROOTCERT", CA_IN_CONTAINER.into()),
            ("SIGHTLINE_LOG", "info".into()),
            ("SIGHTLINE_LOG_FORMAT", "json".into()),
        ];
        all.extend(env.iter().cloned());
        for (key, value) in all {
            cmd.arg("--env").arg(format!("{key}={value}"));
        }
        cmd.arg(self.image).args(args);
        cmd
    }

    fn output(&self, name: &str, env: &[(&str, String)], args: &[&str]) -> Output {
        self.run(name, env, args)
            .output()
            .unwrap_or_else(|e| panic!("podman run {args:?}: {e}"))
    }

    fn start(&self, name: &str, env: &[(&str, String)], args: &[&str]) -> Running {
        let child = self
            .run(name, env, args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("podman run");
        Running {
            name: name.to_owned(),
            child,
        }
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The test CA, readable by user 65532 in the container.
fn readable_copy(ca: &Path) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let copy = tempfile::NamedTempFile::new()
        .unwrap()
        .into_temp_path()
        .keep()
        .unwrap();
    std::fs::copy(ca, &copy).unwrap();
    std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o444)).unwrap();
    copy
}

fn build_image() -> Image {
    let tag = format!("localhost/sightline-test:{}", uuid::Uuid::new_v4().simple());
    let out = Command::new(repo_root().join("docker/build-image.sh"))
        .arg(env!("CARGO_BIN_EXE_sightline"))
        .arg(&tag)
        .output()
        .expect("docker/build-image.sh (podman: scripts/ensure-podman.sh installs it)");
    assert!(
        out.status.success(),
        "image build failed ({}): {}{}",
        out.status,
        text(&out.stderr),
        text(&out.stdout)
    );
    Image(tag)
}

#[test]
fn the_image_runs_setup_serve_and_worker_as_the_task_definitions_do() {
    let image = build_image();

    // What the image is: the binary as entrypoint, user 65532, nothing else.
    let inspect = Command::new("podman")
        .args([
            "image",
            "inspect",
            "--format",
            "{{.Config.User}} {{json .Config.Entrypoint}} {{json .Config.Cmd}}",
            &image.0,
        ])
        .output()
        .unwrap();
    assert_eq!(
        text(&inspect.stdout).trim(),
        r#"65532:65532 ["/usr/local/bin/sightline"] ["serve","--listen","0.0.0.0:8080"]"#
    );
    let labels = Command::new("podman")
        .args([
            "image",
            "inspect",
            "--format",
            "{{json .Config.Labels}}",
            &image.0,
        ])
        .output()
        .unwrap();
    let labels: serde_json::Value = serde_json::from_slice(&labels.stdout).unwrap();
    for label in [
        "org.opencontainers.image.title",
        "org.opencontainers.image.source",
        "org.opencontainers.image.revision",
    ] {
        assert!(
            labels.get(label).is_some(),
            "label {label} missing: {labels}"
        );
    }

    let emulator = Emulator::start("empty");
    let tls = PrivatePostgres::start_tls(OWNER_DB);
    let deployment = Deployment {
        image: &image.0,
        emulator: &emulator,
        ca: readable_copy(&tls.ca),
        db_port: tls.pg.port(),
    };
    let account = emulator.account_id.clone();
    seed_secrets(&emulator);
    let suffix = uuid::Uuid::new_v4().simple().to_string();

    // A shell is not there to run.
    let shell = Command::new("podman")
        .args([
            "--runtime",
            "runc",
            "run",
            "--rm",
            "--network",
            "none",
            "--no-healthcheck",
        ])
        .args([
            "--ulimit",
            "nofile=1024:1024",
            "--ulimit",
            "nproc=1024:1024",
        ])
        .args(["--entrypoint", "/bin/sh", &image.0, "-c", "true"])
        .output()
        .unwrap();
    assert!(!shell.status.success(), "the image has a shell");

    // setup, as the worker task's first container.
    let setup = deployment.output(
        &format!("sightline-setup-{suffix}"),
        &[
            ("SIGHTLINE_DATABASE_SECRET_ID", "sightline/master".into()),
            ("SIGHTLINE_LOGIN_SECRETS", LOGINS.into()),
            ("SIGHTLINE_WORKSPACE_ID", WORKSPACE.into()),
            ("SIGHTLINE_WORKSPACE_NAME", "acme".into()),
            ("SIGHTLINE_EXTERNAL_ID", "acme-external-1".into()),
            ("SIGHTLINE_MEMBER_ROLE_NAME", "SightlineMonitoring".into()),
            ("SIGHTLINE_OWNER_EMAIL", "owner@acme.example".into()),
            (
                "SIGHTLINE_OWNER_PASSWORD_SECRET_ID",
                "sightline/owner".into(),
            ),
            ("SIGHTLINE_ACCOUNT_ID", account.clone()),
            (
                "SIGHTLINE_ACCOUNT_ROLE_ARN",
                format!("arn:aws:iam::{account}:role/SightlineMonitoring"),
            ),
            ("SIGHTLINE_SCAN_SCHEDULE", "6 hours".into()),
        ],
        &["setup"],
    );
    assert!(setup.status.success(), "setup: {}", text(&setup.stderr));
    let printed = text(&setup.stdout);
    assert!(
        printed.contains(&format!("workspace acme ({WORKSPACE})"))
            && printed.contains("owner owner@acme.example created"),
        "{printed}"
    );

    // serve and worker, each from its own secret.
    let web_port = free_port();
    let health_port = free_port();
    let _web = deployment.start(
        &format!("sightline-web-{suffix}"),
        &[
            ("SIGHTLINE_DATABASE_SECRET_ID", "sightline/app".into()),
            (
                "SIGHTLINE_CONSOLE_DATABASE_SECRET_ID",
                "sightline/console".into(),
            ),
            ("SIGHTLINE_KEK_SECRET_ID", "sightline/kek".into()),
        ],
        &["serve", "--listen", &format!("127.0.0.1:{web_port}")],
    );
    let _worker = deployment.start(
        &format!("sightline-worker-{suffix}"),
        &[
            ("SIGHTLINE_DATABASE_SECRET_ID", "sightline/worker".into()),
            ("SIGHTLINE_METRICS_STACK", "container-test".into()),
        ],
        &[
            "worker",
            "--health-listen",
            &format!("127.0.0.1:{health_port}"),
            "--poll-seconds",
            "1",
        ],
    );
    let ready =
        |port: u16, path: &str| http(port, "GET", path, &[], "").is_some_and(|r| r.status == 200);
    let deadline = Instant::now() + Duration::from_secs(60);
    while !(ready(web_port, "/readyz") && ready(health_port, "/healthz")) {
        assert!(
            Instant::now() < deadline,
            "serve or worker not ready in 60 s"
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    // The image's own health check, as the task definition's HealthCheck runs it.
    for port in [web_port, health_port] {
        let check = deployment.output(
            &format!("sightline-check-{port}-{suffix}"),
            &[],
            &[
                "healthcheck",
                "--url",
                &format!("http://127.0.0.1:{port}/healthz"),
            ],
        );
        assert!(
            check.status.success(),
            "healthcheck :{port}: {}",
            text(&check.stderr)
        );
    }

    // The owner signs in through the container, with the one-time password.
    let signed_in = owner_first_sign_in(web_port);
    assert_eq!(signed_in.status, 200, "{}", text(&signed_in.body));
    assert!(text(&signed_in.body).contains("\"must_change_password\":true"));

    // The account setup registered is due: the worker in its container scans it.
    let worker_url = format!(
        "postgres://sightline_worker:{WORKER}@localhost:{}/sightline?sslmode=verify-full&sslrootcert={}",
        deployment.db_port,
        tls.ca.display()
    );
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let scans = sql(
            &worker_url,
            "SELECT count(*) FROM scans WHERE status IN ('succeeded', 'partial')",
        );
        if scans != "0" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no scan landed in 120 s: jobs {}",
            sql(&worker_url, "SELECT coalesce(string_agg(status || ' ' || coalesce(last_error, ''), '; '), 'none') FROM jobs")
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    assert_eq!(
        sql(&worker_url, "SELECT string_agg(a.aws_account_id || ' ' || j.status, ',') FROM jobs j JOIN accounts a ON a.id = j.account_id"),
        format!("{account} succeeded")
    );
    let resources: i64 = sql(&worker_url, "SELECT count(*) FROM resources")
        .parse()
        .unwrap();
    assert!(resources > 0, "the scan stored no resource");
}
