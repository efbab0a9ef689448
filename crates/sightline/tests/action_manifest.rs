//! The action manifest is the truth: the emulator's request recorder lists
//! every request a full scan sent, each is mapped to its IAM action, and
//! the set must equal the manifest, every entry of which is read-only and
//! none of which reads data inside a resource.

mod support;

use std::collections::BTreeSet;

use serde_json::Value;
use sightline_aws::manifest::{is_read_only, reads_data, ActionManifest};
use support::{run, stderr, Emulator};

/// The signing name in the SigV4 Authorization header, as an IAM prefix.
fn iam_prefix(headers: &Value) -> String {
    let auth = headers
        .as_object()
        .unwrap()
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("authorization"))
        .and_then(|(_, v)| v.as_str())
        .unwrap_or_default();
    let scope = auth.split("Credential=").nth(1).unwrap_or_default();
    let service = scope.split('/').nth(3).unwrap_or("unsigned");
    match service {
        "monitoring" => "cloudwatch".to_owned(),
        other => other.to_owned(),
    }
}

fn header<'a>(headers: &'a Value, name: &str) -> Option<&'a str> {
    headers
        .as_object()
        .unwrap()
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .and_then(|(_, v)| v.as_str())
}

/// The S3 operation of a REST request, by method, path and subresource, as
/// the IAM action that authorises it. Unknown shapes come back as
/// `s3:UNRECOGNISED ...` so that the test fails and says what was sent.
fn s3_action(method: &str, path: &str, query: &str) -> String {
    let subresource = query
        .split('&')
        .next()
        .unwrap_or("")
        .split('=')
        .next()
        .unwrap_or("");
    let segments: Vec<&str> = path
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    let action = match (method, segments.as_slice(), subresource) {
        ("GET", ["v20180820", "configuration", "publicAccessBlock"], _) => {
            "GetAccountPublicAccessBlock"
        }
        ("GET", [], _) => "ListAllMyBuckets",
        ("GET", [_bucket], "location") => "GetBucketLocation",
        ("GET", [_bucket], "acl") => "GetBucketAcl",
        ("GET", [_bucket], "policyStatus") => "GetBucketPolicyStatus",
        ("GET", [_bucket], "policy") => "GetBucketPolicy",
        ("GET", [_bucket], "publicAccessBlock") => "GetBucketPublicAccessBlock",
        ("GET", [_bucket], "encryption") => "GetEncryptionConfiguration",
        ("GET", [_bucket], "versioning") => "GetBucketVersioning",
        ("GET", [_bucket], "logging") => "GetBucketLogging",
        ("GET", [_bucket], "lifecycle") => "GetLifecycleConfiguration",
        ("GET", [_bucket], "tagging") => "GetBucketTagging",
        ("GET", [_bucket, ..], _) => "GetObject",
        _ => return format!("s3:UNRECOGNISED {method} {path}?{query}"),
    };
    format!("s3:{action}")
}

/// The REST operations of the security services, by method and path.
fn rest_action(prefix: &str, method: &str, path: &str) -> Option<String> {
    let segments: Vec<&str> = path
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    let action = match (prefix, method, segments.as_slice()) {
        ("access-analyzer", "GET", ["analyzer"]) => "ListAnalyzers",
        ("securityhub", "GET", ["accounts"]) => "DescribeHub",
        ("guardduty", "GET", ["detector"]) => "ListDetectors",
        ("guardduty", "GET", ["detector", _]) => "GetDetector",
        ("elasticfilesystem", "GET", [_, "file-systems"]) => "DescribeFileSystems",
        ("access-analyzer" | "securityhub" | "guardduty" | "elasticfilesystem", _, _) => {
            return Some(format!("{prefix}:UNRECOGNISED {method} {path}"))
        }
        _ => return None,
    };
    Some(format!("{prefix}:{action}"))
}

fn lambda_action(method: &str, path: &str) -> String {
    match (method, path.trim_end_matches('/')) {
        ("GET", "/2015-03-31/functions") => "lambda:ListFunctions".to_owned(),
        ("GET", p) if p.starts_with("/2015-03-31/functions/") => "lambda:GetFunction".to_owned(),
        _ => format!("lambda:UNRECOGNISED {method} {path}"),
    }
}

/// The IAM action one recorded request needs.
fn action_of(entry: &Value) -> String {
    let headers = &entry["headers"];
    let method = entry["method"].as_str().unwrap();
    let url = entry["url"].as_str().unwrap();
    let after_host = url.splitn(4, '/').nth(3).unwrap_or("");
    let (path, query) = after_host.split_once('?').unwrap_or((after_host, ""));
    let path = format!("/{path}");
    let prefix = iam_prefix(headers);
    if let Some(target) = header(headers, "x-amz-target") {
        return format!("{prefix}:{}", target.rsplit('.').next().unwrap());
    }
    match prefix.as_str() {
        "s3" => return s3_action(method, &path, query),
        "lambda" => return lambda_action(method, &path),
        _ => {}
    }
    if let Some(action) = rest_action(&prefix, method, &path) {
        return action;
    }
    let body = match entry["body_encoded"].as_bool() {
        Some(true) => {
            use base64_decode::decode;
            decode(entry["body"].as_str().unwrap_or_default())
        }
        _ => entry["body"].as_str().unwrap_or_default().to_owned(),
    };
    let operation = body
        .split('&')
        .chain(query.split('&'))
        .find_map(|pair| pair.strip_prefix("Action="))
        .unwrap_or("UNRECOGNISED");
    format!("{prefix}:{operation}")
}

/// Standard base64 decoding, enough for recorded request bodies.
mod base64_decode {
    pub fn decode(input: &str) -> String {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut bits: u32 = 0;
        let mut count = 0;
        let mut out = Vec::new();
        for c in input.bytes().filter(|c| *c != b'=') {
            let Some(v) = ALPHABET.iter().position(|a| *a == c) else {
                continue;
            };
            bits = (bits << 6) | v as u32;
            count += 6;
            if count >= 8 {
                count -= 8;
                out.push((bits >> count) as u8);
                bits &= (1 << count) - 1;
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    }
}

/// Actions the emulator does not route, so its recorder never sees them:
/// the scan's own gap for each, in each region, proves it was sent.
const UNEMULATED: &[&str] = &["access-analyzer:ListAnalyzers"];

/// Every request one scan of `estate` sent, as the emulator recorded it,
/// and the actions the scan reported gaps for.
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
    let entries = emulator
        .get("/moto-api/recorder/download-recording")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
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
