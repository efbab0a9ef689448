//! No finding from missing data, end to end: a caller that the emulator's
//! IAM enforcement refuses `GetMetricData` scans the estate. Every check
//! that judges idleness says "not evaluated" and finds nothing (no saving,
//! no delete command), the refusal is recorded as a gap, and what the
//! caller could read is still judged.

mod support;

use serde_json::Value;
use support::{finding_labels, outcome, run, stderr, Emulator};

const IDLE_CHECKS: &[&str] = &[
    "ec2.instance_idle",
    "ec2.nat_gateway_idle",
    "elb.idle",
    "rds.instance_idle",
];

#[test]
fn without_metrics_the_idle_checks_find_nothing_and_say_not_evaluated() {
    let emulator = Emulator::start("test");
    let scanner = &emulator.seed["scanner"];
    let scan = |key: &str, secret: &str| -> Value {
        let out = run(emulator
            .sightline()
            .env("AWS_ACCESS_KEY_ID", scanner[key].as_str().unwrap())
            .env("AWS_SECRET_ACCESS_KEY", scanner[secret].as_str().unwrap())
            .args(["scan", "--regions", "us-east-1", "--format", "json"]));
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("scan printed no report ({e}): {}", stderr(&out)))
    };

    // Allowed everything, the estate's idle instance is found: the check can fail here.
    let full = scan("access_key_id", "secret_access_key");
    assert!(
        finding_labels(&full).contains(&("ec2.instance_idle".to_owned(), "idle-box".to_owned())),
        "{:?}",
        finding_labels(&full)
    );

    // From now on every request is authorised against IAM policies.
    emulator.post("/moto-api/reset-auth", "0");
    let report = scan("no_metrics_access_key_id", "no_metrics_secret_access_key");
    for check in IDLE_CHECKS {
        assert_eq!(
            outcome(&report, check)["status"],
            "not_evaluated",
            "{check}"
        );
    }
    let labels = finding_labels(&report);
    let idle: Vec<_> = labels
        .iter()
        .filter(|(check, _)| IDLE_CHECKS.contains(&check.as_str()))
        .collect();
    assert!(idle.is_empty(), "findings from missing metrics: {idle:?}");
    let gaps = report["gaps"].as_array().expect("gaps");
    assert!(
        gaps.iter()
            .any(|g| g["action"] == "cloudwatch:GetMetricData"),
        "{gaps:?}"
    );
    // What the caller could read is still judged.
    assert!(
        labels.contains(&(
            "ebs.volume_unattached".to_owned(),
            "unattached-gp3".to_owned()
        )),
        "{labels:?}"
    );
}
