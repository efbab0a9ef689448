//! Field encryption at rest: each workspace's data keys, stored wrapped by
//! the key-encryption key (KEK), and the sealed fields they protect
//! (integration credentials here, TOTP secrets in `identity`). Rotating the
//! KEK re-wraps data keys and never touches a sealed row.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sightline_crypto::{open, seal, DataKey, FieldAad, KeyEncryptionKey, WrappedDataKey};
use sqlx::FromRow;
use uuid::Uuid;

use crate::tenant::WorkspaceTx;
use crate::{Store, StoreError};

#[derive(FromRow)]
struct DataKeyRow {
    key_id: i32,
    kek_id: String,
    wrapped: Vec<u8>,
}

impl DataKeyRow {
    fn wrapped(self) -> WrappedDataKey {
        WrappedDataKey {
            data_key_id: self.key_id as u32,
            kek_id: self.kek_id,
            blob: self.wrapped,
        }
    }
}

/// The workspace's newest data key, created (and stored wrapped) on first use.
pub async fn current_data_key(
    tx: &mut WorkspaceTx,
    kek: &KeyEncryptionKey,
) -> Result<DataKey, StoreError> {
    let workspace = tx.workspace_id().to_string();
    // Row-level security scopes these to the workspace; the key material
    // is named by workspace explicitly as well, whoever runs the query.
    let row: Option<DataKeyRow> = sqlx::query_as(
        "SELECT key_id, kek_id, wrapped FROM data_keys WHERE workspace_id = $1 ORDER BY key_id DESC LIMIT 1",
    )
    .bind(tx.workspace_id())
    .fetch_optional(tx.conn())
    .await?;
    if let Some(row) = row {
        return Ok(kek.unwrap(&workspace, &row.wrapped())?);
    }
    // A new data key is wrapped only with the current key-encryption key: a
    // server still running with the previous one after a rotation would
    // make a key that nothing could open once it restarts.
    let current: Option<String> = sqlx::query_scalar("SELECT kek_id FROM kek_current")
        .fetch_optional(tx.conn())
        .await?;
    if let Some(current) = current.filter(|c| c != kek.id()) {
        return Err(StoreError::StaleKek {
            running: kek.id().to_owned(),
            current,
        });
    }
    let key = DataKey::generate(1)?;
    let wrapped = kek.wrap(&workspace, &key)?;
    let workspace_id = tx.workspace_id();
    sqlx::query(
        "INSERT INTO data_keys (workspace_id, key_id, kek_id, wrapped) VALUES ($1, $2, $3, $4)",
    )
    .bind(workspace_id)
    .bind(key.id() as i32)
    .bind(&wrapped.kek_id)
    .bind(&wrapped.blob)
    .execute(tx.conn())
    .await?;
    Ok(key)
}

/// The data key a sealed value names.
pub async fn data_key(
    tx: &mut WorkspaceTx,
    kek: &KeyEncryptionKey,
    key_id: u32,
) -> Result<DataKey, StoreError> {
    let workspace = tx.workspace_id().to_string();
    let row: DataKeyRow = sqlx::query_as(
        "SELECT key_id, kek_id, wrapped FROM data_keys WHERE workspace_id = $1 AND key_id = $2",
    )
    .bind(tx.workspace_id())
    .bind(key_id as i32)
    .fetch_optional(tx.conn())
    .await?
    .ok_or_else(|| StoreError::NotFound {
        what: "data key",
        id: key_id.to_string(),
    })?;
    Ok(kek.unwrap(&workspace, &row.wrapped())?)
}

/// Seal `plaintext` for one field of one row with the workspace's current key.
pub async fn seal_field(
    tx: &mut WorkspaceTx,
    kek: &KeyEncryptionKey,
    aad: FieldAad<'_>,
    plaintext: &[u8],
) -> Result<Vec<u8>, StoreError> {
    let key = current_data_key(tx, kek).await?;
    Ok(seal(&key, aad, plaintext)?)
}

