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

/// `text`, which serde_json wrote, held as the JSON it is, at its exact size
/// (a copy when it had spare capacity: see `Finding::compact`).
fn raw_json(mut text: String) -> Box<serde_json::value::RawValue> {
    exact_string(&mut text);
    serde_json::value::RawValue::from_string(text).expect("serde_json writes valid JSON")
}

/// A finding's command lines (its remediation, or its rollback), kept as
/// the JSON array of strings they are stored and sent as.
///
/// A scan holds two lists per finding until they are written. As a
/// `Vec<String>` a list of two commands took its 24 bytes, a buffer of 48
/// and each line allocated apart; as one text it takes 16 bytes and the
/// array's length (issue 16).
#[derive(Clone)]
pub struct Commands(Box<serde_json::value::RawValue>);

impl Commands {
    pub fn new(lines: &[String]) -> Self {
        Self(raw_json(
            serde_json::to_string(lines).unwrap_or_else(|_| "[]".into()),
        ))
    }

    /// The command lines, in order (parsed from the text).
    pub fn lines(&self) -> Vec<String> {
        serde_json::from_str(self.as_json()).unwrap_or_default()
    }

    /// The JSON array of strings.
    pub fn as_json(&self) -> &str {
        self.0.get()
    }

    pub fn is_empty(&self) -> bool {
        self.as_json() == "[]"
    }
}

impl Default for Commands {
    fn default() -> Self {
        Self::new(&[])
    }
}

impl PartialEq for Commands {
    fn eq(&self, other: &Self) -> bool {
        self.as_json() == other.as_json()
    }
}

impl Eq for Commands {}

impl fmt::Debug for Commands {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_json())
    }
}

/// Serialised as the array of strings it is, laid out as the serializer
/// lays out any array (a pretty report puts each line on its own).
impl Serialize for Commands {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.lines().serialize(serializer)
    }
}

/// Read from any format as a list of strings.
impl<'de> Deserialize<'de> for Commands {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Vec::<String>::deserialize(deserializer).map(|lines| Self::new(&lines))
    }
}

/// A finding's evidence as it is kept: its canonical JSON text (compact,
/// every object's keys sorted), the bytes its digest is taken over.
///
/// A scan holds one per finding until they are written, a million at the
/// largest estates. As a tree of `serde_json::Value`s the same evidence
/// took about 330 bytes (an entry of 56 for each field, a name and a value
/// allocated apart); as text it takes its length, 54 bytes on average, and
/// the text is what the database is sent anyway (issue 16).
#[derive(Clone)]
pub struct EvidenceJson(Box<serde_json::value::RawValue>);

impl EvidenceJson {
    /// The canonical JSON of `evidence`.
    pub fn of(evidence: &Evidence) -> Self {
        Self::canonical(&serde_json::to_value(evidence).unwrap_or_default())
    }

    /// The canonical JSON of a stored evidence object; `None` if `value` is
    /// not an object.
    pub fn from_value(value: &serde_json::Value) -> Option<Self> {
        value.is_object().then(|| Self::canonical(value))
    }

    fn canonical(value: &serde_json::Value) -> Self {
        Self(raw_json(
            serde_json::to_string(&canonicalise(value)).unwrap_or_else(|_| "{}".into()),
        ))
    }

    /// The canonical JSON text.
    pub fn as_str(&self) -> &str {
        self.0.get()
    }

    /// SHA-256 of the canonical JSON: what an approval binds to.
    pub fn sha256(&self) -> Sha256Hex {
        Sha256Hex::of(self.as_str().as_bytes())
    }

    /// The evidence, field by field (parsed from its text).
    pub fn fields(&self) -> Evidence {
        serde_json::from_str(self.as_str()).unwrap_or_default()
    }
}

impl Default for EvidenceJson {
    fn default() -> Self {
        Self::of(&Evidence::new())
    }
}

