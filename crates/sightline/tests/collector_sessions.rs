//! Minimum permissions per collector. With a monitoring role, the scan
//! assumes it once for its own calls and once per collector, each time
//! with an inline session policy of exactly that collector's manifest
//! section, for 15 minutes; and every request is signed by the session of
//! the collector whose section holds its action.
//!
//! The emulator does not apply session policies when it enforces IAM (it
//! evaluates only the role's own policies), so a refusal by AWS cannot be
//! shown here. What is proven instead, from its request recorder and its
//! record of the sessions it issued: each session's policy equals its
//! collector's manifest section, and no request used a session whose
//! policy does not allow it. `sightline_aws::policy`'s unit test proves each
//! such policy allows no other action of the manifest.

mod support;

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;
use sightline_aws::manifest::{ActionManifest, Service, SCAN_ACTIONS};
use sightline_aws::policy::allows;
use support::requests::{access_key_id, action_of, body, form_param};
use support::{run, stderr, Emulator};

/// A session the emulator issued: its name and its inline policy.
struct Issued {
    name: String,
    policy: Value,
}

/// The role the scans below assume, trusted by `caller` with the estate's
/// ExternalId.
fn monitoring_role(emulator: &Emulator, caller: &str) -> String {
    emulator
        .aws(&format!(
            "trust = {{'Version': '2012-10-17', 'Statement': [{{'Effect': 'Allow', 'Action': 'sts:AssumeRole',\n\
                 'Principal': {{'AWS': '{caller}'}},\n\
                 'Condition': {{'StringEquals': {{'sts:ExternalId': '{EXTERNAL_ID}'}}}}}}]}}\n\
             iam = c('iam')\n\
             role = iam.create_role(RoleName='SightlineMonitoring', AssumeRolePolicyDocument=json.dumps(trust))['Role']['Arn']\n\
             iam.attach_role_policy(RoleName='SightlineMonitoring', PolicyArn='arn:aws:iam::aws:policy/ReadOnlyAccess')\n\
             print(role, end='')\n",
        ))
        .trim()
        .to_owned()
}

const EXTERNAL_ID: &str = "collector-sessions-test";