/// Open a sealed field; fails if it was moved from another row, column or table.
pub async fn open_field(
    tx: &mut WorkspaceTx,
    kek: &KeyEncryptionKey,
    aad: FieldAad<'_>,
    sealed: &[u8],
) -> Result<Vec<u8>, StoreError> {
    let key = data_key(tx, kek, sightline_crypto::envelope::key_id(sealed)?).await?;
    Ok(open(&key, aad, sealed)?)
}

/// What the API shows of an integration: that it is set, never its value.
#[derive(Debug, Clone, Serialize, FromRow)]
pub struct IntegrationSummary {
    pub name: String,
    pub configured: bool,
    pub updated_at: DateTime<Utc>,
}

/// Store (or replace) an integration credential, sealed to its row.
pub async fn put_integration(
    tx: &mut WorkspaceTx,
    kek: &KeyEncryptionKey,
    name: &str,
    credential: &str,
) -> Result<IntegrationSummary, StoreError> {
    let existing: Option<Uuid> =
        sqlx::query_scalar("SELECT id FROM integrations WHERE workspace_id = $1 AND name = $2")
            .bind(tx.workspace_id())
            .bind(name)
            .fetch_optional(tx.conn())
            .await?;
    let id = existing.unwrap_or_else(Uuid::new_v4);
    let row_id = id.to_string();
    let sealed = seal_field(
        tx,
        kek,
        FieldAad {
            table: "integrations",
            row_id: &row_id,
            column: "credential",
        },
        credential.as_bytes(),
    )
    .await?;
    let workspace_id = tx.workspace_id();
    Ok(sqlx::query_as(
        "INSERT INTO integrations (id, workspace_id, name, credential) VALUES ($1, $2, $3, $4)
         ON CONFLICT (workspace_id, name) DO UPDATE SET credential = excluded.credential, updated_at = now()
         RETURNING name, true AS configured, updated_at",
    )
    .bind(id)
    .bind(workspace_id)
    .bind(name)
    .bind(&sealed)
    .fetch_one(tx.conn())
    .await?)
}

pub async fn integrations(tx: &mut WorkspaceTx) -> Result<Vec<IntegrationSummary>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT name, true AS configured, updated_at FROM integrations ORDER BY name",
    )
    .fetch_all(tx.conn())
    .await?)
}

/// Disconnect an integration: the row and its sealed credential are deleted.
pub async fn delete_integration(tx: &mut WorkspaceTx, name: &str) -> Result<(), StoreError> {
    let done = sqlx::query("DELETE FROM integrations WHERE name = $1")
        .bind(name)
        .execute(tx.conn())
        .await?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound {
            what: "integration",
            id: name.to_owned(),
        });
    }
    Ok(())
}

/// An integration's credential, opened for the code that calls the
/// integration; no route returns it.
pub async fn integration_credential(
    tx: &mut WorkspaceTx,
    kek: &KeyEncryptionKey,
    name: &str,
) -> Result<String, StoreError> {
    let (id, sealed): (Uuid, Vec<u8>) = sqlx::query_as(
        "SELECT id, credential FROM integrations WHERE workspace_id = $1 AND name = $2",
    )
    .bind(tx.workspace_id())
    .bind(name)
    .fetch_optional(tx.conn())
    .await?
    .ok_or_else(|| StoreError::NotFound {
        what: "integration",
        id: name.to_owned(),
    })?;
    let row_id = id.to_string();
    let plain = open_field(
        tx,
        kek,
        FieldAad {
            table: "integrations",
            row_id: &row_id,
            column: "credential",
        },
        &sealed,
    )
    .await?;
    String::from_utf8(plain)
        .map_err(|_| StoreError::Crypto(sightline_crypto::CryptoError::Authentication))
}

/// What a KEK rotation did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rotation {
    /// Data keys re-wrapped, per workspace.
    pub rewrapped: Vec<(Uuid, u64)>,
    /// Data keys wrapped by a KEK that is neither the old nor the new one
    /// (left untouched; they open only with that KEK).
    pub other_kek: u64,
}

