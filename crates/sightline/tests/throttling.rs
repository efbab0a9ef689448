//! Throttling without stalling (issue 16): through a proxy that answers 30%
//! of calls with the service's own throttling error, 5% with a 500, delays
//! 2% and drops the connection of 2% (tests/emulator/faults.py), a scan
//! finds exactly what the same scan finds without the proxy, and records no
//! gap the clean scan does not.
//! Not timed: `make bench` measures how long it takes.

mod support;

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::Value;
use support::{finding_labels, run, stderr, Emulator};

fn scan(emulator: &Emulator, endpoint: &str, out_dir: &Path) -> Value {
    let out = run(emulator
        .sightline()
        .env("AWS_ENDPOINT_URL", endpoint)
        .args(["scan", "--regions", "us-east-1,eu-west-1", "--output-dir"])
        .arg(out_dir)
        .args(["--format", "json"]));
    assert_eq!(
        out.status.code(),
        Some(3),
        "failing findings exit 3; stderr:\n{}",
        stderr(&out)
    );
    serde_json::from_slice(&std::fs::read(out_dir.join("sightline-report.json")).unwrap()).unwrap()
}

fn gaps(report: &Value) -> BTreeSet<(String, String, String)> {
    report["gaps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            let s = |k: &str| g[k].as_str().unwrap_or_default().to_owned();
            (s("action"), s("region"), s("kind"))
        })
        .collect()
}

#[test]
fn findings_under_throttling_equal_the_clean_runs() {
    let emulator = Emulator::start_with(
        "test",
        &[
            "--faults",
            // Attempts after the sixth of a call go through: ten attempts
            // lose a call to bad draws 3 times in 100,000, and this test
            // must not fail by chance.
            "throttle=0.3,error=0.05,slow=0.02,drop=0.02,slow_seconds=0.5,spare_after=6,seed=16",
        ],
    );
    let clean_dir = tempfile::tempdir().unwrap();
    let clean = scan(&emulator, emulator.direct_endpoint(), clean_dir.path());
    let faulted_dir = tempfile::tempdir().unwrap();
    let faulted = scan(&emulator, &emulator.endpoint, faulted_dir.path());

    let counts: Value = serde_json::from_str(&emulator.get("/fault-proxy/counts")).unwrap();
    let count = |k: &str| counts[k].as_u64().unwrap();
    assert!(
        count("throttle") * 5 > count("forwarded")
            && count("error") > 0
            && count("slow") > 0
            && count("drop") > 0,
        "the proxy faulted too little to prove anything: {counts}"
    );

    assert!(!finding_labels(&clean).is_empty());
    assert_eq!(finding_labels(&faulted), finding_labels(&clean));
    assert_eq!(gaps(&faulted), gaps(&clean), "{:#?}", faulted["gaps"]);
    let statuses = |r: &Value| -> BTreeSet<(String, String)> {
        r["outcomes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| {
                (
                    o["check_id"].as_str().unwrap().to_owned(),
                    o["status"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    assert_eq!(statuses(&faulted), statuses(&clean));
}
