//! Secrets Manager checks, from each secret's metadata only: the scanner
//! never reads a secret's value.

use super::{Basis, Check, CheckContext};
use crate::finding::{Category, Severity, Violation};
use crate::inventory::Inventory;
use crate::shell::Command;

pub const CHECKS: &[&Check] = &[&ROTATION_OFF];

pub static ROTATION_OFF: Check = Check {
    id: "secretsmanager.rotation_off",
    title: "Secrets Manager secret without automatic rotation",
    category: Category::Security,
    severity: Severity::Medium,
    service: "secretsmanager",
    required_actions: &["secretsmanager:ListSecrets"],
    basis: Basis::Observed,
    risk: "A credential that never changes stays valid for as long as a copy of it survives: in a laptop's shell history, an old image or a former employee's notes.",
    evaluate: rotation_off,
};

fn rotation_off(inv: &Inventory, ctx: &CheckContext) -> Vec<Violation> {
    inv.secretsmanager
        .secrets
        .iter()
        .filter(|s| !s.rotation_enabled && s.rotation_is_judged_here(&inv.regions))
        .map(|s| {
            // A replica's rotation is set on its primary.
            let region = s.home_region();
            let home_arn = s.home_arn();
            let age = s.created.map(|c| (ctx.now - c).num_days());
            let message = match (s.last_rotated, age) {
                (Some(last), _) => format!(
                    "Automatic rotation is off; the secret was last rotated {} days ago",
                    (ctx.now - last).num_days()
                ),
                (None, Some(days)) => format!(
                    "Automatic rotation is off, and the secret has never been rotated in its {days} days"
                ),
                (None, None) => "Automatic rotation is off".to_owned(),
            };
            Violation::new(&s.meta, message)
                .evidence("rotation_enabled", false)
                .evidence("last_rotated", s.last_rotated)
                .evidence("created", s.created)
                .remediation(
                    Command::aws("secretsmanager", "rotate-secret")
                        .region(region)
                        .arg("--secret-id", &home_arn)
                        .placeholder("--rotation-lambda-arn", "ARN of a rotation function for this kind of secret")
                        .arg("--rotation-rules", "AutomaticallyAfterDays=30")
                        .flag("--no-rotate-immediately")
                        .note("the first rotation runs on the schedule, after the function's testSecret step passes now; the function must set the new credential wherever it is used (AWS publishes rotation functions for RDS, Redshift and DocumentDB), and the caller needs lambda:InvokeFunction on it"),
                )
                .rollback(
                    Command::aws("secretsmanager", "cancel-rotate-secret")
                        .region(region)
                        .arg("--secret-id", &home_arn)
                        .note("before the first scheduled rotation nothing else changed; after one, the old value is the AWSPREVIOUS version (update-secret-version-stage moves AWSCURRENT back to it)"),
                )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;
    use crate::checks::test_support::{ctx, flagged, inventory, meta};
    use crate::inventory::secretsmanager::Secret;

    fn secret(id: &str, region: &str) -> Secret {
        Secret {
            meta: meta("secretsmanager.secret", id, region),
            rotation_enabled: false,
            rotation_days: None,
            last_rotated: None,
            created: Some(ctx().now - Duration::days(400)),
            owning_service: None,
            primary_region: None,
        }
    }

    #[test]
    fn secrets_without_rotation_are_flagged_unless_another_region_or_service_rotates_them() {
        let mut inv = inventory();
        let rotating = Secret {
            rotation_enabled: true,
            rotation_days: Some(30),
            last_rotated: Some(ctx().now - Duration::days(3)),
            ..secret("db-rotating", "us-east-1")
        };
        let replica = Secret {
            primary_region: Some("us-east-1".into()),
            ..secret("db-replica", "eu-west-1")
        };
        // Its primary is in a region this scan did not cover: judged here,
        // and fixed in the primary's region.
        let orphan = Secret {
            primary_region: Some("ap-south-1".into()),
            ..secret("db-orphan-replica", "eu-west-1")
        };
        let primary_here = Secret {
            primary_region: Some("eu-west-1".into()),
            ..secret("db-primary-here", "eu-west-1")
        };
        let managed = Secret {
            owning_service: Some("events".into()),
            ..secret("events!connection/x", "us-east-1")
        };
        inv.secretsmanager.secrets = vec![
            secret("api-token", "us-east-1"),
            rotating,
            replica,
            primary_here,
            managed,
            orphan,
        ];
        inv.regions = vec!["us-east-1".into(), "eu-west-1".into()];
        assert_eq!(
            flagged(&ROTATION_OFF, &inv),
            ["api-token", "db-orphan-replica", "db-primary-here"]
        );
        let v = (ROTATION_OFF.evaluate)(&inv, &ctx());
        assert_eq!(
            v[0].message,
            "Automatic rotation is off, and the secret has never been rotated in its 400 days"
        );
        let fix = &v[0].remediation[0];
        assert!(fix.starts_with("aws secretsmanager rotate-secret --region us-east-1 --secret-id arn:aws:test:us-east-1:123456789012:api-token"), "{fix}");
        assert!(fix.contains("--no-rotate-immediately"), "{fix}");
        let orphan = v
            .iter()
            .find(|f| f.resource.id == "db-orphan-replica")
            .unwrap();
        assert!(
            orphan.remediation[0].contains("--region ap-south-1"),
            "{:?}",
            orphan.remediation
        );
        // The replica's own ARN names eu-west-1: not found in ap-south-1.
        let primary_arn = "--secret-id arn:aws:test:ap-south-1:123456789012:db-orphan-replica";
        assert!(
            orphan.remediation[0].contains(primary_arn),
            "{:?}",
            orphan.remediation
        );
        assert!(
            orphan.rollback[0].contains(primary_arn),
            "{:?}",
            orphan.rollback
        );
    }
}
