//! The price table shipped with Sightline (`prices/aws-prices.json`, with its
//! as-of date and source) and the savings arithmetic built on it. Estimates
//! only: every figure carries the formula that produced it.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::finding::Savings;
use crate::inventory::ec2::Volume;
use crate::inventory::rds::DbInstance;

const PRICE_TABLE_JSON: &str = include_str!("../prices/aws-prices.json");

/// A table older than this says its age on every figure.
pub const STALE_AFTER_DAYS: i64 = 180;

#[derive(Debug, Clone, Deserialize)]
pub struct PriceTable {
    pub as_of: String,
    pub source: String,
    pub currency: String,
    pub hours_per_month: f64,
    pub regions: BTreeMap<String, RegionPrices>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RegionPrices {
    pub ebs_gib_month: BTreeMap<String, f64>,
    pub snapshot_gib_month: f64,
    pub elastic_ip_hour: f64,
    pub nat_gateway_hour: f64,
    pub load_balancer_hour: f64,
    /// A Classic Load Balancer's hour, which differs from v2's.
    #[serde(default)]
    pub classic_load_balancer_hour: Option<f64>,
    pub ec2_hour: BTreeMap<String, f64>,
    pub rds_hour: BTreeMap<String, f64>,
    /// CloudWatch Logs storage (archived events), per GiB-month.
    #[serde(default)]
    pub logs_gib_month: Option<f64>,
    /// Provisioned EBS IOPS per volume type, per IOPS-month (gp3 above its
    /// 3,000 baseline, io1, io2 in its three tiers).
    #[serde(default)]
    pub ebs_iops_month: BTreeMap<String, Vec<Tier>>,
    /// Provisioned EBS throughput (gp3 above 125 MiB/s), per MiB/s-month.
    #[serde(default)]
    pub ebs_throughput_month: BTreeMap<String, Vec<Tier>>,
    /// RDS storage per type, per GiB-month, single-AZ.
    #[serde(default)]
    pub rds_storage_gib_month: BTreeMap<String, f64>,
    /// RDS provisioned IOPS per storage type, per IOPS-month, single-AZ.
    #[serde(default)]
    pub rds_iops_month: BTreeMap<String, Vec<Tier>>,
    /// RDS provisioned throughput per storage type, per MiB/s-month, single-AZ.
    #[serde(default)]
    pub rds_throughput_month: BTreeMap<String, Vec<Tier>>,
}

/// One step of a tiered price: each unit above `from` (up to the next
/// tier's `from`) costs `usd` a month. Units below the first tier are free.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
pub struct Tier {
    pub from: f64,
    pub usd: f64,
}

/// What `units` cost a month on `tiers`, and how, e.g. `5000 IOPS ×
/// $0.065/IOPS-month`. `None` when nothing above the free part is charged.
fn tiered(tiers: &[Tier], units: i64, unit: &str) -> Option<(f64, String)> {
    let units = units as f64;
    let mut monthly = 0.0;
    let mut parts = Vec::new();
    for (k, tier) in tiers.iter().enumerate() {
        let upper = tiers.get(k + 1).map_or(f64::INFINITY, |next| next.from);
        let billed = units.min(upper) - tier.from;
        if billed > 0.0 {
            monthly += billed * tier.usd;
            let above = if tier.from > 0.0 {
                format!(" above {}", tier.from)
            } else {
                String::new()
            };
            parts.push(format!(
                "{billed} {unit}{above} × ${}/{unit}-month",
                tier.usd
            ));
        }
    }
    (!parts.is_empty()).then(|| (monthly, parts.join(" + ")))
}

/// The performance a gp2 volume of `size_gib` sustains, which a gp3
/// replacement must be given to be no slower: 3 IOPS per GiB (at least the
/// 3,000 gp2 bursts to below 1,000 GiB, at most 16,000), and its baseline
/// throughput, 0.75 MiB/s per GiB (3 IOPS of 256 KiB), between gp3's
/// included 125 and gp2's ceiling of 250. (Between 171 and 333 GiB gp2
/// reaches 250 MiB/s only while burst credits last; buying that for good
/// would make the move cost more than it saves.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gp2Performance {
    pub iops: i64,
    pub throughput_mibps: i64,
}

