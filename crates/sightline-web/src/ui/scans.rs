//! Scan history (duration, API calls, gaps), one scan with its gaps and
//! changes, and the diff between two scans of an account.

use askama::Template;
use axum::response::Response;
use serde::Deserialize;
use sightline_store::compliance::{self, ControlChange};
use sightline_store::overview::{DiffChange, DiffCounts, DiffEntry, DiffWindow};
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
    /// The first page of each kind of change since the previous scan.
    changes: Vec<DiffEntry>,
    counts: DiffCounts,
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
    // Looked up for this account: among the workspace's newest scans, a busy
    // fleet's older scan found none and said it was the account's first.
    let previous = views::previous_scan(&mut tx, &scan).await?;
    let (mut changes, mut counts, mut control_changes) = (vec![], DiffCounts::default(), vec![]);
    if let Some(p) = previous {
        let window = DiffWindow::of(&mut tx, p, id).await?;
        counts = window.counts(&mut tx).await?;
        for change in DiffChange::ALL {
            changes.extend(window.page(&mut tx, change, None, DIFF_PAGE).await?);
        }
        control_changes = compliance::changes(&mut tx, p, id).await?;
    }
    tx.commit().await?;
    page(&ScanPage {
        nav: ctx.nav("scans"),
        account: account.aws_account_id,
        scan,
        gaps,
        previous,
        changes,
        counts,
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

/// Entries of one kind of change a diff page lists at a time.
const DIFF_PAGE: i64 = 100;

/// The diff page's query: two scans, and where one kind of change's list
/// continues (the other kinds show their first page).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiffPageQuery {
    pub from: Option<Uuid>,
    pub to: Option<Uuid>,
    pub change: Option<DiffChange>,
    pub after: Option<Uuid>,
}

/// One kind of change on the diff page: its exact count, a page of its
/// entries, and the link to the next page when there is one.
struct DiffSection {
    title: &'static str,
    id: &'static str,
    count: i64,
    entries: Vec<DiffEntry>,
    next: Option<String>,
}

#[derive(Template)]
#[template(path = "diff.html")]
struct DiffPage {
    nav: Nav,
    from: ScanView,
    to: ScanView,
    account: String,
    sections: Vec<DiffSection>,
    control_changes: Vec<ControlChange>,
}

pub async fn diff(
    reads: crate::extract::Reads,
    ctx: PageCtx,
    QueryParams(q): QueryParams<DiffPageQuery>,
) -> ApiResult<Response> {
    let (from, to) = DiffQuery {
        from: q.from,
        to: q.to,
    }
    .ids()?;
    let mut tx = reads.begin_workspace_tx(ctx.principal.workspace_id).await?;
    let window = DiffWindow::of(&mut tx, from, to).await?;
    let counts = window.counts(&mut tx).await?;
    let mut sections = Vec::with_capacity(3);
    for (change, title, id) in [
        (DiffChange::New, "New", "diff-new"),
        (DiffChange::Resolved, "Resolved", "diff-resolved"),
        (DiffChange::Regressed, "Regressed", "diff-regressed"),
    ] {
        let after = q.after.filter(|_| q.change == Some(change));
        // One more than a page: a next page exists only if it was found.
        let mut entries = window.page(&mut tx, change, after, DIFF_PAGE + 1).await?;
        let more = entries.len() as i64 > DIFF_PAGE;
        entries.truncate(DIFF_PAGE as usize);
        let next = match entries.last() {
            Some(last) if more => Some(format!(
                "/scans/diff?from={from}&to={to}&change={}&after={}#{id}",
                change.as_str(),
                last.finding_id
            )),
            _ => None,
        };
        sections.push(DiffSection {
            title,
            id,
            count: counts.of(change),
            entries,
            next,
        });
    }
    let control_changes = compliance::changes(&mut tx, from, to).await?;
    let (from, _) = views::scan(&mut tx, from).await?;
    let (to, _) = views::scan(&mut tx, to).await?;
    let account = views::account(&mut tx, from.account_id).await?;
    tx.commit().await?;
    page(&DiffPage {
        nav: ctx.nav("scans"),
        sections,
        account: account.aws_account_id,
        from,
        to,
        control_changes,
    })
}
