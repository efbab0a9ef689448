//! Scan history (duration, API calls, gaps), one scan with its gaps and
//! changes, and the diff between two scans of an account.

use askama::Template;
use axum::response::Response;
use serde::Deserialize;
use sightline_store::compliance::{self, ControlChange};
use sightline_store::overview::{self, DiffEntry};
use sightline_store::views::{self, AccountView, GapView, ScanView};
use uuid::Uuid;

use super::{page, Nav, PageCtx};
use crate::error::{ApiError, ApiResult};
use crate::extract::{PathId, QueryParams};

fn duration(scan: &ScanView) -> String {
    match scan.finished_at {
        Some(end) => {
            let secs = (end - scan.started_at).num_seconds().max(0);
            format!("{}m {:02}s", secs / 60, secs % 60)
        }
        None => "—".into(),
    }
}

fn account_label(accounts: &[AccountView], id: Uuid) -> String {
    accounts
        .iter()
        .find(|a| a.id == id)
        .map(|a| a.aws_account_id.clone())
        .unwrap_or_default()
}

#[derive(Template)]
#[template(path = "scans.html")]
struct ScansPage {
    nav: Nav,
    scans: Vec<ScanView>,
    accounts: Vec<AccountView>,
}

impl ScansPage {
    fn duration(&self, s: &ScanView) -> String {
        duration(s)
    }
    fn account(&self, id: &Uuid) -> String {
        account_label(&self.accounts, *id)
    }
}

pub async fn list(reads: crate::extract::Reads, ctx: PageCtx) -> ApiResult<Response> {
    let mut tx = reads.begin_workspace_tx(ctx.principal.workspace_id).await?;
    let scans = views::scans(&mut tx, 200).await?;
    let accounts = views::accounts(&mut tx).await?;
    tx.commit().await?;
    page(&ScansPage {
        nav: ctx.nav("scans"),
        scans,
        accounts,
    })
}

#[derive(Template)]
#[template(path = "scan.html")]
struct ScanPage {
    nav: Nav,
    scan: ScanView,
    account: String,
    gaps: Vec<GapView>,
    previous: Option<Uuid>,
    changes: Vec<DiffEntry>,
    control_changes: Vec<ControlChange>,
}

impl ScanPage {
    fn duration(&self) -> String {
        duration(&self.scan)
    }
}

pub async fn detail(
    reads: crate::extract::Reads,
    ctx: PageCtx,
    PathId(id): PathId,
) -> ApiResult<Response> {
    let mut tx = reads.begin_workspace_tx(ctx.principal.workspace_id).await?;
    let (scan, gaps) = views::scan(&mut tx, id).await?;
    let account = views::account(&mut tx, scan.account_id).await?;
    let scans = views::scans(&mut tx, 1000).await?;
    let previous = scans
        .iter()
        .filter(|s| s.account_id == scan.account_id && s.started_at < scan.started_at)
        .map(|s| s.id)
        .next();
    let (changes, control_changes) = match previous {
        Some(p) => (
            overview::diff(&mut tx, p, id).await?,
            compliance::changes(&mut tx, p, id).await?,
        ),
        None => (vec![], vec![]),
    };
    tx.commit().await?;
    page(&ScanPage {
        nav: ctx.nav("scans"),
        account: account.aws_account_id,
        scan,
        gaps,
        previous,
        changes,
        control_changes,
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiffQuery {
    pub from: Option<Uuid>,
    pub to: Option<Uuid>,
}

impl DiffQuery {
    pub fn ids(&self) -> ApiResult<(Uuid, Uuid)> {
        match (self.from, self.to) {
            (Some(f), Some(t)) => Ok((f, t)),
            _ => Err(ApiError::BadRequest(
                "from and to: expected the ids of two scans of one account".into(),
            )),
        }
    }
}

#[derive(Template)]
#[template(path = "diff.html")]
struct DiffPage {
    nav: Nav,
    from: ScanView,
    to: ScanView,
    account: String,
    /// (title, element id, entries): new, resolved, regressed.
    sections: Vec<(&'static str, &'static str, Vec<DiffEntry>)>,
    control_changes: Vec<ControlChange>,
}

pub async fn diff(
    reads: crate::extract::Reads,
    ctx: PageCtx,
    QueryParams(q): QueryParams<DiffQuery>,
) -> ApiResult<Response> {
    let (from, to) = q.ids()?;
    let mut tx = reads.begin_workspace_tx(ctx.principal.workspace_id).await?;
    let entries = overview::diff(&mut tx, from, to).await?;
    let control_changes = compliance::changes(&mut tx, from, to).await?;
    let (from, _) = views::scan(&mut tx, from).await?;
    let (to, _) = views::scan(&mut tx, to).await?;
    let account = views::account(&mut tx, from.account_id).await?;
    tx.commit().await?;
    let pick = |kind: &str| -> Vec<DiffEntry> {
        entries
            .iter()
            .filter(|e| e.change == kind)
            .cloned()
            .collect()
    };
    page(&DiffPage {
        nav: ctx.nav("scans"),
        sections: vec![
            ("New", "diff-new", pick("new")),
            ("Resolved", "diff-resolved", pick("resolved")),
            ("Regressed", "diff-regressed", pick("regressed")),
        ],
        account: account.aws_account_id,
        from,
        to,
        control_changes,
    })
}
