//! One CSV row per finding, for spreadsheets.

use crate::evaluate::ScanReport;

pub fn render(report: &ScanReport) -> String {
    let mut writer = csv::Writer::from_writer(Vec::new());
    let header = [
        "check_id",
        "title",
        "category",
        "severity",
        "account_id",
        "region",
        "resource_type",
        "resource_id",
        "resource_arn",
        "message",
        "monthly_savings_usd",
        "savings_formula",
        "cis",
        "evidence_sha256",
        "remediation",
        "rollback",
    ];
    let _ = writer.write_record(header);
    for f in &report.findings {
        let _ = writer.write_record([
            f.check_id.as_str(),
            f.title.as_str(),
            f.category.as_str(),
            f.severity.as_str(),
            f.account_id.as_str(),
            f.region.as_str(),
            f.resource_type.as_str(),
            f.resource_id.as_str(),
            f.resource_arn.as_str(),
            f.message.as_str(),
            &f.savings
                .as_ref()
                .map(|s| format!("{:.2}", s.monthly_usd))
                .unwrap_or_default(),
            f.savings
                .as_ref()
                .map(|s| s.formula.as_str())
                .unwrap_or_default(),
            &f.cis.join("; "),
            f.evidence_sha256.as_str(),
            &f.remediation.join("\n"),
            &f.rollback.join("\n"),
        ]);
    }
    String::from_utf8(writer.into_inner().unwrap_or_default()).unwrap_or_default()
}
