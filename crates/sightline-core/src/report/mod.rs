//! Report formats: a table for people, JSON, CSV, OCSF 1.x Detection
//! Findings and SARIF 2.1.0 for machines. Each renders a `ScanReport` to a
//! string; writing it anywhere is the caller's business.

mod compliance_format;
pub mod csv_format;
mod ocsf;
mod sarif;
mod table;

use std::fmt;
use std::str::FromStr;

use crate::checks::Check;
use crate::evaluate::ScanReport;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    Table,
    Json,
    Csv,
    Ocsf,
    Sarif,
}

impl Format {
    pub const ALL: [Format; 5] = [
        Format::Table,
        Format::Json,
        Format::Csv,
        Format::Ocsf,
        Format::Sarif,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Format::Table => "table",
            Format::Json => "json",
            Format::Csv => "csv",
            Format::Ocsf => "ocsf",
            Format::Sarif => "sarif",
        }
    }

    /// File name used under `--output-dir`.
    pub fn file_name(self) -> &'static str {
        match self {
            Format::Table => "sightline-report.txt",
            Format::Json => "sightline-report.json",
            Format::Csv => "sightline-findings.csv",
            Format::Ocsf => "sightline-findings.ocsf.json",
            Format::Sarif => "sightline-findings.sarif",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Debug, thiserror::Error)]
#[error("unknown format {found:?}: expected one of table, json, csv, ocsf, sarif")]
pub struct UnknownFormat {
    pub found: String,
}

impl FromStr for Format {
    type Err = UnknownFormat;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Format::ALL
            .into_iter()
            .find(|f| f.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownFormat {
                found: s.to_owned(),
            })
    }
}

/// Render `report` in `format`. `checks` supplies rule metadata (SARIF).
pub fn render(report: &ScanReport, checks: &[&Check], format: Format) -> String {
    match format {
        Format::Table => table::render(report),
        Format::Json => serde_json::to_string_pretty(report).unwrap_or_default() + "\n",
        Format::Csv => csv_format::render(report),
        Format::Ocsf => ocsf::render(report),
        Format::Sarif => sarif::render(report, checks),
    }
}

/// The compliance report for formats whose document cannot hold it (CSV
/// rows are findings; OCSF Detection Findings are not Compliance Findings):
/// its file name under `--output-dir` and its text. `None` when no
/// framework was asked for, or the format carries it already (table, JSON)
/// or has no place for it (SARIF).
pub fn render_compliance(report: &ScanReport, format: Format) -> Option<(&'static str, String)> {
    if report.compliance.is_empty() {
        return None;
    }
    match format {
        Format::Csv => Some(("sightline-compliance.csv", compliance_format::csv(report))),
        Format::Ocsf => Some((
            "sightline-compliance.ocsf.json",
            compliance_format::ocsf(report),
        )),
        Format::Table | Format::Json | Format::Sarif => None,
    }
}

#[cfg(test)]
mod tests;
