//! Scanning through a monitoring role that holds only ViewOnlyAccess, with
//! the emulator enforcing IAM: the scan completes, reports gaps for the S3
//! and IAM detail calls, and every check whose input is missing says "not
//! evaluated" — never "passed". A wrong ExternalId is refused with exit 1.

mod support;

use std::collections::BTreeSet;

use serde_json::Value;
use sightline_aws::coverage::{coverage, ManagedPolicyFacts};
use support::{outcome, run, stderr, Emulator};

fn enforce_iam(emulator: &Emulator) {
    // From now on every request is authorised against IAM policies.
    emulator.post("/moto-api/reset-auth", "0");
}

/// `sightline scan` of us-east-1 as the scanner user through the ViewOnly role, plus `extra` flags.
fn scanner_scan(emulator: &Emulator, external_id: &str, extra: &[&str]) -> std::process::Output {
    let scanner = &emulator.seed["scanner"];
    run(emulator
        .sightline_as_scanner()
        .args([
            "scan",
            "--regions",
            "us-east-1",
            "--format",
            "json",
            "--role-arn",
        ])
        .arg(scanner["role_arn"].as_str().unwrap())
        .args(["--external-id", external_id])
        .args(extra))
}

#[test]
fn view_only_scan_completes_with_gaps_and_never_passes_what_it_could_not_read() {
    let emulator = Emulator::start("test");
    enforce_iam(&emulator);
    let external_id = emulator.seed["scanner"]["external_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let out = scanner_scan(&emulator, &external_id, &[]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "the scan completes and still finds what it can see:\n{}",
        stderr(&out)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();

    let gaps: BTreeSet<String> = report["gaps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["action"].as_str().unwrap().to_owned())
        .collect();
    for action in [
        "s3:GetBucketLocation",
        "s3:GetAccountPublicAccessBlock",
        "iam:GenerateCredentialReport",
        "iam:GetAccountAuthorizationDetails",
        "iam:GetAccountPasswordPolicy",
    ] {
        assert!(gaps.contains(action), "no gap for {action}: {gaps:?}");
    }
    for gap in report["gaps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|g| g["service"] == "s3" || g["service"] == "iam")
    {
        assert_eq!(gap["kind"], "AccessDenied", "{gap}");
    }

    // Every check the coverage table says needs a denied S3 or IAM detail call is not evaluated.
    let rows = coverage(&sightline_core::catalog(), &ManagedPolicyFacts::shipped());
    let denied_detail =
        |a: &String| (a.starts_with("s3:") || a.starts_with("iam:")) && gaps.contains(a);
    for row in rows
        .iter()
        .filter(|r| r.missing["ViewOnlyAccess"].iter().any(denied_detail))
    {
        assert_eq!(
            outcome(&report, &row.check_id)["status"],
            "not_evaluated",
            "{} needs {:?}",
            row.check_id,
            row.missing["ViewOnlyAccess"]
        );
    }
    for check in [
        "s3.bucket_public_acl",
        "s3.bucket_public_policy",
        "s3.bucket_no_public_access_block",
        "iam.user_console_no_mfa",
        "iam.policy_admin_wildcard",
        "iam.password_policy_weak",
    ] {
        assert_eq!(
            outcome(&report, check)["status"],
            "not_evaluated",
            "{check}"
        );
    }
    // What ViewOnlyAccess can read is still judged: the unattached volume is found.
    let labels = support::finding_labels(&report);
    assert!(
        labels.contains(&(
            "ebs.volume_unattached".to_owned(),
            "unattached-gp3".to_owned()
        )),
        "{labels:?}"
    );
    assert!(labels.contains(&(
        "ec2.sg_open_admin_ports".to_owned(),
        "sg-ssh-world".to_owned()
    )));

    // Nothing failed, but nothing could be judged either: not a clean exit.
    let out = scanner_scan(
        &emulator,
        &external_id,
        &["--checks", "iam.password_policy_weak"],
    );
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("1 check(s) could not be evaluated"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_wrong_external_id_fails_with_exit_1_and_one_clear_line() {
    let emulator = Emulator::start("test");
    enforce_iam(&emulator);
    let out = scanner_scan(&emulator, "not-the-external-id", &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains("could not assume role arn:aws:iam::123456789012:role/SightlineViewOnly"),
        "{err}"
    );
    assert!(err.contains("ExternalId"), "{err}");
    assert!(out.stdout.is_empty());
}
