//! The audit trail: every record chained to the one before it with
//! SHA-256 (sightline-crypto's chain), appended one at a time under the head row's lock,
//! never updated or deleted (a trigger refuses both). `verify_audit` finds
//! the first broken link of an edited, deleted, inserted or reordered record.

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
        let records: Vec<AuditRecord> = sqlx::query_as("SELECT * FROM audit_log ORDER BY sequence")
            .fetch_all(&self.pool)
            .await?;
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
        Ok((verify(&links), records.last().cloned()))
    }
}
