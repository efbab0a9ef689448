//! What the server's JSON API reads and changes in a workspace: accounts,
//! scans with their gaps, findings, queued scans and the audit trail. Every
//! function runs on a [`WorkspaceTx`].

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::FromRow;
use uuid::Uuid;

use crate::accounts::NewAccount;
use crate::audit::AuditRecord;
use crate::error::unique_violation;
use crate::tenant::WorkspaceTx;
use crate::StoreError;

#[derive(Debug, Clone, Serialize, FromRow)]
pub struct AccountView {
    pub id: Uuid,
    pub aws_account_id: String,
    pub name: Option<String>,
    pub role_arn: Option<String>,
    pub regions: Vec<String>,
    pub schedule: Option<String>,
    pub next_scan_at: Option<DateTime<Utc>>,
    pub source: String,
    pub created_at: DateTime<Utc>,
}

const ACCOUNT_COLUMNS: &str = "id, aws_account_id, name, role_arn, regions, schedule_interval::text AS schedule, next_scan_at, source, created_at";

pub async fn accounts(tx: &mut WorkspaceTx) -> Result<Vec<AccountView>, StoreError> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {ACCOUNT_COLUMNS} FROM accounts ORDER BY aws_account_id"
    )))
    .fetch_all(tx.conn())
    .await?)
}

pub async fn account(tx: &mut WorkspaceTx, id: Uuid) -> Result<AccountView, StoreError> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(tx.conn())
    .await?
    .ok_or_else(|| not_found("account", id))
}

/// Register an account from the server; malformed or duplicate input is
/// refused before any write. The server registers accounts only with a
/// monitoring role (assumed with the workspace's ExternalId): without one
/// the worker would scan with its own credentials. The database refuses
/// such a row from the server's role too.
pub async fn add_account(
    tx: &mut WorkspaceTx,
    account: &NewAccount,
) -> Result<AccountView, StoreError> {
    account.validate()?;
    if account.role_arn.is_none() {
        return Err(StoreError::InvalidInput {
            field: "role_arn",
            expected: format!(
                "the ARN of the account's monitoring role (arn:aws:iam::{}:role/<name>)",
                account.aws_account_id
            ),
            found: "nothing".into(),
        });
    }
    let workspace_id = tx.workspace_id();
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO accounts (workspace_id, aws_account_id, name, role_arn, regions, schedule_interval, next_scan_at)
         VALUES ($1, $2, $3, $4, $5, $6::interval, CASE WHEN $6::interval IS NULL THEN NULL ELSE now() END)
         RETURNING {ACCOUNT_COLUMNS}"
    )))
    .bind(workspace_id)
    .bind(&account.aws_account_id)
    .bind(&account.name)
    .bind(&account.role_arn)
    .bind(&account.regions)
    .bind(&account.schedule)
    .fetch_one(tx.conn())
    .await
    .map_err(|e| {
        if unique_violation(&e).is_some() {
            return StoreError::Conflict {
                what: "account",
                detail: format!("account {} is already registered", account.aws_account_id),
            };
        }
        match e.as_database_error().and_then(|d| d.code()).as_deref() {
            Some("22007") | Some("22P02") | Some("23514") | Some("22008") | Some("22015") => {
                StoreError::InvalidSchedule {
                    found: account.schedule.clone().unwrap_or_default(),
                }
            }
            _ => e.into(),
        }
    })
}

pub async fn delete_account(tx: &mut WorkspaceTx, id: Uuid) -> Result<(), StoreError> {
    let done = sqlx::query("DELETE FROM accounts WHERE id = $1")
        .bind(id)
        .execute(tx.conn())
        .await?;
    if done.rows_affected() == 0 {
        return Err(not_found("account", id));
    }
    Ok(())
}

