//! ECR: the private repositories of one region, whether a pushed image is
//! scanned, and whether tags can be overwritten. Never an image or a
//! layer: no `BatchGetImage`, `GetDownloadUrlForLayer` or `DescribeImages`.
//!
//! Whether a push is scanned is the registry's call first: its rules
//! (`GetRegistryScanningConfiguration`) give each repository a frequency,
//! which `BatchGetRepositoryScanningConfiguration` reports as applied. Only
//! under basic scanning does the older per-repository scan-on-push flag
//! still count; enhanced scanning (Amazon Inspector) ignores it.

use futures::stream::{self, StreamExt};
use sightline_core::inventory::ecr::{RegistryScanning, Repository, ScanRule};
use sightline_core::{Inventory, ResourceMeta};

use super::{Collect, DETAIL_CONCURRENCY};
use crate::record::Outcome;

pub const ACTIONS: &[&str] = &[
    "ecr:DescribeRepositories",
    "ecr:GetRegistryScanningConfiguration",
    "ecr:BatchGetRepositoryScanningConfiguration",
];

const SERVICE: &str = "ecr";

/// Repositories per `BatchGetRepositoryScanningConfiguration` (the API's limit).
const SCAN_BATCH: usize = 25;

pub async fn collect(cx: Collect<'_>) -> Inventory {
    let client = aws_sdk_ecr::Client::new(&cx.session.in_region(cx.region));
    let rec = cx.recorder;
    let region = cx.region;
    let mut inv = cx.fragment();

    // (name, ARN, repository-level scan on push, tag mutability)
    let mut repos: Vec<(String, String, bool, Option<String>)> = Vec::new();
    let mut pages = client.describe_repositories().into_paginator().send();
    while let Some(page) = pages.next().await {
        let Outcome::Ok(page) = rec.settle(SERVICE, region, "ecr:DescribeRepositories", &[], page)
        else {
            break;
        };
        for r in page.repositories() {
            let (Some(name), Some(arn)) = (r.repository_name(), r.repository_arn()) else {
                continue;
            };
            repos.push((
                name.to_owned(),
                arn.to_owned(),
                r.image_scanning_configuration()
                    .is_some_and(|c| c.scan_on_push()),
                r.image_tag_mutability().map(|m| m.as_str().to_owned()),
            ));
        }
    }
    if repos.is_empty() {
        rec.found(0);
        return inv;
    }

    let registry = client.get_registry_scanning_configuration().send().await;
    let registry = rec
        .settle(
            SERVICE,
            region,
            "ecr:GetRegistryScanningConfiguration",
            &[],
            registry,
        )
        .ok()
        .map(|out| {
            let config = out.scanning_configuration();
            RegistryScanning {
                region: region.to_owned(),
                scan_type: config
                    .and_then(|c| c.scan_type())
                    .map_or("BASIC", |t| t.as_str())
                    .to_owned(),
                rules: config
                    .map(|c| c.rules())
                    .unwrap_or_default()
                    .iter()
                    .map(|r| ScanRule {
                        scan_frequency: r.scan_frequency().as_str().to_owned(),
                        filters: r
                            .repository_filters()
                            .iter()
                            .map(|f| f.filter().to_owned())
                            .collect(),
                    })
                    .collect(),
            }
        });

    let client = &client;
    let names: Vec<String> = repos.iter().map(|r| r.0.clone()).collect();
    let applied: Vec<Option<Vec<(String, String)>>> =
        stream::iter(names.chunks(SCAN_BATCH).map(|chunk| async move {
            let result = client
                .batch_get_repository_scanning_configuration()
                .set_repository_names(Some(chunk.to_vec()))
                .send()
                .await;
            rec.settle(
                SERVICE,
                region,
                "ecr:BatchGetRepositoryScanningConfiguration",
                &[],
                result,
            )
            .ok()
            .map(|out| {
                out.scanning_configurations()
                    .iter()
                    .filter_map(|c| {
                        Some((
                            c.repository_name()?.to_owned(),
                            c.scan_frequency()?.as_str().to_owned(),
                        ))
                    })
                    .collect()
            })
        }))
        .buffered(DETAIL_CONCURRENCY)
        .collect()
        .await;
    // Each repository's applied frequency; `None` where its batch failed.
    let frequency = |i: usize, name: &str| -> Option<Option<String>> {
        let batch = applied.get(i / SCAN_BATCH)?.as_ref()?;
        Some(
            batch
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, f)| f.clone()),
        )
    };

    for (i, (name, arn, repo_scan_on_push, tag_mutability)) in repos.iter().enumerate() {
        let applied = frequency(i, name);
        let scanned_on_push = match (&registry, &applied) {
            (Some(registry), Some(freq)) => Some(
                matches!(freq.as_deref(), Some("SCAN_ON_PUSH" | "CONTINUOUS_SCAN"))
                    || (registry.scan_type == "BASIC" && *repo_scan_on_push),
            ),
            _ => None,
        };
        inv.ecr.repositories.push(Repository {
            meta: ResourceMeta::new("ecr.repository", name, arn, region),
            tag_mutability: tag_mutability.clone(),
            scanned_on_push,
            scan_frequency: applied.flatten(),
        });
    }
    inv.ecr.registries.extend(registry);
    rec.found(inv.ecr.repositories.len());
    inv
}
