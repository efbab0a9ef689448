//! Change plans. An approved finding becomes a shell script of its
//! remediation commands, with the rollback commands beside them, that a
//! human reviews and runs; Sightline never runs it. Also: which IAM
//! permissions those commands need, which Sightline's read-only role lacks.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use sha2::{Digest, Sha256};

use crate::shell;

/// The AWS CLI's service names where they differ from the IAM prefix.
const CLI_TO_IAM: &[(&str, &str)] = &[
    ("s3api", "s3"),
    ("s3control", "s3"),
    ("elbv2", "elasticloadbalancing"),
    ("elb", "elasticloadbalancing"),
    ("logs", "logs"),
];

/// Commands whose IAM action is not the command's own name.
const ACTION_EXCEPTIONS: &[(&str, &str, &str)] = &[
    (
        "s3api",
        "put-public-access-block",
        "s3:PutBucketPublicAccessBlock",
    ),
    (
        "s3api",
        "delete-public-access-block",
        "s3:PutBucketPublicAccessBlock",
    ),
    (
        "s3control",
        "put-public-access-block",
        "s3:PutAccountPublicAccessBlock",
    ),
    (
        "s3control",
        "delete-public-access-block",
        "s3:PutAccountPublicAccessBlock",
    ),
];

/// The IAM action an `aws <service> <operation>` command needs, or `None`
/// for a line that is not an AWS CLI command (a comment, a note).
pub fn iam_action(command: &str) -> Option<String> {
    let mut words = command.split_whitespace();
    if words.next()? != "aws" {
        return None;
    }
    let service = words.next()?;
    let operation = words.next()?;
    if !operation
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        return None;
    }
    if let Some((_, _, action)) = ACTION_EXCEPTIONS
        .iter()
        .find(|(s, o, _)| *s == service && *o == operation)
    {
        return Some((*action).to_owned());
    }
    let prefix = CLI_TO_IAM
        .iter()
        .find(|(cli, _)| *cli == service)
        .map_or(service, |(_, iam)| iam);
    let pascal: String = operation
        .split('-')
        .map(|part| {
            let mut chars = part.chars();
            chars.next().map_or(String::new(), |first| {
                first.to_ascii_uppercase().to_string() + chars.as_str()
            })
        })
        .collect();
    Some(format!("{prefix}:{pascal}"))
}

/// The distinct IAM actions a list of commands needs, sorted.
pub fn required_permissions<'a>(commands: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    commands
        .into_iter()
        .filter_map(iam_action)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// Whether an action only reads (what Sightline's own role may hold).
pub fn is_read_action(action: &str) -> bool {
    let name = action.split_once(':').map_or(action, |(_, n)| n);
    ["Describe", "Get", "List"]
        .iter()
        .any(|p| name.starts_with(p))
}

/// What a change plan is made from.
#[derive(Debug, Clone)]
pub struct PlanInput<'a> {
    pub finding_id: &'a str,
    pub check_id: &'a str,
    pub title: &'a str,
    pub resource_arn: &'a str,
    pub account: &'a str,
    pub region: &'a str,
    pub evidence_sha256: &'a str,
    pub approved_by: &'a str,
    /// RFC 3339.
    pub approved_at: &'a str,
    pub remediation: &'a [String],
    pub rollback: &'a [String],
}

