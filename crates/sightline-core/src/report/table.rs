//! The human-readable report: findings table, check summary, coverage gaps.

use std::fmt::Write;

use crate::evaluate::{CheckStatus, ScanReport};

pub(super) fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        let cut: String = s.chars().take(max.saturating_sub(1)).collect();
        format!("{cut}…")
    }
}

pub(super) fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c}{}", " ".repeat(w - c.chars().count())))
            .collect();
        padded.join("  ").trim_end().to_owned() + "\n"
    };
    let mut out = line(headers.to_vec());
    out += &line(
        widths
            .iter()
            .map(|w| "-".repeat(*w))
            .collect::<Vec<_>>()
            .iter()
            .map(String::as_str)
            .collect(),
    );
    for row in rows {
        out += &line(row.iter().map(String::as_str).collect());
    }
    out
}

/// `name (id)` when the resource has a name that is not its id.
fn resource_label(f: &crate::Finding) -> String {
    match &f.resource_name {
        Some(name) if name != &f.resource_id => format!("{name} ({})", f.resource_id),
        _ => f.resource_id.clone(),
    }
}

pub fn render(report: &ScanReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Sightline scan of account {} — {} region(s), {} resources, {} API calls, {} ms",
        report.account_id,
        report.regions.len(),
        report.stats.resources,
        report.stats.api_calls,
        report.stats.duration_ms
    );
    out.push('\n');
    let mut findings: Vec<_> = report.findings.iter().collect();
    findings.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then(a.check_id.cmp(&b.check_id))
            .then(a.resource_id.cmp(&b.resource_id))
    });
    if findings.is_empty() {
        out.push_str("No failing findings.\n");
    } else {
        let rows: Vec<Vec<String>> = findings
            .iter()
            .map(|f| {
                vec![
                    f.severity.as_str().to_owned(),
                    f.check_id.to_string(),
                    f.region.clone(),
                    truncate(&resource_label(f), 56),
                    truncate(&f.message, 70),
                    f.savings
                        .as_ref()
                        .map(|s| format!("${:.2}", s.monthly_usd))
                        .unwrap_or_default(),
                ]
            })
            .collect();
        out += &table(
            &[
                "SEVERITY",
                "CHECK",
                "REGION",
                "RESOURCE",
                "FINDING",
                "SAVINGS/MO",
            ],
            &rows,
        );
    }
    out.push('\n');
    let _ = writeln!(
        out,
        "Checks: {} passed, {} failed, {} not evaluated. Findings: {}. Estimated savings: ${:.2}/month.",
        report.count(CheckStatus::Passed),
        report.count(CheckStatus::Failed),
        report.count(CheckStatus::NotEvaluated),
        report.findings.len(),
        report.monthly_savings_usd()
    );
    let not_evaluated: Vec<_> = report
        .outcomes
        .iter()
        .filter(|o| o.status == CheckStatus::NotEvaluated || o.incomplete)
        .collect();
    if !not_evaluated.is_empty() {
        out.push_str("\nNot evaluated (input missing, see gaps):\n");
        for o in not_evaluated {
            let actions: std::collections::BTreeSet<&str> =
                o.missing.iter().map(|g| g.action.as_str()).collect();
            let what = if o.incomplete {
                "incomplete"
            } else {
                "not evaluated"
            };
            let _ = writeln!(
                out,
                "  {} ({what}): needs {}",
                o.check_id,
                actions.into_iter().collect::<Vec<_>>().join(", ")
            );
        }
    }
    if !report.gaps.is_empty() {
        let _ = writeln!(out, "\nCoverage gaps ({}):", report.gaps.len());
        let rows: Vec<Vec<String>> = report
            .gaps
            .iter()
            .map(|g| {
                vec![
                    g.service.clone(),
                    g.region.clone(),
                    g.action.clone(),
                    g.kind.clone(),
                    truncate(&g.error, 80),
                ]
            })
            .collect();
        out += &table(&["SERVICE", "REGION", "ACTION", "KIND", "ERROR"], &rows);
    }
    out += &super::compliance_format::table_section(report);
    out
}
