//! EFS: the file systems of one region and whether each is encrypted at
//! rest. Never a file.

use sightline_core::inventory::efs::FileSystem;
use sightline_core::{Inventory, ResourceMeta};

use super::{tag_map, Collect};
use crate::record::Outcome;

pub const ACTIONS: &[&str] = &["elasticfilesystem:DescribeFileSystems"];

const SERVICE: &str = "efs";

pub async fn collect(cx: Collect<'_>) -> Inventory {
    let client = crate::sdk_client!(aws_sdk_efs, &cx.in_region(cx.region));
    let rec = cx.recorder;
    let region = cx.region;
    let mut inv = cx.fragment();

    let mut pages = client.describe_file_systems().into_paginator().send();
    while let Some(page) = pages.next().await {
        let Outcome::Ok(page) = rec.settle(
            SERVICE,
            region,
            "elasticfilesystem:DescribeFileSystems",
            &[],
            page,
        ) else {
            break;
        };
        for f in page.file_systems() {
            let id = f.file_system_id();
            let arn = f
                .file_system_arn()
                .map(str::to_owned)
                .unwrap_or_else(|| cx.arn("elasticfilesystem", &format!("file-system/{id}")));
            let mut meta = ResourceMeta::new("efs.file_system", id, &arn, region).with_tags(
                tag_map(f.tags().iter().map(|t| (Some(t.key()), Some(t.value())))),
            );
            meta.name = meta.name.or(f.name().map(str::to_owned));
            inv.efs.file_systems.push(FileSystem {
                meta,
                encrypted: f.encrypted(),
                kms_key_id: f.kms_key_id().map(str::to_owned),
            });
        }
    }
    rec.found(inv.efs.file_systems.len());
    inv
}
