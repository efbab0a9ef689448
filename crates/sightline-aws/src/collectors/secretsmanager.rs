//! Secrets Manager: the secrets of one region as `ListSecrets` describes
//! them: rotation, dates, owner, tags. Never a secret's value: neither
//! `GetSecretValue` nor `BatchGetSecretValue` is called or declared.

use sightline_core::inventory::secretsmanager::Secret;
use sightline_core::{Inventory, ResourceMeta};

use super::{tag_map, to_chrono, Collect};
use crate::record::Outcome;

pub const ACTIONS: &[&str] = &["secretsmanager:ListSecrets"];

const SERVICE: &str = "secretsmanager";

pub async fn collect(cx: Collect<'_>) -> Inventory {
    let client = crate::sdk_client!(aws_sdk_secretsmanager, &cx.in_region(cx.region));
    let rec = cx.recorder;
    let region = cx.region;
    let mut inv = cx.fragment();

    let mut pages = client.list_secrets().into_paginator().send();
    while let Some(page) = pages.next().await {
        let Outcome::Ok(page) =
            rec.settle(SERVICE, region, "secretsmanager:ListSecrets", &[], page)
        else {
            break;
        };
        for s in page.secret_list() {
            let (Some(name), Some(arn)) = (s.name(), s.arn()) else {
                continue;
            };
            let meta = ResourceMeta::new("secretsmanager.secret", name, arn, region)
                .with_tags(tag_map(s.tags().iter().map(|t| (t.key(), t.value()))));
            inv.secretsmanager.secrets.push(Secret {
                meta,
                rotation_enabled: s.rotation_enabled().unwrap_or(false),
                rotation_days: s
                    .rotation_rules()
                    .and_then(|r| r.automatically_after_days()),
                last_rotated: to_chrono(s.last_rotated_date()),
                created: to_chrono(s.created_date()),
                owning_service: s.owning_service().map(str::to_owned),
                primary_region: s.primary_region().map(str::to_owned),
            });
        }
    }
    rec.found(inv.secretsmanager.secrets.len());
    inv
}
