//! `docker/docker-compose.yml`, the local evaluation: one shared image, the
//! emulator healthy (its estate seeded) before anything that talks to it
//! starts, and a bootstrap that can run again. The one-shot services'
//! commands, taken from the file itself in their dependency order, run twice
//! with the binary against a database of their own: the second `up` changes
//! nothing and fails nothing.
//!
//! Running the file under podman-compose is not possible here: its
//! postgres and python images come from Docker Hub, which this machine
//! cannot reach (the image itself is exercised by tests/container.rs).

mod support;

use std::collections::BTreeMap;
use std::process::Command;

use serde_json::Value;
use support::db::{sql, TestDatabase};
use support::{python, repo_root, run, stderr, Emulator};

fn compose() -> Value {
    let file = repo_root().join("docker/docker-compose.yml");
    let out = run(Command::new(python())
        .arg("-c")
        .arg("import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))")
        .arg(&file));
    assert!(out.status.success(), "{}", stderr(&out));
    serde_json::from_slice(&out.stdout).expect("the compose file as JSON")
}

/// The services that run once and exit, each after those it depends on.
fn one_shots_in_order(services: &BTreeMap<String, Value>) -> Vec<String> {
    let mut done: Vec<String> = Vec::new();
    let pending: Vec<&String> = services
        .iter()
        .filter(|(_, s)| s["restart"] == "no")
        .map(|(name, _)| name)
        .collect();
    while done.len() < pending.len() {
        let ready = pending
            .iter()
            .find(|name| {
                !done.contains(name)
                    && services[name.as_str()]["depends_on"]
                        .as_object()
                        .map(|deps| {
                            deps.iter().all(|(dep, how)| {
                                how["condition"] != "service_completed_successfully"
                                    || done.contains(dep)
                            })
                        })
                        .unwrap_or(true)
            })
            .unwrap_or_else(|| {
                panic!("the one-shot services {pending:?} depend on each other in a cycle")
            });
        done.push((*ready).clone());
    }
    done
}

#[test]
fn a_second_up_changes_nothing_and_fails_nothing() {
    let file = compose();
    let services: BTreeMap<String, Value> =
        serde_json::from_value(file["services"].clone()).unwrap();

    // One image for every Sightline service.
    let images: BTreeMap<&str, &str> = services
        .iter()
        .filter(|(name, _)| !["postgres", "moto"].contains(&name.as_str()))
        .map(|(name, s)| (name.as_str(), s["image"].as_str().unwrap_or("(built)")))
        .collect();
    assert!(
        images.values().all(|i| *i == "localhost/sightline:latest"),
        "expected every Sightline service on localhost/sightline:latest, found {images:?}"
    );
    // The emulator says when its estate is seeded, and everything that
    // talks to it waits for that, not merely for its start.
    let moto = &services["moto"];
    assert_eq!(
        moto["healthcheck"]["test"],
        serde_json::json!(["CMD", "test", "-f", "/tmp/ready"]),
        "the emulator's health check"
    );
    assert!(
        moto["command"]
            .as_str()
            .unwrap()
            .contains("--ready-file /tmp/ready"),
        "the emulator must write the file its health check looks for: {}",
        moto["command"]
    );
    for (name, s) in &services {
        if let Some(how) = s["depends_on"].get("moto") {
            assert_eq!(
                how["condition"], "service_healthy",
                "{name} starts before the emulator's estate is seeded"
            );
        }
    }

    let order = one_shots_in_order(&services);
    assert_eq!(
        order,
        ["migrate", "workspace", "account"],
        "the bootstrap's steps"
    );
    let db = TestDatabase::create();
    let emulator = Emulator::start("empty");
    let mut printed: Vec<Vec<String>> = Vec::new();
    for round in 1..=2 {
        let mut this_round = Vec::new();
        for name in &order {
            let args: Vec<String> =
                serde_json::from_value(services[name]["command"].clone()).unwrap();
            let out = run(emulator
                .sightline()
                .env("DATABASE_URL", &db.url)
                .args(&args));
            assert!(
                out.status.success(),
                "round {round}: {name} ({args:?}) failed: {}",
                stderr(&out)
            );
            this_round.push(String::from_utf8_lossy(&out.stdout).trim().to_owned());
        }
        printed.push(this_round);
    }
    // The workspace and account lines name the same rows both times.
    assert_eq!(
        printed[0][1..],
        printed[1][1..],
        "the second up made new rows"
    );
    assert_eq!(
        sql(
            &db.url,
            "SELECT string_agg(w.name || ' ' || w.external_id || ' ' || a.aws_account_id, ',') \
             FROM workspaces w JOIN accounts a ON a.workspace_id = w.id"
        ),
        "demo sightline-evaluation 123456789012"
    );
}

#[test]
fn a_bootstrap_that_differs_from_what_is_there_is_refused_and_changes_nothing() {
    let db = TestDatabase::create();
    let emulator = Emulator::start("empty");
    emulator.succeed(&db.url, &["migrate"]);
    // A command that may fail: its output, to look at.
    let attempt = |args: &[&str]| run(emulator.sightline().env("DATABASE_URL", &db.url).args(args));
    emulator.succeed(
        &db.url,
        &[
            "workspace",
            "add",
            "demo",
            "--external-id",
            "first-external-id",
            "--if-missing",
        ],
    );
    // Refused with exit 1 and a message saying so; its stderr.
    let refused = |args: &[&str], expected: &str| {
        let out = attempt(args);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains(expected),
            "{args:?}: {}",
            stderr(&out)
        );
        stderr(&out)
    };
    let said = refused(
        &[
            "workspace",
            "add",
            "demo",
            "--external-id",
            "second-external-id",
            "--if-missing",
        ],
        "workspace \"demo\" already exists with a different ExternalId",
    );
    assert!(
        !said.contains("first-external-id"),
        "the stored ExternalId was printed"
    );
    assert_eq!(
        sql(
            &db.url,
            "SELECT external_id FROM workspaces WHERE name = 'demo'"
        ),
        "first-external-id"
    );
    // An account already registered another way is not "already done".
    let account = [
        "account",
        "add",
        "--workspace",
        "demo",
        "--account-id",
        "123456789012",
        "--regions",
        "us-east-1",
    ];
    emulator.succeed(&db.url, &[&account[..], &["--if-missing"]].concat());
    let role = [
        "--role-arn",
        "arn:aws:iam::123456789012:role/SightlineMonitoring",
        "--if-missing",
    ];
    let said = refused(
        &[&account[..], &role[..]].concat(),
        "already registered in \"demo\" differently",
    );
    assert!(said.contains("found role none (own credentials)"), "{said}");
    assert_eq!(
        sql(&db.url, "SELECT coalesce(role_arn, 'none') FROM accounts"),
        "none"
    );
    // Without --if-missing a second add is still an error.
    let again = attempt(&[
        "workspace",
        "add",
        "demo",
        "--external-id",
        "first-external-id",
    ]);
    assert_eq!(again.status.code(), Some(1), "{}", stderr(&again));
}