impl Gp2Performance {
    pub fn of(size_gib: i64) -> Self {
        Gp2Performance {
            iops: (3 * size_gib).clamp(3000, 16_000),
            throughput_mibps: ((size_gib * 3 + 3) / 4).clamp(125, 250),
        }
    }
}

impl PriceTable {
    /// The table compiled into the binary.
    pub fn shipped() -> Self {
        serde_json::from_str(PRICE_TABLE_JSON).expect("prices/aws-prices.json is valid (tested)")
    }

    /// Prices for `region`: none for a region the table does not hold
    /// (never another region's, which could be far off).
    fn region(&self, region: &str) -> Option<&RegionPrices> {
        self.regions.get(region)
    }

    /// Whether the table holds prices for `region`.
    pub fn has_region(&self, region: &str) -> bool {
        self.regions.contains_key(region)
    }

    /// How old the table is at `now`, when it is older than
    /// `STALE_AFTER_DAYS`: the note every figure then carries.
    pub fn age_note(&self, now: chrono::DateTime<chrono::Utc>) -> Option<String> {
        let as_of = chrono::NaiveDate::parse_from_str(&self.as_of, "%Y-%m-%d").ok()?;
        let days = (now.date_naive() - as_of).num_days();
        (days > STALE_AFTER_DAYS).then(|| {
            format!(
                "(prices as of {}, {days} days old: check current prices)",
                self.as_of
            )
        })
    }

    fn savings(&self, monthly_usd: f64, formula: String) -> Savings {
        Savings {
            monthly_usd: (monthly_usd * 100.0).round() / 100.0,
            formula,
            prices_as_of: self.as_of.clone(),
        }
    }

    /// What an EBS volume costs a month: its storage, and the IOPS and
    /// throughput provisioned above what its type includes.
    pub fn ebs_volume(&self, v: &Volume) -> Option<Savings> {
        let (monthly, formula) = self.ebs_monthly(
            &v.meta.region,
            &v.volume_type,
            v.size_gib,
            v.iops,
            v.throughput,
        )?;
        Some(self.savings(monthly, format!("{formula} = ${monthly:.2}/month")))
    }

    /// The monthly cost of a volume and how it adds up. A type that charges
    /// for IOPS or throughput AWS did not report says so in the formula.
    fn ebs_monthly(
        &self,
        region: &str,
        volume_type: &str,
        size_gib: i64,
        iops: Option<i64>,
        throughput_mibps: Option<i64>,
    ) -> Option<(f64, String)> {
        let prices = self.region(region)?;
        let per_gib = *prices.ebs_gib_month.get(volume_type)?;
        let mut monthly = per_gib * size_gib as f64;
        let mut formula = format!("{size_gib} GiB × ${per_gib}/GiB-month ({volume_type})");
        for (tiers, amount, unit) in [
            (prices.ebs_iops_month.get(volume_type), iops, "IOPS"),
            (
                prices.ebs_throughput_month.get(volume_type),
                throughput_mibps,
                "MiB/s",
            ),
        ] {
            let Some(tiers) = tiers else { continue };
            match amount {
                Some(amount) => {
                    if let Some((cost, how)) = tiered(tiers, amount, unit) {
                        monthly += cost;
                        formula.push_str(&format!(" + {how}"));
                    }
                }
                None => formula.push_str(&format!(
                    " (provisioned {unit} not reported by EC2: not counted)"
                )),
            }
        }
        Some((monthly, formula))
    }

