//! ECR: the private repositories of one region, whether a pushed image is
//! scanned, and whether tags can be overwritten. Never an image or a
//! layer: no `BatchGetImage`, `GetDownloadUrlForLayer` or `DescribeImages`.
//!
//! Whether a push is scanned is the registry's call: its rules
//! (`GetRegistryScanningConfiguration`) give each repository a frequency,
//! which `BatchGetRepositoryScanningConfiguration` reports as applied. That
//! applied frequency is the answer: AWS sets a repository no rule matches
//! to manual scanning, whatever its deprecated per-repository flag says.

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
    let client = crate::sdk_client!(aws_sdk_ecr, &cx.in_region(cx.region));
    let rec = cx.recorder;
    let region = cx.region;
    let mut inv = cx.fragment();

    // (name, ARN, tag mutability)
    let mut repos: Vec<(String, String, Option<String>, Vec<String>)> = Vec::new();
    let mut pages = client
        .describe_repositories()
        .max_results(1000)
        .into_paginator()
        .send();
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
                r.image_tag_mutability().map(|m| m.as_str().to_owned()),
                r.image_tag_mutability_exclusion_filters()
                    .iter()
                    .map(|f| f.filter().to_owned())
                    .collect(),
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
            .inspect(|answers: &Vec<(String, String)>| {
                // A repository the answer lists as a failure, or leaves
                // out, is unknown: a gap, never "not scanned".
                for f in out_failures(answers, chunk) {
                    rec.gap(
                        SERVICE,
                        region,
                        "ecr:BatchGetRepositoryScanningConfiguration",
                        "Other",
                        &format!("no scanning configuration returned for {f}"),
                    );
                }
            })
        }))
        .buffered(DETAIL_CONCURRENCY)
        .collect()
        .await;
    // Each repository's applied frequency; `None` where its batch failed
    // or the answer did not give it.
    let frequency = |i: usize, name: &str| -> Option<String> {
        let batch = applied.get(i / SCAN_BATCH)?.as_ref()?;
        batch
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, f)| f.clone())
    };

    for (i, (name, arn, tag_mutability, exclusions)) in repos.iter().enumerate() {
        let applied = frequency(i, name);
        let scanned_on_push = registry.as_ref().and(applied.as_deref()).map(scans_on_push);
        inv.ecr.repositories.push(Repository {
            meta: ResourceMeta::new("ecr.repository", name, arn, region),
            tag_mutability: tag_mutability.clone(),
            tag_mutability_exclusions: exclusions.clone(),
            scanned_on_push,
            scan_frequency: applied,
        });
    }
    inv.ecr.registries.extend(registry);
    rec.found(inv.ecr.repositories.len());
    inv
}

/// Whether an applied scan frequency scans an image when it is pushed.
fn scans_on_push(frequency: &str) -> bool {
    matches!(frequency, "SCAN_ON_PUSH" | "CONTINUOUS_SCAN")
}

/// The repositories of `asked` that an answer does not describe.
fn out_failures<'a>(answers: &[(String, String)], asked: &'a [String]) -> Vec<&'a str> {
    asked
        .iter()
        .filter(|name| !answers.iter().any(|(n, _)| n == *name))
        .map(String::as_str)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_applied_push_or_continuous_frequency_scans_and_unanswered_names_are_gaps() {
        assert!(scans_on_push("SCAN_ON_PUSH"));
        assert!(scans_on_push("CONTINUOUS_SCAN"));
        assert!(!scans_on_push("MANUAL"));
        let asked = ["app".to_owned(), "gone".to_owned()];
        let answers = [("app".to_owned(), "MANUAL".to_owned())];
        assert_eq!(out_failures(&answers, &asked), ["gone"]);
    }
}
