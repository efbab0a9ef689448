//! The compliance report in each format: a section of the table, rows of a
//! CSV of its own, and OCSF 1.1 Compliance Findings (class 2003) with the
//! `compliance` object. JSON carries it inside the scan report.

use std::fmt::Write;

use serde_json::{json, Value};

use super::csv_format::write_safe_record;
use super::ocsf::{product, OCSF_VERSION};
use super::table::{table, truncate};
use crate::compliance::{ComplianceReport, ControlResult, ControlStatus};
use crate::evaluate::{CheckStatus, ScanReport};

/// `iam.root_no_mfa=failed`, one per deciding check.
fn check_cells(control: &ControlResult) -> String {
    control
        .checks
        .iter()
        .map(|c| {
            let status = c.status.map(CheckStatus::as_str).unwrap_or("not_run");
            match &c.aspect {
                Some(aspect) => format!("{}#{aspect}={status}", c.check_id),
                None => format!("{}={status}", c.check_id),
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn heading(framework: &ComplianceReport) -> String {
    let s = &framework.summary;
    let rate = s
        .pass_rate()
        .map(|r| format!("{r}% of automated controls pass"))
        .unwrap_or_else(|| "no automated control".to_owned());
    format!(
        "{} {} ({}): {} pass, {} fail, {} not evaluated, {} manual; {rate}.",
        framework.name,
        framework.version,
        framework.framework,
        s.pass,
        s.fail,
        s.not_evaluated,
        s.manual
    )
}

/// The table report's compliance section.
pub fn table_section(report: &ScanReport) -> String {
    let mut out = String::new();
    for framework in &report.compliance {
        let _ = writeln!(out, "\n{}", heading(framework));
        let rows: Vec<Vec<String>> = framework
            .controls
            .iter()
            .map(|c| {
                let detail = match (&c.reason, c.status) {
                    (Some(reason), _) => reason.clone(),
                    (None, ControlStatus::Fail) => format!(
                        "{} finding(s): {}",
                        c.findings.len(),
                        c.findings
                            .iter()
                            .map(|f| f.resource_id.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                    _ => check_cells(c),
                };
                vec![
                    c.id.clone(),
                    c.status.as_str().to_owned(),
                    format!("L{}", c.level),
                    truncate(&c.title, 60),
                    truncate(&detail, 70),
                ]
            })
            .collect();
        out += &table(&["CONTROL", "STATUS", "LEVEL", "TITLE", "DETAIL"], &rows);
    }
    out
}

/// One row per control and framework.
pub fn csv(report: &ScanReport) -> String {
    let mut writer = csv::Writer::from_writer(Vec::new());
    let _ = write_safe_record(
        &mut writer,
        [
            "framework",
            "version",
            "control",
            "level",
            "assessment",
            "status",
            "title",
            "checks",
            "findings",
            "reason",
        ],
    );
    for framework in &report.compliance {
        for c in &framework.controls {
            let level = c.level.to_string();
            let assessment = match c.assessment {
                crate::compliance::Assessment::Automated => "automated",
                crate::compliance::Assessment::Manual => "manual",
            };
            let checks = check_cells(c);
            let findings = c
                .findings
                .iter()
                .map(|f| format!("{} {}", f.check_id, f.resource_arn))
                .collect::<Vec<_>>()
                .join("; ");
            let _ = write_safe_record(
                &mut writer,
                [
                    framework.framework.as_str(),
                    framework.version.as_str(),
                    c.id.as_str(),
                    level.as_str(),
                    assessment,
                    c.status.as_str(),
                    c.title.as_str(),
                    checks.as_str(),
                    findings.as_str(),
                    c.reason.as_deref().unwrap_or_default(),
                ],
            );
        }
    }
    String::from_utf8(writer.into_inner().unwrap_or_default()).unwrap_or_default()
}

const COMPLIANCE_FINDING: u32 = 2003;

/// OCSF's compliance status: Pass 1, Warning 2, Fail 3; "not evaluated"
/// and "manual" are neither, so they are Other (99) with the word.
fn status_id(status: ControlStatus) -> u32 {
    match status {
        ControlStatus::Pass => 1,
        ControlStatus::Fail => 3,
        ControlStatus::NotEvaluated | ControlStatus::Manual => 99,
    }
}

/// One OCSF Compliance Finding per control.
pub fn ocsf(report: &ScanReport) -> String {
    let time = report.generated_at.timestamp_millis();
    let mut out: Vec<Value> = Vec::new();
    for framework in &report.compliance {
        let standard = format!("{} {}", framework.name, framework.version);
        for c in &framework.controls {
            let mut finding = json!({
                "class_uid": COMPLIANCE_FINDING,
                "class_name": "Compliance Finding",
                "category_uid": 2,
                "category_name": "Findings",
                "activity_id": 1,
                "activity_name": "Create",
                "type_uid": COMPLIANCE_FINDING * 100 + 1,
                "severity_id": if c.status == ControlStatus::Fail { 3 } else { 1 },
                "status_id": 1,
                "status": "New",
                "time": time,
                "message": format!("{standard} {}: {}", c.id, c.status.as_str()),
                "metadata": {"version": OCSF_VERSION, "product": product(), "event_code": format!("{}:{}", framework.framework, c.id)},
                "finding_info": {
                    "uid": format!("{}:{}:{}", report.account_id, framework.framework, c.id),
                    "title": c.title,
                    "desc": c.reason.clone().unwrap_or_else(|| c.title.clone()),
                },
                "compliance": {
                    "standards": [standard],
                    "control": c.id,
                    "requirements": c.checks.iter().map(|k| k.check_id.clone()).collect::<Vec<_>>(),
                    "status_id": status_id(c.status),
                    "status": match c.status {
                        ControlStatus::Pass => "Pass",
                        ControlStatus::Fail => "Fail",
                        ControlStatus::NotEvaluated => "Not evaluated",
                        ControlStatus::Manual => "Manual",
                    },
                },
                "resources": c.findings.iter().map(|f| json!({"uid": f.resource_arn, "region": f.region, "cloud_partition": "aws"})).collect::<Vec<_>>(),
                "cloud": {"provider": "AWS", "account": {"uid": report.account_id, "type": "AWS Account", "type_id": 10}},
                "unmapped": {"checks": c.checks, "level": c.level},
            });
            // OCSF leaves an optional attribute out rather than null.
            if let Some(reason) = &c.reason {
                finding["compliance"]["status_detail"] = json!(reason);
            }
            out.push(finding);
        }
    }
    serde_json::to_string_pretty(&out).unwrap_or_default() + "\n"
}
