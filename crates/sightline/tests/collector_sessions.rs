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

#[test]
fn each_collector_runs_on_its_own_session_scoped_to_its_manifest_actions() {
    let emulator = Emulator::start("test");
    let scanner = &emulator.seed["scanner"];
    let external_id = scanner["external_id"].as_str().unwrap();
    let role_arn = emulator
        .aws(&format!(
            "trust = {{'Version': '2012-10-17', 'Statement': [{{'Effect': 'Allow', 'Action': 'sts:AssumeRole',\n\
                 'Principal': {{'AWS': 'arn:aws:iam::{account}:user/sightline-scanner'}},\n\
                 'Condition': {{'StringEquals': {{'sts:ExternalId': '{external_id}'}}}}}}]}}\n\
             iam = c('iam')\n\
             role = iam.create_role(RoleName='SightlineMonitoring', AssumeRolePolicyDocument=json.dumps(trust))['Role']['Arn']\n\
             iam.attach_role_policy(RoleName='SightlineMonitoring', PolicyArn='arn:aws:iam::aws:policy/ReadOnlyAccess')\n\
             print(role, end='')\n",
            account = emulator.account_id,
        ))
        .trim()
        .to_owned();

    emulator.post("/moto-api/recorder/reset-recording", "");
    emulator.post("/moto-api/recorder/start-recording", "");
    let base_key = scanner["access_key_id"].as_str().unwrap();
    let out = run(emulator
        .sightline_as_scanner()
        .args([
            "scan",
            "--regions",
            "us-east-1,eu-west-1",
            "--format",
            "json",
        ])
        .args(["--role-arn", &role_arn, "--external-id", external_id]));
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
            "a role session was assumed from another session (role chaining)"
        );
        let form = body(entry);
        let name = form_param(&form, "RoleSessionName").expect("RoleSessionName");
        let collector = name
            .strip_prefix("sightline-")
            .unwrap_or_else(|| panic!("session name {name}"));
        assert_eq!(
            form_param(&form, "RoleArn").as_deref(),
            Some(role_arn.as_str())
        );
        assert_eq!(
            form_param(&form, "ExternalId").as_deref(),
            Some(external_id),
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
    let expected: BTreeMap<String, usize> = Service::ALL
        .iter()
        .map(|s| s.name())
        .chain(["scan", "cloudwatch"])
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

    // Every other request was signed by a session whose policy allows it,
    // and that session is its own collector's.
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
    // The sessions did the work: spot-check that each collector's calls came
    // from its own session (a mix-up would fail the policy check above).
    for (session, action) in [
        ("sightline-scan", "sts:GetCallerIdentity"),
        ("sightline-scan", "ec2:DescribeRegions"),
        ("sightline-ec2", "ec2:DescribeVolumes"),
        ("sightline-s3", "s3:ListAllMyBuckets"),
        ("sightline-iam", "iam:GetAccountAuthorizationDetails"),
        ("sightline-cloudwatch", "cloudwatch:GetMetricData"),
        ("sightline-cloudtrail", "cloudtrail:DescribeTrails"),
        ("sightline-dynamodb", "dynamodb:DescribeContinuousBackups"),
    ] {
        assert!(
            used.get(session).is_some_and(|a| a.contains(action)),
            "{action} not sent on {session}: {used:?}"
        );
    }
}
