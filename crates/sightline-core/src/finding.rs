//! Findings: one failing check on one resource, with the evidence that made
//! it fire (and its SHA-256), remediation and rollback commands, and savings.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

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
    pub evidence_sha256: Sha256Hex,
    pub remediation: Vec<String>,
    pub rollback: Vec<String>,
    pub cis: Vec<String>,
    pub savings: Option<Savings>,
}

/// SHA-256 over canonical JSON (keys sorted, as `BTreeMap` serialises them).
impl Finding {
    /// Every string and list of the finding reallocated to its exact size.
    ///
    /// A scan holds all of its findings until they are written (about 1.8
    /// KB each, a million of them in the largest estates), and much of what
    /// they hold was built by appending: a command word by word, a list
    /// push by push, each keeping up to twice its length in capacity.
    /// `shrink_to_fit` would not help: mimalloc's `realloc` keeps a block
    /// that shrinks by less than half where it is, so nothing is freed. A
    /// copy of the exact size is.
    pub fn compact(&mut self) {
        for s in [
            &mut self.account_id,
            &mut self.region,
            &mut self.resource_type,
            &mut self.resource_id,
            &mut self.resource_arn,
            &mut self.message,
        ] {
            exact_string(s);
        }
        if let Some(name) = &mut self.resource_name {
            exact_string(name);
        }
        self.evidence.compact(exact_value);
        for list in [&mut self.remediation, &mut self.rollback, &mut self.cis] {
            exact_vec(list);
            list.iter_mut().for_each(exact_string);
        }
        if let Some(savings) = &mut self.savings {
            exact_string(&mut savings.formula);
            exact_string(&mut savings.prices_as_of);
        }
    }
}

/// `s` with no spare capacity (a copy when it had some: see
/// [`Finding::compact`]).
pub(crate) fn exact_string(s: &mut String) {
    if s.capacity() > s.len() {
        *s = s.as_str().to_owned();
    }
}

/// `v` with no spare capacity (its items moved when it had some).
pub(crate) fn exact_vec<T>(v: &mut Vec<T>) {
    if v.capacity() > v.len() {
        let mut exact = Vec::with_capacity(v.len());
        exact.append(v);
        *v = exact;
    }
}

fn exact_value(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::String(s) => exact_string(s),
        serde_json::Value::Array(items) => {
            exact_vec(items);
            items.iter_mut().for_each(exact_value);
        }
        // A map of serde_json's own (a BTreeMap unless preserve_order) has
        // no capacity to give back; its strings do.
        serde_json::Value::Object(map) => map.values_mut().for_each(exact_value),
        _ => {}
    }
}

/// A SHA-256 digest: its 32 bytes held, written as 64 lowercase hex digits
/// wherever it goes (JSON, CSV, the database, a change plan). A scan holds
/// one per finding; as text it took 88 bytes, a million of them in the
/// largest estates.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Sha256Hex([u8; 32]);

impl Sha256Hex {
    pub fn of(bytes: &[u8]) -> Self {
        Self(Sha256::digest(bytes).into())
    }
}

impl fmt::Display for Sha256Hex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl fmt::Debug for Sha256Hex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{self}\"")
    }
}

/// What a digest's text must be, and what was there instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected a SHA-256 digest as 64 lowercase hex digits, found {found:?}")]
pub struct NotADigest {
    pub found: String,
}

impl std::str::FromStr for Sha256Hex {
    type Err = NotADigest;

    fn from_str(text: &str) -> Result<Self, NotADigest> {
        let wrong = || NotADigest {
            found: text.chars().take(80).collect(),
        };
        let digit = |c: u8| match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            _ => None,
        };
        if text.len() != 64 {
            return Err(wrong());
        }
        let mut bytes = [0u8; 32];
        for (byte, pair) in bytes.iter_mut().zip(text.as_bytes().chunks_exact(2)) {
            *byte = digit(pair[0])
                .zip(digit(pair[1]))
                .map(|(h, l)| h << 4 | l)
                .ok_or_else(wrong)?;
        }
        Ok(Self(bytes))
    }
}

impl Serialize for Sha256Hex {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Sha256Hex {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = std::borrow::Cow::<str>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

pub fn evidence_hash(evidence: &Evidence) -> Sha256Hex {
    let canonical = serde_json::to_vec(&canonicalise(
        &serde_json::to_value(evidence).unwrap_or_default(),
    ))
    .unwrap_or_default();
    Sha256Hex::of(&canonical)
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
        assert_eq!(evidence_hash(&a).to_string().len(), 64);
    }

    #[test]
    fn a_digest_is_written_as_64_lowercase_hex_digits_and_read_back_only_so() {
        let digest = Sha256Hex::of(b"abc");
        let text = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        assert_eq!(digest.to_string(), text);
        assert_eq!(
            serde_json::to_value(digest).unwrap(),
            serde_json::json!(text)
        );
        assert_eq!(
            serde_json::from_value::<Sha256Hex>(serde_json::json!(text)).unwrap(),
            digest
        );
        assert_eq!(text.parse::<Sha256Hex>(), Ok(digest));
        for wrong in [
            &text.to_uppercase(),
            &text[..63],
            &format!("{text}0"),
            &format!("{}g", &text[..63]),
            "",
            "é",
        ] {
            let err = wrong.parse::<Sha256Hex>().unwrap_err();
            assert_eq!(err.found, *wrong);
            assert!(err
                .to_string()
                .starts_with("expected a SHA-256 digest as 64 lowercase hex digits, found"));
        }
        assert!(serde_json::from_value::<Sha256Hex>(serde_json::json!("nope")).is_err());
    }
}
