//! CloudTrail: trails visible in a region (multi-region trails show up in
//! every region; the scanner keeps each ARN once) and whether each logs.

use sightline_core::inventory::cloudtrail::Trail;
use sightline_core::{Inventory, ResourceMeta};

use super::Collect;
use crate::record::Outcome;

pub const ACTIONS: &[&str] = &["cloudtrail:DescribeTrails", "cloudtrail:GetTrailStatus"];

const SERVICE: &str = "cloudtrail";

pub async fn collect(cx: Collect<'_>, scanned_regions: &[String]) -> Inventory {
    let client = aws_sdk_cloudtrail::Client::new(&cx.session.in_region(cx.region));
    let rec = cx.recorder;
    let region = cx.region;
    let mut inv = cx.fragment();

    let result = client
        .describe_trails()
        .include_shadow_trails(true)
        .send()
        .await;
    let Outcome::Ok(out) = rec.settle(SERVICE, region, "cloudtrail:DescribeTrails", &[], result)
    else {
        return inv;
    };
    for t in out.trail_list() {
        let Some(arn) = t.trail_arn() else { continue };
        let home = t.home_region().unwrap_or(region);
        // Report each trail from its home region; shadows elsewhere are the same
        // trail, unless the home region is not scanned at all.
        if home != region && scanned_regions.iter().any(|r| r == home) {
            continue;
        }
        let name = t.name().unwrap_or_default();
        let status = client.get_trail_status().name(arn).send().await;
        let is_logging = rec
            .settle(SERVICE, region, "cloudtrail:GetTrailStatus", &[], status)
            .ok()
            .map(|s| s.is_logging().unwrap_or(false));
        let mut meta = ResourceMeta::new("cloudtrail.trail", name, arn, home);
        meta.name = Some(name.to_owned());
        inv.cloudtrail.trails.push(Trail {
            meta,
            home_region: home.to_owned(),
            is_multi_region: t.is_multi_region_trail().unwrap_or(false),
            log_file_validation: t.log_file_validation_enabled().unwrap_or(false),
            is_organization_trail: t.is_organization_trail().unwrap_or(false),
            s3_bucket: t.s3_bucket_name().map(str::to_owned),
            is_logging,
        });
    }
    rec.found(inv.cloudtrail.trails.len());
    inv
}
