//! The overview and scan pages: open findings by severity and category,
//! estimated savings, the last scan of each account with its gaps, the trend
//! over scans, and the diff between two scans. Runs on a [`WorkspaceTx`].

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::FromRow;
use uuid::Uuid;

use crate::tenant::WorkspaceTx;
use crate::views::GapView;
use crate::StoreError;

#[derive(Debug, Clone, Serialize, FromRow)]
pub struct OpenCount {
    pub severity: String,
    pub category: String,
    pub findings: i64,
    pub monthly_savings: f64,
}

/// Open findings (neither decided nor resolved) by severity and category:
/// the counts each account's latest saved scan recorded (`scan_open_counts`,
/// written in the scan's own transaction), less the findings people have
/// since decided on. Reads a few rows per account, not every finding.
pub async fn open_counts(tx: &mut WorkspaceTx) -> Result<Vec<OpenCount>, StoreError> {
    let workspace_id = tx.workspace_id();
    Ok(sqlx::query_as(
        "WITH latest AS (
             SELECT DISTINCT ON (account_id) id FROM scans
             WHERE workspace_id = $1 AND status IN ('succeeded', 'partial') AND finished_at IS NOT NULL
             ORDER BY account_id, finished_at DESC
         ),
         counted AS (
             SELECT c.severity, c.category, c.findings, c.monthly_savings
             FROM scan_open_counts c JOIN latest l ON l.id = c.scan_id
             UNION ALL
             SELECT severity, category, -count(*), -coalesce(sum(monthly_savings), 0) FROM findings
             WHERE workspace_id = $1 AND status = 'open' AND decision IS NOT NULL
               AND finding_state(status, decision, snoozed_until) <> 'open'
             GROUP BY 1, 2
         )
         SELECT severity, category, sum(findings)::int8 AS findings, sum(monthly_savings)::float8 AS monthly_savings
         FROM counted GROUP BY 1, 2 HAVING sum(findings) > 0 ORDER BY 1, 2",
    )
    .bind(workspace_id)
    .fetch_all(tx.conn())
    .await?)
}

/// The latest scan of one account, with its coverage gaps.
#[derive(Debug, Clone, Serialize)]
pub struct LastScan {
    pub account: String,
    pub account_name: Option<String>,
    pub scan: crate::views::ScanView,
    pub gap_list: Vec<GapView>,
}

#[derive(FromRow)]
struct LastScanRow {
    aws_account_id: String,
    account_name: Option<String>,
    #[sqlx(flatten)]
    scan: crate::views::ScanView,
}

pub async fn last_scans(tx: &mut WorkspaceTx) -> Result<Vec<LastScan>, StoreError> {
    let rows: Vec<LastScanRow> = sqlx::query_as(
        "SELECT a.aws_account_id, a.name AS account_name, s.id, s.account_id, s.status, s.started_at, s.finished_at, s.regions,
                s.api_calls, s.resources, s.gaps, s.findings_open, s.findings_new, s.findings_resolved, s.findings_regressed
         FROM accounts a JOIN LATERAL (
             SELECT * FROM scans s WHERE s.account_id = a.id ORDER BY s.started_at DESC LIMIT 1
         ) s ON true
         ORDER BY a.aws_account_id",
    )
    .fetch_all(tx.conn())
    .await?;
    // Every account's gaps in one statement (an Organization has hundreds).
    let scan_ids: Vec<Uuid> = rows.iter().map(|r| r.scan.id).collect();
    let gaps: Vec<ScanGap> = sqlx::query_as(
        "SELECT scan_id, service, region, action, kind, error FROM (
             SELECT g.*, row_number() OVER (PARTITION BY scan_id ORDER BY service, region, action) AS n
             FROM coverage_gaps g WHERE scan_id = ANY($1)
         ) g WHERE n <= 50 ORDER BY scan_id, n",
    )
    .bind(&scan_ids)
    .fetch_all(tx.conn())
    .await?;
    let mut by_scan: std::collections::HashMap<Uuid, Vec<GapView>> = Default::default();
    for g in gaps {
        by_scan.entry(g.scan_id).or_default().push(g.gap);
    }
    Ok(rows
        .into_iter()
        .map(|row| LastScan {
            gap_list: by_scan.remove(&row.scan.id).unwrap_or_default(),
            account: row.aws_account_id,
            account_name: row.account_name,
            scan: row.scan,
        })
        .collect())
}

