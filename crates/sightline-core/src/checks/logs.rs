//! CloudWatch Logs checks: log groups kept forever. From each group's
//! settings and stored size only; never a log event.

use super::{Basis, Check, CheckContext};
use crate::finding::{Category, Severity, Violation};
use crate::inventory::Inventory;
use crate::shell::Command;

pub const CHECKS: &[&Check] = &[&GROUP_NEVER_EXPIRES];

/// The retention the remediation proposes, and the savings assume: a year,
/// what most audit regimes ask logs to be kept for.
pub const SUGGESTED_RETENTION_DAYS: i64 = 365;

pub static GROUP_NEVER_EXPIRES: Check = Check {
    id: "logs.group_never_expires",
    title: "CloudWatch Logs log group that keeps events forever",
    category: Category::Cost,
    severity: Severity::Low,
    service: "logs",
    required_actions: &["logs:DescribeLogGroups"],
    basis: Basis::Observed,
    risk: "Storage is billed every month for every event ever logged, and the bill only grows; old events also keep whatever personal data or secrets were logged by mistake.",
    evaluate: group_never_expires,
};

fn group_never_expires(inv: &Inventory, ctx: &CheckContext) -> Vec<Violation> {
    inv.logs
        .log_groups
        .iter()
        // Delivery-class groups keep events for a fixed day, whatever the
        // answer says of retention.
        .filter(|g| g.retention_days.is_none() && g.class.as_deref() != Some("DELIVERY"))
        .map(|g| {
            let region = &g.meta.region;
            let age_days = g.created.map(|c| (ctx.now - c).num_days().max(0));
            let gib = g.stored_bytes.map(|b| b as f64 / (1u64 << 30) as f64);
            // Size and age go in the message only: evidence that grew with
            // every event (or every day) would make each approval stale.
            let message = match (gib, age_days) {
                (Some(gib), Some(age)) => format!(
                    "Events never expire; the group holds {gib:.2} GiB gathered over {age} days"
                ),
                (Some(gib), None) => format!("Events never expire; the group holds {gib:.2} GiB"),
                _ => "Events never expire".to_owned(),
            };
            let savings = match (g.stored_bytes, age_days) {
                (Some(bytes), Some(age)) => {
                    ctx.prices
                        .log_retention(region, bytes, age, SUGGESTED_RETENTION_DAYS)
                }
                _ => None,
            };
            Violation::new(&g.meta, message)
                .evidence("retention_days", "never expire")
                .evidence("created", g.created)
                .evidence("class", &g.class)
                .savings(savings)
                .remediation(
                    Command::aws("logs", "put-retention-policy")
                        .region(region)
                        .arg("--log-group-name", &g.meta.id)
                        .arg("--retention-in-days", &SUGGESTED_RETENTION_DAYS.to_string())
                        .note("events older than that are deleted for good: export them to S3 first (aws logs create-export-task) if they must be kept"),
                )
                .rollback(
                    Command::aws("logs", "delete-retention-policy")
                        .region(region)
                        .arg("--log-group-name", &g.meta.id)
                        .note("stops further expiry; events already deleted stay deleted"),
                )
        })
        .collect()
}

#[cfg(test)]
pub(super) mod tests {
    use chrono::Duration;

    use super::*;
    use crate::checks::test_support::{ctx, flagged, inventory, meta};
    use crate::inventory::logs::LogGroup;

    fn group(id: &str, region: &str, retention: Option<i64>, gib: i64, age: i64) -> LogGroup {
        LogGroup {
            meta: meta("logs.log_group", id, region),
            retention_days: retention,
            stored_bytes: Some(gib << 30),
            created: Some(ctx().now - Duration::days(age)),
            class: Some("STANDARD".into()),
        }
    }

    /// A group the check flags, for the catalog-wide tests.
    pub(in crate::checks) fn never_expiring() -> Vec<(&'static Check, Inventory)> {
        let mut inv = inventory();
        inv.services.push("logs".into());
        inv.logs.log_groups = vec![group("/app/forever", "us-east-1", None, 100, 730)];
        vec![(&GROUP_NEVER_EXPIRES, inv)]
    }

    /// The evidence stays put while the group grows: more stored bytes is
    /// the same finding, not a new one to approve again.
    #[test]
    fn a_growing_group_keeps_its_evidence() {
        let mut inv = inventory();
        inv.logs.log_groups = vec![group("/app/forever", "us-east-1", None, 100, 730)];
        let before = (GROUP_NEVER_EXPIRES.evaluate)(&inv, &ctx());
        inv.logs.log_groups[0].stored_bytes = Some(101 << 30);
        let after = (GROUP_NEVER_EXPIRES.evaluate)(&inv, &ctx());
        assert_eq!(before[0].evidence, after[0].evidence);
        assert_ne!(before[0].message, after[0].message);
    }

    #[test]
    fn groups_that_never_expire_are_flagged_with_the_share_older_than_a_year() {
        let mut inv = inventory();
        inv.logs.log_groups = vec![
            group("/app/forever", "us-east-1", None, 100, 730),
            group("/app/young", "us-east-1", None, 10, 30),
            group("/app/kept-a-year", "us-east-1", Some(365), 100, 730),
            group("/app/far", "ap-east-2", None, 100, 730),
            LogGroup {
                class: Some("DELIVERY".into()),
                ..group("/vended/delivery", "us-east-1", None, 1, 30)
            },
        ];
        assert_eq!(
            flagged(&GROUP_NEVER_EXPIRES, &inv),
            ["/app/far", "/app/forever", "/app/young"]
        );
        let v = (GROUP_NEVER_EXPIRES.evaluate)(&inv, &ctx());
        let saving = |id: &str| {
            v.iter()
                .find(|f| f.resource.id == id)
                .unwrap()
                .savings
                .clone()
        };
        // Half of two years' events are older than one: 100 GiB × $0.03 × 0.5.
        let forever = saving("/app/forever").unwrap();
        assert_eq!(forever.monthly_usd, 1.5);
        assert!(forever.formula.contains("× 0.50"), "{}", forever.formula);
        // Nothing is a year old yet: the retention saves nothing today.
        assert_eq!(saving("/app/young").unwrap().monthly_usd, 0.0);
        // No price for the region: no figure at all.
        assert_eq!(saving("/app/far"), None);
        let fix = &v
            .iter()
            .find(|f| f.resource.id == "/app/forever")
            .unwrap()
            .remediation[0];
        assert!(
            fix.starts_with("aws logs put-retention-policy --region us-east-1 --log-group-name /app/forever --retention-in-days 365"),
            "{fix}"
        );
    }
}
