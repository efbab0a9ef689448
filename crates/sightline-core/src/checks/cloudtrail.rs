//! CloudTrail checks: a logging multi-region trail exists, and trails
//! validate their log files.

use super::{Basis, Check, CheckContext};
use crate::finding::{Category, Severity, Violation};
use crate::inventory::Inventory;
use crate::shell::Command;

pub const CHECKS: &[&Check] = &[&NOT_MULTI_REGION, &LOG_VALIDATION_OFF];

pub static NOT_MULTI_REGION: Check = Check {
    id: "cloudtrail.not_multi_region",
    title: "CloudTrail not enabled in all regions",
    category: Category::Security,
    severity: Severity::High,
    service: "cloudtrail",
    required_actions: &["cloudtrail:DescribeTrails", "cloudtrail:GetTrailStatus"],
    basis: Basis::Absence,
    risk: "Without a logging multi-region trail, API activity in other regions (where attackers like to work) goes unrecorded.",
    evaluate: not_multi_region,
};

fn not_multi_region(inv: &Inventory, _ctx: &CheckContext) -> Vec<Violation> {
    let covered = inv
        .cloudtrail
        .trails
        .iter()
        .any(|t| t.is_multi_region && t.is_logging == Some(true));
    // A multi-region trail whose status could not be read may be logging: unknown, not failed.
    let unknown = inv
        .cloudtrail
        .trails
        .iter()
        .any(|t| t.is_multi_region && t.is_logging.is_none());
    if covered || unknown {
        return Vec::new();
    }
    let trails: Vec<_> = inv
        .cloudtrail
        .trails
        .iter()
        .map(|t| serde_json::json!({"name": t.meta.name, "multi_region": t.is_multi_region, "logging": t.is_logging}))
        .collect();
    let home = inv
        .regions
        .first()
        .map(String::as_str)
        .unwrap_or("us-east-1");
    vec![
        Violation::new(&inv.account_meta(), "No multi-region trail is logging")
            .evidence("trails", trails)
            .remediation(
                Command::aws("cloudtrail", "create-trail")
                    .region(home)
                    .arg("--name", "sightline-org-trail")
                    .placeholder("--s3-bucket-name", "log-bucket")
                    .flag("--is-multi-region-trail")
                    .flag("--enable-log-file-validation"),
            )
            .remediation(
                Command::aws("cloudtrail", "start-logging")
                    .region(home)
                    .arg("--name", "sightline-org-trail"),
            )
            .rollback(
                Command::aws("cloudtrail", "delete-trail")
                    .region(home)
                    .arg("--name", "sightline-org-trail"),
            ),
    ]
}

pub static LOG_VALIDATION_OFF: Check = Check {
    id: "cloudtrail.log_validation_off",
    title: "CloudTrail trail without log file validation",
    category: Category::Security,
    severity: Severity::Medium,
    service: "cloudtrail",
    required_actions: &["cloudtrail:DescribeTrails"],
    basis: Basis::Observed,
    risk: "Without digest files nobody can prove that delivered logs were not altered or deleted.",
    evaluate: log_validation_off,
};

fn log_validation_off(inv: &Inventory, _ctx: &CheckContext) -> Vec<Violation> {
    inv.cloudtrail
        .trails
        .iter()
        .filter(|t| !t.log_file_validation)
        .map(|t| {
            let name = t.meta.name.as_deref().unwrap_or(&t.meta.id);
            let update = || {
                Command::aws("cloudtrail", "update-trail")
                    .region(&t.home_region)
                    .arg("--name", name)
            };
            Violation::new(&t.meta, "LogFileValidationEnabled is false")
                .evidence("log_file_validation_enabled", false)
                .remediation(update().flag("--enable-log-file-validation"))
                .rollback(update().flag("--no-enable-log-file-validation"))
        })
        .collect()
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::checks::test_support::{flagged, inventory, meta};
    use crate::inventory::cloudtrail::Trail;

    fn trail(id: &str, multi: bool, validation: bool, logging: Option<bool>) -> Trail {
        let mut m = meta("cloudtrail.trail", id, "us-east-1");
        m.name = Some(id.into());
        Trail {
            meta: m,
            home_region: "us-east-1".into(),
            is_multi_region: multi,
            log_file_validation: validation,
            is_organization_trail: false,
            s3_bucket: None,
            is_logging: logging,
        }
    }

    /// An inventory on which each of this file's absence checks fires.
    pub(in crate::checks) fn firing() -> Vec<(&'static Check, Inventory)> {
        let mut none = inventory();
        none.cloudtrail.trails = vec![trail("regional", false, true, Some(true))];
        vec![(&NOT_MULTI_REGION, none)]
    }

    #[test]
    fn multi_region_logging_trail_is_needed() {
        let mut inv = inventory();
        inv.cloudtrail.trails = vec![
            trail("regional", false, true, Some(true)),
            trail("stopped", true, false, Some(false)),
        ];
        assert_eq!(flagged(&NOT_MULTI_REGION, &inv), ["123456789012"]);
        assert_eq!(flagged(&LOG_VALIDATION_OFF, &inv), ["stopped"]);
        inv.cloudtrail
            .trails
            .push(trail("org", true, true, Some(true)));
        assert!(flagged(&NOT_MULTI_REGION, &inv).is_empty());
    }
}