#[derive(FromRow)]
struct ScanGap {
    scan_id: Uuid,
    #[sqlx(flatten)]
    gap: GapView,
}

/// One point of the trend: the workspace's totals after a scan finished.
#[derive(Debug, Clone, Serialize, FromRow)]
pub struct TrendPoint {
    pub at: DateTime<Utc>,
    pub open_findings: i64,
    pub monthly_savings: f64,
}

/// Open findings and savings after each of the last `points` finished scans,
/// summed over every account's latest scan at that moment.
pub async fn trend(tx: &mut WorkspaceTx, points: i64) -> Result<Vec<TrendPoint>, StoreError> {
    let mut rows: Vec<TrendPoint> = sqlx::query_as(
        "WITH moments AS (
             SELECT finished_at AS at FROM scans WHERE finished_at IS NOT NULL AND status IN ('succeeded', 'partial')
             ORDER BY finished_at DESC LIMIT $1
         )
         SELECT m.at, coalesce(sum(l.findings_open), 0)::int8 AS open_findings,
                coalesce(sum(l.monthly_savings), 0)::float8 AS monthly_savings
         FROM moments m LEFT JOIN LATERAL (
             SELECT DISTINCT ON (s.account_id) s.findings_open, s.monthly_savings FROM scans s
             WHERE s.finished_at <= m.at AND s.status IN ('succeeded', 'partial')
             ORDER BY s.account_id, s.finished_at DESC
         ) l ON true
         GROUP BY m.at ORDER BY m.at",
    )
    .bind(points)
    .fetch_all(tx.conn())
    .await?;
    rows.dedup_by_key(|p| p.at);
    Ok(rows)
}

/// One finding's net change between two scans.
#[derive(Debug, Clone, Serialize, FromRow)]
pub struct DiffEntry {
    pub finding_id: Uuid,
    pub change: String,
    pub check_id: String,
    pub title: String,
    pub severity: String,
    pub resource_arn: String,
}

/// How a finding changed between two scans.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DiffChange {
    New,
    Resolved,
    Regressed,
}

impl DiffChange {
    pub const ALL: [DiffChange; 3] = [Self::New, Self::Resolved, Self::Regressed];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::New => "new",
            Self::Resolved => "resolved",
            Self::Regressed => "regressed",
        }
    }
}

/// How many findings changed each way between two scans: exact.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, FromRow)]
pub struct DiffCounts {
    pub new: i64,
    pub resolved: i64,
    pub regressed: i64,
}

impl DiffCounts {
    pub fn of(&self, change: DiffChange) -> i64 {
        match change {
            DiffChange::New => self.new,
            DiffChange::Resolved => self.resolved,
            DiffChange::Regressed => self.regressed,
        }
    }

    pub fn total(&self) -> i64 {
        self.new + self.resolved + self.regressed
    }
}

/// The scans of one account a diff spans: those started after `start` up to
/// and including `end` (the later of the two scans). Found once per view:
/// its counts and each kind's page are read from it.
pub struct DiffWindow {
    account_id: Uuid,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    later: Uuid,
    /// `later` is the only scan in the window: the net change is its own
    /// changes, and their counts are the ones it recorded.
    adjacent: bool,
    /// The `WITH` clauses that define `net (finding_id, change)`.
    net: &'static str,
}

