//! The price table shipped with Sightline (`prices/aws-prices.json`, with its
//! as-of date and source) and the savings arithmetic built on it. Estimates
//! only: every figure carries the formula that produced it.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::finding::Savings;

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
    pub ec2_hour: BTreeMap<String, f64>,
    pub rds_hour: BTreeMap<String, f64>,
    /// CloudWatch Logs storage (archived events), per GiB-month.
    #[serde(default)]
    pub logs_gib_month: Option<f64>,
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

    /// Storage of an EBS volume of `volume_type` and `size_gib` for a month.
    pub fn ebs_volume(&self, region: &str, volume_type: &str, size_gib: i64) -> Option<Savings> {
        let prices = self.region(region)?;
        let per_gib = *prices.ebs_gib_month.get(volume_type)?;
        let monthly = per_gib * size_gib as f64;
        let formula =
            format!("{size_gib} GiB × ${per_gib}/GiB-month ({volume_type}) = ${monthly:.2}/month");
        Some(self.savings(monthly, formula))
    }

    /// What moving a gp2 volume to gp3 saves (same size, baseline gp3 performance).
    pub fn gp2_to_gp3(&self, region: &str, size_gib: i64) -> Option<Savings> {
        let prices = self.region(region)?;
        let gp2 = *prices.ebs_gib_month.get("gp2")?;
        let gp3 = *prices.ebs_gib_month.get("gp3")?;
        let monthly = (gp2 - gp3) * size_gib as f64;
        let formula =
            format!("{size_gib} GiB × (${gp2} gp2 − ${gp3} gp3)/GiB-month = ${monthly:.2}/month");
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

    pub fn ec2_instance(&self, region: &str, instance_type: &str) -> Option<Savings> {
        self.hourly(region, &format!("{instance_type} on demand"), |p| {
            p.ec2_hour.get(instance_type).copied()
        })
    }

    pub fn rds_instance(&self, region: &str, instance_class: &str) -> Option<Savings> {
        self.hourly(region, &format!("{instance_class} on demand"), |p| {
            p.rds_hour.get(instance_class).copied()
        })
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

    #[test]
    fn gp2_to_gp3_saving_shows_its_formula() {
        let s = PriceTable::shipped().gp2_to_gp3("us-east-1", 100).unwrap();
        assert_eq!(s.monthly_usd, 2.0);
        assert!(s.formula.contains("100 GiB"), "{}", s.formula);
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
