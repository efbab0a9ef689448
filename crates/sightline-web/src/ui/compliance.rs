//! The Compliance page: for one framework, each control's status over every
//! account's latest scan, drilling down to the findings of its checks, and
//! the pass rate over scans.

use std::collections::BTreeMap;

use askama::Template;
use axum::response::Response;
use serde::Deserialize;
use sightline_core::compliance::{frameworks, Assessment, Control, Framework};
use sightline_store::compliance::{self, AccountControl};

use super::{chart, page, Nav, PageCtx};
use crate::error::{ApiError, ApiResult};
use crate::extract::QueryParams;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComplianceQuery {
    pub framework: Option<String>,
}

/// One control over every account's latest scan.
pub struct ControlRow {
    pub control: &'static Control,
    /// Fail if any account fails it; not evaluated if any could not decide
    /// it (and none fails); pass only if every account passes; manual.
    pub status: &'static str,
    pub findings: i32,
    /// Accounts and what each came to, where not a pass.
    pub accounts: Vec<(String, String)>,
    pub reasons: Vec<String>,
}

#[derive(Template)]
#[template(path = "compliance.html")]
struct CompliancePage {
    nav: Nav,
    framework: &'static Framework,
    tabs: Vec<(&'static str, String)>,
    rows: Vec<ControlRow>,
    counts: [(&'static str, usize); 4],
    pass_rate: String,
    chart: String,
}

/// `unassessed`: the workspace's accounts with no finished scan that
/// assessed this framework; none of them can be said to pass.
fn aggregate(
    control: &'static Control,
    seen: &[&AccountControl],
    unassessed: &[String],
) -> ControlRow {
    let status = if control.assessment == Assessment::Manual {
        "manual"
    } else if seen.iter().any(|c| c.status == "fail") {
        "fail"
    } else if !seen.is_empty() && unassessed.is_empty() && seen.iter().all(|c| c.status == "pass") {
        "pass"
    } else {
        "not_evaluated"
    };
    let mut reasons: Vec<String> = seen.iter().filter_map(|c| c.reason.clone()).collect();
    reasons.dedup();
    if status != "manual" && !unassessed.is_empty() {
        reasons.push(format!(
            "not yet assessed in {}: no finished scan with this framework",
            unassessed.join(", ")
        ));
    }
    ControlRow {
        control,
        status,
        findings: seen.iter().map(|c| c.findings).sum(),
        accounts: seen
            .iter()
            .filter(|c| c.status != "pass" && c.status != "manual")
            .map(|c| (c.aws_account_id.clone(), c.status.clone()))
            .collect(),
        reasons,
    }
}

pub async fn show(
    reads: crate::extract::Reads,
    ctx: PageCtx,
    QueryParams(q): QueryParams<ComplianceQuery>,
) -> ApiResult<Response> {
    let framework = match &q.framework {
        Some(id) => sightline_core::compliance::framework(id)
            .map_err(|e| ApiError::BadRequest(format!("framework: {e}")))?,
        None => &frameworks()[0],
    };
    let mut tx = reads.begin_workspace_tx(ctx.principal.workspace_id).await?;
    let latest = compliance::latest(&mut tx, framework.id).await?;
    let accounts = sightline_store::views::accounts(&mut tx).await?;
    let rates = compliance::pass_rates(&mut tx, framework.id, 60).await?;
    tx.commit().await?;

    let mut by_control: BTreeMap<&str, Vec<&AccountControl>> = BTreeMap::new();
    for c in &latest {
        by_control.entry(c.control_id.as_str()).or_default().push(c);
    }
    let unassessed: Vec<String> = accounts
        .iter()
        .map(|a| a.aws_account_id.clone())
        .filter(|id| !latest.iter().any(|c| &c.aws_account_id == id))
        .collect();
    let rows: Vec<ControlRow> = framework
        .controls
        .iter()
        .map(|control| {
            aggregate(
                control,
                by_control
                    .get(control.id.as_str())
                    .map(Vec::as_slice)
                    .unwrap_or_default(),
                &unassessed,
            )
        })
        .collect();
    let count = |s: &str| rows.iter().filter(|r| r.status == s).count();
    let counts = [
        ("pass", count("pass")),
        ("fail", count("fail")),
        ("not_evaluated", count("not_evaluated")),
        ("manual", count("manual")),
    ];
    let automated = counts[0].1 + counts[1].1 + counts[2].1;
    let pass_rate = if automated == 0 {
        "n/a".to_owned()
    } else {
        format!("{:.1}%", counts[0].1 as f64 * 100.0 / automated as f64)
    };
    page(&CompliancePage {
        nav: ctx.nav("compliance"),
        framework,
        tabs: frameworks()
            .iter()
            .map(|f| (f.id, format!("{} {}", f.name, f.version)))
            .collect(),
        rows,
        counts,
        pass_rate,
        chart: chart::pass_rate_svg(&rates),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(account: &str, status: &str) -> AccountControl {
        AccountControl {
            aws_account_id: account.into(),
            scan_id: uuid::Uuid::nil(),
            finished_at: chrono::Utc::now(),
            control_id: "1.4".into(),
            status: status.into(),
            reason: None,
            findings: 0,
        }
    }

    #[test]
    fn a_control_passes_only_when_every_account_was_assessed_and_passed() {
        let control = &sightline_core::compliance::framework("cis-3.0")
            .unwrap()
            .controls[3];
        assert_eq!(control.id, "1.4");
        let a = seen("111111111111", "pass");
        let b = seen("222222222222", "fail");
        assert_eq!(aggregate(control, &[&a], &[]).status, "pass");
        assert_eq!(aggregate(control, &[&a, &b], &[]).status, "fail");
        let partly = aggregate(control, &[&a], &["333333333333".into()]);
        assert_eq!(partly.status, "not_evaluated");
        assert_eq!(
            partly.reasons,
            ["not yet assessed in 333333333333: no finished scan with this framework"]
        );
        assert_eq!(aggregate(control, &[], &[]).status, "not_evaluated");
    }
}
