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
    let client = crate::sdk_client!(aws_sdk_lambda, &cx.in_region(cx.region));
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
            let (names, secret_looking_values) =
                classify_environment(f.environment().and_then(|e| e.variables()));
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
                secret_looking_values,
                kms_key_arn: f.kms_key_arn().map(str::to_owned),
            });
        }
    }

    rec.found(inv.lambda.functions.len());
    inv
}

/// The variables' names, sorted, and the names of those whose value looks
/// like a credential. The values go no further than this function: one
/// verdict per variable is all the inventory keeps.
fn classify_environment(
    variables: Option<&std::collections::HashMap<String, String>>,
) -> (Vec<String>, Vec<String>) {
    let Some(variables) = variables else {
        return (Vec::new(), Vec::new());
    };
    let mut names: Vec<String> = variables.keys().cloned().collect();
    names.sort();
    let mut secret: Vec<String> = variables
        .iter()
        .filter(|(_, value)| sightline_core::secrets::value_looks_secret(value))
        .map(|(name, _)| name.clone())
        .collect();
    secret.sort();
    (names, secret)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_value_becomes_a_verdict_and_never_leaves() {
        let vars = std::collections::HashMap::from([
            ("LOG_LEVEL".to_owned(), "info".to_owned()),
            (
                "UPSTREAM".to_owned(),
                "postgres://app:hunter2@db:5432/app".to_owned(),
            ),
            ("KEY".to_owned(), "AKIAIOSFODNN7EXAMPLE".to_owned()),
        ]);
        let (names, secret) = classify_environment(Some(&vars));
        assert_eq!(names, ["KEY", "LOG_LEVEL", "UPSTREAM"]);
        assert_eq!(secret, ["KEY", "UPSTREAM"]);
        let kept = format!("{names:?}{secret:?}");
        assert!(
            !kept.contains("hunter2") && !kept.contains("AKIA"),
            "{kept}"
        );
        assert_eq!(classify_environment(None), (vec![], vec![]));
    }
}