/// Queue a scan of one of the workspace's accounts.
pub async fn enqueue_scan(tx: &mut WorkspaceTx, account_id: Uuid) -> Result<Uuid, StoreError> {
    sqlx::query_scalar(
        "INSERT INTO jobs (workspace_id, account_id) SELECT workspace_id, id FROM accounts WHERE id = $1 RETURNING id",
    )
    .bind(account_id)
    .fetch_optional(tx.conn())
    .await?
    .ok_or_else(|| not_found("account", account_id))
}

#[derive(Debug, Clone, Serialize, FromRow)]
pub struct ScanView {
    pub id: Uuid,
    pub account_id: Uuid,
    pub status: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub regions: Vec<String>,
    pub api_calls: i64,
    pub resources: i32,
    pub gaps: i32,
    pub findings_open: i32,
    pub findings_new: i32,
    pub findings_resolved: i32,
    pub findings_regressed: i32,
}

#[derive(Debug, Clone, Serialize, FromRow)]
pub struct GapView {
    pub service: String,
    pub region: String,
    pub action: String,
    pub kind: String,
    pub error: String,
}

const SCAN_COLUMNS: &str = "id, account_id, status, started_at, finished_at, regions, api_calls, resources, gaps, findings_open, findings_new, findings_resolved, findings_regressed";

pub async fn scans(tx: &mut WorkspaceTx, limit: i64) -> Result<Vec<ScanView>, StoreError> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {SCAN_COLUMNS} FROM scans ORDER BY started_at DESC, id LIMIT $1"
    )))
    .bind(limit)
    .fetch_all(tx.conn())
    .await?)
}

/// The account's scan started last before `scan` started (by the index on
/// (account, started_at)), if any: what the scan's page diffs against.
pub async fn previous_scan(
    tx: &mut WorkspaceTx,
    scan: &ScanView,
) -> Result<Option<Uuid>, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT id FROM scans WHERE account_id = $1 AND started_at < $2 ORDER BY started_at DESC LIMIT 1",
    )
    .bind(scan.account_id)
    .bind(scan.started_at)
    .fetch_optional(tx.conn())
    .await?)
}

pub async fn scan(tx: &mut WorkspaceTx, id: Uuid) -> Result<(ScanView, Vec<GapView>), StoreError> {
    let scan: ScanView = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {SCAN_COLUMNS} FROM scans WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(tx.conn())
    .await?
    .ok_or_else(|| not_found("scan", id))?;
    let gaps = sqlx::query_as(
        "SELECT service, region, action, kind, error FROM coverage_gaps WHERE scan_id = $1 ORDER BY service, region, action",
    )
    .bind(id)
    .fetch_all(tx.conn())
    .await?;
    Ok((scan, gaps))
}

#[derive(Debug, Clone, Serialize, FromRow)]
pub struct FindingView {
    pub id: Uuid,
    pub account_id: Uuid,
    pub check_id: String,
    pub resource_arn: String,
    pub resource_type: String,
    pub region: String,
    pub severity: String,
    pub category: String,
    pub title: String,
    pub message: String,
    pub status: String,
    pub monthly_savings: Option<f64>,
    pub evidence_sha256: String,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, FromRow)]
pub struct FindingDetail {
    #[sqlx(flatten)]
    #[serde(flatten)]
    pub finding: FindingView,
    pub evidence: serde_json::Value,
    pub remediation: serde_json::Value,
    pub rollback: serde_json::Value,
    pub savings_formula: Option<String>,
}

/// Filters on the findings list; `None` means any.
#[derive(Debug, Clone, Default)]
pub struct FindingFilter {
    pub status: Option<String>,
    pub severity: Option<String>,
    pub check_id: Option<String>,
    pub account_id: Option<Uuid>,
    pub limit: i64,
    /// Where the page starts: the `next` of the page before.
    pub after: Option<String>,
}

/// A page of findings and, while more remain, the cursor of the next.
#[derive(Debug, Clone)]
pub struct FindingsPage {
    pub rows: Vec<FindingView>,
    pub next: Option<String>,
}

