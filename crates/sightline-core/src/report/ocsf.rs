//! OCSF 1.1 Detection Finding (class 2004), one object per finding.

use serde_json::{json, Value};

use crate::evaluate::ScanReport;
use crate::finding::{Finding, Severity};

pub const OCSF_VERSION: &str = "1.1.0";
const DETECTION_FINDING: u32 = 2004;
const FINDINGS_CATEGORY: u32 = 2;
const ACTIVITY_CREATE: u32 = 1;

fn severity_id(s: Severity) -> u32 {
    match s {
        Severity::Info => 1,
        Severity::Low => 2,
        Severity::Medium => 3,
        Severity::High => 4,
        Severity::Critical => 5,
    }
}

pub(super) fn product() -> Value {
    json!({"name": "Sightline", "vendor_name": "Sightline", "version": env!("CARGO_PKG_VERSION")})
}

fn to_ocsf(report: &ScanReport, f: &Finding) -> Value {
    let time = report.generated_at.timestamp_millis();
    json!({
        "class_uid": DETECTION_FINDING,
        "class_name": "Detection Finding",
        "category_uid": FINDINGS_CATEGORY,
        "category_name": "Findings",
        "activity_id": ACTIVITY_CREATE,
        "activity_name": "Create",
        "type_uid": DETECTION_FINDING * 100 + ACTIVITY_CREATE,
        "severity_id": severity_id(f.severity),
        "severity": f.severity.as_str(),
        "status_id": 1,
        "status": "New",
        "time": time,
        "message": f.message,
        "metadata": {
            "version": OCSF_VERSION,
            "product": product(),
            "event_code": f.check_id,
        },
        "finding_info": {
            "uid": format!("{}:{}", f.check_id, f.resource_arn),
            "title": f.title,
            "desc": f.message,
            "types": [f.category.as_str()],
            "analytic": {"uid": f.check_id, "name": f.title, "type_id": 1, "type": "Rule"},
        },
        "resources": [{
            "uid": f.resource_arn,
            "name": f.resource_name.clone().unwrap_or_else(|| f.resource_id.clone()),
            "type": f.resource_type,
            "region": f.region,
            "cloud_partition": "aws",
            "data": f.evidence,
        }],
        "cloud": {"provider": "AWS", "region": f.region, "account": {"uid": f.account_id, "type": "AWS Account", "type_id": 10}},
        "remediation": {"desc": f.remediation.lines().join("\n"), "references": f.cis},
        "evidences": [{"data": {"sha256": f.evidence_sha256, "evidence": f.evidence}}],
        "unmapped": {
            "rollback": f.rollback,
            "monthly_savings_usd": f.savings.as_ref().map(|s| s.monthly_usd),
            "savings_formula": f.savings.as_ref().map(|s| s.formula.clone()),
        },
    })
}

pub fn render(report: &ScanReport) -> String {
    let findings: Vec<Value> = report.findings.iter().map(|f| to_ocsf(report, f)).collect();
    serde_json::to_string_pretty(&findings).unwrap_or_default() + "\n"
}
