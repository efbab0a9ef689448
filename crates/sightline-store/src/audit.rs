//! The audit trail: every record chained to the one before it with
//! SHA-256 (sightline-crypto's chain), appended one at a time under the head row's lock,
//! never updated or deleted (a trigger refuses both). `verify_audit` finds
//! the first broken link of an edited, deleted, inserted or reordered record;
//! `verify_audit_head` also compares the chain's end with the head row and
//! with the head last published outside the database, which is how deleting
//! the newest records (a chain that is intact, only shorter) is caught.

use chrono::{DateTime, SecondsFormat, Utc};
use sightline_crypto::chain::{link_hash, verify, BrokenLink, Link};
use sqlx::{FromRow, PgConnection};
use uuid::Uuid;

use crate::{Store, StoreError};

#[derive(Debug, Clone, PartialEq, FromRow)]
pub struct AuditRecord {
    pub sequence: i64,
    pub workspace_id: Uuid,
    pub occurred_at: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub details: serde_json::Value,
    pub previous_hash: String,
    pub hash: String,
}

/// The bytes a record's hash covers: its fields as JSON with sorted keys and
/// the time at microsecond precision (what PostgreSQL stores).
pub fn canonical(
    sequence: i64,
    workspace_id: Uuid,
    occurred_at: DateTime<Utc>,
    actor: &str,
    action: &str,
    target: &str,
    details: &serde_json::Value,
) -> String {
    let record = serde_json::json!({
        "sequence": sequence,
        "workspace_id": workspace_id,
        "occurred_at": occurred_at.to_rfc3339_opts(SecondsFormat::Micros, true),
        "actor": actor,
        "action": action,
        "target": target,
        "details": details,
    });
    // serde_json's map is ordered by key, so this text is canonical.
    record.to_string()
}

/// Append one record on `conn`, inside the caller's transaction. The head
/// row is locked, so appends extend the chain one at a time.
pub(crate) async fn append(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    actor: &str,
    action: &str,
    target: &str,
    details: serde_json::Value,
) -> Result<AuditRecord, StoreError> {
    let (head, previous_hash): (i64, String) =
        sqlx::query_as("SELECT sequence, hash FROM audit_head FOR UPDATE")
            .fetch_one(&mut *conn)
            .await?;
    let sequence = head + 1;
    // Truncated to what PostgreSQL keeps, so the stored record hashes the same.
    let now = Utc::now();
    let occurred_at = DateTime::from_timestamp_micros(now.timestamp_micros()).unwrap_or(now);
    let hash = link_hash(
        &previous_hash,
        &canonical(
            sequence,
            workspace_id,
            occurred_at,
            actor,
            action,
            target,
            &details,
        ),
    );
    let record: AuditRecord = sqlx::query_as(
        "INSERT INTO audit_log (sequence, workspace_id, occurred_at, actor, action, target, details, previous_hash, hash)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING *",
    )
    .bind(sequence)
    .bind(workspace_id)
    .bind(occurred_at)
    .bind(actor)
    .bind(action)
    .bind(target)
    .bind(&details)
    .bind(&previous_hash)
    .bind(&hash)
    .fetch_one(&mut *conn)
    .await?;
    sqlx::query("UPDATE audit_head SET sequence = $1, hash = $2")
        .bind(sequence)
        .bind(&hash)
        .execute(&mut *conn)
        .await?;
    Ok(record)
}

impl Store {
    /// Append one record to the chain (the worker's and the CLI's path; the
    /// server appends inside its workspace transaction).
    pub async fn append_audit(
        &self,
        workspace_id: Uuid,
        actor: &str,
        action: &str,
        target: &str,
        details: serde_json::Value,
    ) -> Result<AuditRecord, StoreError> {
        let mut tx = self.pool.begin().await?;
        let record = append(&mut tx, workspace_id, actor, action, target, details).await?;
        tx.commit().await?;
        Ok(record)
    }

    /// Check the whole chain; the first broken link if there is one, and the head.
    pub async fn verify_audit(
        &self,
    ) -> Result<(Result<(), BrokenLink>, Option<AuditRecord>), StoreError> {
        let snapshot = self.audit_snapshot().await?;
        Ok((snapshot.chain, snapshot.last))
    }