impl DiffWindow {
    /// The window between two scans of the same account, in either order.
    pub async fn of(tx: &mut WorkspaceTx, from: Uuid, to: Uuid) -> Result<Self, StoreError> {
        let scans: Vec<(Uuid, Uuid, DateTime<Utc>)> =
            sqlx::query_as("SELECT id, account_id, started_at FROM scans WHERE id = ANY($1)")
                .bind([from, to])
                .fetch_all(tx.conn())
                .await?;
        let find = |id: Uuid| {
            scans
                .iter()
                .find(|s| s.0 == id)
                .cloned()
                .ok_or_else(|| StoreError::NotFound {
                    what: "scan",
                    id: id.to_string(),
                })
        };
        let (a, b) = (find(from)?, find(to)?);
        if a.1 != b.1 {
            return Err(StoreError::InvalidInput {
                field: "to",
                expected: "a scan of the same account as `from`".into(),
                found: to.to_string(),
            });
        }
        let (earlier, later) = if a.2 <= b.2 { (a, b) } else { (b, a) };
        let in_window: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM scans WHERE account_id = $1 AND started_at > $2 AND started_at <= $3",
        )
        .bind(later.1)
        .bind(earlier.2)
        .bind(later.2)
        .fetch_one(tx.conn())
        .await?;
        let adjacent = in_window == 1 && earlier.2 < later.2;
        // `net (finding_id, change)`: each finding whose state differs across
        // the window. Binds $1 to $4. Adjacent scans read the later scan's
        // changes by index (`scan_finding_changes_by_kind`).
        let net = if adjacent {
            "net AS (
                 SELECT finding_id, change FROM scan_finding_changes
                 WHERE scan_id = $4 AND change <> 'still_open'
             )"
        } else {
            // Open before the window if its first change was a resolution; open
            // after it if its last change opened it. Only a difference is a change.
            "changes AS (
                 SELECT c.finding_id, c.change,
                        first_value(c.change) OVER w AS first_change, last_value(c.change) OVER w AS last_change
                 FROM scan_finding_changes c JOIN scans s ON s.id = c.scan_id
                 WHERE s.account_id = $1 AND s.started_at > $2 AND s.started_at <= $3 AND c.change <> 'still_open'
                 WINDOW w AS (PARTITION BY c.finding_id ORDER BY s.started_at ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)
             ),
             net AS (
                 SELECT DISTINCT finding_id,
                        CASE WHEN first_change = 'resolved' THEN 'resolved'
                             WHEN first_change = 'new' THEN 'new' ELSE 'regressed' END AS change
                 FROM changes
                 WHERE (first_change = 'resolved') <> (last_change IN ('new', 'regressed'))
             )"
        };
        Ok(DiffWindow {
            account_id: later.1,
            start: earlier.2,
            end: later.2,
            later: later.0,
            adjacent,
            net,
        })
    }

    fn bind<'q, O>(
        &self,
        query: sqlx::query::QueryAs<'q, sqlx::Postgres, O, sqlx::postgres::PgArguments>,
    ) -> sqlx::query::QueryAs<'q, sqlx::Postgres, O, sqlx::postgres::PgArguments> {
        query
            .bind(self.account_id)
            .bind(self.start)
            .bind(self.end)
            .bind(self.later)
    }
}

const ENTRY_COLUMNS: &str =
    "f.id AS finding_id, net.change, f.check_id, f.title, f.severity, f.resource_arn";

impl DiffWindow {
    /// Every entry of the diff, in finding order.
    pub async fn entries(&self, tx: &mut WorkspaceTx) -> Result<Vec<DiffEntry>, StoreError> {
        let sql = format!(
            "WITH {} SELECT {ENTRY_COLUMNS} FROM net JOIN findings f ON f.id = net.finding_id ORDER BY f.id",
            self.net
        );
        Ok(self
            .bind(sqlx::query_as(sqlx::AssertSqlSafe(sql)))
            .fetch_all(tx.conn())
            .await?)
    }

    /// How many entries change each way. Between adjacent scans these are
    /// the counts the later scan recorded with its changes (one row); across
    /// several scans they are counted from the window's changes.
    pub async fn counts(&self, tx: &mut WorkspaceTx) -> Result<DiffCounts, StoreError> {
        if self.adjacent {
            return Ok(sqlx::query_as(
                "SELECT findings_new::bigint AS new, findings_resolved::bigint AS resolved, findings_regressed::bigint AS regressed
                 FROM scans WHERE id = $1",
            )
            .bind(self.later)
            .fetch_one(tx.conn())
            .await?);
        }
        let sql = format!(
            "WITH {} SELECT count(*) FILTER (WHERE change = 'new') AS new,
                            count(*) FILTER (WHERE change = 'resolved') AS resolved,
                            count(*) FILTER (WHERE change = 'regressed') AS regressed
             FROM net",
            self.net
        );
        Ok(self
            .bind(sqlx::query_as(sqlx::AssertSqlSafe(sql)))
            .fetch_one(tx.conn())
            .await?)
    }

