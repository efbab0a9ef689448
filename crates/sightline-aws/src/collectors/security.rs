//! The account's own security services in one region: IAM Access Analyzer
//! analyzers, AWS Config recorders and their status, whether Security Hub
//! is on, and GuardDuty detectors. One or two calls each; a read that fails
//! leaves its field `None` (a gap), never "off".

use sightline_core::inventory::security::{Analyzer, ConfigRecorder, Detector, RegionSecurity};
use sightline_core::Inventory;

use super::Collect;
use crate::record::Outcome;

pub const ACTIONS: &[&str] = &[
    "access-analyzer:ListAnalyzers",
    "config:DescribeConfigurationRecorders",
    "config:DescribeConfigurationRecorderStatus",
    "securityhub:DescribeHub",
    "guardduty:ListDetectors",
    "guardduty:GetDetector",
];

const SERVICE: &str = "security";

pub async fn collect(cx: Collect<'_>) -> Inventory {
    let config = cx.in_region(cx.region);
    let rec = cx.recorder;
    let region = cx.region;
    let mut inv = cx.fragment();

    let analyzer_client = crate::sdk_client!(aws_sdk_accessanalyzer, &config);
    let mut analyzers = Some(Vec::new());
    let mut pages = analyzer_client.list_analyzers().into_paginator().send();
    while let Some(page) = pages.next().await {
        let Outcome::Ok(page) =
            rec.settle(SERVICE, region, "access-analyzer:ListAnalyzers", &[], page)
        else {
            analyzers = None;
            break;
        };
        if let Some(list) = analyzers.as_mut() {
            list.extend(page.analyzers().iter().map(|a| Analyzer {
                name: a.name().to_owned(),
                kind: a.r#type().as_str().to_owned(),
                status: a.status().as_str().to_owned(),
            }));
        }
    }

    let config_client = crate::sdk_client!(aws_sdk_config, &config);
    let recorders = config_client
        .describe_configuration_recorders()
        .send()
        .await;
    let statuses = config_client
        .describe_configuration_recorder_status()
        .send()
        .await;
    let recorders = rec
        .settle(
            SERVICE,
            region,
            "config:DescribeConfigurationRecorders",
            &[],
            recorders,
        )
        .ok();
    let statuses = rec
        .settle(
            SERVICE,
            region,
            "config:DescribeConfigurationRecorderStatus",
            &[],
            statuses,
        )
        .ok();
    let config_recorders = match (recorders, statuses) {
        (Some(recorders), Some(statuses)) => Some(
            recorders
                .configuration_recorders()
                .iter()
                .map(|r| {
                    let name = r.name().unwrap_or_default().to_owned();
                    let status = statuses
                        .configuration_recorders_status()
                        .iter()
                        .find(|s| s.name() == Some(name.as_str()));
                    let group = r.recording_group();
                    ConfigRecorder {
                        all_supported: group.is_some_and(|g| g.all_supported()),
                        include_global: group.is_some_and(|g| g.include_global_resource_types()),
                        recording: status.map(|s| s.recording()),
                        last_status: status
                            .and_then(|s| s.last_status())
                            .map(|s| s.as_str().to_owned()),
                        last_error: status
                            .and_then(|s| s.last_error_code().or(s.last_error_message()))
                            .map(str::to_owned),
                        role_arn: r.role_arn().map(str::to_owned),
                        resource_types: group
                            .map(|g| {
                                g.resource_types()
                                    .iter()
                                    .map(|t| t.as_str().to_owned())
                                    .collect()
                            })
                            .unwrap_or_default(),
                        name,
                    }
                })
                .collect(),
        ),
        _ => None,
    };

    // An account not subscribed here gets InvalidAccessException: an
    // answer ("off"), not a gap.
    let hub = crate::sdk_client!(aws_sdk_securityhub, &config)
        .describe_hub()
        .send()
        .await;
    let security_hub = match rec.settle(
        SERVICE,
        region,
        "securityhub:DescribeHub",
        &["InvalidAccessException"],
        hub,
    ) {
        Outcome::Ok(_) => Some(true),
        Outcome::Absent => Some(false),
        Outcome::Gap => None,
    };

    let guardduty = crate::sdk_client!(aws_sdk_guardduty, &config);
    let mut detector_ids = Some(Vec::new());
    let mut pages = guardduty.list_detectors().into_paginator().send();
    while let Some(page) = pages.next().await {
        let Outcome::Ok(page) = rec.settle(SERVICE, region, "guardduty:ListDetectors", &[], page)
        else {
            detector_ids = None;
            break;
        };
        if let Some(ids) = detector_ids.as_mut() {
            ids.extend(page.detector_ids().iter().cloned());
        }
    }
    let mut guardduty_detectors = None;
    if let Some(ids) = detector_ids {
        let mut detectors = Vec::new();
        for id in ids {
            let out = guardduty.get_detector().detector_id(&id).send().await;
            let status = rec
                .settle(SERVICE, region, "guardduty:GetDetector", &[], out)
                .ok()
                .and_then(|d| d.status().map(|s| s.as_str().to_owned()));
            detectors.push(Detector { id, status });
        }
        guardduty_detectors = Some(detectors);
    }

    inv.security.regions.push(RegionSecurity {
        region: region.to_owned(),
        analyzers,
        config_recorders,
        security_hub,
        guardduty_detectors,
    });
    inv
}
