//! Runs checks over an inventory: each check passes, fails (with findings),
//! or is not evaluated because an action it needs has a coverage gap. A
//! check is never reported passed over data the scan could not read.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use crate::checks::{Basis, Check, CheckContext};
use crate::finding::{exact_string, Category, Commands, EvidenceJson, Finding, Severity};
use crate::inventory::{CoverageGap, Inventory};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckStatus {
    Passed,
    Failed,
    NotEvaluated,
}

impl CheckStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CheckStatus::Passed => "passed",
            CheckStatus::Failed => "failed",
            CheckStatus::NotEvaluated => "not_evaluated",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CheckOutcome {
    pub check_id: String,
    pub title: String,
    pub category: Category,
    pub severity: Severity,
    pub status: CheckStatus,
    pub findings: usize,
    /// Failed, but some of its input was missing: there may be more findings.
    pub incomplete: bool,
    /// The gaps that kept it from a full evaluation.
    pub missing: Vec<CoverageGap>,
}

/// Counters of the collection itself.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ScanStats {
    pub api_calls: u64,
    pub resources: usize,
    pub duration_ms: u64,
    /// The calls of `api_calls` by IAM action, pages counted one by one:
    /// what a reviewer reads to see where a scan's calls go.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub calls_by_action: std::collections::BTreeMap<String, u64>,
}

/// Everything one scan reports: the outcome of every check that ran, the
/// findings, and the gaps.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScanReport {
    pub account_id: String,
    pub regions: Vec<String>,
    pub services: Vec<String>,
    pub generated_at: chrono::DateTime<chrono::Utc>,
    pub stats: ScanStats,
    pub outcomes: Vec<CheckOutcome>,
    pub findings: Vec<Finding>,
    pub gaps: Vec<CoverageGap>,
    /// Whether every enabled region was scanned (see `Inventory`).
    #[serde(default = "crate::inventory::yes")]
    pub all_regions_scanned: bool,
    /// The frameworks asked for (`--compliance`), assessed over this scan.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub compliance: Vec<crate::compliance::ComplianceReport>,
}

impl ScanReport {
    pub fn count(&self, status: CheckStatus) -> usize {
        self.outcomes.iter().filter(|o| o.status == status).count()
    }

    pub fn monthly_savings_usd(&self) -> f64 {
        let total: f64 = self
            .findings
            .iter()
            .filter_map(|f| f.savings.as_ref())
            .map(|s| s.monthly_usd)
            .sum();
        (total * 100.0).round() / 100.0
    }
}

/// A resource is saved on once: of the savings that count it (its own
/// findings', and those whose saving covers it, like a stopped instance's
/// that includes its volumes), the largest stands and the others say where
/// it is counted (an unattached gp2 volume is deleted, not also moved to
/// gp3), so totals add up.
fn one_saving_per_resource(findings: &mut [Finding], covers: &Covers) {
    // Every claim on a resource: the finding and which of its resources
    // (`OWN`, or the position in its covers), sorted by resource and then by
    // finding. Eight bytes each, counted before they are listed: a scan's
    // every saving is a claim, and a map of lists by (account, ARN), then a
    // list of borrowed keys grown by doubling, were megabytes at the scan's
    // peak.
    const OWN: u32 = u32::MAX;
    let resource = |&(i, cover): &(u32, u32)| {
        let f = &findings[i as usize];
        let arn = match cover {
            OWN => &f.resource_arn,
            at => &covers.of(i as usize)[at as usize],
        };
        (f.account_id.as_str(), arn.as_str())
    };
    let saving = |i: u32| findings[i as usize].savings.as_ref().map(|s| s.monthly_usd);
    let claimants = (0..findings.len() as u32).filter(|&i| saving(i).is_some());
    let count = claimants
        .clone()
        .map(|i| 1 + covers.of(i as usize).len())
        .sum();
    let mut claims: Vec<(u32, u32)> = Vec::with_capacity(count);
    for i in claimants {
        let covered = covers.of(i as usize).len() as u32;
        claims.extend(std::iter::once((i, OWN)).chain((0..covered).map(|at| (i, at))));
    }
    claims.sort_unstable_by(|a, b| resource(a).cmp(&resource(b)).then(a.0.cmp(&b.0)));
    // A finding keeps its saving unless a larger one (or an equal one found
    // first) also counts its resource.
    let mut losers: Vec<(usize, usize)> = Vec::new();
    for (i, f) in findings.iter().enumerate() {
        let Some(mine) = f.savings.as_ref().map(|s| s.monthly_usd) else {
            continue;
        };
        let key = (f.account_id.as_str(), f.resource_arn.as_str());
        let from = claims.partition_point(|c| resource(c) < key);
        let to = from + claims[from..].partition_point(|c| resource(c) == key);
        let beaten_by = claims[from..to]
            .iter()
            .filter_map(|&(j, _)| Some((j as usize, saving(j)?)))
            .filter(|&(j, amount)| j != i && (amount > mine || (amount == mine && j < i)))
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(j, _)| j);
        if let Some(j) = beaten_by {
            losers.push((i, j));
        }
    }
    drop(claims);
    for (i, j) in losers {
        let winner = findings[j].check_id.clone();
        let f = &mut findings[i];
        f.savings = None;
        f.message = format!(
            "{} (saving counted under {winner}, the larger action; both cannot apply)",
            f.message
        );
        exact_string(&mut f.message);
    }
}