/// Scan through `role_arn` with `scan` (a `sightline` command with its
/// credentials) and `args`; prove every session the scan asked for is
/// scoped to its collector's manifest section, that `collectors` (and the
/// scan's own) are exactly the sessions asked for, once each, and that
/// every request was signed by a session whose policy allows it. Returns
/// the actions each session sent.
fn prove_scoped_sessions(
    emulator: &Emulator,
    mut scan: std::process::Command,
    base_key: &str,
    role_arn: &str,
    args: &[&str],
    collectors: &[&str],
) -> BTreeMap<String, BTreeSet<String>> {
    emulator.post("/moto-api/recorder/reset-recording", "");
    emulator.post("/moto-api/recorder/start-recording", "");
    let out = run(scan.args(["scan", "--format", "json"]).args(args).args([
        "--role-arn",
        role_arn,
        "--external-id",
        EXTERNAL_ID,
    ]));
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    emulator.post("/moto-api/recorder/stop-recording", "");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        !report["findings"].as_array().unwrap().is_empty(),
        "the scan through the role found nothing"
    );
    let entries = emulator.recording();

    // The sessions the scan asked for, as it sent them.
    let manifest = ActionManifest::full();
    let section = |collector: &str| -> BTreeSet<String> {
        manifest
            .entries
            .iter()
            .find(|e| e.collector == collector)
            .unwrap_or_else(|| panic!("no manifest section {collector}"))
            .actions
            .iter()
            .map(|a| a.to_string())
            .collect()
    };
    let mut asked: BTreeMap<String, usize> = BTreeMap::new();
    for entry in entries.iter().filter(|e| action_of(e) == "sts:AssumeRole") {
        assert_eq!(
            access_key_id(&entry["headers"]),
            base_key,
            "a session was assumed from another Sightline session"
        );
        let form = body(entry);
        let name = form_param(&form, "RoleSessionName").expect("RoleSessionName");
        let collector = name
            .strip_prefix("sightline-")
            .unwrap_or_else(|| panic!("session name {name}"));
        assert_eq!(form_param(&form, "RoleArn").as_deref(), Some(role_arn));
        assert_eq!(
            form_param(&form, "ExternalId").as_deref(),
            Some(EXTERNAL_ID),
            "{name}"
        );
        let policy: Value =
            serde_json::from_str(&form_param(&form, "Policy").expect("a session policy")).unwrap();
        let actions: BTreeSet<String> = policy["Statement"][0]["Action"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap().to_owned())
            .collect();
        assert_eq!(actions, section(collector), "{name}'s session policy");
        assert_eq!(policy["Statement"].as_array().unwrap().len(), 1, "{name}");
        assert_eq!(policy["Statement"][0]["Effect"], "Allow", "{name}");
        if collector != "scan" {
            assert_eq!(
                form_param(&form, "DurationSeconds").as_deref(),
                Some("900"),
                "{name} lasts 15 minutes"
            );
        }
        *asked.entry(name).or_default() += 1;
    }
    let expected: BTreeMap<String, usize> = collectors
        .iter()
        .chain(&["scan"])
        .map(|c| (format!("sightline-{c}"), 1))
        .collect();
    assert_eq!(
        asked, expected,
        "one session per collector, each assumed once"
    );
    assert_eq!(
        section("scan"),
        SCAN_ACTIONS.iter().map(|a| a.to_string()).collect()
    );

    // The emulator's record of the sessions it issued ties each access key
    // to one (a route of the test launcher, tests/emulator/emulator.py).
    let state: Value = serde_json::from_str(&emulator.get("/_sightline/sessions")).unwrap();
    let issued: BTreeMap<String, Issued> = state
        .as_array()
        .expect("the emulator's sessions")
        .iter()
        .map(|s| {
            (
                s["access_key_id"].as_str().unwrap().to_owned(),
                Issued {
                    name: s["session_name"].as_str().unwrap().to_owned(),
                    policy: s["policy"]
                        .as_str()
                        .map(|p| serde_json::from_str(p).unwrap())
                        .unwrap_or(Value::Null),
                },
            )
        })
        .collect();

    // Every other request was signed by a session whose policy allows it.
    let mut used: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for entry in &entries {
        let action = action_of(entry);
        if action == "sts:AssumeRole" {
            continue;
        }
        let key = access_key_id(&entry["headers"]);
        let session = issued.get(&key).unwrap_or_else(|| {
            panic!("{action} was signed by {key}, which is no collector's session")
        });
        assert!(
            allows(&session.policy, &action),
            "{action} was sent on {}, whose policy does not allow it",
            session.name
        );
        used.entry(session.name.clone()).or_default().insert(action);
    }
    used
}

fn sent_on(used: &BTreeMap<String, BTreeSet<String>>, pairs: &[(&str, &str)]) {
    for (session, action) in pairs {
        assert!(
            used.get(*session).is_some_and(|a| a.contains(*action)),
            "{action} not sent on {session}: {used:?}"
        );
    }
}

#[test]
fn each_collector_runs_on_its_own_session_scoped_to_its_manifest_actions() {
    let emulator = Emulator::start("test");
    let scanner = &emulator.seed["scanner"];
    let role_arn = monitoring_role(
        &emulator,
        &format!(
            "arn:aws:iam::{}:user/sightline-scanner",
            emulator.account_id
        ),
    );
    let collectors: Vec<&str> = Service::ALL
        .iter()
        .map(|s| s.name())
        .chain(["cloudwatch"])
        .collect();
    let used = prove_scoped_sessions(
        &emulator,
        emulator.sightline_as_scanner(),
        scanner["access_key_id"].as_str().unwrap(),
        &role_arn,
        &["--regions", "us-east-1,eu-west-1"],
        &collectors,
    );
    // The sessions did the work: spot-check that each collector's calls came
    // from its own session (a mix-up would fail the policy check above).
    sent_on(
        &used,
        &[
            ("sightline-scan", "sts:GetCallerIdentity"),
            ("sightline-scan", "ec2:DescribeRegions"),
            ("sightline-ec2", "ec2:DescribeVolumes"),
            ("sightline-s3", "s3:ListAllMyBuckets"),
            ("sightline-s3", "s3:GetAccountPublicAccessBlock"),
            ("sightline-iam", "iam:GetAccountAuthorizationDetails"),
            ("sightline-cloudwatch", "cloudwatch:GetMetricData"),
            ("sightline-cloudtrail", "cloudtrail:DescribeTrails"),
            (
                "sightline-security",
                "config:DescribeConfigurationRecorders",
            ),
            ("sightline-kms", "kms:GetKeyPolicy"),
            ("sightline-dynamodb", "dynamodb:DescribeContinuousBackups"),
        ],
    );
}

