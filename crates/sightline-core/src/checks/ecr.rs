//! ECR checks: images scanned when pushed, and tags that cannot be moved.
//! From repository and registry settings only; never an image.

use super::{Basis, Check, CheckContext};
use crate::finding::{Category, Severity, Violation};
use crate::inventory::ecr::{RegistryScanning, Repository, ScanRule};
use crate::inventory::Inventory;
use crate::shell::{note_line, Command};

pub const CHECKS: &[&Check] = &[&SCAN_ON_PUSH_OFF, &TAGS_MUTABLE];

pub static SCAN_ON_PUSH_OFF: Check = Check {
    id: "ecr.scan_on_push_off",
    title: "ECR repository whose pushed images are not scanned",
    category: Category::Security,
    severity: Severity::Medium,
    service: "ecr",
    required_actions: &[
        "ecr:DescribeRepositories",
        "ecr:GetRegistryScanningConfiguration",
        "ecr:BatchGetRepositoryScanningConfiguration",
    ],
    basis: Basis::Observed,
    risk: "An image with a known vulnerable package reaches production unnoticed: nothing looks at it between the push and the deploy.",
    evaluate: scan_on_push_off,
};

fn scan_on_push_off(inv: &Inventory, _ctx: &CheckContext) -> Vec<Violation> {
    let unscanned: Vec<&Repository> = inv
        .ecr
        .repositories
        .iter()
        .filter(|r| r.scanned_on_push == Some(false))
        .collect();
    unscanned
        .iter()
        .map(|r| {
            let region = &r.meta.region;
            let v = Violation::new(
                &r.meta,
                match r.scan_frequency.as_deref() {
                    Some(frequency) => format!(
                        "Images pushed here are not scanned: the registry's scanning rules apply {frequency} to the repository"
                    ),
                    None => "Images pushed here are not scanned: no registry scanning rule applies to the repository".to_owned(),
                },
            )
            .evidence("scan_frequency", &r.scan_frequency);
            let Some(registry) = inv.ecr.registries.iter().find(|g| &g.region == region) else {
                return v.remediation(note_line(&format!(
                    "add {} to a SCAN_ON_PUSH rule of the registry scanning configuration in {region}",
                    r.meta.id
                )));
            };
            // The registry's rules are replaced as a whole: the command
            // keeps every rule there is and adds every unscanned
            // repository of the region, so any one finding's command
            // fixes them all and running two of them changes nothing more.
            let here: Vec<&str> = unscanned
                .iter()
                .filter(|u| &u.meta.region == region)
                .map(|u| u.meta.id.as_str())
                .collect();
            let put = |rules: &[ScanRule]| {
                Command::aws("ecr", "put-registry-scanning-configuration")
                    .region(region)
                    .arg("--scan-type", &registry.scan_type)
                    .arg("--rules", &RegistryScanning::rules_json(rules))
            };
            let note = if registry.scan_type == "ENHANCED" {
                "enhanced scanning is Amazon Inspector's, billed per image scanned; a filter matches every repository whose name contains it"
            } else {
                "basic scanning is free; a filter matches every repository whose name contains it"
            };
            v.evidence("registry_scan_type", &registry.scan_type)
                .remediation(put(&registry.with_scan_on_push(&here)).note(note))
                .rollback(put(&registry.rules))
        })
        .collect()
}

pub static TAGS_MUTABLE: Check = Check {
    id: "ecr.tags_mutable",
    title: "ECR repository whose image tags can be overwritten",
    category: Category::Security,
    severity: Severity::Low,
    service: "ecr",
    required_actions: &["ecr:DescribeRepositories"],
    basis: Basis::Observed,
    risk: "Whoever can push can move a tag that deployments trust (`v1.4.2`, `prod`) to a different image, and the next deploy runs it.",
    evaluate: tags_mutable,
};

