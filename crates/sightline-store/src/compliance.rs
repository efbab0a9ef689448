//! Compliance per scan: each finished scan stores every control of every
//! framework its report assessed (written with the scan, in `scans.rs`). The Compliance page reads each account's
//! latest scan, the pass rate over scans, and what changed between scans.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::FromRow;
use uuid::Uuid;

use crate::tenant::WorkspaceTx;
use crate::StoreError;

/// One control as one account's latest scan decided it.
#[derive(Debug, Clone, Serialize, FromRow)]
pub struct AccountControl {
    pub aws_account_id: String,
    pub scan_id: Uuid,
    pub finished_at: DateTime<Utc>,
    pub control_id: String,
    pub status: String,
    pub reason: Option<String>,
    pub findings: i32,
}

/// Every control of `framework` in the latest finished scan of each account
/// that has one with it.
pub async fn latest(
    tx: &mut WorkspaceTx,
    framework: &str,
) -> Result<Vec<AccountControl>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT a.aws_account_id, s.id AS scan_id, s.finished_at, c.control_id, c.status, c.reason, c.findings
         FROM accounts a
         JOIN LATERAL (
             SELECT s.id, s.finished_at FROM scans s
             WHERE s.account_id = a.id AND s.status IN ('succeeded', 'partial')
               AND EXISTS (SELECT 1 FROM scan_controls x WHERE x.scan_id = s.id AND x.framework = $1)
             ORDER BY s.finished_at DESC LIMIT 1
         ) s ON true
         JOIN scan_controls c ON c.scan_id = s.id AND c.framework = $1
         WHERE a.workspace_id = $2
         ORDER BY a.aws_account_id, string_to_array(c.control_id, '.')::int[]",
    )
    .bind(framework)
    .bind(tx.workspace_id())
    .fetch_all(tx.conn())
    .await?)
}

/// A framework's automated controls by status, summed over every account's
/// latest assessed scan at the moment one finished.
#[derive(Debug, Clone, Serialize, FromRow)]
pub struct RatePoint {
    pub at: DateTime<Utc>,
    pub pass: i64,
    pub fail: i64,
    pub not_evaluated: i64,
}

impl RatePoint {
    /// Passed automated controls as a percentage of the automated ones.
    pub fn pass_rate(&self) -> f64 {
        let automated = self.pass + self.fail + self.not_evaluated;
        if automated == 0 {
            0.0
        } else {
            self.pass as f64 * 100.0 / automated as f64
        }
    }
}

/// The workspace's standing after each of the last `points` finished scans
/// that assessed `framework`, oldest first: like the overview's trend, each
/// point sums every account's latest assessed scan at that moment, so
/// accounts do not alternate on one line.
pub async fn pass_rates(
    tx: &mut WorkspaceTx,
    framework: &str,
    points: i64,
) -> Result<Vec<RatePoint>, StoreError> {
    let mut rows: Vec<RatePoint> = sqlx::query_as(
        "WITH assessed AS (
             SELECT s.id, s.account_id, s.finished_at FROM scans s
             WHERE s.workspace_id = $3 AND s.status IN ('succeeded', 'partial') AND s.finished_at IS NOT NULL
               AND EXISTS (SELECT 1 FROM scan_controls x WHERE x.scan_id = s.id AND x.framework = $1)
         ),
         moments AS (SELECT DISTINCT finished_at AS at FROM assessed ORDER BY at DESC LIMIT $2)
         SELECT m.at,
                count(*) FILTER (WHERE c.status = 'pass') AS pass,
                count(*) FILTER (WHERE c.status = 'fail') AS fail,
                count(*) FILTER (WHERE c.status = 'not_evaluated') AS not_evaluated
         FROM moments m
         CROSS JOIN LATERAL (
             SELECT DISTINCT ON (a.account_id) a.id FROM assessed a
             WHERE a.finished_at <= m.at ORDER BY a.account_id, a.finished_at DESC
         ) l
         JOIN scan_controls c ON c.scan_id = l.id AND c.framework = $1
         GROUP BY m.at ORDER BY m.at",
    )
    .bind(framework)
    .bind(points)
    .bind(tx.workspace_id())
    .fetch_all(tx.conn())
    .await?;
    rows.dedup_by_key(|p| p.at);
    Ok(rows)
}

/// A control whose status differs between two scans of one account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, FromRow)]
pub struct ControlChange {
    pub framework: String,
    pub control_id: String,
    /// `None`: the earlier scan did not assess this framework.
    pub before: Option<String>,
    pub after: Option<String>,
}

/// Controls whose status differs from scan `from` to scan `to`.
pub async fn changes(
    tx: &mut WorkspaceTx,
    from: Uuid,
    to: Uuid,
) -> Result<Vec<ControlChange>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT coalesce(b.framework, a.framework) AS framework, coalesce(b.control_id, a.control_id) AS control_id,
                a.status AS before, b.status AS after
         FROM (SELECT * FROM scan_controls WHERE scan_id = $1 AND workspace_id = $3) a
         FULL JOIN (SELECT * FROM scan_controls WHERE scan_id = $2 AND workspace_id = $3) b
           ON a.framework = b.framework AND a.control_id = b.control_id
         WHERE a.status IS DISTINCT FROM b.status
         ORDER BY 1, string_to_array(coalesce(b.control_id, a.control_id), '.')::int[]",
    )
    .bind(from)
    .bind(to)
    .bind(tx.workspace_id())
    .fetch_all(tx.conn())
    .await?)
}
