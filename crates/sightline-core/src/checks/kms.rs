//! KMS checks: customer managed keys that do not rotate, keys scheduled
//! for deletion, and key policies that let anyone use a key.

use super::{Basis, Check, CheckContext};
use crate::finding::{Category, Severity, Violation};
use crate::inventory::iam::{statements, string_list};
use crate::inventory::Inventory;
use crate::shell::Command;

use super::iam::{allows_anyone, denies_outsiders};

pub const CHECKS: &[&Check] = &[&ROTATION_OFF, &KEY_PENDING_DELETION, &KEY_POLICY_PUBLIC];

pub static ROTATION_OFF: Check = Check {
    id: "kms.rotation_off",
    title: "Customer managed KMS key without automatic rotation",
    category: Category::Security,
    severity: Severity::Medium,
    service: "kms",
    required_actions: &["kms:ListKeys", "kms:DescribeKey", "kms:GetKeyRotationStatus"],
    basis: Basis::Observed,
    risk: "Key material that never changes protects everything ever encrypted with it; rotation limits what one leaked version can open, at no cost to callers.",
    evaluate: rotation_off,
};

fn rotation_off(inv: &Inventory, _ctx: &CheckContext) -> Vec<Violation> {
    inv.kms
        .keys
        .iter()
        .filter(|k| k.can_rotate() && k.rotation_enabled == Some(false))
        .map(|k| {
            let kms = |op: &'static str| {
                Command::aws("kms", op)
                    .region(&k.meta.region)
                    .arg("--key-id", &k.meta.id)
            };
            Violation::new(
                &k.meta,
                "Automatic rotation is off for this symmetric customer managed key",
            )
            .evidence("rotation_enabled", false)
            .evidence("key_spec", &k.spec)
            .remediation(
                kms("enable-key-rotation")
                    .note("yearly by default; --rotation-period-in-days sets 90 to 2560"),
            )
            .rollback(kms("disable-key-rotation"))
        })
        .collect()
}

pub static KEY_PENDING_DELETION: Check = Check {
    id: "kms.key_pending_deletion",
    title: "KMS key scheduled for deletion",
    category: Category::Reliability,
    severity: Severity::High,
    service: "kms",
    required_actions: &["kms:ListKeys", "kms:DescribeKey"],
    basis: Basis::Observed,
    risk: "Once the waiting period ends the key is gone for good, and with it every snapshot, object and secret it encrypted; the waiting period is the only time to notice.",
    evaluate: key_pending_deletion,
};

fn key_pending_deletion(inv: &Inventory, ctx: &CheckContext) -> Vec<Violation> {
    inv.kms
        .keys
        .iter()
        .filter(|k| k.state == "PendingDeletion")
        .map(|k| {
            let when = match k.deletion_date {
                Some(d) => format!(
                    "on {} (in {} days)",
                    d.format("%Y-%m-%d"),
                    (d - ctx.now).num_days().max(0)
                ),
                None => "at the end of its waiting period".to_owned(),
            };
            let kms = |op: &'static str| {
                Command::aws("kms", op)
                    .region(&k.meta.region)
                    .arg("--key-id", &k.meta.id)
            };
            Violation::new(&k.meta, format!("The key will be deleted {when}"))
                .evidence("key_state", &k.state)
                .evidence("deletion_date", k.deletion_date)
                .remediation(kms("cancel-key-deletion").note(
                    "the key comes back Disabled: enable-key only if it should be used again",
                ))
                .rollback(kms("schedule-key-deletion").placeholder(
                    "--pending-window-in-days",
                    "days-left-before-the-original-date-7-to-30",
                ))
        })
        .collect()
}

pub static KEY_POLICY_PUBLIC: Check = Check {
    id: "kms.key_policy_public",
    title: "KMS key policy allows any principal without a condition on who",
    category: Category::Security,
    severity: Severity::Critical,
    service: "kms",
    required_actions: &["kms:ListKeys", "kms:DescribeKey", "kms:GetKeyPolicy"],
    basis: Basis::Observed,
    risk: "A key policy statement with Principal \"*\" and no condition on the caller lets any AWS account use the key as the statement allows: decrypt what it protects, or change who may.",
    evaluate: key_policy_public,
};

/// KMS's condition key naming the caller's account, which AWS's own
/// "through this service, for this account" statements use with Principal `*`.
const KMS_CALLER_KEYS: &[&str] = &["kms:calleraccount"];