/// What the figures rest on, said on each: a cost finding in a region the
/// price table does not hold has no figure and says so; every figure from a
/// table older than `prices::STALE_AFTER_DAYS` says how old it is.
fn note_prices(findings: &mut [Finding], ctx: &CheckContext) {
    let age = ctx.prices.age_note(ctx.now);
    for f in findings {
        match &mut f.savings {
            Some(savings) => {
                if let Some(age) = &age {
                    savings.formula = format!("{} {age}", savings.formula);
                    exact_string(&mut savings.formula);
                }
            }
            None if f.category == Category::Cost
                && f.region != "global"
                && !ctx.prices.has_region(&f.region) =>
            {
                f.message = format!(
                    "{} (price unknown for {}: Sightline ships no prices for it)",
                    f.message, f.region
                );
                exact_string(&mut f.message);
            }
            None => {}
        }
    }
}

/// Whether one of `gaps` leaves a conclusion about a resource in `region`
/// unknown: a gap in that region, a global gap (IAM, S3's bucket list), or,
/// for a global or account-wide resource, a gap on an action anywhere. A
/// region that could not be scanned at all (`*`: not enabled) holds nothing
/// an account-wide conclusion could miss.
fn gap_covers(gaps: &[CoverageGap], region: &str) -> bool {
    gaps.iter().any(|g| {
        g.region == region || g.region == "global" || (region == "global" && g.action != "*")
    })
}

/// What each finding's saving also counts (`Violation::covers`), by the
/// finding's position. Nearly every finding covers nothing: a list each
/// (24 bytes, 24 MB at a million findings) held mostly nothing, so each
/// holds 4 bytes, the position of its list among those not empty.
struct Covers {
    at: Vec<u32>,
    lists: Vec<Vec<String>>,
}

impl Covers {
    const NONE: u32 = u32::MAX;

    fn with_capacity(findings: usize) -> Self {
        Self {
            at: Vec::with_capacity(findings),
            lists: Vec::new(),
        }
    }

    fn push(&mut self, covers: Vec<String>) {
        if covers.is_empty() {
            self.at.push(Self::NONE);
        } else {
            self.at.push(self.lists.len() as u32);
            self.lists.push(covers);
        }
    }

    /// What the finding at `position` covers.
    fn of(&self, position: usize) -> &[String] {
        match self.at.get(position) {
            Some(&at) if at != Self::NONE => &self.lists[at as usize],
            _ => &[],
        }
    }
}

/// Put `findings` and `covers` (the same length) in `order`: position `i`
/// takes what was at `order[i] - offset`. In place, by following cycles.
fn permute<T, U>(findings: &mut [T], covers: &mut [U], order: &[usize], offset: usize) {
    let mut done = vec![false; order.len()];
    for first in 0..order.len() {
        if done[first] {
            continue;
        }
        // Walk the cycle through `first`, swapping each source into place.
        let mut at = first;
        loop {
            done[at] = true;
            let from = order[at] - offset;
            if from == first {
                break;
            }
            findings.swap(at, from);
            covers.swap(at, from);
            at = from;
        }
    }
}