    /// Up to `limit` entries that changed as `change`, in finding order,
    /// after the finding `after` (a keyset: the last id of the page before;
    /// none starts at the nil UUID, so that a generic plan still has a bound
    /// for the index).
    pub async fn page(
        &self,
        tx: &mut WorkspaceTx,
        change: DiffChange,
        after: Option<Uuid>,
        limit: i64,
    ) -> Result<Vec<DiffEntry>, StoreError> {
        // The page's ids first, then their findings: the planner cannot know how
        // many changes one scan holds, and guessing few it joined all 19,609 of
        // the bench's resolutions to findings before sorting (75 to 140 ms).
        let sql = format!(
            "WITH {}, page AS MATERIALIZED (
                 SELECT finding_id, change FROM net
                 WHERE change = $5 AND finding_id > coalesce($6::uuid, '00000000-0000-0000-0000-000000000000')
                 ORDER BY finding_id LIMIT $7
             )
             SELECT {ENTRY_COLUMNS} FROM page net JOIN findings f ON f.id = net.finding_id
             ORDER BY net.finding_id",
            self.net
        );
        Ok(self
            .bind(sqlx::query_as(sqlx::AssertSqlSafe(sql)))
            .bind(change.as_str())
            .bind(after)
            .bind(limit)
            .fetch_all(tx.conn())
            .await?)
    }

    /// Up to `limit` entries of every kind of change, in finding order,
    /// after the finding `after`. Between adjacent scans, each kind's page,
    /// read by its own index, merged (a scan's changes never change once it
    /// is saved, so the three reads agree); across several scans, one read
    /// of the window, whose changes are computed once per page either way.
    /// A finding changes one way in a diff, so no entry is listed twice.
    pub async fn page_any(
        &self,
        tx: &mut WorkspaceTx,
        after: Option<Uuid>,
        limit: i64,
    ) -> Result<Vec<DiffEntry>, StoreError> {
        if !self.adjacent {
            let sql = format!(
                "WITH {}, page AS MATERIALIZED (
                     SELECT finding_id, change FROM net
                     WHERE finding_id > coalesce($5::uuid, '00000000-0000-0000-0000-000000000000')
                     ORDER BY finding_id LIMIT $6
                 )
                 SELECT {ENTRY_COLUMNS} FROM page net JOIN findings f ON f.id = net.finding_id
                 ORDER BY net.finding_id",
                self.net
            );
            return Ok(self
                .bind(sqlx::query_as(sqlx::AssertSqlSafe(sql)))
                .bind(after)
                .bind(limit)
                .fetch_all(tx.conn())
                .await?);
        }
        let mut entries = Vec::new();
        for change in DiffChange::ALL {
            entries.extend(self.page(tx, change, after, limit).await?);
        }
        // PostgreSQL orders uuids by their bytes, as `Uuid` does.
        entries.sort_unstable_by_key(|e| e.finding_id);
        entries.truncate(usize::try_from(limit).unwrap_or(0));
        Ok(entries)
    }
}

/// What changed from scan `from` to scan `to` of the same account: findings
/// open after `to` that were not after `from` (new, or regressed), and the
/// reverse (resolved). A finding that came and went in between, or went and
/// came back, is left out. Every entry, in finding order: a view that pages
/// reads [`DiffWindow`] once and its counts and pages from it.
pub async fn diff(
    tx: &mut WorkspaceTx,
    from: Uuid,
    to: Uuid,
) -> Result<Vec<DiffEntry>, StoreError> {
    DiffWindow::of(tx, from, to).await?.entries(tx).await
}

/// How many findings [`diff`] would list each way.
pub async fn diff_counts(
    tx: &mut WorkspaceTx,
    from: Uuid,
    to: Uuid,
) -> Result<DiffCounts, StoreError> {
    DiffWindow::of(tx, from, to).await?.counts(tx).await
}

/// Up to `limit` of [`diff`]'s entries that changed as `change`: see
/// [`DiffWindow::page`].
pub async fn diff_page(
    tx: &mut WorkspaceTx,
    from: Uuid,
    to: Uuid,
    change: DiffChange,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<DiffEntry>, StoreError> {
    DiffWindow::of(tx, from, to)
        .await?
        .page(tx, change, after, limit)
        .await
}