/// Canonical text is equal exactly when the evidence is.
impl PartialEq for EvidenceJson {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for EvidenceJson {}

impl fmt::Debug for EvidenceJson {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Serialised as the JSON object it is, not as a string, laid out as the
/// serializer lays out any object. (Exports parse it for that; the
/// database is sent the text itself.)
impl Serialize for EvidenceJson {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match serde_json::from_str::<serde_json::Value>(self.as_str()) {
            Ok(value) => value.serialize(serializer),
            // Deeper than serde_json reads back (128 levels): its text, as
            // a string, whole. Written raw it would fail the whole report
            // (or panic `json!`, where a serializer parses raw JSON again).
            Err(_) => serializer.serialize_str(self.as_str()),
        }
    }
}

/// Read from any format as an object of fields, then made canonical.
impl<'de> Deserialize<'de> for EvidenceJson {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Evidence::deserialize(deserializer).map(|fields| Self::of(&fields))
    }
}

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

/// What a check reports about one resource; the evaluator adds the check's
/// metadata. Its fields are read through it (`violation.message`).
///
/// Boxed: a check returns one per resource it flags, a vector of them at
/// once, and the evaluator holds that vector while it turns each into a
/// finding. Unboxed, 320 bytes each in one block the size of the check's
/// findings (16 MiB for 50,000), grown by doubling inside the check; the
/// blocks that growth freed and the last one went back to the system a
/// second later or not before the scan's peak, from one run to the next
/// (a spread of 25-45 MiB in peak RSS at 100,000 resources, issue 16).
/// Boxed, a vector holds 8 bytes a violation, and each freed violation is
/// a small block the next check's violations take again.
#[derive(Debug, Clone, PartialEq)]
pub struct Violation(Box<ViolationData>);

/// What a violation holds.
#[derive(Debug, Clone, PartialEq)]
pub struct ViolationData {
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

impl std::ops::Deref for Violation {
    type Target = ViolationData;

    fn deref(&self) -> &ViolationData {
        &self.0
    }
}

impl std::ops::DerefMut for Violation {
    fn deref_mut(&mut self) -> &mut ViolationData {
        &mut self.0
    }
}

impl Violation {
    pub fn new(resource: &crate::ResourceMeta, message: impl Into<String>) -> Self {
        Self(Box::new(ViolationData {
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
        }))
    }

    /// What it holds, moved out of its box.
    pub fn into_data(self) -> ViolationData {
        *self.0
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
        self.remediation.push(exact(command.into()));
        self
    }

