//! The overview: open findings by severity and category, estimated
//! savings, each account's last scan with its gaps, and the trend.

use askama::Template;
use axum::response::Response;
use sightline_store::inbox::{CATEGORIES, SEVERITIES};
use sightline_store::overview::{self, LastScan};

use super::{chart, dollars, page, Nav, PageCtx};
use crate::error::ApiResult;

pub struct SeverityRow {
    pub severity: &'static str,
    /// Counts per category, in `CATEGORIES` order.
    pub counts: Vec<i64>,
    pub total: i64,
}

#[derive(Template)]
#[template(path = "overview.html")]
struct OverviewPage {
    nav: Nav,
    categories: [&'static str; 3],
    rows: Vec<SeverityRow>,
    category_totals: Vec<i64>,
    total_open: i64,
    savings: String,
    last_scans: Vec<LastScan>,
    chart: String,
}

pub async fn show(reads: crate::extract::Reads, ctx: PageCtx) -> ApiResult<Response> {
    let mut tx = reads.begin_workspace_tx(ctx.principal.workspace_id).await?;
    let counts = overview::open_counts(&mut tx).await?;
    let last_scans = overview::last_scans(&mut tx).await?;
    let trend = overview::trend(&mut tx, 60).await?;
    tx.commit().await?;
    let rows: Vec<SeverityRow> = SEVERITIES
        .iter()
        .map(|sev| {
            let counts: Vec<i64> = CATEGORIES
                .iter()
                .map(|cat| {
                    counts
                        .iter()
                        .filter(|c| c.severity == *sev && c.category == *cat)
                        .map(|c| c.findings)
                        .sum()
                })
                .collect();
            SeverityRow {
                severity: sev,
                total: counts.iter().sum(),
                counts,
            }
        })
        .collect();
    let category_totals = (0..CATEGORIES.len())
        .map(|i| rows.iter().map(|r| r.counts[i]).sum())
        .collect();
    page(&OverviewPage {
        nav: ctx.nav("overview"),
        categories: CATEGORIES,
        total_open: rows.iter().map(|r| r.total).sum(),
        rows,
        category_totals,
        savings: dollars(counts.iter().map(|c| c.monthly_savings).sum()),
        last_scans,
        chart: chart::trend_svg(&trend),
    })
}
