//! The check catalog. Each file holds the checks of one service as a
//! `CHECKS` list of pure functions over the inventory; to add a check, add
//! it to its service's file with a unit test there. A check that concludes
//! from something not being there (rather than from S3's or IAM's explicit
//! answer that a setting is absent) is `Basis::Absence`, and its file's
//! `tests::firing()` gives an inventory on which it fires (the catalog test
//! then proves a gap on any of its inputs silences it).

mod bedrock;
mod cloudtrail;
mod dynamodb;
mod ebs;
mod ec2;
mod ecr;
mod efs;
mod elb;
mod iam;
mod kms;
mod lambda;
mod logs;
mod monitoring;
mod network;
mod rds;
mod s3;
mod secretsmanager;
mod security;

pub use monitoring::{watches_anything, WATCHED};

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
    /// Whether it concludes from what it sees or from what is not there.
    pub basis: Basis,
    /// Why it matters, for the decision brief.
    pub risk: &'static str,
    pub evaluate: fn(&Inventory, &CheckContext) -> Vec<Violation>,
}

/// What a check's conclusion rests on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Basis {
    /// A setting or state it reads (public, unencrypted, open, stopped):
    /// what was seen holds even when other data is missing.
    Observed,
    /// Something not being there: no traffic, no use, no recent snapshot, no
    /// flow log, no public access block. A gap on any input it needs makes
    /// that absence unknown, so where such a gap is (its region, or
    /// anywhere for account-wide and global findings) it finds nothing and
    /// the check says "not evaluated": never a finding, a saving or a delete
    /// command from missing data.
    Absence,
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
    /// An instance stopped this long is forgotten, not paused: only then is
    /// terminating it suggested.
    pub stopped_min_days: i64,
}

