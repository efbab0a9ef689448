//! KMS: the keys of one region, who manages each and its state; for the
//! keys KMS can rotate on its own, whether it does; and for customer
//! managed keys, the key policy (who may use the key). Never key material.

use sightline_core::inventory::kms::KmsKey;
use sightline_core::{Inventory, ResourceMeta};

use super::{to_chrono, Collect};
use crate::record::Outcome;

pub const ACTIONS: &[&str] = &[
    "kms:ListKeys",
    "kms:DescribeKey",
    "kms:GetKeyRotationStatus",
    "kms:GetKeyPolicy",
];

const SERVICE: &str = "kms";

pub async fn collect(cx: Collect<'_>) -> Inventory {
    let client = crate::sdk_client!(aws_sdk_kms, &cx.in_region(cx.region));
    let rec = cx.recorder;
    let region = cx.region;
    let mut inv = cx.fragment();

    let mut ids = Vec::new();
    let mut pages = client.list_keys().into_paginator().send();
    while let Some(page) = pages.next().await {
        let Outcome::Ok(page) = rec.settle(SERVICE, region, "kms:ListKeys", &[], page) else {
            break;
        };
        ids.extend(
            page.keys()
                .iter()
                .filter_map(|k| k.key_id().map(str::to_owned)),
        );
    }
    for id in ids {
        let described = client.describe_key().key_id(&id).send().await;
        let Outcome::Ok(described) = rec.settle(SERVICE, region, "kms:DescribeKey", &[], described)
        else {
            continue;
        };
        let Some(m) = described.key_metadata() else {
            continue;
        };
        let mut key = KmsKey {
            meta: ResourceMeta::new("kms.key", m.key_id(), m.arn().unwrap_or_default(), region),
            manager: m
                .key_manager()
                .map(|x| x.as_str().to_owned())
                .unwrap_or_default(),
            state: m
                .key_state()
                .map(|x| x.as_str().to_owned())
                .unwrap_or_default(),
            spec: m
                .key_spec()
                .map(|x| x.as_str().to_owned())
                .unwrap_or_default(),
            origin: m
                .origin()
                .map(|x| x.as_str().to_owned())
                .unwrap_or_default(),
            deletion_date: to_chrono(m.deletion_date()),
            multi_region_replica: m
                .multi_region_configuration()
                .and_then(|c| c.multi_region_key_type())
                .is_some_and(|t| t.as_str() == "REPLICA"),
            rotation_enabled: None,
            policy: None,
        };
        if key.can_rotate() {
            let status = client.get_key_rotation_status().key_id(&id).send().await;
            key.rotation_enabled = rec
                .settle(SERVICE, region, "kms:GetKeyRotationStatus", &[], status)
                .ok()
                .map(|s| s.key_rotation_enabled());
        }
        if key.manager == "CUSTOMER" {
            let policy = client
                .get_key_policy()
                .key_id(&id)
                .policy_name("default")
                .send()
                .await;
            // A key deleted since it was listed has no policy to judge.
            key.policy = match rec.settle(
                SERVICE,
                region,
                "kms:GetKeyPolicy",
                &["NotFoundException"],
                policy,
            ) {
                Outcome::Ok(out) => {
                    let parsed = out.policy().map(serde_json::from_str::<serde_json::Value>);
                    match parsed {
                        Some(Ok(doc)) => Some(doc),
                        other => {
                            let why = match other {
                                Some(Err(err)) => format!("is not JSON: {err}"),
                                _ => "was not in the answer".to_owned(),
                            };
                            rec.gap(
                                SERVICE,
                                region,
                                "kms:GetKeyPolicy",
                                "BadResponse",
                                &format!("the key policy of {id} {why}"),
                            );
                            None
                        }
                    }
                }
                _ => None,
            };
        }
        inv.kms.keys.push(key);
    }
    rec.found(inv.kms.keys.len());
    inv
}