/// Actions that only describe a key: open to anyone, they reveal its
/// metadata but neither use the key nor change who may.
const DESCRIBE_ONLY: &[&str] = &[
    "kms:describekey",
    "kms:getkeypolicy",
    "kms:getkeyrotationstatus",
    "kms:getpublickey",
    "kms:listaliases",
    "kms:listgrants",
    "kms:listkeypolicies",
    "kms:listresourcetags",
];

/// What an open statement lets anyone do, for the message; `None` when it
/// lets them do nothing that uses or manages the key.
fn open_actions(statement: &serde_json::Value) -> Option<String> {
    if statement.get("NotAction").is_some() {
        return Some("every action but those its NotAction names".to_owned());
    }
    let actions = string_list(statement.get("Action"));
    let uses_the_key = actions
        .iter()
        .any(|a| !DESCRIBE_ONLY.contains(&a.to_ascii_lowercase().as_str()));
    uses_the_key.then(|| actions.join(", "))
}

fn key_policy_public(inv: &Inventory, _ctx: &CheckContext) -> Vec<Violation> {
    inv.kms
        .keys
        .iter()
        .filter(|k| k.manager == "CUSTOMER")
        .filter_map(|k| {
            let policy = k.policy.as_ref()?;
            // A data perimeter: everyone outside a named set is refused
            // every KMS action, whatever the allows say.
            let perimeter = statements(policy).into_iter().any(|s| {
                denies_outsiders(s, KMS_CALLER_KEYS)
                    && s.get("Resource").is_some()
                    && string_list(s.get("Action"))
                        .iter()
                        .any(|a| a == "*" || a.eq_ignore_ascii_case("kms:*"))
            });
            if perimeter {
                return None;
            }
            let open: Vec<(&serde_json::Value, String)> = statements(policy)
                .into_iter()
                .filter(|s| allows_anyone(s, KMS_CALLER_KEYS))
                .filter_map(|s| Some((s, open_actions(s)?)))
                .collect();
            if open.is_empty() {
                return None;
            }
            let what: Vec<&str> = open.iter().map(|(_, a)| a.as_str()).collect();
            // Per region: a multi-Region key's replicas share its id, not its policy.
            let saved = format!("key-{}-{}-policy.json", k.meta.region, k.meta.id);
            let fixed = format!("key-{}-{}-policy-named.json", k.meta.region, k.meta.id);
            let kms = |op: &'static str| {
                Command::aws("kms", op)
                    .region(&k.meta.region)
                    .arg("--key-id", &k.meta.id)
                    .arg("--policy-name", "default")
            };
            Some(
                Violation::new(
                    &k.meta,
                    format!(
                        "The key policy allows Principal \"*\" {} with no condition that limits who",
                        what.join("; ")
                    ),
                )
                .evidence(
                    "statements",
                    open.iter().map(|(s, _)| *s).collect::<Vec<_>>(),
                )
                .remediation(
                    kms("get-key-policy")
                        .arg("--query", "Policy")
                        .arg("--output", "text")
                        .save_to(&saved),
                )
                .remediation(
                    kms("put-key-policy")
                        .arg("--policy", &format!("file://{fixed}"))
                        .note(&format!(
                            "{fixed}: a copy of {saved} whose open statements name their principals, or add aws:PrincipalOrgID, or kms:CallerAccount together with kms:ViaService; keep the statement that lets this account administer the key"
                        )),
                )
                .rollback(kms("put-key-policy").arg("--policy", &format!("file://{saved}"))),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::test_support::{ctx, flagged, inventory, meta};
    use crate::inventory::kms::KmsKey;
    use chrono::Duration;

    fn key(id: &str, manager: &str, spec: &str, state: &str, rotation: Option<bool>) -> KmsKey {
        KmsKey {
            meta: meta("kms.key", id, "us-east-1"),
            manager: manager.into(),
            state: state.into(),
            spec: spec.into(),
            origin: "AWS_KMS".into(),
            deletion_date: None,
            multi_region_replica: false,
            rotation_enabled: rotation,
            policy: None,
        }
    }

    #[test]
    fn only_keys_kms_can_rotate_are_asked_to() {
        let mut inv = inventory();
        let mut imported = key(
            "k-imported",
            "CUSTOMER",
            "SYMMETRIC_DEFAULT",
            "Enabled",
            Some(false),
        );
        imported.origin = "EXTERNAL".into();
        inv.kms.keys = vec![
            key(
                "k-still",
                "CUSTOMER",
                "SYMMETRIC_DEFAULT",
                "Enabled",
                Some(false),
            ),
            key(
                "k-rotating",
                "CUSTOMER",
                "SYMMETRIC_DEFAULT",
                "Enabled",
                Some(true),
            ),
            key("k-aws", "AWS", "SYMMETRIC_DEFAULT", "Enabled", Some(false)),
            key("k-rsa", "CUSTOMER", "RSA_2048", "Enabled", None),
            key(
                "k-off",
                "CUSTOMER",
                "SYMMETRIC_DEFAULT",
                "Disabled",
                Some(false),
            ),
            key("k-unread", "CUSTOMER", "SYMMETRIC_DEFAULT", "Enabled", None),
            imported,
            KmsKey {
                multi_region_replica: true,
                ..key(
                    "k-replica",
                    "CUSTOMER",
                    "SYMMETRIC_DEFAULT",
                    "Enabled",
                    Some(false),
                )
            },
        ];
        assert_eq!(flagged(&ROTATION_OFF, &inv), ["k-still"]);
        assert_eq!(
            rotation_off(&inv, &ctx())[0].remediation,
            ["aws kms enable-key-rotation --region us-east-1 --key-id k-still  # yearly by default; --rotation-period-in-days sets 90 to 2560"]
        );
    }

    #[test]
    fn a_key_pending_deletion_says_when() {
        let mut inv = inventory();
        let mut doomed = key(
            "k-doomed",
            "CUSTOMER",
            "SYMMETRIC_DEFAULT",
            "PendingDeletion",
            None,
        );
        doomed.deletion_date = Some(ctx().now + Duration::days(6) + Duration::hours(1));
        inv.kms.keys = vec![
            doomed,
            key(
                "k-fine",
                "CUSTOMER",
                "SYMMETRIC_DEFAULT",
                "Enabled",
                Some(true),
            ),
        ];
        let v = key_pending_deletion(&inv, &ctx());
        assert_eq!(v.len(), 1);
        assert!(v[0].message.ends_with("(in 6 days)"), "{}", v[0].message);
        assert_eq!(v[0].resource.id, "k-doomed");
    }

    #[test]
    fn only_statements_open_to_anyone_without_a_condition_on_who_are_flagged() {
        let admin = serde_json::json!({
            "Sid": "Enable IAM User Permissions", "Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::123456789012:root"}, "Action": "kms:*", "Resource": "*"
        });
        let with = |extra: serde_json::Value| {
            let mut k = key("k", "CUSTOMER", "SYMMETRIC_DEFAULT", "Enabled", Some(true));
            k.policy = Some(
                serde_json::json!({"Version": "2012-10-17", "Statement": [admin.clone(), extra]}),
            );
            k
        };
        let open = |id: &str, statement: serde_json::Value| KmsKey {
            meta: meta("kms.key", id, "us-east-1"),
            ..with(statement)
        };
        let mut inv = inventory();
        inv.kms.keys = vec![
            open(
                "k-open",
                serde_json::json!({"Effect": "Allow", "Principal": "*", "Action": ["kms:Decrypt"], "Resource": "*"}),
            ),
            open(
                "k-open-aws",
                serde_json::json!({"Effect": "Allow", "Principal": {"AWS": ["*"]}, "Action": "kms:*", "Resource": "*"}),
            ),
            // Only through EC2, but for any account: still anyone.
            open(
                "k-via-only",
                serde_json::json!({"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "kms:Decrypt", "Resource": "*",
                "Condition": {"StringEquals": {"kms:ViaService": "ec2.us-east-1.amazonaws.com"}}}),
            ),
            open(
                "k-empty-condition",
                serde_json::json!({"Effect": "Allow", "Principal": "*", "Action": "kms:Decrypt", "Resource": "*", "Condition": {}}),
            ),
            // AWS's own pattern: anyone in this account, through EBS.
            open(
                "k-ebs-style",
                serde_json::json!({"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": ["kms:Decrypt", "kms:CreateGrant"], "Resource": "*",
                "Condition": {"StringEquals": {"kms:CallerAccount": "123456789012", "kms:ViaService": "ec2.us-east-1.amazonaws.com"}}}),
            ),
            open(
                "k-org",
                serde_json::json!({"Effect": "Allow", "Principal": "*", "Action": "kms:Decrypt", "Resource": "*",
                "Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-abc123"}}}),
            ),
            // A wildcard account is no limit.
            open(
                "k-any-account",
                serde_json::json!({"Effect": "Allow", "Principal": "*", "Action": "kms:Decrypt", "Resource": "*",
                "Condition": {"StringLike": {"kms:CallerAccount": "*"}}}),
            ),
            open(
                "k-deny",
                serde_json::json!({"Effect": "Deny", "Principal": "*", "Action": "kms:*", "Resource": "*"}),
            ),
            open(
                "k-named",
                serde_json::json!({"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::210987654321:role/app"}, "Action": "kms:Decrypt", "Resource": "*"}),
            ),
            // AWS managed keys' policies are AWS's to write.
            KmsKey {
                manager: "AWS".into(),
                ..open(
                    "k-aws",
                    serde_json::json!({"Effect": "Allow", "Principal": "*", "Action": "kms:Decrypt", "Resource": "*"}),
                )
            },
            // The caller sends the encryption context: no limit on who.
            open(
                "k-context",
                serde_json::json!({"Effect": "Allow", "Principal": "*", "Action": "kms:Decrypt", "Resource": "*",
                "Condition": {"StringEquals": {"kms:EncryptionContext:sub": "tenant-1"}}}),
            ),
            // A policy variable matches every caller.
            open(
                "k-variable",
                serde_json::json!({"Effect": "Allow", "Principal": "*", "Action": "kms:Decrypt", "Resource": "*",
                "Condition": {"StringEquals": {"kms:CallerAccount": "${aws:PrincipalAccount}"}}}),
            ),
            open(
                "k-not-action",
                serde_json::json!({"Effect": "Allow", "Principal": "*", "NotAction": "kms:ScheduleKeyDeletion", "Resource": "*"}),
            ),
            // Anyone may describe it: metadata, not use.
            open(
                "k-describe",
                serde_json::json!({"Effect": "Allow", "Principal": "*", "Action": ["kms:DescribeKey", "kms:GetPublicKey"], "Resource": "*"}),
            ),
            // Anyone is allowed, but a perimeter denies everyone outside the organization.
            KmsKey {
                policy: Some(serde_json::json!({"Statement": [
                    {"Effect": "Allow", "Principal": "*", "Action": "kms:Decrypt", "Resource": "*"},
                    {"Effect": "Deny", "Principal": "*", "Action": "kms:*", "Resource": "*",
                     "Condition": {"StringNotEquals": {"aws:PrincipalOrgID": "o-abc123"}}}
                ]})),
                ..key(
                    "k-perimeter",
                    "CUSTOMER",
                    "SYMMETRIC_DEFAULT",
                    "Enabled",
                    Some(true),
                )
            },
            // A "perimeter" that denies only one action, or names no one, is none.
            KmsKey {
                policy: Some(serde_json::json!({"Statement": [
                    {"Effect": "Allow", "Principal": "*", "Action": "kms:Decrypt", "Resource": "*"},
                    {"Effect": "Deny", "Principal": "*", "Action": "kms:ScheduleKeyDeletion", "Resource": "*",
                     "Condition": {"StringNotEquals": {"aws:PrincipalOrgID": "o-abc123"}}},
                    {"Effect": "Deny", "Principal": "*", "Action": "kms:*", "Resource": "*",
                     "Condition": {"StringNotLike": {"aws:PrincipalOrgID": "*"}}}
                ]})),
                ..key(
                    "k-no-perimeter",
                    "CUSTOMER",
                    "SYMMETRIC_DEFAULT",
                    "Enabled",
                    Some(true),
                )
            },
            // Unread: no finding here; the gap makes the check "not evaluated".
            key(
                "k-unread",
                "CUSTOMER",
                "SYMMETRIC_DEFAULT",
                "Enabled",
                Some(true),
            ),
        ];
        assert_eq!(
            flagged(&KEY_POLICY_PUBLIC, &inv),
            [
                "k-any-account",
                "k-context",
                "k-empty-condition",
                "k-no-perimeter",
                "k-not-action",
                "k-open",
                "k-open-aws",
                "k-variable",
                "k-via-only"
            ]
        );
        let found = key_policy_public(&inv, &ctx());
        let first = found.iter().find(|v| v.resource.id == "k-open").unwrap();
        assert_eq!(
            first.message,
            "The key policy allows Principal \"*\" kms:Decrypt with no condition that limits who"
        );
        assert_eq!(
            first.evidence["statements"].as_array().unwrap().len(),
            1,
            "only the open statement"
        );
        let not_action = found
            .iter()
            .find(|v| v.resource.id == "k-not-action")
            .unwrap();
        assert_eq!(
            not_action.message,
            "The key policy allows Principal \"*\" every action but those its NotAction names with no condition that limits who"
        );
        assert_eq!(
            first.remediation[0],
            "aws kms get-key-policy --region us-east-1 --key-id k-open --policy-name default --query Policy --output text > key-us-east-1-k-open-policy.json"
        );
        assert_eq!(
            first.rollback,
            ["aws kms put-key-policy --region us-east-1 --key-id k-open --policy-name default --policy file://key-us-east-1-k-open-policy.json"]
        );
    }
}
