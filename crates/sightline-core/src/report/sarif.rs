//! SARIF 2.1.0: one rule per check, one result per finding, located by ARN.

use serde_json::{json, Value};

use crate::checks::Check;
use crate::evaluate::ScanReport;
use crate::finding::Severity;

fn level(s: Severity) -> &'static str {
    match s {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low | Severity::Info => "note",
    }
}

pub fn render(report: &ScanReport, checks: &[&Check]) -> String {
    let rules: Vec<Value> = checks
        .iter()
        .map(|c| {
            json!({
                "id": c.id,
                "name": c.id.replace(['.', '_'], " "),
                "shortDescription": {"text": c.title},
                "fullDescription": {"text": c.risk},
                "defaultConfiguration": {"level": level(c.severity)},
                "properties": {"category": c.category.as_str(), "severity": c.severity.as_str(), "cis": crate::compliance::references(c.id), "tags": [c.category.as_str(), c.service]},
            })
        })
        .collect();
    let results: Vec<Value> = report
        .findings
        .iter()
        .map(|f| {
            let rule_index = checks.iter().position(|c| c.id == f.check_id);
            json!({
                "ruleId": f.check_id,
                "ruleIndex": rule_index,
                "level": level(f.severity),
                "message": {"text": format!("{} ({})", f.message, f.resource_id)},
                "locations": [{"logicalLocations": [{"fullyQualifiedName": f.resource_arn, "name": f.resource_id, "kind": "resource"}]}],
                "partialFingerprints": {"evidenceSha256/v1": f.evidence_sha256},
                "properties": {
                    "region": f.region, "accountId": f.account_id, "resourceType": f.resource_type,
                    "evidence": f.evidence, "remediation": f.remediation, "rollback": f.rollback,
                    "monthlySavingsUsd": f.savings.as_ref().map(|s| s.monthly_usd),
                },
            })
        })
        .collect();
    let doc = json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "Sightline", "version": env!("CARGO_PKG_VERSION"), "rules": rules}},
            "results": results,
        }],
    });
    serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n"
}
