//! Every remediation, rollback and change-plan line survives hostile names.
//! The seeded estate, scanned from the emulator, makes every check fire;
//! then every name and id in that inventory is replaced, consistently, with
//! a hostile one (quotes, `$(..)`, backticks, `;`, a newline and a `#`), and
//! every line each check writes is run by bash with `aws` replaced by a
//! function that records its arguments. Nothing but `aws` may run (a canary
//! file would appear), and a hostile value must reach `aws` as one whole
//! argument, never split or cut.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use serde_json::Value;
use sightline_aws::{AwsSession, ConnectOptions, ScanOptions, ScanRecorder, Service};
use sightline_core::evaluate::ScanStats;
use sightline_core::plan::{change_plan, PlanInput};
use sightline_core::{CheckContext, Inventory};
use support::Emulator;

/// What is appended to every name: each piece would do something if a shell saw it bare.
fn payload(canary: &Path) -> String {
    let c = canary.display();
    format!("'\"$(touch {c})`touch {c}`;touch {c}\n# {{x}}*")
}

/// Replace every identity string of `value` by its hostile twin.
fn harden(value: &mut Value, names: &BTreeMap<String, String>) {
    match value {
        Value::String(s) => {
            if let Some(h) = names.get(s.as_str()) {
                *s = h.clone();
            } else {
                // Ids inside ARNs and the like, longest first.
                for (old, new) in names.iter().rev() {
                    if old.len() >= 6 && s.contains(old.as_str()) {
                        *s = s.replace(old.as_str(), new);
                    }
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| harden(v, names)),
        Value::Object(map) => {
            // Keys too: metrics are keyed by resource id.
            let entries: Vec<(String, Value)> = std::mem::take(map).into_iter().collect();
            for (key, mut v) in entries {
                harden(&mut v, names);
                // A key is a field name unless it is an id, or holds one (an ARN).
                let key = match names.get(&key) {
                    Some(h) => h.clone(),
                    None if key.contains(':') || key.contains('/') => {
                        let mut k = Value::String(key);
                        harden(&mut k, names);
                        k.as_str().unwrap().to_owned()
                    }
                    None => key,
                };
                map.insert(key, v);
            }
        }
        _ => {}
    }
}

/// The ids and names of every resource (objects with a `resource_type`).
fn identities(value: &Value, out: &mut BTreeSet<String>) {
    match value {
        Value::Object(map) => {
            if map.contains_key("resource_type") {
                for key in ["id", "name"] {
                    if let Some(Value::String(s)) = map.get(key) {
                        out.insert(s.clone());
                    }
                }
            }
            map.values().for_each(|v| identities(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| identities(v, out)),
        _ => {}
    }
}

/// Run `script` with bash, `aws` recording each argument on a line of its own (NUL-separated).
fn run_bash(dir: &Path, script: &str) -> Vec<String> {
    let log = dir.join("argv");
    let _ = std::fs::remove_file(&log);
    let full = format!(
        "aws() {{ for a in \"$@\"; do printf '%s\\0' \"$a\"; done >> {log}; printf '\\n\\0' >> {log}; }}\n{script}\n",
        log = log.display()
    );
    let path = dir.join("script.sh");
    std::fs::write(&path, full).unwrap();
    let _ = Command::new("bash")
        .arg(&path)
        .current_dir(dir)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .output()
        .unwrap();
    std::fs::read(&log)
        .map(|b| {
            String::from_utf8_lossy(&b)
                .split('\0')
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn every_command_line_keeps_hostile_names_whole_and_runs_nothing_else() {
    let emulator = Emulator::start("test");
    let dir = tempfile::tempdir().unwrap();
    let canary = dir.path().join("canary");
    for (k, v) in [
        ("AWS_ENDPOINT_URL", emulator.endpoint.as_str()),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_CONFIG_FILE", "/dev/null"),
        ("AWS_SHARED_CREDENTIALS_FILE", "/dev/null"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
    ] {
        std::env::set_var(k, v);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let checks = sightline_core::catalog();
    let (inventory, report) = runtime.block_on(async {
        let session = AwsSession::connect(&ConnectOptions::default())
            .await
            .unwrap();
        let options = ScanOptions {
            regions: Some(vec!["us-east-1".into(), "eu-west-1".into()]),
            services: Service::ALL.to_vec(),
            concurrency: 8,
        };
        sightline_aws::scan_and_evaluate(&session, &options, &ScanRecorder::new(), &checks)
            .await
            .unwrap()
    });

    // The same estate, every name and id made hostile.
    let evil = payload(&canary);
    let mut json = serde_json::to_value(&inventory).unwrap();
    let mut ids = BTreeSet::new();
    identities(&json, &mut ids);
    let names: BTreeMap<String, String> = ids
        .into_iter()
        .filter(|id| !id.is_empty())
        .map(|id| {
            let hostile = format!("{id}{evil}");
            (id, hostile)
        })
        .collect();
    harden(&mut json, &names);
    let hostile: Inventory = serde_json::from_value(json).unwrap();
    let ctx = CheckContext::new(chrono::Utc::now());
    // What the same inventory fires through JSON, unchanged: the baseline
    // (a JSON round trip cannot tell "read, none set" from "not read" for
    // the S3 Block Public Access settings, so the two checks of those
    // settings and the two public-grant checks that depend on them drop out
    // of both; their commands are built like the others' from the bucket name).
    let plain: Inventory =
        serde_json::from_value(serde_json::to_value(&inventory).unwrap()).unwrap();
    let baseline = sightline_core::evaluate(&plain, &checks, &ctx, ScanStats::default());
    let fired: BTreeSet<&str> = baseline.findings.iter().map(|f| &*f.check_id).collect();
    assert!(
        fired.len()
            >= report
                .findings
                .iter()
                .map(|f| &f.check_id)
                .collect::<BTreeSet<_>>()
                .len()
                - 4
    );
    let again = sightline_core::evaluate(&hostile, &checks, &ctx, ScanStats::default());
    let fired_again: BTreeSet<&str> = again.findings.iter().map(|f| &*f.check_id).collect();
    assert_eq!(
        fired_again, fired,
        "hostile names changed which checks fire"
    );

    let mut lines = 0;
    for finding in &again.findings {
        for line in finding
            .remediation
            .lines()
            .iter()
            .chain(&finding.rollback.lines())
        {
            let argv = run_bash(dir.path(), line);
            lines += 1;
            assert!(
                !canary.exists(),
                "{}: running {line:?} ran more than aws",
                finding.check_id
            );
            // A line that starts with aws reaches aws: placeholders are
            // arguments, never redirections that stop the line. (A line that
            // saves to a file named from data cannot, here: the hostile name
            // holds a path into a directory that does not exist.)
            assert!(
                !line.starts_with("aws ") || line.contains(" > ") || !argv.is_empty(),
                "{}: {line:?} never reached aws",
                finding.check_id
            );
            // Inside a JSON argument the value arrives JSON-escaped, whole.
            let json_evil = serde_json::to_string(&evil).unwrap();
            let json_evil = json_evil.trim_matches('"');
            for arg in argv.iter().filter(|a| a.contains("touch ")) {
                assert!(
                    arg.contains(&evil) || arg.contains(json_evil),
                    "{}: a hostile value reached aws cut or split: {arg:?} from {line:?}",
                    finding.check_id
                );
            }
        }
        // The whole change plan, its header full of hostile text, runs only aws too.
        let plan = change_plan(&PlanInput {
            finding_id: &finding.resource_id,
            check_id: &finding.check_id,
            title: &finding.title,
            resource_arn: &finding.resource_arn,
            account: &finding.account_id,
            region: &finding.region,
            evidence_sha256: &finding.evidence_sha256.to_string(),
            approved_by: &format!("user:{evil}"),
            approved_at: "2026-11-29T00:00:00Z",
            remediation: &finding.remediation.lines(),
            rollback: &finding.rollback.lines(),
        });
        run_bash(dir.path(), &plan);
        assert!(
            !canary.exists(),
            "{}: its change plan ran more than aws:\n{plan}",
            finding.check_id
        );
    }
    assert!(lines > 50, "only {lines} lines were tried");
    // The hostile text did reach the commands: the test is not vacuous.
    assert!(
        again
            .findings
            .iter()
            .flat_map(|f| f.remediation.lines())
            .any(|l| l.contains("$(touch")),
        "no command carries a hostile name"
    );
}