const FINDING_COLUMNS: &str = "id, account_id, check_id, resource_arn, resource_type, region, severity, category, title, message, status, monthly_savings::float8 AS monthly_savings, evidence_sha256, first_seen, last_seen";

/// A page of findings, most recently found first (the inbox's order: a
/// finding's place never moves, so a walk never repeats one; a finding a
/// scan commits during the walk, first seen before the walk's position, is
/// not in it), walked by keyset on `findings_inbox`, or `findings_check`
/// for one check: only the conditions given are written, so that no generic
/// plan walks a page's predecessors.
pub async fn findings(
    tx: &mut WorkspaceTx,
    filter: &FindingFilter,
) -> Result<FindingsPage, StoreError> {
    debug_assert!(filter.limit >= 1, "a page of {} findings", filter.limit);
    let after = filter
        .after
        .as_deref()
        .map(crate::inbox::decode_cursor)
        .transpose()?;
    let mut qb = sqlx::QueryBuilder::<sqlx::Postgres>::new(format!(
        "SELECT {FINDING_COLUMNS} FROM findings WHERE workspace_id = "
    ));
    qb.push_bind(tx.workspace_id());
    for (column, value) in [
        ("status", &filter.status),
        ("severity", &filter.severity),
        ("check_id", &filter.check_id),
    ] {
        if let Some(v) = value {
            qb.push(format!(" AND {column} = ")).push_bind(v.clone());
        }
    }
    if let Some(account) = filter.account_id {
        qb.push(" AND account_id = ").push_bind(account);
    }
    if let Some((first_seen, id)) = after {
        qb.push(" AND (first_seen, id) < (")
            .push_bind(first_seen)
            .push(", ")
            .push_bind(id)
            .push(")");
    }
    // One more than a page: a next page exists only if it was found.
    qb.push(" ORDER BY first_seen DESC, id DESC LIMIT ")
        .push_bind(filter.limit + 1);
    let mut rows: Vec<FindingView> = qb.build_query_as().fetch_all(tx.conn()).await?;
    let next = if rows.len() as i64 > filter.limit {
        rows.truncate(filter.limit as usize);
        rows.last()
            .map(|r| crate::inbox::keyset_cursor(r.first_seen, r.id))
    } else {
        None
    };
    Ok(FindingsPage { rows, next })
}

pub async fn finding(tx: &mut WorkspaceTx, id: Uuid) -> Result<FindingDetail, StoreError> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {FINDING_COLUMNS}, evidence, remediation, rollback, savings_formula FROM findings WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(tx.conn())
    .await?
    .ok_or_else(|| not_found("finding", id))
}

/// Filters on the audit trail.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub actor: Option<String>,
    pub action: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    pub limit: i64,
    /// The newest `limit` records, newest first (the audit page), instead of the oldest first.
    pub newest_first: bool,
}

/// The workspace's audit records, oldest first (or newest first).
pub async fn audit_records(
    tx: &mut WorkspaceTx,
    filter: &AuditFilter,
) -> Result<Vec<AuditRecord>, StoreError> {
    let order = if filter.newest_first { "DESC" } else { "ASC" };
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT * FROM audit_log
         WHERE ($1::text IS NULL OR actor = $1) AND ($2::text IS NULL OR action = $2)
           AND ($3::timestamptz IS NULL OR occurred_at >= $3) AND ($4::timestamptz IS NULL OR occurred_at < $4)
         ORDER BY sequence {order} LIMIT $5"
    )))
    .bind(&filter.actor)
    .bind(&filter.action)
    .bind(filter.since)
    .bind(filter.until)
    .bind(filter.limit)
    .fetch_all(tx.conn())
    .await?)
}

fn not_found(what: &'static str, id: Uuid) -> StoreError {
    StoreError::NotFound {
        what,
        id: id.to_string(),
    }
}