    /// What moving a gp2 volume to gp3 saves when the gp3 volume is given
    /// the IOPS and throughput of `Gp2Performance::of` its size.
    pub fn gp2_to_gp3(&self, region: &str, size_gib: i64) -> Option<Savings> {
        let target = Gp2Performance::of(size_gib);
        let (gp2, gp2_formula) = self.ebs_monthly(region, "gp2", size_gib, None, None)?;
        let (gp3, gp3_formula) = self.ebs_monthly(
            region,
            "gp3",
            size_gib,
            Some(target.iops),
            Some(target.throughput_mibps),
        )?;
        let monthly = gp2 - gp3;
        if monthly <= 0.0 {
            return None;
        }
        let formula = format!(
            "({gp2_formula}) − ({gp3_formula}, matching gp2's {} IOPS and {} MiB/s) = ${monthly:.2}/month",
            target.iops, target.throughput_mibps
        );
        Some(self.savings(monthly, formula))
    }

    pub fn snapshot(&self, region: &str, size_gib: i64) -> Option<Savings> {
        let per_gib = self.region(region)?.snapshot_gib_month;
        let monthly = per_gib * size_gib as f64;
        let formula = format!(
            "{size_gib} GiB (volume size, an upper bound for incremental snapshots) × ${per_gib}/GiB-month = ${monthly:.2}/month"
        );
        Some(self.savings(monthly, formula))
    }

    fn hourly(
        &self,
        region: &str,
        what: &str,
        select: impl Fn(&RegionPrices) -> Option<f64>,
    ) -> Option<Savings> {
        let hour = select(self.region(region)?)?;
        let hours = self.hours_per_month;
        let monthly = hour * hours;
        let formula = format!("{what}: ${hour}/hour × {hours} hours = ${monthly:.2}/month");
        Some(self.savings(monthly, formula))
    }

    /// What a retention of `keep_days` saves on a log group that never
    /// expires, holding `stored_bytes` gathered over `age_days`: the share
    /// older than `keep_days`, assuming the group took in about as much
    /// each day.
    pub fn log_retention(
        &self,
        region: &str,
        stored_bytes: i64,
        age_days: i64,
        keep_days: i64,
    ) -> Option<Savings> {
        let per_gib = self.region(region)?.logs_gib_month?;
        let gib = stored_bytes as f64 / (1u64 << 30) as f64;
        let older = (age_days - keep_days).max(0) as f64 / age_days.max(1) as f64;
        let monthly = gib * per_gib * older;
        let formula = format!(
            "{gib:.2} GiB stored × ${per_gib}/GiB-month × {older:.2} (the share older than {keep_days} days of a group {age_days} days old, taking in about as much each day) = ${monthly:.2}/month"
        );
        Some(self.savings(monthly, formula))
    }

    pub fn elastic_ip(&self, region: &str) -> Option<Savings> {
        self.hourly(region, "idle Elastic IP", |p| Some(p.elastic_ip_hour))
    }

    pub fn nat_gateway(&self, region: &str) -> Option<Savings> {
        self.hourly(region, "NAT gateway (hourly charge, before data)", |p| {
            Some(p.nat_gateway_hour)
        })
    }

    pub fn load_balancer(&self, region: &str) -> Option<Savings> {
        self.hourly(region, "load balancer (hourly charge, before LCUs)", |p| {
            Some(p.load_balancer_hour)
        })
    }

    pub fn classic_load_balancer(&self, region: &str) -> Option<Savings> {
        self.hourly(
            region,
            "Classic Load Balancer (hourly charge, before data)",
            |p| p.classic_load_balancer_hour,
        )
    }

    pub fn ec2_instance(&self, region: &str, instance_type: &str) -> Option<Savings> {
        self.hourly(region, &format!("{instance_type} on demand"), |p| {
            p.ec2_hour.get(instance_type).copied()
        })
    }

