//! The price table shipped with Sightline (`prices/aws-prices.json`, with its
//! as-of date and source) and the savings arithmetic built on it. Estimates
//! only: every figure carries the formula that produced it.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::finding::Savings;

const PRICE_TABLE_JSON: &str = include_str!("../prices/aws-prices.json");

/// The region whose prices stand in for a region the table does not list.
pub const FALLBACK_REGION: &str = "us-east-1";

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
}

impl PriceTable {
    /// The table compiled into the binary.
    pub fn shipped() -> Self {
        serde_json::from_str(PRICE_TABLE_JSON).expect("prices/aws-prices.json is valid (tested)")
    }

    /// Prices for `region`, and the region they really are for.
    fn region(&self, region: &str) -> (&RegionPrices, &str) {
        match self.regions.get_key_value(region) {
            Some((name, prices)) => (prices, name.as_str()),
            None => (&self.regions[FALLBACK_REGION], FALLBACK_REGION),
        }
    }

    fn savings(
        &self,
        monthly_usd: f64,
        formula: String,
        priced_region: &str,
        region: &str,
    ) -> Savings {
        let note = if priced_region == region {
            String::new()
        } else {
            format!(" ({priced_region} prices; none shipped for {region})")
        };
        Savings {
            monthly_usd: (monthly_usd * 100.0).round() / 100.0,
            formula: format!("{formula}{note}"),
            prices_as_of: self.as_of.clone(),
        }
    }

    /// Storage of an EBS volume of `volume_type` and `size_gib` for a month.
    pub fn ebs_volume(&self, region: &str, volume_type: &str, size_gib: i64) -> Option<Savings> {
        let (prices, priced) = self.region(region);
        let per_gib = *prices.ebs_gib_month.get(volume_type)?;
        let monthly = per_gib * size_gib as f64;
        let formula =
            format!("{size_gib} GiB × ${per_gib}/GiB-month ({volume_type}) = ${monthly:.2}/month");
        Some(self.savings(monthly, formula, priced, region))
    }

    /// What moving a gp2 volume to gp3 saves (same size, baseline gp3 performance).
    pub fn gp2_to_gp3(&self, region: &str, size_gib: i64) -> Option<Savings> {
        let (prices, priced) = self.region(region);
        let gp2 = *prices.ebs_gib_month.get("gp2")?;
        let gp3 = *prices.ebs_gib_month.get("gp3")?;
        let monthly = (gp2 - gp3) * size_gib as f64;
        let formula =
            format!("{size_gib} GiB × (${gp2} gp2 − ${gp3} gp3)/GiB-month = ${monthly:.2}/month");
        Some(self.savings(monthly, formula, priced, region))
    }

    pub fn snapshot(&self, region: &str, size_gib: i64) -> Savings {
        let (prices, priced) = self.region(region);
        let per_gib = prices.snapshot_gib_month;
        let monthly = per_gib * size_gib as f64;
        let formula = format!(
            "{size_gib} GiB (volume size, an upper bound for incremental snapshots) × ${per_gib}/GiB-month = ${monthly:.2}/month"
        );
        self.savings(monthly, formula, priced, region)
    }

    fn hourly(&self, region: &str, what: &str, select: impl Fn(&RegionPrices) -> f64) -> Savings {
        let (prices, priced) = self.region(region);
        let hour = select(prices);
        let hours = self.hours_per_month;
        let monthly = hour * hours;
        let formula = format!("{what}: ${hour}/hour × {hours} hours = ${monthly:.2}/month");
        self.savings(monthly, formula, priced, region)
    }

    pub fn elastic_ip(&self, region: &str) -> Savings {
        self.hourly(region, "idle Elastic IP", |p| p.elastic_ip_hour)
    }

    pub fn nat_gateway(&self, region: &str) -> Savings {
        self.hourly(region, "NAT gateway (hourly charge, before data)", |p| {
            p.nat_gateway_hour
        })
    }

    pub fn load_balancer(&self, region: &str) -> Savings {
        self.hourly(region, "load balancer (hourly charge, before LCUs)", |p| {
            p.load_balancer_hour
        })
    }

    pub fn ec2_instance(&self, region: &str, instance_type: &str) -> Option<Savings> {
        let (prices, _) = self.region(region);
        let hour = *prices.ec2_hour.get(instance_type)?;
        Some(self.hourly(region, &format!("{instance_type} on demand"), |_| hour))
    }

    pub fn rds_instance(&self, region: &str, instance_class: &str) -> Option<Savings> {
        let (prices, _) = self.region(region);
        let hour = *prices.rds_hour.get(instance_class)?;
        Some(self.hourly(region, &format!("{instance_class} on demand"), |_| hour))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_table_parses_and_has_its_provenance() {
        let table = PriceTable::shipped();
        assert!(!table.as_of.is_empty() && !table.source.is_empty());
        assert!(table.regions.contains_key(FALLBACK_REGION));
    }

    #[test]
    fn gp2_to_gp3_saving_shows_its_formula() {
        let s = PriceTable::shipped().gp2_to_gp3("us-east-1", 100).unwrap();
        assert_eq!(s.monthly_usd, 2.0);
        assert!(s.formula.contains("100 GiB"), "{}", s.formula);
    }

    #[test]
    fn unknown_region_falls_back_and_says_so() {
        let s = PriceTable::shipped().elastic_ip("mars-north-1");
        assert_eq!(s.monthly_usd, 3.65);
        assert!(s.formula.contains("us-east-1 prices"), "{}", s.formula);
    }
}
