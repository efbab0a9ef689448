//! Lambda: functions from `ListFunctions`. That answer carries environment
//! variable values; they are dropped here, before anything else sees them,
//! and only the names are kept. Never `GetFunction` (it returns a code URL).

use sightline_core::inventory::lambda::Function;
use sightline_core::{Inventory, ResourceMeta};

use super::Collect;
use crate::record::Outcome;

pub const ACTIONS: &[&str] = &["lambda:ListFunctions"];

const SERVICE: &str = "lambda";

pub async fn collect(cx: Collect<'_>) -> Inventory {
    let client = aws_sdk_lambda::Client::new(&cx.session.in_region(cx.region));
    let rec = cx.recorder;
    let region = cx.region;
    let mut inv = cx.fragment();

    let mut pages = client
        .list_functions()
        .max_items(50)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let Outcome::Ok(page) = rec.settle(SERVICE, region, "lambda:ListFunctions", &[], page)
        else {
            break;
        };
        for f in page.functions() {
            let Some(name) = f.function_name() else {
                continue;
            };
            let arn = f
                .function_arn()
                .map(str::to_owned)
                .unwrap_or_else(|| cx.arn("lambda", &format!("function:{name}")));
            let mut names: Vec<String> = f
                .environment()
                .and_then(|e| e.variables())
                .map(|vars| vars.keys().cloned().collect())
                .unwrap_or_default();
            names.sort();
            let mut meta = ResourceMeta::new("lambda.function", name, &arn, region);
            meta.name = Some(name.to_owned());
            inv.lambda.functions.push(Function {
                meta,
                runtime: f.runtime().map(|r| r.as_str().to_owned()),
                role: f.role().map(str::to_owned),
                memory_mb: f.memory_size(),
                last_modified: f
                    .last_modified()
                    .and_then(|t| {
                        chrono::DateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S%.f%z").ok()
                    })
                    .map(|t| t.to_utc()),
                environment_variable_names: names,
                kms_key_arn: f.kms_key_arn().map(str::to_owned),
            });
        }
    }

    rec.found(inv.lambda.functions.len());
    inv
}