    /// The chain, verified, and the head row, read as one snapshot: an
    /// append between two separate reads would make a chain that ends
    /// before its head row look cut short.
    pub async fn audit_snapshot(&self) -> Result<AuditSnapshot, StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut *tx)
            .await?;
        let records: Vec<AuditRecord> = sqlx::query_as("SELECT * FROM audit_log ORDER BY sequence")
            .fetch_all(&mut *tx)
            .await?;
        let head_row: (i64, String) = sqlx::query_as("SELECT sequence, hash FROM audit_head")
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        let links: Vec<Link> = records
            .iter()
            .map(|r| Link {
                sequence: r.sequence,
                canonical: canonical(
                    r.sequence,
                    r.workspace_id,
                    r.occurred_at,
                    &r.actor,
                    &r.action,
                    &r.target,
                    &r.details,
                ),
                previous_hash: r.previous_hash.clone(),
                hash: r.hash.clone(),
            })
            .collect();
        Ok(AuditSnapshot {
            chain: verify(&links),
            last: records.last().cloned(),
            head_row,
        })
    }
}

/// The audit chain and its head row as of one moment.
#[derive(Debug, Clone)]
pub struct AuditSnapshot {
    /// The first broken link, if any.
    pub chain: Result<(), BrokenLink>,
    /// The newest record.
    pub last: Option<AuditRecord>,
    /// The head row's sequence and hash, read in the same snapshot.
    head_row: (i64, String),
}

/// A chain head as published to CloudWatch Logs: `sequence=N hash=H …`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedHead {
    pub sequence: i64,
    /// `None` for the empty chain (`hash=empty`).
    pub hash: Option<String>,
}

impl PublishedHead {
    pub fn message(head: Option<&AuditRecord>) -> String {
        match head {
            Some(h) => format!(
                "sequence={} hash={} occurred_at={}",
                h.sequence,
                h.hash,
                h.occurred_at.to_rfc3339()
            ),
            None => "sequence=0 hash=empty".to_owned(),
        }
    }

    /// Read a published message; `None` if it is not one.
    pub fn parse(message: &str) -> Option<Self> {
        let field = |name: &str| {
            message
                .split_whitespace()
                .find_map(|w| w.strip_prefix(name)?.strip_prefix('='))
        };
        let sequence = field("sequence")?.parse().ok()?;
        let hash = match field("hash")? {
            "empty" => None,
            h if h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()) => Some(h.to_owned()),
            _ => return None,
        };
        Some(Self { sequence, hash })
    }
}

/// Why a chain that links up is still not the whole trail.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeadMismatch {
    #[error("the chain ends at sequence {chain_end} but the head row says {head_sequence} (hash {head_hash}): the newest records were deleted, or the head rewritten")]
    HeadRow {
        chain_end: i64,
        head_sequence: i64,
        head_hash: String,
    },
    #[error("the head published outside the database (sequence {sequence}, hash {hash}) is not in the chain: records were deleted or rewritten after it was published")]
    Published { sequence: i64, hash: String },
}

impl Store {
    /// Compare an intact chain (a snapshot) with its head row and with every
    /// head published outside the database: each must
    /// be in the chain. (Checking only the newest published head would miss
    /// a trail that was cut short and then published again.)
    pub async fn verify_audit_head(
        &self,
        snapshot: &AuditSnapshot,
        published: &[PublishedHead],
    ) -> Result<Result<(), HeadMismatch>, StoreError> {
        let last = snapshot.last.as_ref();
        let (head_sequence, head_hash) = snapshot.head_row.clone();
        let chain_end = last.map_or(0, |r| r.sequence);
        let matches = match last {
            Some(r) => r.sequence == head_sequence && r.hash == head_hash,
            None => head_sequence == 0,
        };
        if !matches {
            return Ok(Err(HeadMismatch::HeadRow {
                chain_end,
                head_sequence,
                head_hash,
            }));
        }
        let wanted: Vec<i64> = published
            .iter()
            .filter(|p| p.hash.is_some())
            .map(|p| p.sequence)
            .collect();
        let found: Vec<(i64, String)> =
            sqlx::query_as("SELECT sequence, hash FROM audit_log WHERE sequence = ANY($1)")
                .bind(&wanted)
                .fetch_all(&self.pool)
                .await?;
        let mut missing: Vec<&PublishedHead> = published
            .iter()
            .filter(|p| match &p.hash {
                None => false,
                Some(h) => !found.iter().any(|(s, fh)| *s == p.sequence && fh == h),
            })
            .collect();
        missing.sort_by_key(|p| std::cmp::Reverse(p.sequence));
        Ok(match missing.first() {
            None => Ok(()),
            Some(p) => Err(HeadMismatch::Published {
                sequence: p.sequence,
                hash: p.hash.clone().unwrap_or_default(),
            }),
        })
    }
}