/// Run those of `checks` whose service the inventory collected.
pub fn evaluate(
    inventory: &Inventory,
    checks: &[&Check],
    ctx: &CheckContext,
    stats: ScanStats,
) -> ScanReport {
    let mut outcomes = Vec::with_capacity(checks.len());
    // The checks whose service the inventory holds, each with the gaps
    // that leave it unable to conclude.
    let collected: Vec<(&Check, Vec<CoverageGap>)> = checks
        .iter()
        .filter(|c| inventory.services.iter().any(|s| s == c.service))
        .map(|&c| {
            let missing = inventory
                .gaps_for(c.service, c.required_actions)
                .into_iter()
                .cloned()
                .collect();
            (c, missing)
        })
        .collect();
    // A violation stands unless a gap leaves its absence-based conclusion unknown.
    let stands = |check: &Check, missing: &[CoverageGap], v: &crate::finding::Violation| {
        check.basis == Basis::Observed || !gap_covers(missing, &v.resource.region)
    };
    // How many findings there will be, from a first run of the checks
    // (pure functions of the inventory), so that the report's vector is
    // allocated once at its size. Grown by doubling, it left its previous
    // copy, half its size, freed but still resident at the scan's peak
    // (mimalloc returns it to the system later), and a quarter unused.
    let count: usize = collected
        .iter()
        .map(|(check, missing)| {
            let violations = (check.evaluate)(inventory, ctx);
            violations
                .iter()
                .filter(|v| stands(check, missing, v))
                .count()
        })
        .sum();
    let mut findings = Vec::with_capacity(count);
    let mut covers = Covers::with_capacity(count);
    for (check, missing) in collected {
        // Straight into the report, sorted in place: a second vector of a
        // large check's findings would be held beside the first.
        let start = findings.len();
        for v in (check.evaluate)(inventory, ctx) {
            if !stands(check, &missing, &v) {
                continue;
            }
            let v = v.into_data();
            let resource = v.resource;
            let evidence = EvidenceJson::of(&v.evidence);
            let mut finding = Finding {
                check_id: Cow::Borrowed(check.id),
                title: Cow::Borrowed(check.title),
                category: check.category,
                severity: check.severity,
                account_id: inventory.account_id.clone(),
                region: resource.region,
                resource_type: resource.resource_type,
                resource_id: resource.id,
                resource_arn: resource.arn,
                resource_name: resource.name,
                message: v.message,
                evidence_sha256: evidence.sha256(),
                cis: crate::compliance::references_for(check.id, &v.evidence),
                evidence,
                remediation: Commands::new(&v.remediation),
                rollback: Commands::new(&v.rollback),
                savings: v.savings,
            };
            finding.compact();
            findings.push(finding);
            covers.push(v.covers);
        }
        // One permutation for both, so each finding keeps its covers.
        let mut order: Vec<usize> = (start..findings.len()).collect();
        order.sort_by(|&a, &b| {
            let (a, b) = (&findings[a], &findings[b]);
            (&a.region, &a.resource_id).cmp(&(&b.region, &b.resource_id))
        });
        permute(
            &mut findings[start..],
            &mut covers.at[start..],
            &order,
            start,
        );
        let produced = findings.len() - start;
        let status = match (produced == 0, missing.is_empty()) {
            (false, _) => CheckStatus::Failed,
            (true, false) => CheckStatus::NotEvaluated,
            (true, true) => CheckStatus::Passed,
        };
        outcomes.push(CheckOutcome {
            check_id: check.id.to_owned(),
            title: check.title.to_owned(),
            category: check.category,
            severity: check.severity,
            status,
            findings: produced,
            incomplete: status == CheckStatus::Failed && !missing.is_empty(),
            missing,
        });
    }
    one_saving_per_resource(&mut findings, &covers);
    note_prices(&mut findings, ctx);
    ScanReport {
        account_id: inventory.account_id.clone(),
        regions: inventory.regions.clone(),
        services: inventory.services.clone(),
        generated_at: ctx.now,
        stats,
        outcomes,
        findings,
        gaps: inventory.gaps.clone(),
        all_regions_scanned: inventory.all_regions_scanned,
        compliance: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::test_support::{ctx, inventory};
    use crate::inventory::ec2::Address;
    use crate::ResourceMeta;

    #[test]
    fn permute_puts_both_slices_in_the_given_order() {
        // Every order of five, with an offset as in a later check's slice.
        let offset = 7;
        let mut order: Vec<usize> = (offset..offset + 5).collect();
        let mut seen = 0;
        loop {
            let mut letters: Vec<char> = "abcde".chars().collect();
            let mut numbers: Vec<usize> = (0..5).collect();
            permute(&mut letters, &mut numbers, &order, offset);
            let want: Vec<usize> = order.iter().map(|i| i - offset).collect();
            assert_eq!(numbers, want, "{order:?}");
            let want: Vec<char> = want.iter().map(|&i| b"abcde"[i] as char).collect();
            assert_eq!(letters, want, "{order:?}");
            seen += 1;
            // The next permutation in lexicographic order, or done.
            let Some(i) = (0..4).rev().find(|&i| order[i] < order[i + 1]) else {
                break;
            };
            let j = (i + 1..5).rev().find(|&j| order[j] > order[i]).unwrap();
            order.swap(i, j);
            order[i + 1..].reverse();
        }
        assert_eq!(seen, 120);
    }

    fn gap(action: &str) -> CoverageGap {
        CoverageGap {
            service: "ec2".into(),
            region: "us-east-1".into(),
            action: action.into(),
            kind: "AccessDenied".into(),
            error: "no".into(),
        }
    }

    /// An instance stopped 60 days ago with one volume.
    fn stopped_instance(id: &str, volume: &str) -> crate::inventory::ec2::Instance {
        crate::inventory::ec2::Instance {
            meta: ResourceMeta::new(
                "ec2.instance",
                id,
                &format!("arn:aws:ec2:us-east-1:123456789012:instance/{id}"),
                "us-east-1",
            ),
            instance_type: "t3.micro".into(),
            state: "stopped".into(),
            launch_time: None,
            imds_http_tokens: None,
            imds_http_endpoint: None,
            image_id: None,
            vpc_id: None,
            availability_zone: None,
            volume_ids: vec![volume.into()],
            security_group_ids: vec![],
            public_ip: None,
            state_since: Some(ctx().now - chrono::Duration::days(60)),
            instance_profile_arn: Some("arn:aws:iam::123456789012:instance-profile/app".into()),
        }
    }

    /// A 100 GiB encrypted gp2 volume.
    fn gp2_volume(
        id: &str,
        region: &str,
        state: &str,
        attached: &[&str],
    ) -> crate::inventory::ec2::Volume {
        crate::inventory::ec2::Volume {
            meta: ResourceMeta::new(
                "ec2.volume",
                id,
                &format!("arn:aws:ec2:{region}:123456789012:volume/{id}"),
                region,
            ),
            volume_type: "gp2".into(),
            size_gib: 100,
            iops: Some(300),
            throughput: None,
            encrypted: true,
            state: state.into(),
            attached_instance_ids: attached.iter().map(|s| s.to_string()).collect(),
            availability_zone: Some("us-east-1a".into()),
            create_time: None,
        }
    }

    /// A report lists each check's findings together, in the catalog's
    /// order, each check's sorted by region and then resource id, whatever
    /// order the inventory held them in.
    #[test]
    fn findings_come_check_by_check_sorted_by_region_and_id() {
        let volume = |id: &str, region: &str| gp2_volume(id, region, "available", &[]);
        let mut inv = inventory();
        inv.ec2.volumes = vec![
            volume("vol-c", "us-west-2"),
            volume("vol-a", "us-east-1"),
            volume("vol-b", "us-west-2"),
            volume("vol-d", "us-east-1"),
        ];
        let checks: Vec<&Check> = crate::catalog()
            .into_iter()
            .filter(|c| ["ebs.volume_unattached", "ebs.volume_gp2"].contains(&c.id))
            .collect();
        let report = evaluate(&inv, &checks, &ctx(), ScanStats::default());
        let listed: Vec<(&str, &str, &str)> = report
            .findings
            .iter()
            .map(|f| (&*f.check_id, f.region.as_str(), f.resource_id.as_str()))
            .collect();
        let sorted = [
            ("us-east-1", "vol-a"),
            ("us-east-1", "vol-d"),
            ("us-west-2", "vol-b"),
            ("us-west-2", "vol-c"),
        ];
        let want: Vec<(&str, &str, &str)> = checks
            .iter()
            .flat_map(|c| sorted.iter().map(move |(r, id)| (c.id, *r, *id)))
            .collect();
        assert_eq!(listed, want);
        assert!(
            report.outcomes.iter().all(|o| o.findings == 4),
            "{:?}",
            report.outcomes
        );
    }

    /// A scan holds every finding until it is written: none keeps spare
    /// capacity in what it holds (commands built word by word, lists built
    /// push by push, messages rewritten after the fact), since a million
    /// findings would carry it all.
    #[test]
    fn findings_hold_no_spare_capacity() {
        let mut inv = inventory();
        inv.ec2.volumes = vec![
            gp2_volume("vol-spare", "us-east-1", "available", &[]),
            // No prices for this region: the message is rewritten to say so.
            gp2_volume("vol-far", "xx-nowhere-1", "available", &[]),
        ];
        let checks: Vec<&Check> = crate::catalog()
            .into_iter()
            .filter(|c| ["ebs.volume_unattached", "ebs.volume_gp2"].contains(&c.id))
            .collect();
        let report = evaluate(&inv, &checks, &ctx(), ScanStats::default());
        assert_eq!(report.findings.len(), 4);
        let spare = |what: &str, capacity: usize, len: usize| {
            (capacity != len).then(|| format!("{what}: {len} of {capacity}"))
        };
        for f in &report.findings {
            let mut waste: Vec<String> = [("message", &f.message), ("arn", &f.resource_arn)]
                .into_iter()
                .filter_map(|(what, s)| spare(what, s.capacity(), s.len()))
                .collect();
            waste.extend(spare("cis", f.cis.capacity(), f.cis.len()));
            if let Some(s) = &f.savings {
                waste.extend(spare("formula", s.formula.capacity(), s.formula.len()));
            }
            assert!(
                waste.is_empty(),
                "{} on {}: {waste:?}",
                f.check_id,
                f.resource_id
            );
        }
    }

    /// An unattached gp2 volume is a delete, not also a gp3 move: one
    /// saving per resource (the largest), and the total sums those.
    #[test]
    fn a_resource_saves_once_by_its_largest_action_and_the_total_adds_those() {
        let volume =
            |id: &str, state: &str, attached: &[&str]| gp2_volume(id, "us-east-1", state, attached);
        let mut inv = inventory();
        inv.ec2.volumes = vec![
            volume("vol-spare", "available", &[]),
            volume("vol-used", "in-use", &["i-1"]),
        ];
        let checks: Vec<&Check> = crate::catalog()
            .into_iter()
            .filter(|c| ["ebs.volume_unattached", "ebs.volume_gp2"].contains(&c.id))
            .collect();
        let report = evaluate(&inv, &checks, &ctx(), ScanStats::default());
        let saving = |check: &str, id: &str| {
            report
                .findings
                .iter()
                .find(|f| f.check_id == check && f.resource_id == id)
                .unwrap_or_else(|| panic!("no {check} on {id}"))
                .savings
                .as_ref()
                .map(|s| s.monthly_usd)
        };
        assert_eq!(saving("ebs.volume_unattached", "vol-spare"), Some(10.0));
        assert_eq!(saving("ebs.volume_gp2", "vol-spare"), None);
        let moved = saving("ebs.volume_gp2", "vol-used").expect("the gp3 move of a volume in use");
        let gp2 = report
            .findings
            .iter()
            .find(|f| f.check_id == "ebs.volume_gp2" && f.resource_id == "vol-spare")
            .unwrap();
        assert!(
            gp2.message
                .contains("saving counted under ebs.volume_unattached"),
            "{}",
            gp2.message
        );
        assert_eq!(
            report.monthly_savings_usd(),
            ((10.0 + moved) * 100.0).round() / 100.0
        );

        // A volume of an instance stopped for months: terminating the instance
        // deletes the volume, so its gp3 move is not counted again.
        inv.ec2.instances = vec![stopped_instance("i-1", "vol-used")];
        let checks: Vec<&Check> = crate::catalog()
            .into_iter()
            .filter(|c| {
                [
                    "ebs.volume_unattached",
                    "ebs.volume_gp2",
                    "ec2.instance_stopped_with_volumes",
                ]
                .contains(&c.id)
            })
            .collect();
        let report = evaluate(&inv, &checks, &ctx(), ScanStats::default());
        let stopped = report
            .findings
            .iter()
            .find(|f| f.check_id == "ec2.instance_stopped_with_volumes")
            .unwrap();
        let kept = stopped
            .savings
            .as_ref()
            .expect("the instance's saving")
            .monthly_usd;
        let gp2_of_stopped = report
            .findings
            .iter()
            .find(|f| f.check_id == "ebs.volume_gp2" && f.resource_id == "vol-used")
            .unwrap();
        assert_eq!(gp2_of_stopped.savings, None, "{}", gp2_of_stopped.message);
        assert_eq!(report.monthly_savings_usd(), 10.0 + kept);
    }

    /// Each finding keeps what its own saving covers when a check's findings
    /// are sorted: two stopped instances listed out of order, the one whose
    /// saving is smaller than its volume's gp3 move covering only a gp3
    /// volume. Paired the wrong way round, that small saving would claim
    /// the gp2 volume and the gp3 move would keep its figure.
    #[test]
    fn a_finding_keeps_its_own_covers_when_its_check_is_sorted() {
        let mut inv = inventory();
        let mut small = gp2_volume("vol-a", "us-east-1", "in-use", &["i-1"]);
        small.volume_type = "gp3".into();
        small.size_gib = 1;
        inv.ec2.volumes = vec![small, gp2_volume("vol-b", "us-east-1", "in-use", &["i-2"])];
        // Listed i-2 first: the check's findings are sorted to i-1, i-2.
        inv.ec2.instances = vec![
            stopped_instance("i-2", "vol-b"),
            stopped_instance("i-1", "vol-a"),
        ];
        let checks: Vec<&Check> = crate::catalog()
            .into_iter()
            .filter(|c| ["ebs.volume_gp2", "ec2.instance_stopped_with_volumes"].contains(&c.id))
            .collect();
        let report = evaluate(&inv, &checks, &ctx(), ScanStats::default());
        let finding = |check: &str, id: &str| {
            report
                .findings
                .iter()
                .find(|f| f.check_id == check && f.resource_id == id)
                .unwrap_or_else(|| panic!("{check} on {id}"))
        };
        let saving =
            |check: &str, id: &str| finding(check, id).savings.as_ref().map(|s| s.monthly_usd);
        let (small, large) = (
            saving("ec2.instance_stopped_with_volumes", "i-1").expect("i-1's saving"),
            saving("ec2.instance_stopped_with_volumes", "i-2").expect("i-2's saving"),
        );
        let moved = finding("ebs.volume_gp2", "vol-b");
        assert!(small < 1.0 && large > 1.0, "{small} {large}");
        assert_eq!(moved.savings, None, "{}", moved.message);
        assert_eq!(
            report.monthly_savings_usd(),
            ((small + large) * 100.0).round() / 100.0
        );
    }

    /// A region the price table does not hold gets no figure and says so,
    /// never another region's price; a table older than 180 days says its
    /// age on every figure.
    #[test]
    fn an_unpriced_region_says_so_and_an_old_table_says_its_age() {
        let address = |id: &str, region: &str| Address {
            meta: ResourceMeta::new(
                "ec2.elastic_ip",
                id,
                &format!("arn:aws:ec2:{region}:123456789012:elastic-ip/{id}"),
                region,
            ),
            public_ip: None,
            allocation_id: Some(id.into()),
            association_id: None,
            instance_id: None,
            network_interface_id: None,
        };
        let mut inv = inventory();
        inv.ec2.addresses = vec![
            address("eipalloc-priced", "us-east-1"),
            address("eipalloc-far", "ap-east-2"),
        ];
        let check = crate::catalog()
            .into_iter()
            .find(|c| c.id == "ec2.eip_unassociated")
            .unwrap();
        let finding = |report: &ScanReport, id: &str| {
            report
                .findings
                .iter()
                .find(|f| f.resource_id == id)
                .cloned()
                .unwrap()
        };
        // The table's own date: no age note.
        let fresh = CheckContext::new(
            chrono::NaiveDate::parse_from_str(&ctx().prices.as_of, "%Y-%m-%d")
                .unwrap()
                .and_hms_opt(12, 0, 0)
                .unwrap()
                .and_utc(),
        );
        let report = evaluate(&inv, &[check], &fresh, ScanStats::default());
        let far = finding(&report, "eipalloc-far");
        assert_eq!(far.savings, None);
        assert!(
            far.message.contains("price unknown for ap-east-2"),
            "{}",
            far.message
        );
        let priced = finding(&report, "eipalloc-priced");
        assert_eq!(priced.savings.as_ref().unwrap().monthly_usd, 3.65);
        assert!(!priced
            .savings
            .as_ref()
            .unwrap()
            .formula
            .contains("days old"));
        // Two years on, every figure says how old its prices are.
        let later = CheckContext::new(fresh.now + chrono::Duration::days(200));
        let report = evaluate(&inv, &[check], &later, ScanStats::default());
        let formula = finding(&report, "eipalloc-priced").savings.unwrap().formula;
        assert!(
            formula.ends_with(&format!(
                "(prices as of {}, 200 days old: check current prices)",
                later.prices.as_of
            )),
            "{formula}"
        );
    }

    #[test]
    fn a_collector_reading_another_services_action_on_the_side_silences_only_its_own_checks() {
        let catalog = crate::catalog();
        let find = |id: &str| *catalog.iter().find(|c| c.id == id).unwrap();
        let http = find("s3.bucket_allows_http");
        let trail_bucket = find("cloudtrail.bucket_logging_off");
        let mut inv = inventory();
        inv.services = vec!["s3".into(), "cloudtrail".into(), "ec2".into()];
        // The CloudTrail collector could not read a log archive's logging
        // (another account's bucket): that says nothing of this account's
        // buckets.
        inv.gaps.push(CoverageGap {
            service: "cloudtrail".into(),
            ..gap("s3:GetBucketLogging")
        });
        inv.gaps.push(CoverageGap {
            service: "cloudtrail".into(),
            ..gap("s3:GetBucketLocation")
        });
        let report = evaluate(&inv, &[http, trail_bucket], &ctx(), ScanStats::default());
        assert_eq!(report.outcomes[0].status, CheckStatus::Passed);
        assert_eq!(report.outcomes[1].status, CheckStatus::NotEvaluated);
        // A gap of the S3 collector on a read the S3 check needs counts.
        inv.gaps = vec![CoverageGap {
            service: "s3".into(),
            ..gap("s3:GetBucketPolicy")
        }];
        let report = evaluate(&inv, &[http], &ctx(), ScanStats::default());
        assert_eq!(report.outcomes[0].status, CheckStatus::NotEvaluated);
        // Metrics are read by their own unit for the EC2 checks: they count.
        let idle = find("ec2.instance_idle");
        inv.gaps = vec![CoverageGap {
            service: "cloudwatch".into(),
            ..gap("cloudwatch:GetMetricData")
        }];
        let report = evaluate(&inv, &[idle], &ctx(), ScanStats::default());
        assert_eq!(report.outcomes[0].status, CheckStatus::NotEvaluated);
    }

    #[test]
    fn a_gap_turns_a_pass_into_not_evaluated_never_a_pass() {
        let check = crate::catalog()
            .into_iter()
            .find(|c| c.id == "ec2.eip_unassociated")
            .unwrap();
        let mut inv = inventory();
        let report = evaluate(&inv, &[check], &ctx(), ScanStats::default());
        assert_eq!(report.outcomes[0].status, CheckStatus::Passed);

        inv.gaps.push(gap("ec2:DescribeAddresses"));
        let report = evaluate(&inv, &[check], &ctx(), ScanStats::default());
        assert_eq!(report.outcomes[0].status, CheckStatus::NotEvaluated);
        assert_eq!(
            report.outcomes[0].missing,
            vec![gap("ec2:DescribeAddresses")]
        );

        inv.ec2.addresses.push(Address {
            meta: ResourceMeta::new("ec2.elastic_ip", "eipalloc-1", "arn:x", "us-east-1"),
            public_ip: None,
            allocation_id: None,
            association_id: None,
            instance_id: None,
            network_interface_id: None,
        });
        let report = evaluate(&inv, &[check], &ctx(), ScanStats::default());
        assert_eq!(report.outcomes[0].status, CheckStatus::Failed);
        assert!(report.outcomes[0].incomplete);
        assert_eq!(report.findings[0].resource_id, "eipalloc-1");
        assert_eq!(report.findings[0].evidence_sha256.to_string().len(), 64);
    }
}
