//! Worker identity on Fargate: every container's first process is PID 1, so
//! a default name built from the PID was `worker-1` in every task, and
//! workers renewed and completed each other's jobs during a rolling deploy.
//! Here two workers run in PID namespaces of their own (`unshare --pid
//! --fork`), both PID 1, and share a queue; and a worker that finds the ECS
//! container metadata endpoint takes its task ARN as its name.

mod support;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::db::{sql, TestDatabase};
use support::Emulator;

/// `sightline worker …` as PID 1 of a new PID namespace, with the
/// emulator's environment and the task definition's log settings.
fn worker_in_own_pid_namespace(emulator: &Emulator, db: &TestDatabase) -> std::process::Child {
    let template = emulator.sightline();
    let mut cmd = Command::new("unshare");
    cmd.args(["--pid", "--fork", "--kill-child"])
        .arg(env!("CARGO_BIN_EXE_sightline"))
        .args([
            "worker",
            "--lease-seconds",
            "5",
            "--poll-seconds",
            "1",
            "--exit-when-idle",
        ]);
    for (key, value) in template.get_envs() {
        match value {
            Some(v) => cmd.env(key, v),
            None => cmd.env_remove(key),
        };
    }
    cmd.env("DATABASE_URL", &db.url)
        .env("SIGHTLINE_LOG", "info")
        .env("SIGHTLINE_LOG_FORMAT", "json")
        .env("SIGHTLINE_METRICS_STACK", "test-stack")
        .env_remove("ECS_CONTAINER_METADATA_URI_V4")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("unshare --pid --fork sightline worker (needs unshare and root)")
}

fn wait(child: std::process::Child, within: Duration) -> Output {
    let started = Instant::now();
    let mut child = child;
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if started.elapsed() > within {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "the worker did not finish in {within:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Every JSON log line of a run; a line that is not JSON fails the test
/// (the deployed log group expects one JSON document per line).
fn json_lines(bytes: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(bytes)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

fn event<'a>(lines: &'a [Value], message: &str) -> Vec<&'a Value> {
    lines
        .iter()
        .filter(|l| l["fields"]["message"] == message)
        .collect()
}

/// The one "worker started" line of a run that succeeded.
fn started(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let logs = json_lines(&out.stderr);
    let [line] = event(&logs, "worker started")[..] else {
        panic!("one start line expected: {logs:?}");
    };
    line.clone()
}

#[test]
fn two_pid_1_workers_share_a_queue_under_names_of_their_own() {
    let emulator = Emulator::start("fleet:4");
    let db = TestDatabase::create();
    emulator.register_fleet(&db.url, Some("us-east-1"));
    emulator.succeed(&db.url, &["enqueue", "--workspace", "fleet"]);

    let a = worker_in_own_pid_namespace(&emulator, &db);
    let b = worker_in_own_pid_namespace(&emulator, &db);
    let outs = [
        wait(a, Duration::from_secs(240)),
        wait(b, Duration::from_secs(240)),
    ];

    let mut names = Vec::new();
    let mut succeeded = 0;
    for out in &outs {
        let start_line = started(out);
        let logs = json_lines(&out.stderr);
        assert_eq!(start_line["fields"]["pid"], 1, "not PID 1: {start_line}");
        let name = start_line["fields"]["worker"].as_str().unwrap().to_owned();
        let id = name
            .strip_prefix("worker-")
            .unwrap_or_else(|| panic!("unexpected name {name}"));
        uuid::Uuid::parse_str(id).unwrap_or_else(|e| panic!("{name}: not worker-<uuid>: {e}"));
        names.push(name);
        assert!(
            event(&logs, "lease lost: another worker has the job").is_empty(),
            "a worker lost a lease while nobody stalled: {logs:?}"
        );
        // Request, job and scan lines reach the log as JSON at info.
        for line in event(&logs, "job done")
            .iter()
            .chain(event(&logs, "scan saved").iter())
        {
            assert_eq!(line["level"], "INFO", "{line}");
        }
        // The job metrics, in embedded metric format on stdout.
        for record in json_lines(&out.stdout) {
            assert_eq!(
                record["_aws"]["CloudWatchMetrics"][0]["Namespace"],
                "Sightline"
            );
            assert_eq!(record["Stack"], "test-stack");
            assert_eq!(record["JobsFailed"], 0, "{record}");
            succeeded += record["JobsSucceeded"].as_i64().unwrap();
        }
    }
    assert_ne!(names[0], names[1], "two workers share a lease name");
    assert_eq!(succeeded, 4, "JobsSucceeded across both workers");
    // Each job ran once, on its first attempt, and saved one scan.
    assert_eq!(
        sql(
            &db.url,
            "SELECT string_agg(status || ':' || attempts, ',' ORDER BY status) FROM jobs"
        ),
        "succeeded:1,succeeded:1,succeeded:1,succeeded:1"
    );
    assert_eq!(
        sql(&db.url, "SELECT count(*) FROM jobs j WHERE (SELECT count(*) FROM scans s WHERE s.job_id = j.id AND s.status IN ('succeeded', 'partial')) <> 1"),
        "0"
    );
}

/// The ECS agent's task metadata endpoint, as far as the worker reads it.
fn metadata_endpoint(task_arn: &'static str) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let mut stream = stream.unwrap();
            let mut request = [0u8; 1024];
            let n = stream.read(&mut request).unwrap_or(0);
            let line = String::from_utf8_lossy(&request[..n])
                .lines()
                .next()
                .unwrap_or("")
                .to_owned();
            let (status, body) = if line.starts_with("GET /v4/abc123/task ") {
                (
                    "200 OK",
                    format!(
                        r#"{{"Cluster":"sightline","TaskARN":"{task_arn}","Family":"sightline-worker"}}"#
                    ),
                )
            } else {
                ("404 Not Found", String::new())
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    format!("http://{address}/v4/abc123")
}

#[test]
fn in_ecs_a_worker_is_named_by_its_task_arn() {
    const TASK: &str =
        "arn:aws:ecs:us-east-1:123456789012:task/sightline/0123456789abcdef0123456789abcdef";
    let db = TestDatabase::create();
    let emulator = Emulator::start("fleet:1");
    emulator.succeed(&db.url, &["migrate"]);
    let out = support::run(
        emulator
            .sightline()
            .env("DATABASE_URL", &db.url)
            .env("SIGHTLINE_LOG", "info")
            .env("SIGHTLINE_LOG_FORMAT", "json")
            .env("ECS_CONTAINER_METADATA_URI_V4", metadata_endpoint(TASK))
            .args(["worker", "--exit-when-idle"]),
    );
    assert_eq!(started(&out)["fields"]["worker"], TASK);
}
