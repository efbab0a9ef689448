//! DynamoDB: the tables of one region and whether each has point-in-time
//! recovery. Never an item: no `Scan`, `Query`, `GetItem` or stream read.

use futures::stream::{self, StreamExt};
use sightline_core::inventory::dynamodb::Table;
use sightline_core::{Inventory, ResourceMeta};

use super::{Collect, DETAIL_CONCURRENCY};
use crate::record::Outcome;

pub const ACTIONS: &[&str] = &["dynamodb:ListTables", "dynamodb:DescribeContinuousBackups"];

const SERVICE: &str = "dynamodb";

pub async fn collect(cx: Collect<'_>) -> Inventory {
    let client = crate::sdk_client!(aws_sdk_dynamodb, &cx.in_region(cx.region));
    let rec = cx.recorder;
    let region = cx.region;
    let mut inv = cx.fragment();

    let mut names = Vec::new();
    let mut pages = client.list_tables().into_paginator().send();
    while let Some(page) = pages.next().await {
        let Outcome::Ok(page) = rec.settle(SERVICE, region, "dynamodb:ListTables", &[], page)
        else {
            break;
        };
        names.extend(page.table_names().iter().cloned());
    }
    let client = &client;
    let pitr: Vec<Option<bool>> = stream::iter(names.iter().map(|name| async move {
        let result = client
            .describe_continuous_backups()
            .table_name(name)
            .send()
            .await;
        rec.settle(
            SERVICE,
            region,
            "dynamodb:DescribeContinuousBackups",
            &[],
            result,
        )
        .ok()
        .and_then(|out| {
            let backups = out.continuous_backups_description();
            let pitr = backups
                .and_then(|d| d.point_in_time_recovery_description())
                .and_then(|p| p.point_in_time_recovery_status())
                .map(|s| s.as_str() == "ENABLED");
            // Continuous backups off means no point-in-time recovery, whatever
            // else the answer leaves out.
            let continuous_off =
                backups.is_some_and(|d| d.continuous_backups_status().as_str() == "DISABLED");
            let known = pitr.or(continuous_off.then_some(false));
            if known.is_none() {
                rec.gap(
                    SERVICE,
                    region,
                    "dynamodb:DescribeContinuousBackups",
                    "Other",
                    &format!("the answer for {name} gave no point-in-time recovery status"),
                );
            }
            known
        })
    }))
    .buffered(DETAIL_CONCURRENCY)
    .collect()
    .await;
    for (name, point_in_time_recovery) in names.into_iter().zip(pitr) {
        let arn = cx.arn("dynamodb", &format!("table/{name}"));
        inv.dynamodb.tables.push(Table {
            meta: ResourceMeta::new("dynamodb.table", &name, &arn, region),
            point_in_time_recovery,
        });
    }
    rec.found(inv.dynamodb.tables.len());
    inv
}
