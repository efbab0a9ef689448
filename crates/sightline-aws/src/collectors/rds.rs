//! RDS: DB instances, clusters and snapshots, with the `restore` attribute
//! of manual snapshots (public sharing). Never log files or data.

use futures::StreamExt;
use sightline_core::inventory::rds::{DbCluster, DbInstance, DbSnapshot};
use sightline_core::{Inventory, ResourceMeta};

use super::{tag_map, to_chrono, Collect, DETAIL_CONCURRENCY};
use crate::record::Outcome;

pub const ACTIONS: &[&str] = &[
    "rds:DescribeDBInstances",
    "rds:DescribeDBClusters",
    "rds:DescribeDBSnapshots",
    "rds:DescribeDBSnapshotAttributes",
];

const SERVICE: &str = "rds";

pub async fn collect(cx: Collect<'_>) -> Inventory {
    let client = crate::sdk_client!(aws_sdk_rds, &cx.in_region(cx.region));
    let rec = cx.recorder;
    let region = cx.region;
    let mut inv = cx.fragment();

    let mut pages = client
        .describe_db_instances()
        .max_records(100)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let Outcome::Ok(page) = rec.settle(SERVICE, region, "rds:DescribeDBInstances", &[], page)
        else {
            break;
        };
        for db in page.db_instances() {
            let Some(id) = db.db_instance_identifier() else {
                continue;
            };
            let arn = db
                .db_instance_arn()
                .map(str::to_owned)
                .unwrap_or_else(|| cx.arn("rds", &format!("db:{id}")));
            let mut meta = ResourceMeta::new("rds.db_instance", id, &arn, region)
                .with_tags(tag_map(db.tag_list().iter().map(|t| (t.key(), t.value()))));
            meta.name.get_or_insert_with(|| id.to_owned());
            inv.rds.instances.push(DbInstance {
                meta,
                engine: db.engine().unwrap_or_default().to_owned(),
                instance_class: db.db_instance_class().unwrap_or_default().to_owned(),
                status: db.db_instance_status().map(str::to_owned),
                multi_az: db.multi_az().unwrap_or(false),
                publicly_accessible: db.publicly_accessible().unwrap_or(false),
                storage_encrypted: db.storage_encrypted().unwrap_or(false),
                backup_retention_days: db.backup_retention_period().unwrap_or(0).into(),
                deletion_protection: db.deletion_protection().unwrap_or(false),
                auto_minor_version_upgrade: db.auto_minor_version_upgrade(),
                cluster_id: db.db_cluster_identifier().map(str::to_owned),
                read_replica_source: db
                    .read_replica_source_db_instance_identifier()
                    .map(str::to_owned),
                allocated_storage_gib: db.allocated_storage().unwrap_or(0).into(),
                storage_type: db.storage_type().map(str::to_owned),
                iops: db.iops().map(i64::from),
                storage_throughput_mibps: db.storage_throughput().map(i64::from),
                create_time: to_chrono(db.instance_create_time()),
            });
        }
    }

    let mut pages = client
        .describe_db_clusters()
        .max_records(100)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let Outcome::Ok(page) = rec.settle(SERVICE, region, "rds:DescribeDBClusters", &[], page)
        else {
            break;
        };
        for c in page.db_clusters() {
            let Some(id) = c.db_cluster_identifier() else {
                continue;
            };
            let arn = c
                .db_cluster_arn()
                .map(str::to_owned)
                .unwrap_or_else(|| cx.arn("rds", &format!("cluster:{id}")));
            let mut meta = ResourceMeta::new("rds.db_cluster", id, &arn, region)
                .with_tags(tag_map(c.tag_list().iter().map(|t| (t.key(), t.value()))));
            meta.name.get_or_insert_with(|| id.to_owned());
            inv.rds.clusters.push(DbCluster {
                meta,
                engine: c.engine().unwrap_or_default().to_owned(),
                multi_az: c.multi_az().unwrap_or(false),
                storage_encrypted: c.storage_encrypted().unwrap_or(false),
                backup_retention_days: c.backup_retention_period().unwrap_or(0).into(),
                deletion_protection: c.deletion_protection().unwrap_or(false),
            });
        }
    }

    let mut snapshots = Vec::new();
    let mut pages = client
        .describe_db_snapshots()
        .max_records(100)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let Outcome::Ok(page) = rec.settle(SERVICE, region, "rds:DescribeDBSnapshots", &[], page)
        else {
            break;
        };
        for s in page.db_snapshots() {
            let Some(id) = s.db_snapshot_identifier() else {
                continue;
            };
            let arn = s
                .db_snapshot_arn()
                .map(str::to_owned)
                .unwrap_or_else(|| cx.arn("rds", &format!("snapshot:{id}")));
            snapshots.push(DbSnapshot {
                meta: ResourceMeta::new("rds.db_snapshot", id, &arn, region)
                    .with_tags(tag_map(s.tag_list().iter().map(|t| (t.key(), t.value())))),
                instance_id: s.db_instance_identifier().unwrap_or_default().to_owned(),
                snapshot_type: s.snapshot_type().unwrap_or_default().to_owned(),
                encrypted: s.encrypted().unwrap_or(false),
                create_time: to_chrono(s.snapshot_create_time()),
                // Automated snapshots cannot be shared.
                public: (s.snapshot_type() != Some("manual")).then_some(false),
            });
        }
    }
    let manual: Vec<usize> = (0..snapshots.len())
        .filter(|&i| snapshots[i].public.is_none())
        .collect();
    let publics: Vec<Option<bool>> = futures::stream::iter(manual.iter().map(|&i| {
        let client = client.clone();
        let id = snapshots[i].meta.id.clone();
        async move {
            let result = client
                .describe_db_snapshot_attributes()
                .db_snapshot_identifier(&id)
                .send()
                .await;
            rec.settle(
                SERVICE,
                region,
                "rds:DescribeDBSnapshotAttributes",
                &[],
                result,
            )
            .ok()
            .map(|out| {
                out.db_snapshot_attributes_result()
                    .map(|r| r.db_snapshot_attributes())
                    .unwrap_or_default()
                    .iter()
                    .filter(|a| a.attribute_name() == Some("restore"))
                    .any(|a| a.attribute_values().iter().any(|v| v == "all"))
            })
        }
    }))
    .buffered(DETAIL_CONCURRENCY)
    .collect()
    .await;
    for (i, public) in manual.into_iter().zip(publics) {
        snapshots[i].public = public;
    }
    inv.rds.snapshots = snapshots;

    rec.found(inv.resource_count());
    inv
}