/// The change plan: a bash script that stops at the first failing command.
/// Rollback commands are written beside the remediation as comments, and
/// never run by the plan.
pub fn change_plan(input: &PlanInput<'_>) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "#!/usr/bin/env bash");
    let _ = writeln!(
        s,
        "# Sightline change plan. Sightline has not run and will not run any of this:"
    );
    let _ = writeln!(
        s,
        "# review it, run it yourself with credentials that hold the permissions below."
    );
    let _ = writeln!(s, "#");
    for (label, value) in [
        ("finding", input.finding_id),
        ("check", input.check_id),
        ("title", input.title),
        ("resource", input.resource_arn),
        ("account", input.account),
        ("region", input.region),
        ("evidence sha256", input.evidence_sha256),
        ("approved by", input.approved_by),
        ("approved at", input.approved_at),
    ] {
        let _ = writeln!(s, "# {label:<16} {}", shell::comment(value));
    }
    let permissions = required_permissions(input.remediation.iter().map(String::as_str));
    let _ = writeln!(s, "#");
    let _ = writeln!(s, "# IAM permissions these commands need:");
    for p in &permissions {
        let _ = writeln!(s, "#   {p}");
    }
    let _ = writeln!(s, "set -euo pipefail");
    let _ = writeln!(s);
    let _ = writeln!(s, "# --- remediation ---");
    // Built by `shell::Command`: every value in them is quoted already.
    for command in input.remediation {
        let _ = writeln!(s, "{command}");
    }
    let _ = writeln!(s);
    let _ = writeln!(
        s,
        "# --- rollback (not run; to undo the remediation, run these) ---"
    );
    for command in input.rollback {
        let _ = writeln!(s, "# {}", shell::comment(command));
    }
    s
}

/// SHA-256 of a plan, as hex.
pub fn sha256_hex(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_map_to_the_iam_actions_they_need() {
        let cases = [
            (
                "aws ec2 delete-volume --volume-id vol-1 --region us-east-1",
                Some("ec2:DeleteVolume"),
            ),
            (
                "aws s3api put-public-access-block --bucket b",
                Some("s3:PutBucketPublicAccessBlock"),
            ),
            (
                "aws s3control put-public-access-block --account-id 1",
                Some("s3:PutAccountPublicAccessBlock"),
            ),
            (
                "aws elbv2 set-subnets --load-balancer-arn x",
                Some("elasticloadbalancing:SetSubnets"),
            ),
            (
                "aws iam update-access-key --status Inactive",
                Some("iam:UpdateAccessKey"),
            ),
            (
                "aws rds modify-db-instance --multi-az",
                Some("rds:ModifyDbInstance"),
            ),
            ("# note: check the owner first", None),
            ("aws", None),
        ];
        for (command, action) in cases {
            assert_eq!(iam_action(command).as_deref(), action, "{command}");
        }
        assert_eq!(
            required_permissions([
                "aws ec2 delete-volume --volume-id a",
                "aws ec2 delete-volume --volume-id b",
                "aws ec2 create-snapshot --volume-id a",
            ]),
            vec!["ec2:CreateSnapshot", "ec2:DeleteVolume"]
        );
        assert!(!is_read_action("ec2:DeleteVolume"));
        assert!(is_read_action("s3:GetBucketPolicy"));
    }

    #[test]
    fn a_plan_runs_remediation_only_and_keeps_rollback_as_comments() {
        let remediation = vec!["aws ec2 delete-volume --volume-id vol-1".to_owned()];
        let rollback = vec!["aws ec2 create-volume --snapshot-id snap-1".to_owned()];
        let plan = change_plan(&PlanInput {
            finding_id: "f-1",
            check_id: "ebs.unattached_volume",
            title: "Unattached EBS volume",
            resource_arn: "arn:aws:ec2:us-east-1:123456789012:volume/vol-1",
            account: "123456789012",
            region: "us-east-1",
            evidence_sha256: &"a".repeat(64),
            approved_by: "user:ops@example.com\nrm -rf /",
            approved_at: "2026-11-24T00:00:00Z",
            remediation: &remediation,
            rollback: &rollback,
        });
        let lines: Vec<&str> = plan.lines().collect();
        assert_eq!(lines[0], "#!/usr/bin/env bash");
        let live: Vec<&&str> = lines
            .iter()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .collect();
        assert_eq!(
            live,
            vec![
                &"set -euo pipefail",
                &"aws ec2 delete-volume --volume-id vol-1"
            ]
        );
        assert!(plan.contains("# aws ec2 create-volume --snapshot-id snap-1"));
        assert!(plan.contains("#   ec2:DeleteVolume"));
        assert!(plan.contains("# approved by      user:ops@example.com rm -rf /"));
        assert_eq!(sha256_hex(&plan).len(), 64);
    }
}
