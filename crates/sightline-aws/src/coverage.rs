//! Which checks run under which monitoring policy: AWS's ReadOnlyAccess,
//! ViewOnlyAccess and SecurityAudit, and Sightline's generated policy.
//! The AWS policies are known from facts derived from their published
//! documents (`data/managed-policy-facts.json`): for each, the allowed
//! action patterns of the services Sightline touches. `derive_facts`
//! rebuilds that file from the documents themselves.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sightline_core::Check;

use crate::manifest::{ActionManifest, DATA_READ_FAMILIES};
use crate::policy::{allows, least_privilege_policy, patterns_overlap};

const FACTS_JSON: &str = include_str!("../data/managed-policy-facts.json");

/// The AWS managed policies Sightline documents, in column order.
pub const MANAGED_POLICIES: [&str; 3] = ["ReadOnlyAccess", "ViewOnlyAccess", "SecurityAudit"];
pub const GENERATED_POLICY: &str = "SightlineLeastPrivilege";

/// Service prefixes whose actions matter: the scanner's and the data-plane ones.
fn relevant_prefixes() -> Vec<String> {
    let mut prefixes: Vec<String> = ActionManifest::full()
        .actions()
        .iter()
        .copied()
        .chain(DATA_READ_FAMILIES.iter().map(|f| f.actions))
        .filter_map(|a| a.split_once(':').map(|(p, _)| p.to_owned()))
        .collect();
    prefixes.sort();
    prefixes.dedup();
    prefixes
}

/// What a managed policy allows, restricted to the relevant services.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PolicyFacts {
    pub arn: String,
    pub version: String,
    /// Action patterns allowed on `Resource: *`, as the document writes them.
    pub allow: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ManagedPolicyFacts {
    pub derived_from: String,
    pub policies: BTreeMap<String, PolicyFacts>,
}

#[derive(Debug, thiserror::Error)]
pub enum FactsError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} is not a GetPolicyVersion document: {detail}")]
    Shape { path: String, detail: String },
}

impl ManagedPolicyFacts {
    pub fn shipped() -> Self {
        serde_json::from_str(FACTS_JSON).expect("data/managed-policy-facts.json is valid (tested)")
    }

    /// The policy as a document `allows` can evaluate.
    pub fn document(&self, name: &str) -> Option<Value> {
        let facts = self.policies.get(name)?;
        Some(json!({"Statement": [{"Effect": "Allow", "Action": facts.allow, "Resource": "*"}]}))
    }
}

/// Derive the facts from a directory holding `<Name>.json` GetPolicyVersion documents.
pub fn derive_facts(dir: &Path) -> Result<ManagedPolicyFacts, FactsError> {
    let prefixes = relevant_prefixes();
    let mut policies = BTreeMap::new();
    for name in MANAGED_POLICIES {
        let path = dir.join(format!("{name}.json"));
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(&path).map_err(|source| FactsError::Read {
            path: shown.clone(),
            source,
        })?;
        let doc: Value = serde_json::from_str(&text).map_err(|e| FactsError::Shape {
            path: shown.clone(),
            detail: e.to_string(),
        })?;
        let version = doc
            .pointer("/PolicyVersion/VersionId")
            .and_then(Value::as_str)
            .unwrap_or("unknown")
            .to_owned();
        let statements = doc
            .pointer("/PolicyVersion/Document/Statement")
            .and_then(Value::as_array)
            .ok_or_else(|| FactsError::Shape {
                path: shown.clone(),
                detail: "no PolicyVersion.Document.Statement list".into(),
            })?;
        let mut allow = Vec::new();
        for s in statements {
            let everything = match s.get("Resource") {
                Some(Value::String(r)) => r == "*",
                Some(Value::Array(rs)) => rs.iter().any(|r| r == "*"),
                _ => false,
            };
            if s.get("Effect").and_then(Value::as_str) != Some("Allow") || !everything {
                continue;
            }
            let actions: Vec<&str> = match s.get("Action") {
                Some(Value::String(a)) => vec![a.as_str()],
                Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
                _ => Vec::new(),
            };
            allow.extend(
                actions
                    .into_iter()
                    .filter(|a| {
                        a.split_once(':').is_some_and(|(p, _)| {
                            prefixes.iter().any(|x| x.eq_ignore_ascii_case(p))
                        })
                    })
                    .map(str::to_owned),
            );
        }
        allow.sort();
        allow.dedup();
        let arn = if name == "ViewOnlyAccess" {
            "arn:aws:iam::aws:policy/job-function/ViewOnlyAccess".to_owned()
        } else {
            format!("arn:aws:iam::aws:policy/{name}")
        };
        policies.insert(
            name.to_owned(),
            PolicyFacts {
                arn,
                version,
                allow,
            },
        );
    }
    Ok(ManagedPolicyFacts {
        derived_from: "AWS managed policy documents (GetPolicyVersion), reduced to the services Sightline calls or denies".into(),
        policies,
    })
}

/// One row of the coverage table.
#[derive(Debug, Clone, Serialize)]
pub struct CheckCoverage {
    pub check_id: String,
    pub required_actions: Vec<String>,
    /// Policy name → actions of the check that the policy does not allow.
    pub missing: BTreeMap<String, Vec<String>>,
}

