//! KMS checks: customer managed keys that do not rotate, and keys scheduled
//! for deletion.

use super::{Basis, Check, CheckContext};
use crate::finding::{Category, Severity, Violation};
use crate::inventory::Inventory;
use crate::shell::Command;

pub const CHECKS: &[&Check] = &[&ROTATION_OFF, &KEY_PENDING_DELETION];

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
}