impl CheckContext {
    pub fn new(now: DateTime<Utc>) -> Self {
        Self {
            now,
            prices: PriceTable::shipped(),
            snapshot_max_age_days: 90,
            access_key_max_age_days: 90,
            stopped_min_days: 30,
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

/// The per-region setting a finding is about: the account in that region,
/// named after the service's own resource there.
fn setting(
    inv: &Inventory,
    kind: &str,
    service: &str,
    resource: &str,
    region: &str,
) -> crate::inventory::ResourceMeta {
    crate::inventory::ResourceMeta::new(
        kind,
        &format!("{}/{region}", inv.account_id),
        &format!(
            "arn:{}:{service}:{region}:{}:{resource}",
            inv.partition, inv.account_id
        ),
        region,
    )
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
        monitoring::CHECKS,
        security::CHECKS,
        kms::CHECKS,
        efs::CHECKS,
        secretsmanager::CHECKS,
        dynamodb::CHECKS,
        ecr::CHECKS,
        logs::CHECKS,
        bedrock::CHECKS,
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
    use crate::evaluate::{evaluate, CheckStatus, ScanStats};
    use crate::inventory::CoverageGap;

    /// A gap as the check's own collector records it.
    fn gap(service: &str, action: &str, region: &str) -> CoverageGap {
        CoverageGap {
            service: service.into(),
            region: region.into(),
            action: action.into(),
            kind: "AccessDenied".into(),
            error: "denied".into(),
        }
    }

    /// Each file's absence checks, each with an inventory where it fires.
    fn firing_fixtures() -> Vec<(&'static Check, Inventory)> {
        [
            ebs::tests::firing(),
            ec2::tests::firing(),
            elb::tests::firing(),
            iam::tests::firing(),
            network::tests::firing(),
            rds::tests::firing(),
            cloudtrail::tests::firing(),
            s3::tests::firing(),
        ]
        .concat()
    }

    /// Every absence check, on an inventory where it fires: a gap on any
    /// input it needs, where the resource is, leaves no finding, no saving
    /// and no command, and the check says "not evaluated"; a gap in another
    /// region leaves a regional finding standing, marked incomplete.
    #[test]
    fn an_absence_check_concludes_nothing_where_an_input_it_needs_has_a_gap() {
        let fixtures = firing_fixtures();
        let covered: BTreeSet<&str> = fixtures.iter().map(|(c, _)| c.id).collect();
        let absence: BTreeSet<&str> = catalog()
            .iter()
            .filter(|c| c.basis == Basis::Absence)
            .map(|c| c.id)
            .collect();
        assert_eq!(
            covered, absence,
            "every absence check needs a firing inventory here (and only those)"
        );
        let ctx = test_support::ctx();
        for (check, inv) in fixtures {
            let report = evaluate(&inv, &[check], &ctx, ScanStats::default());
            assert_eq!(
                report.outcomes[0].status,
                CheckStatus::Failed,
                "{}: its fixture does not fire",
                check.id
            );
            let region = report.findings[0].region.clone();
            for action in check.required_actions {
                let mut gapped = inv.clone();
                gapped.gaps.push(gap(check.service, action, &region));
                let report = evaluate(&gapped, &[check], &ctx, ScanStats::default());
                assert!(
                    report.findings.is_empty(),
                    "{} found {:?} although {action} has a gap in {region}",
                    check.id,
                    report.findings
                );
                assert_eq!(
                    report.outcomes[0].status,
                    CheckStatus::NotEvaluated,
                    "{} with a gap on {action}",
                    check.id
                );
            }
            // A region that could not be scanned at all (not enabled)
            // leaves every other region's, and every account-wide, finding.
            let mut disabled = inv.clone();
            disabled.gaps.push(gap(check.service, "*", "af-south-1"));
            let report = evaluate(&disabled, &[check], &ctx, ScanStats::default());
            assert_eq!(
                report.findings.len(),
                1,
                "{} with af-south-1 not enabled",
                check.id
            );
            let mut elsewhere = inv.clone();
            elsewhere
                .gaps
                .push(gap(check.service, check.required_actions[0], "ap-south-2"));
            let report = evaluate(&elsewhere, &[check], &ctx, ScanStats::default());
            if region == "global" {
                // An account-wide conclusion rests on every region.
                assert!(report.findings.is_empty(), "{}", check.id);
            } else {
                assert_eq!(report.findings.len(), 1, "{}", check.id);
                assert_eq!(report.findings[0].region, region, "{}", check.id);
                assert!(report.outcomes[0].incomplete, "{}", check.id);
            }
        }
    }

    /// Evidence is what was seen, not how long ago: the same inventory a day
    /// later has the same evidence, or every approval would go stale overnight.
    #[test]
    fn evidence_does_not_age_with_the_clock() {
        let mut fixtures = firing_fixtures();
        fixtures.extend(ec2::tests::stopped_long_ago());
        fixtures.extend(logs::tests::never_expiring());
        let today = test_support::ctx();
        let tomorrow = CheckContext::new(today.now + Duration::days(1));
        // (A metric window moves with the day: those checks see new data.)
        let windowless = fixtures
            .into_iter()
            .filter(|(c, _)| !c.required_actions.contains(&"cloudwatch:GetMetricData"));
        for (check, inv) in windowless {
            let hashes = |ctx: &CheckContext| -> Vec<crate::finding::Sha256Hex> {
                evaluate(&inv, &[check], ctx, ScanStats::default())
                    .findings
                    .into_iter()
                    .map(|f| f.evidence_sha256)
                    .collect()
            };
            assert!(!hashes(&today).is_empty(), "{}", check.id);
            assert_eq!(hashes(&today), hashes(&tomorrow), "{}", check.id);
        }
    }

    /// An observed setting is reported even when some other data is missing.
    #[test]
    fn an_observed_finding_stands_beside_a_gap() {
        let mut inv = test_support::inventory();
        inv.ec2.addresses = vec![crate::inventory::ec2::Address {
            meta: test_support::meta("ec2.elastic_ip", "eipalloc-free", "us-east-1"),
            public_ip: None,
            allocation_id: Some("eipalloc-free".into()),
            association_id: None,
            instance_id: None,
            network_interface_id: None,
        }];
        inv.gaps
            .push(gap("ec2", "ec2:DescribeAddresses", "us-east-1"));
        let check = catalog()
            .into_iter()
            .find(|c| c.id == "ec2.eip_unassociated")
            .unwrap();
        assert_eq!(check.basis, Basis::Observed);
        let report = evaluate(&inv, &[check], &test_support::ctx(), ScanStats::default());
        assert_eq!(report.findings[0].resource_id, "eipalloc-free");
        assert!(report.outcomes[0].incomplete);
    }

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