    pub fn rollback(mut self, command: impl Into<String>) -> Self {
        self.rollback.push(exact(command.into()));
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
    pub evidence: EvidenceJson,
    /// SHA-256 of the canonical JSON of `evidence`: an approval binds to it.
    pub evidence_sha256: Sha256Hex,
    pub remediation: Commands,
    pub rollback: Commands,
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
        exact_vec(&mut self.cis);
        self.cis.iter_mut().for_each(exact_string);
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

/// `s` with no spare capacity: a command built word by word keeps up to
/// twice its length, and a check's violations are all alive at once.
fn exact(mut s: String) -> String {
    exact_string(&mut s);
    s
}

/// `v` with no spare capacity (its items moved when it had some).
pub(crate) fn exact_vec<T>(v: &mut Vec<T>) {
    if v.capacity() > v.len() {
        let mut exact = Vec::with_capacity(v.len());
        exact.append(v);
        *v = exact;
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
    fn evidence_is_kept_as_canonical_json_and_its_digest_ignores_key_order() {
        let mut a = Evidence::new();
        a.insert(
            "b".to_owned(),
            serde_json::json!({"y": ["é", null], "x": 2}),
        );
        a.insert("a".to_owned(), serde_json::json!(true));
        let mut b = Evidence::new();
        b.insert("a".to_owned(), serde_json::json!(true));
        b.insert(
            "b".to_owned(),
            serde_json::json!({"x": 2, "y": ["é", null]}),
        );
        let (a, b_json) = (EvidenceJson::of(&a), EvidenceJson::of(&b));
        // The bytes an approval's digest has always been taken over (a
        // change here would orphan every approval already given).
        let canonical = r#"{"a":true,"b":{"x":2,"y":["é",null]}}"#;
        assert_eq!(a.as_str(), canonical);
        assert_eq!(
            a.sha256().to_string(),
            "e5fad4481f055c98a48412156768e2f49b9932e8c698401c46cead566190a23a"
        );
        assert_eq!(a, b_json);
        b.insert("a".to_owned(), serde_json::json!(false));
        assert_ne!(a.sha256(), EvidenceJson::of(&b).sha256());

        // Written as the object it is, read back from any order, made canonical.
        let value = serde_json::to_value(&a).unwrap();
        assert_eq!(
            value,
            serde_json::json!({"b": {"y": ["é", null], "x": 2}, "a": true})
        );
        assert_eq!(serde_json::to_string(&a).unwrap(), canonical);
        let read: EvidenceJson =
            serde_json::from_str(r#"{"b": {"y": ["é", null], "x": 2}, "a": true}"#).unwrap();
        assert_eq!(read.as_str(), canonical);
        assert_eq!(EvidenceJson::from_value(&value), Some(a.clone()));
        assert_eq!(a.fields()["b"]["x"], 2);
        // A pretty report lays it out as before, one field to a line.
        assert_eq!(
            serde_json::to_string_pretty(&a).unwrap(),
            serde_json::to_string_pretty(
                &serde_json::json!({"a": true, "b": {"x": 2, "y": ["é", null]}})
            )
            .unwrap()
        );
        // A float written out again is the float that was digested.
        let mut money = Evidence::new();
        money.insert("usd".to_owned(), serde_json::json!(480.954_300_000_000_05));
        let money = EvidenceJson::of(&money);
        assert_eq!(serde_json::to_string(&money).unwrap(), money.as_str());
        // Deeper than serde_json reads back: still written, whole.
        let mut deep = Evidence::new();
        let mut value = serde_json::json!(1);
        for _ in 0..200 {
            value = serde_json::json!([value]);
        }
        deep.insert("deep".to_owned(), value.clone());
        let deep = EvidenceJson::of(&deep);
        assert!(serde_json::from_str::<serde_json::Value>(deep.as_str()).is_err());
        // As its text, a string, wherever it goes: SARIF and OCSF build
        // theirs through `json!`, which unwraps `to_value`.
        assert_eq!(
            serde_json::to_value(&deep).unwrap(),
            serde_json::Value::String(deep.as_str().to_owned())
        );
        assert_eq!(
            serde_json::from_str::<String>(&serde_json::to_string_pretty(&deep).unwrap()).unwrap(),
            deep.as_str()
        );
        // Evidence is an object of fields, nothing else.
        assert_eq!(EvidenceJson::from_value(&serde_json::json!([1])), None);
        assert!(serde_json::from_str::<EvidenceJson>("[1]").is_err());
        assert_eq!(EvidenceJson::default().as_str(), "{}");
    }

    #[test]
    fn commands_keep_every_line_whole_and_in_order() {
        // Lines as a hostile resource name makes them: quotes, a newline
        // inside a quoted word, backslashes, a NUL, non-ASCII.
        let lines = vec![
            "aws ec2 delete-volume --volume-id 'a\nb'".to_owned(),
            r#"aws s3api put-bucket-policy --policy '{"a":"\\"}'"#.to_owned(),
            "aws iam tag-user --tags 'Key=é,Value=\u{0}'".to_owned(),
        ];
        let commands = Commands::new(&lines);
        assert_eq!(commands.lines(), lines);
        // A pretty report puts each line on its own, as before.
        assert_eq!(
            serde_json::to_string_pretty(&commands).unwrap(),
            serde_json::to_string_pretty(&lines).unwrap()
        );
        assert_eq!(commands.as_json(), serde_json::to_string(&lines).unwrap());
        // Written as the array it is; read back from one.
        assert_eq!(
            serde_json::to_value(&commands).unwrap(),
            serde_json::json!(lines)
        );
        let read: Commands = serde_json::from_value(serde_json::json!(lines)).unwrap();
        assert_eq!(read, commands);
        assert!(serde_json::from_str::<Commands>(r#"{"a":1}"#).is_err());
        assert!(Commands::default().is_empty() && !commands.is_empty());
        assert_eq!(Commands::default().lines(), Vec::<String>::new());
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
