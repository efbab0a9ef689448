//! CloudWatch Logs: the log groups of one region, their retention and
//! stored size. Never a log event: no `GetLogEvents`, `FilterLogEvents` or
//! query.

use sightline_core::inventory::logs::LogGroup;
use sightline_core::{Inventory, ResourceMeta};

use super::Collect;
use crate::record::Outcome;

pub const ACTIONS: &[&str] = &["logs:DescribeLogGroups"];

const SERVICE: &str = "logs";

pub async fn collect(cx: Collect<'_>) -> Inventory {
    let client = crate::sdk_client!(aws_sdk_cloudwatchlogs, &cx.in_region(cx.region));
    let rec = cx.recorder;
    let region = cx.region;
    let mut inv = cx.fragment();

    let mut pages = client.describe_log_groups().into_paginator().send();
    while let Some(page) = pages.next().await {
        let Outcome::Ok(page) = rec.settle(SERVICE, region, "logs:DescribeLogGroups", &[], page)
        else {
            break;
        };
        for g in page.log_groups() {
            let Some(name) = g.log_group_name() else {
                continue;
            };
            // The group's own ARN, not `arn`, which ends in the `:*` of
            // its log streams.
            let arn = g
                .log_group_arn()
                .map(str::to_owned)
                .or_else(|| g.arn().map(|a| a.trim_end_matches(":*").to_owned()))
                .unwrap_or_else(|| cx.arn("logs", &format!("log-group:{name}")));
            inv.logs.log_groups.push(LogGroup {
                meta: ResourceMeta::new("logs.log_group", name, &arn, region),
                retention_days: g.retention_in_days().map(i64::from),
                stored_bytes: g.stored_bytes(),
                created: g
                    .creation_time()
                    .and_then(chrono::DateTime::from_timestamp_millis),
                class: g.log_group_class().map(|c| c.as_str().to_owned()),
            });
        }
    }
    rec.found(inv.logs.log_groups.len());
    inv
}
