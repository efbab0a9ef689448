//! Findings exports (CSV, JSON, OCSF, SARIF) from the stored findings, in
//! the same renderers the command-line scan uses. Shared by the UI and the
//! API; the caller audits the export.

use chrono::Utc;
use serde::{Deserialize, Serialize};
use sightline_core::evaluate::{ScanReport, ScanStats};
use sightline_core::finding::Savings;
use sightline_core::report::{render, Format};
use sightline_core::{catalog, Category, Finding, Severity};
use sightline_store::inbox::{ExportRow, InboxFilter};

use crate::error::ApiError;

/// The most findings one export holds.
pub const EXPORT_CAP: i64 = 100_000;

/// What a findings export is asked for: a format and the inbox's filters.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ExportQuery {
    pub format: Option<String>,
    pub state: Option<String>,
    pub severity: Option<String>,
    pub category: Option<String>,
    pub check_id: Option<String>,
    pub account: Option<String>,
    pub region: Option<String>,
}

impl ExportQuery {
    pub fn format(&self) -> Result<Format, ApiError> {
        match self.format.as_deref().unwrap_or("csv") {
            "table" => Err(ApiError::BadRequest(
                "format: expected csv, json, ocsf or sarif, found \"table\"".into(),
            )),
            f => f
                .parse()
                .map_err(|e: sightline_core::report::UnknownFormat| {
                    ApiError::BadRequest(format!("format: {e}"))
                }),
        }
    }

    pub fn filter(&self) -> InboxFilter {
        inbox_filter([
            &self.state,
            &self.severity,
            &self.category,
            &self.check_id,
            &self.account,
            &self.region,
        ])
    }
}

/// The inbox's filter from (state, severity, category, check, account,
/// region) parameters; an empty parameter means any.
pub fn inbox_filter(fields: [&Option<String>; 6]) -> InboxFilter {
    let [state, severity, category, check_id, account, region] =
        fields.map(|v| v.clone().filter(|s| !s.is_empty()));
    InboxFilter {
        state,
        severity,
        category,
        check_id,
        account,
        region,
    }
}

fn severity(s: &str) -> Severity {
    match s {
        "critical" => Severity::Critical,
        "high" => Severity::High,
        "medium" => Severity::Medium,
        "low" => Severity::Low,
        _ => Severity::Info,
    }
}

fn category(s: &str) -> Category {
    match s {
        "cost" => Category::Cost,
        "security" => Category::Security,
        _ => Category::Reliability,
    }
}

/// A stored finding as the report types know it.
pub fn to_finding(row: &ExportRow) -> Finding {
    let checks = catalog();
    let check = checks.iter().find(|c| c.id == row.row.check_id);
    Finding {
        check_id: row.row.check_id.clone().into(),
        title: row.row.title.clone().into(),
        category: category(&row.row.category),
        severity: severity(&row.row.severity),
        account_id: row.row.account.clone(),
        region: row.row.region.clone(),
        resource_type: row.row.resource_type.clone(),
        resource_id: row.resource_id_text.clone(),
        resource_arn: row.row.resource_arn.clone(),
        resource_name: None,
        message: row.row.message.clone(),
        evidence: sightline_core::finding::EvidenceJson::from_value(&row.evidence)
            .unwrap_or_default(),
        // The column's check holds it to 64 lowercase hex digits.
        evidence_sha256: row.row.evidence_sha256.parse().unwrap_or_default(),
        remediation: serde_json::from_value(row.remediation.clone()).unwrap_or_default(),
        rollback: serde_json::from_value(row.rollback.clone()).unwrap_or_default(),
        cis: check
            .map(|c| sightline_core::compliance::references(c.id))
            .unwrap_or_default(),
        savings: row.row.monthly_savings.map(|usd| Savings {
            monthly_usd: usd,
            formula: row.savings_formula.clone().unwrap_or_default(),
            prices_as_of: sightline_core::prices::PriceTable::shipped().as_of.clone(),
        }),
    }
}

#[derive(Serialize)]
struct JsonFinding<'a> {
    id: uuid::Uuid,
    state: &'a str,
    first_seen: chrono::DateTime<Utc>,
    last_seen: chrono::DateTime<Utc>,
    #[serde(flatten)]
    finding: Finding,
}

/// The export's body, content type and file name.
pub fn render_export(rows: &[ExportRow], format: Format) -> (&'static str, String, String) {
    if format == Format::Json {
        let list: Vec<JsonFinding> = rows
            .iter()
            .map(|r| JsonFinding {
                id: r.row.id,
                state: &r.row.state,
                first_seen: r.row.first_seen,
                last_seen: r.row.last_seen,
                finding: to_finding(r),
            })
            .collect();
        return (
            "application/json",
            "sightline-findings.json".into(),
            serde_json::to_string_pretty(&list).unwrap_or_default() + "\n",
        );
    }
    let report = ScanReport {
        account_id: String::new(),
        regions: vec![],
        services: vec![],
        generated_at: Utc::now(),
        stats: ScanStats::default(),
        outcomes: vec![],
        findings: rows.iter().map(to_finding).collect(),
        gaps: vec![],
        all_regions_scanned: true,
        compliance: vec![],
    };
    let content_type = match format {
        Format::Csv => "text/csv; charset=utf-8",
        Format::Sarif => "application/sarif+json",
        _ => "application/json",
    };
    (
        content_type,
        format.file_name().to_owned(),
        render(&report, &catalog(), format),
    )
}