fn tags_mutable(inv: &Inventory, _ctx: &CheckContext) -> Vec<Violation> {
    inv.ecr
        .repositories
        .iter()
        .filter(|r| {
            matches!(
                r.tag_mutability.as_deref(),
                Some("MUTABLE" | "MUTABLE_WITH_EXCLUSION")
            )
        })
        .map(|r| {
            let region = &r.meta.region;
            let set = |value: &str| {
                Command::aws("ecr", "put-image-tag-mutability")
                    .region(region)
                    .arg("--repository-name", &r.meta.id)
                    .arg("--image-tag-mutability", value)
            };
            let mutability = r.tag_mutability.as_deref().unwrap_or_default();
            let message = if mutability == "MUTABLE" {
                "Image tags can be overwritten by a later push".to_owned()
            } else {
                format!(
                    "Image tags can be overwritten by a later push, except those matching {}",
                    r.tag_mutability_exclusions.join(", ")
                )
            };
            let rollback = if r.tag_mutability_exclusions.is_empty() {
                set(mutability)
            } else {
                let filters: Vec<serde_json::Value> = r
                    .tag_mutability_exclusions
                    .iter()
                    .map(|f| serde_json::json!({"filterType": "WILDCARD", "filter": f}))
                    .collect();
                set(mutability).arg(
                    "--image-tag-mutability-exclusion-filters",
                    &serde_json::Value::Array(filters).to_string(),
                )
            };
            Violation::new(&r.meta, message)
                .evidence("image_tag_mutability", mutability)
                .evidence("exclusion_filters", &r.tag_mutability_exclusions)
                .remediation(set("IMMUTABLE").note(
                    "pipelines that re-push a moving tag such as latest then fail: IMMUTABLE_WITH_EXCLUSION keeps those tags movable",
                ))
                .rollback(rollback)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::test_support::{ctx, flagged, inventory, meta};
    use crate::inventory::ecr::Repository;

    fn repo(id: &str, mutability: Option<&str>, scanned: Option<bool>) -> Repository {
        Repository {
            meta: meta("ecr.repository", id, "us-east-1"),
            tag_mutability: mutability.map(str::to_owned),
            tag_mutability_exclusions: Vec::new(),
            scanned_on_push: scanned,
            scan_frequency: None,
        }
    }

    #[test]
    fn unscanned_repositories_are_flagged_and_unread_ones_are_not() {
        let mut inv = inventory();
        inv.ecr.repositories = vec![
            repo("app", Some("IMMUTABLE"), Some(false)),
            repo("scanned", Some("IMMUTABLE"), Some(true)),
            repo("unread", Some("IMMUTABLE"), None),
            repo("web", Some("IMMUTABLE"), Some(false)),
        ];
        inv.ecr.registries = vec![RegistryScanning {
            region: "us-east-1".into(),
            scan_type: "BASIC".into(),
            rules: vec![ScanRule {
                scan_frequency: "SCAN_ON_PUSH".into(),
                filters: vec!["team-*".into()],
            }],
        }];
        assert_eq!(flagged(&SCAN_ON_PUSH_OFF, &inv), ["app", "web"]);
        // Every finding's command keeps the existing filter and adds both
        // repositories; the rollback puts the rules back as they were.
        let v = (SCAN_ON_PUSH_OFF.evaluate)(&inv, &crate::checks::test_support::ctx());
        let rules = r#"'[{"repositoryFilters":[{"filter":"team-*","filterType":"WILDCARD"},{"filter":"app","filterType":"WILDCARD"},{"filter":"web","filterType":"WILDCARD"}],"scanFrequency":"SCAN_ON_PUSH"}]'"#;
        for finding in &v {
            assert_eq!(
                finding.remediation[0],
                format!("aws ecr put-registry-scanning-configuration --region us-east-1 --scan-type BASIC --rules {rules}  # basic scanning is free; a filter matches every repository whose name contains it")
            );
            assert_eq!(
                finding.rollback[0],
                r#"aws ecr put-registry-scanning-configuration --region us-east-1 --scan-type BASIC --rules '[{"repositoryFilters":[{"filter":"team-*","filterType":"WILDCARD"}],"scanFrequency":"SCAN_ON_PUSH"}]'"#
            );
        }
    }

    #[test]
    fn a_registry_without_a_scan_on_push_rule_gets_one() {
        let registry = RegistryScanning {
            region: "us-east-1".into(),
            scan_type: "ENHANCED".into(),
            rules: vec![ScanRule {
                scan_frequency: "CONTINUOUS_SCAN".into(),
                filters: vec!["prod-*".into()],
            }],
        };
        assert_eq!(
            registry.with_scan_on_push(&["app"]),
            [
                registry.rules[0].clone(),
                ScanRule {
                    scan_frequency: "SCAN_ON_PUSH".into(),
                    filters: vec!["app".into()],
                }
            ]
        );
    }

    #[test]
    fn tags_that_can_move_are_flagged() {
        let mut inv = inventory();
        inv.ecr.repositories = vec![
            repo("moving", Some("MUTABLE"), Some(true)),
            repo("pinned", Some("IMMUTABLE"), Some(true)),
            repo("latest-moves", Some("IMMUTABLE_WITH_EXCLUSION"), Some(true)),
            repo("mostly-moving", Some("MUTABLE_WITH_EXCLUSION"), Some(true)),
            repo("unread", None, Some(true)),
        ];
        assert_eq!(flagged(&TAGS_MUTABLE, &inv), ["mostly-moving", "moving"]);
    }

    /// The rollback puts back the exclusions the fix removes, read from
    /// the repository, not left for someone to remember.
    #[test]
    fn the_rollback_of_a_mutable_with_exclusion_repository_restores_its_filters() {
        let mut inv = inventory();
        let mut mostly = repo("mostly-moving", Some("MUTABLE_WITH_EXCLUSION"), Some(true));
        mostly.tag_mutability_exclusions = vec!["release-*".into()];
        inv.ecr.repositories = vec![mostly];
        let v = &(TAGS_MUTABLE.evaluate)(&inv, &ctx())[0];
        assert!(
            v.message.contains("except those matching release-*"),
            "{}",
            v.message
        );
        assert!(
            v.rollback[0].contains(
                r#"--image-tag-mutability MUTABLE_WITH_EXCLUSION --image-tag-mutability-exclusion-filters '[{"filter":"release-*","filterType":"WILDCARD"}]'"#
            ),
            "{}",
            v.rollback[0]
        );
    }

    /// One rule takes at most 100 filters: a registry with more unscanned
    /// repositories gets one filter that matches them all.
    #[test]
    fn more_unscanned_repositories_than_a_rule_takes_get_one_wildcard() {
        let registry = RegistryScanning {
            region: "us-east-1".into(),
            scan_type: "BASIC".into(),
            rules: vec![],
        };
        let names: Vec<String> = (0..150).map(|i| format!("repo-{i}")).collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let rules = registry.with_scan_on_push(&names);
        assert_eq!(
            rules,
            [ScanRule {
                scan_frequency: "SCAN_ON_PUSH".into(),
                filters: vec!["*".into()],
            }]
        );
        assert_eq!(
            registry.with_scan_on_push(&names[..100])[0].filters.len(),
            100
        );
    }
}
