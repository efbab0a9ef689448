//! ECR private repositories: whether pushed images are scanned and whether
//! tags can be moved. Never an image.

use serde::{Deserialize, Serialize};

use super::ResourceMeta;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct EcrInventory {
    pub repositories: Vec<Repository>,
    /// Each region's registry scanning configuration, where it was read.
    #[serde(default)]
    pub registries: Vec<RegistryScanning>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Repository {
    pub meta: ResourceMeta,
    /// `MUTABLE`, `IMMUTABLE`, `MUTABLE_WITH_EXCLUSION` or
    /// `IMMUTABLE_WITH_EXCLUSION`, as the API spells them.
    pub tag_mutability: Option<String>,
    /// The wildcard filters of the tags a `*_WITH_EXCLUSION` setting
    /// exempts.
    #[serde(default)]
    pub tag_mutability_exclusions: Vec<String>,
    /// Whether a pushed image is scanned, from the registry's scanning
    /// configuration and the repository's own; `None` when either read
    /// failed.
    pub scanned_on_push: Option<bool>,
    /// `SCAN_ON_PUSH`, `CONTINUOUS_SCAN` or `MANUAL`: what the registry's
    /// rules apply to this repository.
    pub scan_frequency: Option<String>,
}

/// A region's registry scanning configuration, as
/// `GetRegistryScanningConfiguration` gives it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegistryScanning {
    pub region: String,
    /// `BASIC` or `ENHANCED`.
    pub scan_type: String,
    pub rules: Vec<ScanRule>,
}

/// One rule: a frequency for the repositories its wildcard filters match.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScanRule {
    /// `SCAN_ON_PUSH`, `CONTINUOUS_SCAN` or `MANUAL`.
    pub scan_frequency: String,
    pub filters: Vec<String>,
}

/// The most repository filters one scanning rule takes.
pub const MAX_RULE_FILTERS: usize = 100;

impl RegistryScanning {
    /// The rules as `put-registry-scanning-configuration --rules` takes
    /// them.
    pub fn rules_json(rules: &[ScanRule]) -> String {
        let rules: Vec<serde_json::Value> = rules
            .iter()
            .map(|r| {
                serde_json::json!({
                    "scanFrequency": r.scan_frequency,
                    "repositoryFilters": r.filters.iter()
                        .map(|f| serde_json::json!({"filter": f, "filterType": "WILDCARD"}))
                        .collect::<Vec<_>>(),
                })
            })
            .collect();
        serde_json::Value::Array(rules).to_string()
    }

    /// These rules with `repositories` added to a scan-on-push rule (the
    /// existing one, or a new one).
    pub fn with_scan_on_push(&self, repositories: &[&str]) -> Vec<ScanRule> {
        let mut rules = self.rules.clone();
        let added = repositories.iter().map(|r| (*r).to_owned());
        match rules
            .iter_mut()
            .find(|r| r.scan_frequency == "SCAN_ON_PUSH")
        {
            Some(rule) => rule.filters.extend(added),
            None => rules.push(ScanRule {
                scan_frequency: "SCAN_ON_PUSH".to_owned(),
                filters: added.collect(),
            }),
        }
        // A rule takes at most 100 filters: past that, one that matches
        // every repository.
        for rule in &mut rules {
            if rule.scan_frequency == "SCAN_ON_PUSH" && rule.filters.len() > MAX_RULE_FILTERS {
                rule.filters = vec!["*".to_owned()];
            }
        }
        rules
    }
}