impl Store {
    /// The key-encryption key data keys are wrapped with, once one was rotated to.
    pub async fn current_kek_id(&self) -> Result<Option<String>, StoreError> {
        Ok(sqlx::query_scalar("SELECT kek_id FROM kek_current")
            .fetch_optional(&self.pool)
            .await?)
    }

    /// Re-wrap every workspace's data keys from `old` to `new` in one
    /// transaction, and record it in each workspace's audit trail; sealed
    /// rows are untouched. This is the key custodian's job: it runs as the
    /// database owner, which on Aurora is not a superuser and so is itself
    /// filtered by FORCEd row-level security, so the two tables it needs are
    /// NO FORCE inside this transaction only (their lock keeps everyone else
    /// out until it commits).
    pub async fn rotate_kek(
        &self,
        old: &KeyEncryptionKey,
        new: &KeyEncryptionKey,
        actor: &str,
    ) -> Result<Rotation, StoreError> {
        if old.id() == new.id() {
            return Err(StoreError::InvalidInput {
                field: "new key-encryption key id",
                expected: format!("an id other than the current one ({})", old.id()),
                found: new.id().to_owned(),
            });
        }
        let mut tx = self.pool.begin().await?;
        for table in ["data_keys", "audit_log"] {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY"
            )))
            .execute(&mut *tx)
            .await?;
        }
        let rows: Vec<(Uuid, i32, String, Vec<u8>)> = sqlx::query_as(
            "SELECT workspace_id, key_id, kek_id, wrapped FROM data_keys
             WHERE kek_id = $1 ORDER BY workspace_id, key_id FOR UPDATE",
        )
        .bind(old.id())
        .fetch_all(&mut *tx)
        .await?;
        let (other_kek, already_new): (i64, i64) = sqlx::query_as(
            "SELECT count(*) FILTER (WHERE kek_id <> $1 AND kek_id <> $2),
                    count(*) FILTER (WHERE kek_id = $2)
             FROM data_keys",
        )
        .bind(old.id())
        .bind(new.id())
        .fetch_one(&mut *tx)
        .await?;
        if already_new > 0 {
            return Err(StoreError::InvalidInput {
                field: "new key-encryption key id",
                expected: "an id no data key carries yet (rotating twice to one id would mix two keys under it)".into(),
                found: new.id().to_owned(),
            });
        }
        let mut rotation = Rotation {
            other_kek: other_kek as u64,
            ..Rotation::default()
        };
        for (workspace_id, key_id, kek_id, wrapped) in &rows {
            let workspace = workspace_id.to_string();
            let rewrapped = new.rewrap(
                old,
                &workspace,
                &WrappedDataKey {
                    data_key_id: *key_id as u32,
                    kek_id: kek_id.clone(),
                    blob: wrapped.clone(),
                },
            )?;
            sqlx::query(
                "UPDATE data_keys SET kek_id = $3, wrapped = $4 WHERE workspace_id = $1 AND key_id = $2",
            )
            .bind(workspace_id)
            .bind(key_id)
            .bind(&rewrapped.kek_id)
            .bind(&rewrapped.blob)
            .execute(&mut *tx)
            .await?;
            match rotation.rewrapped.last_mut() {
                Some((w, n)) if w == workspace_id => *n += 1,
                _ => rotation.rewrapped.push((*workspace_id, 1)),
            }
        }
        for (workspace_id, n) in &rotation.rewrapped {
            crate::audit::append(
                &mut tx,
                *workspace_id,
                actor,
                "keys.rotated",
                "data_keys",
                serde_json::json!({"from_kek": old.id(), "to_kek": new.id(), "data_keys": n}),
            )
            .await?;
        }
        sqlx::query(
            "INSERT INTO kek_current (kek_id) VALUES ($1)
             ON CONFLICT (singleton) DO UPDATE SET kek_id = excluded.kek_id, since = now()",
        )
        .bind(new.id())
        .execute(&mut *tx)
        .await?;
        for table in ["data_keys", "audit_log"] {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "ALTER TABLE {table} FORCE ROW LEVEL SECURITY"
            )))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(rotation)
    }
}