pub fn coverage(checks: &[&Check], facts: &ManagedPolicyFacts) -> Vec<CheckCoverage> {
    let mut documents: Vec<(String, Value)> = MANAGED_POLICIES
        .iter()
        .filter_map(|n| facts.document(n).map(|d| ((*n).to_owned(), d)))
        .collect();
    documents.push((
        GENERATED_POLICY.to_owned(),
        least_privilege_policy(&ActionManifest::full()),
    ));
    checks
        .iter()
        .map(|check| CheckCoverage {
            check_id: check.id.to_owned(),
            required_actions: check
                .required_actions
                .iter()
                .map(|a| (*a).to_owned())
                .collect(),
            missing: documents
                .iter()
                .map(|(name, doc)| {
                    let missing = check
                        .required_actions
                        .iter()
                        .filter(|a| !allows(doc, a))
                        .map(|a| (*a).to_owned())
                        .collect();
                    (name.clone(), missing)
                })
                .collect(),
        })
        .collect()
}

/// Data-plane actions each managed policy grants (what the deny policy is for).
pub fn data_plane_grants(facts: &ManagedPolicyFacts) -> BTreeMap<String, Vec<&'static str>> {
    MANAGED_POLICIES
        .iter()
        .filter_map(|n| facts.policies.get(*n).map(|p| (n, p)))
        .map(|(name, policy)| {
            (
                (*name).to_owned(),
                DATA_READ_FAMILIES
                    .iter()
                    .map(|f| f.actions)
                    .filter(|family| policy.allow.iter().any(|a| patterns_overlap(a, family)))
                    .collect(),
            )
        })
        .collect()
}

/// The data-plane grants as Markdown: policy → data-reading families it allows.
pub fn render_data_access(grants: &BTreeMap<String, Vec<&'static str>>) -> String {
    let mut out = String::from("| policy | data-reading action families it grants |\n|---|---|\n");
    for name in MANAGED_POLICIES {
        let actions = grants.get(name).map(|a| {
            a.iter()
                .map(|x| format!("`{x}`"))
                .collect::<Vec<_>>()
                .join(", ")
        });
        let shown = match actions.as_deref() {
            Some("") | None => "none".to_owned(),
            Some(list) => list.to_owned(),
        };
        out += &format!("| {name} | {shown} |\n");
    }
    out
}

/// The coverage table as Markdown.
pub fn render_markdown(rows: &[CheckCoverage]) -> String {
    let mut columns: Vec<&str> = MANAGED_POLICIES.to_vec();
    columns.push(GENERATED_POLICY);
    let mut out = format!(
        "| check | {} |\n|---|{}\n",
        columns.join(" | "),
        "---|".repeat(columns.len())
    );
    for row in rows {
        let cells: Vec<String> = columns
            .iter()
            .map(|c| match row.missing.get(*c) {
                Some(m) if m.is_empty() => "yes".to_owned(),
                Some(m) => format!("no (needs {})", m.join(", ")),
                None => "?".to_owned(),
            })
            .collect();
        out += &format!("| `{}` | {} |\n", row.check_id, cells.join(" | "));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_facts_match_the_documents_when_they_are_present() {
        let dir =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/aws-managed-policies");
        if !dir.exists() {
            eprintln!("skipping: {} not present", dir.display());
            return;
        }
        let derived = derive_facts(&dir).unwrap();
        assert_eq!(
            derived,
            ManagedPolicyFacts::shipped(),
            "data/managed-policy-facts.json is stale: run `sightline iam derive-facts`"
        );
    }

    #[test]
    fn generated_policy_runs_every_check_and_view_only_misses_s3_and_iam_details() {
        let rows = coverage(&sightline_core::catalog(), &ManagedPolicyFacts::shipped());
        for row in &rows {
            assert!(
                row.missing[GENERATED_POLICY].is_empty(),
                "{} not covered by the generated policy",
                row.check_id
            );
            assert!(
                row.missing["ReadOnlyAccess"].is_empty(),
                "{} not covered by ReadOnlyAccess",
                row.check_id
            );
        }
        let acl = rows
            .iter()
            .find(|r| r.check_id == "s3.bucket_public_acl")
            .unwrap();
        assert_eq!(
            acl.missing["ViewOnlyAccess"],
            [
                "s3:GetBucketAcl",
                "s3:GetBucketPublicAccessBlock",
                "s3:GetAccountPublicAccessBlock"
            ]
        );
        let report = rows
            .iter()
            .find(|r| r.check_id == "iam.user_console_no_mfa")
            .unwrap();
        assert!(!report.missing["ViewOnlyAccess"].is_empty());
    }

    #[test]
    fn read_only_access_grants_data_plane_reads() {
        let grants = data_plane_grants(&ManagedPolicyFacts::shipped());
        for action in [
            "s3:GetObject*",
            "dynamodb:Scan",
            "ssm:GetParameter*",
            "logs:GetLogEvents",
            "sqs:ReceiveMessage",
        ] {
            assert!(grants["ReadOnlyAccess"].contains(&action), "{action}");
        }
    }
}
