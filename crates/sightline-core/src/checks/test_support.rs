//! Builders for check unit tests: small inventories with one thing wrong.

use chrono::{TimeZone, Utc};

use super::{Check, CheckContext};
use crate::finding::Violation;
use crate::inventory::{Inventory, ResourceMeta};

pub fn ctx() -> CheckContext {
    CheckContext::new(Utc.with_ymd_and_hms(2026, 11, 1, 12, 0, 0).unwrap())
}

pub fn meta(resource_type: &str, id: &str, region: &str) -> ResourceMeta {
    ResourceMeta::new(
        resource_type,
        id,
        &format!("arn:aws:test:{region}:123456789012:{id}"),
        region,
    )
}

/// The ARN `meta` gives a resource of `id` in us-east-1.
pub fn arn(id: &str) -> String {
    format!("arn:aws:test:us-east-1:123456789012:{id}")
}

pub fn inventory() -> Inventory {
    let mut inv = Inventory::new("123456789012");
    inv.regions = vec!["us-east-1".into()];
    inv.services = ["ec2", "s3", "iam", "rds", "elb", "lambda", "cloudtrail"]
        .map(String::from)
        .to_vec();
    inv
}

/// Ids of the resources a check flags.
pub fn flagged(check: &Check, inv: &Inventory) -> Vec<String> {
    let mut ids: Vec<String> = (check.evaluate)(inv, &ctx())
        .into_iter()
        .map(|v: Violation| v.into_data().resource.id)
        .collect();
    ids.sort();
    ids
}
