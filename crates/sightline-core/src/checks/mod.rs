//! The check catalog. Each file holds the checks of one service as a
//! `CHECKS` list of pure functions over the inventory; to add a check, add
//! it to its service's file with a unit test there.

mod cloudtrail;
mod ebs;
mod ec2;
mod elb;
mod iam;
mod lambda;
mod network;
mod rds;
mod s3;

use chrono::{DateTime, Duration, Utc};

use crate::finding::{Category, Severity, Violation};
use crate::inventory::Inventory;
use crate::prices::PriceTable;

/// One check: metadata, the IAM actions whose data it needs, and its logic.
#[derive(Debug)]
pub struct Check {
    /// Stable id, `service.what_is_wrong`.
    pub id: &'static str,
    pub title: &'static str,
    pub category: Category,
    pub severity: Severity,
    /// The service whose inventory it reads (what `--services` selects).
    pub service: &'static str,
    /// IAM actions whose results it needs; a gap on any makes it "not evaluated".
    pub required_actions: &'static [&'static str],
    /// CIS AWS Foundations Benchmark 3.0.0 controls it maps to.
    pub cis: &'static [&'static str],
    /// Why it matters, for the decision brief.
    pub risk: &'static str,
    pub evaluate: fn(&Inventory, &CheckContext) -> Vec<Violation>,
}

/// What checks need besides the inventory: the time, prices and thresholds.
#[derive(Debug, Clone)]
pub struct CheckContext {
    pub now: DateTime<Utc>,
    pub prices: PriceTable,
    /// A snapshot older than this is flagged as stale.
    pub snapshot_max_age_days: i64,
    /// Access keys older than this, or unused for this long, are flagged.
    pub access_key_max_age_days: i64,
}

impl CheckContext {
    pub fn new(now: DateTime<Utc>) -> Self {
        Self {
            now,
            prices: PriceTable::shipped(),
            snapshot_max_age_days: 90,
            access_key_max_age_days: 90,
        }
    }

    pub fn days_ago(&self, days: i64) -> DateTime<Utc> {
        self.now - Duration::days(days)
    }

    /// Midnight UTC `days` whole days before today: where a daily series'
    /// last `days` points begin.
    pub fn day_start_days_ago(&self, days: i64) -> DateTime<Utc> {
        let midnight = self
            .now
            .date_naive()
            .and_hms_opt(0, 0, 0)
            .unwrap_or_default()
            .and_utc();
        midnight - Duration::days(days)
    }
}

/// Every check Sightline ships, in a stable order.
pub fn catalog() -> Vec<&'static Check> {
    [
        ebs::CHECKS,
        ec2::CHECKS,
        network::CHECKS,
        s3::CHECKS,
        iam::CHECKS,
        rds::CHECKS,
        elb::CHECKS,
        lambda::CHECKS,
        cloudtrail::CHECKS,
    ]
    .into_iter()
    .flatten()
    .copied()
    .collect()
}

#[cfg(test)]
pub(crate) mod test_support;

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn catalog_ids_are_unique_and_well_formed() {
        let checks = catalog();
        assert!(
            checks.len() >= 35,
            "PRODUCT.md §4 asks for at least 35 checks"
        );
        let mut ids = BTreeSet::new();
        for check in &checks {
            assert!(ids.insert(check.id), "duplicate id {}", check.id);
            let well_formed = check.id.split_once('.').is_some_and(|(a, b)| {
                !a.is_empty()
                    && !b.is_empty()
                    && check.id.chars().all(|c| {
                        c.is_ascii_lowercase() || c == '.' || c == '_' || c.is_ascii_digit()
                    })
            });
            assert!(well_formed, "{} is not service.snake_case", check.id);
            assert!(
                !check.required_actions.is_empty(),
                "{} declares no actions",
                check.id
            );
            assert!(!check.risk.is_empty(), "{} has no risk text", check.id);
        }
    }
}
