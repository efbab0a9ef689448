//! One CSV row per finding, for spreadsheets; and the one function every
//! CSV Sightline writes passes its cells through.

use std::borrow::Cow;

use crate::evaluate::ScanReport;

/// A cell a spreadsheet will not run as a formula. Values from AWS (names,
/// tags, messages quoting them) and from people (audit actors, targets) are
/// anyone's text, so a cell that starts like a formula gets a leading `'`.
pub fn spreadsheet_safe(cell: &str) -> Cow<'_, str> {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r', '\n']) {
        Cow::Owned(format!("'{cell}"))
    } else {
        Cow::Borrowed(cell)
    }
}

/// Write one record with every cell made spreadsheet-safe.
pub fn write_safe_record<'a, W: std::io::Write>(
    writer: &mut csv::Writer<W>,
    cells: impl IntoIterator<Item = &'a str>,
) -> csv::Result<()> {
    writer.write_record(
        cells
            .into_iter()
            .map(spreadsheet_safe)
            .map(|c| c.into_owned()),
    )
}

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
    let _ = write_safe_record(&mut writer, header);
    for f in &report.findings {
        let _ = write_safe_record(
            &mut writer,
            [
                &*f.check_id,
                &*f.title,
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
                &f.evidence_sha256.to_string(),
                &f.remediation.lines().join("\n"),
                &f.rollback.lines().join("\n"),
            ],
        );
    }
    String::from_utf8(writer.into_inner().unwrap_or_default()).unwrap_or_default()
}
