//! The action manifest is the truth: the emulator's request recorder lists
//! every request a full scan sent, each is mapped to its IAM action, and
//! the set must equal the manifest, every entry of which is read-only and
//! none of which reads data inside a resource.

mod support;

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;
use sightline_aws::manifest::{is_read_only, reads_data, ActionManifest};
use support::requests::{action_of, base64_decode, lambda_action, s3_action};
use support::{run, stderr, Emulator};

/// Actions the emulator does not route, so its recorder never sees them:
/// the scan's own gap for each, in each region, proves it was sent.
const UNEMULATED: &[&str] = &["access-analyzer:ListAnalyzers"];

/// Every request one scan of `estate` sent, as the emulator recorded it,
/// and the actions the scan reported gaps for; the scan's own count of its
/// calls by action is checked against the recording on the way.
fn recorded_scan(estate: &str, extra: &[&str]) -> (Vec<Value>, BTreeSet<String>) {
    let emulator = Emulator::start(estate);
    emulator.post("/moto-api/recorder/reset-recording", "");
    emulator.post("/moto-api/recorder/start-recording", "");
    let out = run(emulator
        .sightline()
        .args([
            "scan",
            "--regions",
            "us-east-1,eu-west-1",
            "--format",
            "json",
        ])
        .args(extra));
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    emulator.post("/moto-api/recorder/stop-recording", "");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let gaps = report["gaps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["action"].as_str().unwrap().to_owned())
        .collect();
    let entries = emulator.recording();

    // What the scan says it called (`stats.calls_by_action`, which
    // `make bench` sets beside the minimum) is what it sent.
    // Connecting (GetCallerIdentity) comes before the scan, outside its count.
    let mut recorded: BTreeMap<String, u64> = BTreeMap::new();
    for entry in &entries {
        *recorded.entry(action_of(entry)).or_default() += 1;
    }
    assert_eq!(recorded.remove("sts:GetCallerIdentity"), Some(1));
    let mut counted: BTreeMap<String, u64> =
        serde_json::from_value(report["stats"]["calls_by_action"].clone()).unwrap();
    assert_eq!(
        report["stats"]["api_calls"].as_u64(),
        Some(counted.values().sum::<u64>()),
        "every call is counted under its action"
    );
    for action in UNEMULATED {
        counted.remove(*action);
    }
    assert_eq!(
        counted, recorded,
        "the scan's own count of its calls by action"
    );
    (entries, gaps)
}

/// The test estate holds every misconfiguration; the monitoring estate
/// holds the trail whose log group, alarms and topics only a trail that
/// could carry CIS monitoring has read. Together they send every action.
#[test]
fn a_full_scan_sends_exactly_the_manifest_and_nothing_that_writes_or_reads_data() {
    let (entries, gaps) = recorded_scan("test", &[]);
    assert!(
        entries.len() > 50,
        "the recorder saw {} requests",
        entries.len()
    );
    let (monitoring, _) = recorded_scan("monitoring", &["--services", "cloudtrail"]);
    let mut sent: BTreeSet<String> = entries
        .iter()
        .chain(monitoring.iter())
        .map(action_of)
        .collect();
    for action in UNEMULATED {
        assert!(gaps.contains(*action), "{action} was not attempted");
        sent.insert((*action).to_owned());
    }
    // Alarms are read only for the metrics of filters that watch something
    // (five of the six; "everything" watches nothing), and subscribers only
    // for the topics those alarms notify.
    let count = |action: &str| monitoring.iter().filter(|e| action_of(e) == action).count();
    assert_eq!(count("cloudwatch:DescribeAlarmsForMetric"), 5);
    assert_eq!(count("sns:GetTopicAttributes"), 2);
    assert_eq!(count("logs:DescribeMetricFilters"), 1);

    // Utilisation metrics are batched: the ~30 daily series of us-east-1 come
    // in one GetMetricData call (eu-west-1 has nothing metered), not one per metric.
    let metric_calls = entries
        .iter()
        .filter(|e| action_of(e) == "cloudwatch:GetMetricData")
        .count();
    assert_eq!(metric_calls, 1, "GetMetricData calls");

    let manifest = ActionManifest::full();
    let not_declared: Vec<&String> = sent.iter().filter(|a| !manifest.contains(a)).collect();
    assert!(
        not_declared.is_empty(),
        "sent but not in the action manifest: {not_declared:?}"
    );
    // The data reads a reviewer names first, spelled out.
    for data_read in [
        "secretsmanager:GetSecretValue",
        "dynamodb:Scan",
        "dynamodb:GetItem",
        "dynamodb:Query",
        "s3:GetObject",
    ] {
        assert!(!sent.contains(data_read), "{data_read} was sent");
        assert!(reads_data(data_read), "{data_read}");
    }
    // Bedrock is read through its control plane only: no model is invoked.
    let invoked: Vec<&String> = sent
        .iter()
        .filter(|a| a.starts_with("bedrock:Invoke") || a.starts_with("bedrock:Converse"))
        .collect();
    assert!(invoked.is_empty(), "a model was invoked: {invoked:?}");
    assert!(sent.contains("bedrock:GetModelInvocationLoggingConfiguration"));
    for action in &sent {
        assert!(is_read_only(action), "{action} is not read-only");
        assert!(!reads_data(action), "{action} reads data inside a resource");
    }
    let declared: BTreeSet<String> = manifest
        .scan_actions()
        .iter()
        .map(|a| a.to_string())
        .collect();
    let never_sent: Vec<&String> = declared
        .iter()
        .filter(|a| !sent.iter().any(|s| s.eq_ignore_ascii_case(a)))
        .collect();
    assert!(
        never_sent.is_empty(),
        "in the manifest but never sent by a full scan: {never_sent:?}"
    );
}

/// The S3 collector reads, per bucket, exactly what the S3 checks need: the
/// bucket-level actions of their `required_actions`. The bucket's region
/// comes from the listing (asked with max-buckets, S3 gives it there), so
/// no GetBucketLocation either.
#[test]
fn s3_sends_per_bucket_exactly_the_reads_its_checks_require() {
    let (entries, gaps) = recorded_scan("test", &["--services", "s3"]);
    assert!(gaps.is_empty(), "{gaps:?}");
    let account_wide = [
        "s3:ListAllMyBuckets",
        "s3:GetAccountPublicAccessBlock",
        "s3:GetBucketLocation",
    ];
    let required: BTreeSet<String> = sightline_core::catalog()
        .iter()
        .filter(|c| c.service == "s3")
        .flat_map(|c| c.required_actions.iter())
        .filter(|a| a.starts_with("s3:") && !account_wide.contains(a))
        .map(|a| (*a).to_owned())
        .collect();
    assert!(required.contains("s3:GetBucketVersioning"), "{required:?}");
    let mut per_bucket: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for entry in &entries {
        let action = action_of(entry);
        if !action.starts_with("s3:") {
            continue;
        }
        let url = entry["url"].as_str().unwrap();
        let path = url.splitn(4, '/').nth(3).unwrap_or("");
        let path = path.split('?').next().unwrap_or("");
        match path.trim_matches('/') {
            "" => assert_eq!(action, "s3:ListAllMyBuckets"),
            p if p.starts_with("v20180820/") => {
                assert_eq!(action, "s3:GetAccountPublicAccessBlock")
            }
            bucket => per_bucket
                .entry(bucket.to_owned())
                .or_default()
                .push(action),
        }
    }
    assert_eq!(per_bucket.len(), 4, "{per_bucket:?}");
    for (bucket, mut actions) in per_bucket {
        actions.sort();
        let expected: Vec<String> = required.iter().cloned().collect();
        assert_eq!(actions, expected, "{bucket}: one call per required read");
    }
}

#[test]
fn the_request_mapping_recognises_data_reads() {
    assert_eq!(s3_action("GET", "/bucket/key.txt", ""), "s3:GetObject");
    assert_eq!(s3_action("GET", "/bucket", "acl"), "s3:GetBucketAcl");
    assert!(s3_action("PUT", "/bucket", "acl").starts_with("s3:UNRECOGNISED"));
    assert_eq!(
        lambda_action("GET", "/2015-03-31/functions/fn-leaky"),
        "lambda:GetFunction"
    );
    assert_eq!(
        base64_decode::decode("QWN0aW9uPURlc2NyaWJlVm9sdW1lcw=="),
        "Action=DescribeVolumes"
    );
}
