//! Findings: one failing check on one resource, with the evidence that made
//! it fire (and its SHA-256), remediation and rollback commands, and savings.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::small_map::SmallMap;

/// What made a check fire, field by field, sorted by field name.
pub type Evidence = SmallMap<serde_json::Value>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Category {
    Cost,
    Security,
    Reliability,
}

impl Category {
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Cost => "cost",
            Category::Security => "security",
            Category::Reliability => "reliability",
        }
    }
}

/// An estimate of what fixing a cost finding saves each month.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Savings {
    pub monthly_usd: f64,
    /// The arithmetic, with the prices used: `100 GiB × $0.10/GiB-month = $10.00`.
    pub formula: String,
    pub prices_as_of: String,
}

/// What a check reports about one resource; the evaluator adds the check's metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct Violation {
    pub resource: crate::ResourceMeta,
    pub message: String,
    pub evidence: Evidence,
    pub remediation: Vec<String>,
    pub rollback: Vec<String>,
    pub savings: Option<Savings>,
    /// Other resources (ARNs) whose cost this saving already counts: a
    /// stopped instance's saving includes its volumes' storage.
    pub covers: Vec<String>,
}

impl Violation {
    pub fn new(resource: &crate::ResourceMeta, message: impl Into<String>) -> Self {
        Self {
            // Its identity without its tags, which no finding carries: a
            // check over a large estate holds one of these per resource.
            resource: crate::ResourceMeta {
                resource_type: resource.resource_type.clone(),
                id: resource.id.clone(),
                arn: resource.arn.clone(),
                region: resource.region.clone(),
                name: resource.name.clone(),
                tags: Default::default(),
            },
            message: message.into(),
            evidence: Evidence::new(),
            remediation: Vec::new(),
            rollback: Vec::new(),
            savings: None,
            covers: Vec::new(),
        }
    }

    /// Say that the saving also counts these resources' cost.
    pub fn covering(mut self, arns: impl IntoIterator<Item = String>) -> Self {
        self.covers.extend(arns);
        self
    }

    pub fn evidence(mut self, field: &str, value: impl Serialize) -> Self {
        let value = serde_json::to_value(value).unwrap_or(serde_json::Value::Null);
        self.evidence.insert(field.to_owned(), value);
        self
    }

    pub fn remediation(mut self, command: impl Into<String>) -> Self {
        self.remediation.push(command.into());
        self
    }

    pub fn rollback(mut self, command: impl Into<String>) -> Self {
        self.rollback.push(command.into());
        self
    }

    pub fn savings(mut self, savings: Option<Savings>) -> Self {
        self.savings = savings;
        self
    }
}

/// A failing check on one resource, as reported and (later) stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// The check's own id and title, borrowed from the catalog when the
    /// finding is evaluated: a large scan holds one finding per resource.
    pub check_id: Cow<'static, str>,
    pub title: Cow<'static, str>,
    pub category: Category,
    pub severity: Severity,
    pub account_id: String,
    pub region: String,
    pub resource_type: String,
    pub resource_id: String,
    pub resource_arn: String,
    pub resource_name: Option<String>,
    pub message: String,
    pub evidence: Evidence,
    /// SHA-256 of the canonical JSON of `evidence`: an approval binds to it.
    pub evidence_sha256: String,
    pub remediation: Vec<String>,
    pub rollback: Vec<String>,
    pub cis: Vec<String>,
    pub savings: Option<Savings>,
}

/// SHA-256 over canonical JSON (keys sorted, as `BTreeMap` serialises them).
pub fn evidence_hash(evidence: &Evidence) -> String {
    let canonical = serde_json::to_vec(&canonicalise(
        &serde_json::to_value(evidence).unwrap_or_default(),
    ))
    .unwrap_or_default();
    let digest = Sha256::digest(&canonical);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

fn canonicalise(value: &serde_json::Value) -> serde_json::Value {
    match value {
        serde_json::Value::Object(map) => {
            let sorted: BTreeMap<_, _> = map
                .iter()
                .map(|(k, v)| (k.clone(), canonicalise(v)))
                .collect();
            serde_json::to_value(sorted).unwrap_or_default()
        }
        serde_json::Value::Array(list) => {
            serde_json::Value::Array(list.iter().map(canonicalise).collect())
        }
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evidence_hash_ignores_key_order_and_changes_with_values() {
        let mut a = Evidence::new();
        a.insert("b".to_owned(), serde_json::json!({"y": 1, "x": 2}));
        a.insert("a".to_owned(), serde_json::json!(true));
        let mut b = Evidence::new();
        b.insert("a".to_owned(), serde_json::json!(true));
        b.insert("b".to_owned(), serde_json::json!({"x": 2, "y": 1}));
        assert_eq!(evidence_hash(&a), evidence_hash(&b));
        b.insert("a".to_owned(), serde_json::json!(false));
        assert_ne!(evidence_hash(&a), evidence_hash(&b));
        assert_eq!(evidence_hash(&a).len(), 64);
    }
}