    /// What an RDS instance costs a month: its hours, its storage and
    /// provisioned IOPS and throughput, all doubled for a Multi-AZ standby.
    /// A cluster member's storage belongs to its cluster and is not counted.
    pub fn rds_instance(&self, db: &DbInstance) -> Option<Savings> {
        let prices = self.region(&db.meta.region)?;
        let hour = *prices.rds_hour.get(&db.instance_class)?;
        let hours = self.hours_per_month;
        // A cluster's members have no standby billed per instance.
        let multi_az = db.multi_az && db.cluster_id.is_none();
        let mut monthly = hour * hours;
        let mut formula = format!("{}: ${hour}/hour × {hours} hours", db.instance_class);
        let storage = match (&db.cluster_id, db.storage_type.as_deref()) {
            (Some(cluster), _) => {
                formula.push_str(&format!(
                    " (storage belongs to cluster {cluster}: not counted)"
                ));
                None
            }
            (None, None) => {
                formula.push_str(" (storage type not reported: storage not counted)");
                None
            }
            (None, Some(kind)) => match prices.rds_storage_gib_month.get(kind) {
                Some(per_gib) => Some((kind, *per_gib)),
                None => {
                    formula.push_str(&format!(" (no price for {kind} storage: not counted)"));
                    None
                }
            },
        };
        if let Some((kind, per_gib)) = storage {
            let gib = db.allocated_storage_gib;
            monthly += per_gib * gib as f64;
            formula.push_str(&format!(" + {gib} GiB × ${per_gib}/GiB-month ({kind})"));
            // SQL Server's gp3 includes 3,000 IOPS and 125 MiB/s at every
            // size; the table's amounts are the other engines' from 400 GiB.
            let sql_server_gp3 = kind == "gp3" && db.engine.starts_with("sqlserver");
            let included = |tiers: &Vec<Tier>, amount: f64| -> Vec<Tier> {
                let mut tiers = tiers.clone();
                if sql_server_gp3 {
                    if let Some(first) = tiers.first_mut() {
                        first.from = amount;
                    }
                }
                tiers
            };
            for (tiers, amount, unit) in [
                (
                    prices.rds_iops_month.get(kind).map(|t| included(t, 3000.0)),
                    db.iops,
                    "IOPS",
                ),
                (
                    prices
                        .rds_throughput_month
                        .get(kind)
                        .map(|t| included(t, 125.0)),
                    db.storage_throughput_mibps,
                    "MiB/s",
                ),
            ] {
                if let (Some(tiers), Some(amount)) = (tiers, amount) {
                    if let Some((cost, how)) = tiered(&tiers, amount, unit) {
                        monthly += cost;
                        formula.push_str(&format!(" + {how}"));
                    }
                }
            }
        }
        if multi_az {
            monthly *= 2.0;
            formula = format!("({formula}) × 2 (Multi-AZ: a standby of the same size)");
        }
        Some(self.savings(monthly, format!("{formula} = ${monthly:.2}/month")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_table_parses_and_has_its_provenance() {
        let table = PriceTable::shipped();
        assert!(!table.as_of.is_empty() && !table.source.is_empty());
        assert!(table.has_region("us-east-1"));
    }

    use crate::inventory::ResourceMeta;

    fn volume(kind: &str, size_gib: i64, iops: Option<i64>, throughput: Option<i64>) -> Volume {
        Volume {
            meta: ResourceMeta::new(
                "ec2.volume",
                "vol-1",
                "arn:aws:ec2:::volume/vol-1",
                "us-east-1",
            ),
            volume_type: kind.into(),
            size_gib,
            iops,
            throughput,
            encrypted: true,
            state: "available".into(),
            attached_instance_ids: vec![],
            availability_zone: None,
            create_time: None,
        }
    }

    fn db(
        class: &str,
        multi_az: bool,
        storage: Option<&str>,
        gib: i64,
        iops: Option<i64>,
    ) -> DbInstance {
        DbInstance {
            meta: ResourceMeta::new(
                "rds.db_instance",
                "db-1",
                "arn:aws:rds:::db:db-1",
                "us-east-1",
            ),
            engine: "postgres".into(),
            instance_class: class.into(),
            status: Some("available".into()),
            multi_az,
            publicly_accessible: false,
            storage_encrypted: true,
            backup_retention_days: 7,
            deletion_protection: true,
            auto_minor_version_upgrade: Some(true),
            cluster_id: None,
            read_replica_source: None,
            allocated_storage_gib: gib,
            storage_type: storage.map(str::to_owned),
            iops,
            storage_throughput_mibps: None,
            create_time: None,
        }
    }

    #[test]
    fn gp2_to_gp3_prices_the_iops_and_throughput_that_match_gp2() {
        let table = PriceTable::shipped();
        // 100 GiB: gp2 bursts to 3,000 IOPS and sustains 75 MiB/s, both
        // within gp3's included amounts: $10 − $8.
        assert_eq!(
            Gp2Performance::of(100),
            Gp2Performance {
                iops: 3000,
                throughput_mibps: 125
            }
        );
        let small = table.gp2_to_gp3("us-east-1", 100).unwrap();
        assert_eq!(small.monthly_usd, 2.0, "{}", small.formula);
        // 200 GiB sustains 150 MiB/s: $20 − ($16 + 25 × $0.04).
        assert_eq!(Gp2Performance::of(200).throughput_mibps, 150);
        let middle = table.gp2_to_gp3("us-east-1", 200).unwrap();
        assert_eq!(middle.monthly_usd, 3.0, "{}", middle.formula);
        assert!(
            middle.formula.contains("25 MiB/s above 125"),
            "{}",
            middle.formula
        );
        // No size makes the matched move cost more than it saves.
        for size in 1..=16_384 {
            for region in ["us-east-1", "eu-west-1", "eu-central-1", "ap-southeast-2"] {
                let s = table.gp2_to_gp3(region, size);
                assert!(
                    s.is_some_and(|s| s.monthly_usd >= 0.0),
                    "{region} {size} GiB"
                );
            }
        }
        // 2,000 GiB: 6,000 IOPS and 250 MiB/s to match:
        // $200 − ($160 + 3,000 × $0.005 + 125 × $0.04) = $20.
        assert_eq!(
            Gp2Performance::of(2000),
            Gp2Performance {
                iops: 6000,
                throughput_mibps: 250
            }
        );
        let large = table.gp2_to_gp3("us-east-1", 2000).unwrap();
        assert_eq!(large.monthly_usd, 20.0, "{}", large.formula);
        assert!(
            large.formula.contains("3000 IOPS above 3000 × $0.005"),
            "{}",
            large.formula
        );
        // gp2 stops at 16,000 IOPS, and so does the match.
        assert_eq!(Gp2Performance::of(10_000).iops, 16_000);
    }

    #[test]
    fn provisioned_iops_and_throughput_are_part_of_a_volumes_cost() {
        let table = PriceTable::shipped();
        // io1: 100 GiB × $0.125 + 5,000 IOPS × $0.065.
        let io1 = table
            .ebs_volume(&volume("io1", 100, Some(5000), None))
            .unwrap();
        assert_eq!(io1.monthly_usd, 337.5, "{}", io1.formula);
        // io2 in tiers: 32,000 × $0.065 + 8,000 × $0.0455, plus 100 GiB × $0.125.
        let io2 = table
            .ebs_volume(&volume("io2", 100, Some(40_000), None))
            .unwrap();
        assert_eq!(io2.monthly_usd, 12.5 + 2080.0 + 364.0, "{}", io2.formula);
        // gp3 above its baseline: 200 GiB × $0.08 + 3,000 × $0.005 + 125 × $0.04.
        let gp3 = table
            .ebs_volume(&volume("gp3", 200, Some(6000), Some(250)))
            .unwrap();
        assert_eq!(gp3.monthly_usd, 36.0, "{}", gp3.formula);
        // At its baseline a gp3 volume costs its storage alone.
        let base = table
            .ebs_volume(&volume("gp3", 200, Some(3000), Some(125)))
            .unwrap();
        assert_eq!(base.monthly_usd, 16.0, "{}", base.formula);
        // IOPS EC2 did not report are not guessed, and the figure says so.
        let unknown = table.ebs_volume(&volume("io1", 100, None, None)).unwrap();
        assert_eq!(unknown.monthly_usd, 12.5);
        assert!(
            unknown.formula.contains("IOPS not reported"),
            "{}",
            unknown.formula
        );
    }

    #[test]
    fn an_rds_instance_costs_its_standby_and_its_storage() {
        let table = PriceTable::shipped();
        // Single-AZ: 0.017 × 730 + 100 GiB × $0.115.
        let single = table
            .rds_instance(&db("db.t3.micro", false, Some("gp2"), 100, None))
            .unwrap();
        assert_eq!(single.monthly_usd, 23.91, "{}", single.formula);
        // Multi-AZ doubles hours and storage.
        let multi = table
            .rds_instance(&db("db.t3.micro", true, Some("gp2"), 100, None))
            .unwrap();
        assert_eq!(multi.monthly_usd, 47.82, "{}", multi.formula);
        assert!(multi.formula.contains("Multi-AZ"), "{}", multi.formula);
        // io1: 1,000 IOPS × $0.10 on top of 100 GiB × $0.125.
        let io1 = table
            .rds_instance(&db("db.t3.micro", false, Some("io1"), 100, Some(1000)))
            .unwrap();
        assert_eq!(io1.monthly_usd, 124.91, "{}", io1.formula);
        // SQL Server's gp3 includes only 3,000 IOPS: 2,000 more × $0.02.
        let mut sql = db("db.t3.micro", false, Some("gp3"), 100, Some(5000));
        sql.engine = "sqlserver-se".into();
        let sql = table.rds_instance(&sql).unwrap();
        assert_eq!(sql.monthly_usd, 63.91, "{}", sql.formula);
        // A cluster member has no standby of its own to double.
        let mut clustered = db("db.t3.micro", true, Some("aurora"), 1, None);
        clustered.cluster_id = Some("orders".into());
        assert_eq!(table.rds_instance(&clustered).unwrap().monthly_usd, 12.41);
        // A cluster member's storage is its cluster's.
        let mut member = db("db.t3.micro", false, Some("aurora"), 1, None);
        member.cluster_id = Some("orders".into());
        let member = table.rds_instance(&member).unwrap();
        assert_eq!(member.monthly_usd, 12.41, "{}", member.formula);
        assert!(
            member.formula.contains("cluster orders"),
            "{}",
            member.formula
        );
        // Storage of a type AWS did not name is not guessed.
        let unknown = table
            .rds_instance(&db("db.t3.micro", false, None, 100, None))
            .unwrap();
        assert_eq!(unknown.monthly_usd, 12.41);
        assert!(
            unknown.formula.contains("storage not counted"),
            "{}",
            unknown.formula
        );
    }

    #[test]
    fn every_region_prices_what_the_savings_need() {
        for (name, region) in &PriceTable::shipped().regions {
            for kind in ["gp2", "gp3", "io1", "io2"] {
                assert!(
                    region.ebs_gib_month.contains_key(kind),
                    "{name}: ebs {kind}"
                );
                assert!(
                    region.rds_storage_gib_month.contains_key(kind),
                    "{name}: rds {kind}"
                );
            }
            for kind in ["gp3", "io1", "io2"] {
                assert!(
                    region.ebs_iops_month.contains_key(kind),
                    "{name}: ebs iops {kind}"
                );
                assert!(
                    region.rds_iops_month.contains_key(kind),
                    "{name}: rds iops {kind}"
                );
            }
            assert!(region.ebs_throughput_month.contains_key("gp3"), "{name}");
            for tiers in region
                .ebs_iops_month
                .values()
                .chain(region.rds_iops_month.values())
            {
                assert!(
                    tiers.windows(2).all(|w| w[0].from < w[1].from),
                    "{name}: tiers in order"
                );
            }
        }
    }

    #[test]
    fn an_unknown_region_has_no_price_not_another_regions() {
        let table = PriceTable::shipped();
        assert_eq!(table.elastic_ip("mars-north-1"), None);
        assert_eq!(table.snapshot("mars-north-1", 8), None);
        assert!(!table.has_region("mars-north-1"));
        assert_eq!(table.elastic_ip("us-east-1").unwrap().monthly_usd, 3.65);
    }
}