/// The CloudTrail collector reaches into Logs, CloudWatch, SNS and S3 for
/// a trail that can carry CIS monitoring (the monitoring estate): each of
/// those calls is made on the CloudTrail collector's own session.
#[test]
fn the_cloudtrail_collector_reads_logs_alarms_and_topics_on_its_own_session() {
    let emulator = Emulator::start("monitoring");
    let role_arn = monitoring_role(
        &emulator,
        &format!("arn:aws:iam::{}:root", emulator.account_id),
    );
    let used = prove_scoped_sessions(
        &emulator,
        emulator.sightline(),
        "testing",
        &role_arn,
        &["--regions", "us-east-1", "--services", "cloudtrail"],
        &["cloudtrail"],
    );
    sent_on(
        &used,
        &[
            ("sightline-cloudtrail", "cloudtrail:GetEventSelectors"),
            ("sightline-cloudtrail", "logs:DescribeMetricFilters"),
            ("sightline-cloudtrail", "cloudwatch:DescribeAlarmsForMetric"),
            ("sightline-cloudtrail", "sns:GetTopicAttributes"),
        ],
    );
}

/// A collector whose session STS refuses runs on no other credentials:
/// each of its actions is a gap in each region, its checks say "not
/// evaluated" with no finding, every other collector finds what it finds
/// anyway, and STS was asked for the refused session once, not by every call.
#[test]
fn a_refused_collector_session_is_a_gap_on_each_of_its_actions_and_asked_once() {
    let emulator = Emulator::start("test");
    let role_arn = monitoring_role(
        &emulator,
        &format!(
            "arn:aws:iam::{}:user/sightline-scanner",
            emulator.account_id
        ),
    );
    emulator.post("/_sightline/refuse-session", "sightline-kms");
    let out = run(emulator
        .sightline_as_scanner()
        .args([
            "scan",
            "--format",
            "json",
            "--regions",
            "us-east-1,eu-west-1",
        ])
        .args(["--role-arn", &role_arn, "--external-id", EXTERNAL_ID]));
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();

    let kms_gaps: BTreeSet<(String, String, String)> = report["gaps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|g| g["service"] == "kms")
        .map(|g| {
            assert!(
                g["error"].as_str().unwrap().contains("sightline-kms"),
                "{g}"
            );
            (
                g["region"].as_str().unwrap().to_owned(),
                g["action"].as_str().unwrap().to_owned(),
                g["kind"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let expected_gaps: BTreeSet<(String, String, String)> = ["us-east-1", "eu-west-1"]
        .iter()
        .flat_map(|region| {
            Service::Kms.actions().iter().map(move |action| {
                (
                    region.to_string(),
                    action.to_string(),
                    "AccessDenied".to_owned(),
                )
            })
        })
        .collect();
    assert_eq!(kms_gaps, expected_gaps);

    for check in sightline_core::catalog()
        .iter()
        .filter(|c| c.service == "kms")
    {
        assert_eq!(
            support::outcome(&report, check.id)["status"],
            "not_evaluated",
            "{}",
            check.id
        );
    }
    let expected: BTreeSet<(String, String)> = emulator
        .expected()
        .into_iter()
        .filter(|(check, _)| !check.starts_with("kms."))
        .collect();
    assert_eq!(support::finding_labels(&report), expected);

    let refusals: Value = serde_json::from_str(&emulator.get("/_sightline/refusals")).unwrap();
    assert_eq!(refusals, serde_json::json!({"sightline-kms": 1}));
}
