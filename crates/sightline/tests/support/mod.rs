//! Test support: the moto emulator (started per test on a free loopback
//! port and seeded by tests/emulator/emulator.py) and the real `sightline`
//! binary run against it.

#![allow(dead_code)]

pub mod db;
pub mod deployment;
pub mod private_pg;
pub mod requests;
pub mod webdriver;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Output, Stdio};

use serde_json::Value;

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repo root")
}

pub fn python() -> PathBuf {
    if let Ok(p) = std::env::var("SIGHTLINE_EMULATOR_PYTHON") {
        return PathBuf::from(p);
    }
    let venv = repo_root().join(".venv/bin/python");
    assert!(
        venv.exists(),
        "{} is missing: run `make test`, which creates the emulator's venv",
        venv.display()
    );
    venv
}

/// A running, seeded emulator; stopped when dropped.
pub struct Emulator {
    child: Child,
    _stdin: ChildStdin,
    pub endpoint: String,
    pub account_id: String,
    pub seed: Value,
}

impl Emulator {
    pub fn start(estate: &str) -> Self {
        Self::start_with(estate, &[])
    }

    /// With more arguments to emulator.py (`--faults SPEC`: `endpoint` is
    /// then the fault proxy's, `direct_endpoint()` moto's own).
    pub fn start_with(estate: &str, args: &[&str]) -> Self {
        let recording = tempfile::NamedTempFile::new()
            .expect("temp file")
            .into_temp_path()
            .keep()
            .expect("keep");
        let mut child = Command::new(python())
            .arg(repo_root().join("tests/emulator/emulator.py"))
            .args(["--estate", estate])
            .args(args)
            .env("MOTO_RECORDER_FILEPATH", &recording)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the emulator");
        let stdin = child.stdin.take().expect("stdin");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("emulator ready line");
        let seed: Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("emulator said {line:?}: {e}"));
        Self {
            endpoint: seed["endpoint"].as_str().expect("endpoint").to_owned(),
            account_id: seed["account_id"].as_str().expect("account").to_owned(),
            child,
            _stdin: stdin,
            seed,
        }
    }

    /// Moto's own endpoint, behind any fault proxy.
    pub fn direct_endpoint(&self) -> &str {
        self.seed["direct_endpoint"]
            .as_str()
            .expect("direct endpoint")
    }

    /// `POST /moto-api/<path>` with `body`.
    pub fn post(&self, path: &str, body: &str) -> String {
        http(&self.endpoint, "POST", path, body)
    }

    pub fn get(&self, path: &str) -> String {
        http(&self.endpoint, "GET", path, "")
    }

    /// Every request the recorder holds, one JSON object each.
    pub fn recording(&self) -> Vec<Value> {
        self.get("/moto-api/recorder/download-recording")
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).expect("a recorded request"))
            .collect()
    }

    /// `sightline` signed with the seeded scanner user's keys, the caller
    /// the estate's monitoring roles trust.
    pub fn sightline_as_scanner(&self) -> Command {
        let scanner = &self.seed["scanner"];
        let mut cmd = self.sightline();
        cmd.env(
            "AWS_ACCESS_KEY_ID",
            scanner["access_key_id"].as_str().unwrap(),
        )
        .env(
            "AWS_SECRET_ACCESS_KEY",
            scanner["secret_access_key"].as_str().unwrap(),
        );
        cmd
    }

    /// `sightline` with the emulator's endpoint and default credentials.
    pub fn sightline(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_sightline"));
        cmd.env("AWS_ENDPOINT_URL", &self.endpoint)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_REGION", "us-east-1")
            .env_remove("AWS_PROFILE")
            .env_remove("AWS_SESSION_TOKEN")
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
            .env("AWS_EC2_METADATA_DISABLED", "true");
        cmd
    }

    /// `sightline args` against the emulator and `database_url`, which must succeed.
    pub fn succeed(&self, database_url: &str, args: &[&str]) -> Output {
        let out = run(self
            .sightline()
            .env("DATABASE_URL", database_url)
            .args(args));
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
        out
    }

    /// Migrate `database_url` and register the `fleet:N` estate's member
    /// accounts, through their roles, in a workspace named `fleet`.
    pub fn register_fleet(&self, database_url: &str, regions: Option<&str>) {
        self.succeed(database_url, &["migrate"]);
        let external_id = self.seed["external_id"].as_str().expect("external id");
        self.succeed(
            database_url,
            &["workspace", "add", "fleet", "--external-id", external_id],
        );
        for member in self.seed["members"].as_array().expect("members") {
            let mut args = vec![
                "account",
                "add",
                "--workspace",
                "fleet",
                "--account-id",
                member["account_id"].as_str().unwrap(),
                "--role-arn",
                member["role_arn"].as_str().unwrap(),
            ];
            if let Some(regions) = regions {
                args.extend(["--regions", regions]);
            }
            self.succeed(database_url, &args);
        }
    }

    /// Change the estate: run Python with `c(service, region="us-east-1")`
    /// returning a boto3 client for the emulator.
    pub fn aws(&self, code: &str) -> String {
        let prelude = format!(
            "import boto3, json\nfrom botocore.config import Config\n\
             def c(service, region='us-east-1'):\n    return boto3.client(service, region_name=region, endpoint_url='{}', \
             aws_access_key_id='testing', aws_secret_access_key='testing', config=Config(s3={{'addressing_style': 'path'}}))\n",
            self.endpoint
        );
        let out = Command::new(python())
            .arg("-c")
            .arg(format!("{prelude}{code}"))
            .output()
            .expect("run python");
        assert!(
            out.status.success(),
            "{code}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Values no scan may carry anywhere: the Lambda environment secret
    /// and the data planted inside resources (a secret's value, a table
    /// item's).
    pub fn canaries(&self) -> Vec<String> {
        std::iter::once(&self.seed["planted_secret"])
            .chain(self.seed["canaries"].as_array().expect("canaries"))
            .map(|v| v.as_str().expect("a canary string").to_owned())
            .collect()
    }

    /// The (check id, resource label) pairs the estate was seeded to produce.
    pub fn expected(&self) -> std::collections::BTreeSet<(String, String)> {
        self.seed["expected"]
            .as_array()
            .expect("expected list")
            .iter()
            .map(|pair| {
                (
                    pair[0].as_str().unwrap().to_owned(),
                    pair[1].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A tiny HTTP/1.1 client for the emulator's control API on loopback.
fn http(endpoint: &str, method: &str, path: &str, body: &str) -> String {
    use std::io::{Read, Write};
    let addr = endpoint.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).expect("connect to emulator");
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).expect("send");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read");
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    assert!(
        head.starts_with("HTTP/1.1 200") || head.starts_with("HTTP/1.0 200"),
        "{method} {path}: {head}"
    );
    body.to_owned()
}

pub fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("run sightline")
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The findings of a JSON report as (check id, resource name or id) pairs.
pub fn finding_labels(report: &Value) -> std::collections::BTreeSet<(String, String)> {
    report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| {
            let label = f["resource_name"]
                .as_str()
                .or(f["resource_id"].as_str())
                .unwrap()
                .to_owned();
            (f["check_id"].as_str().unwrap().to_owned(), label)
        })
        .collect()
}

pub fn outcome<'a>(report: &'a Value, check_id: &str) -> &'a Value {
    report["outcomes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["check_id"] == check_id)
        .unwrap_or_else(|| panic!("no outcome for {check_id}"))
}
