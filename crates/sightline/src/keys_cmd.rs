//! The key-encryption key: where `serve` and `keys rotate` read it from, and
//! `sightline keys rotate`, which re-wraps every workspace's data keys from
//! the current KEK to a new one in one transaction (audited in each
//! workspace) and touches no sealed row. Run it as the database owner, then
//! give the servers the new key.

use std::process::ExitCode;

use anyhow::{anyhow, bail, Result};
use clap::{Args, Subcommand};
use sightline_crypto::KeyEncryptionKey;

use crate::store_cmd::Database;

/// The current key-encryption key.
#[derive(Debug, Args)]
pub struct KekArgs {
    /// The key-encryption key as 64 hex digits (local use; in AWS use the secret).
    #[arg(
        long,
        env = "SIGHTLINE_KEK",
        hide_env_values = true,
        conflicts_with = "kek_secret_id"
    )]
    kek: Option<String>,
    /// Secrets Manager id of the key-encryption key (64 hex digits).
    #[arg(long, env = "SIGHTLINE_KEK_SECRET_ID")]
    kek_secret_id: Option<String>,
    /// The key-encryption key's id, stored beside every data key it wraps.
    #[arg(long, env = "SIGHTLINE_KEK_ID", default_value = "kek-1")]
    kek_id: String,
}

/// The key-encryption key to rotate to.
#[derive(Debug, Args)]
pub struct NewKekArgs {
    /// The new key-encryption key as 64 hex digits.
    #[arg(
        long,
        env = "SIGHTLINE_NEW_KEK",
        hide_env_values = true,
        conflicts_with = "new_kek_secret_id"
    )]
    new_kek: Option<String>,
    /// Secrets Manager id of the new key-encryption key.
    #[arg(long, env = "SIGHTLINE_NEW_KEK_SECRET_ID")]
    new_kek_secret_id: Option<String>,
    /// The new key's id (must differ from the current one's).
    #[arg(long, env = "SIGHTLINE_NEW_KEK_ID")]
    new_kek_id: String,
}

impl KekArgs {
    pub async fn load(&self) -> Result<KeyEncryptionKey> {
        load(
            self.kek.as_deref(),
            self.kek_secret_id.as_deref(),
            &self.kek_id,
            "SIGHTLINE_KEK",
        )
        .await
    }
}

impl NewKekArgs {
    pub async fn load(&self) -> Result<KeyEncryptionKey> {
        load(
            self.new_kek.as_deref(),
            self.new_kek_secret_id.as_deref(),
            &self.new_kek_id,
            "SIGHTLINE_NEW_KEK",
        )
        .await
    }
}

/// A KEK from its hex or its secret; an error names where it came from, never the value.
async fn load(
    hex: Option<&str>,
    secret_id: Option<&str>,
    id: &str,
    variable: &str,
) -> Result<KeyEncryptionKey> {
    let (hex, source) = match (hex, secret_id) {
        (Some(hex), _) => (hex.to_owned(), variable.to_owned()),
        (None, Some(secret)) => {
            let session =
                sightline_aws::AwsSession::connect(&sightline_aws::ConnectOptions::default())
                    .await?;
            (
                sightline_aws::secrets::secret_string(&session, secret).await?,
                format!("secret {secret}"),
            )
        }
        (None, None) => {
            bail!("no key-encryption key: expected {variable} or {variable}_SECRET_ID")
        }
    };
    KeyEncryptionKey::from_hex(id, hex.trim())
        .map_err(|e| anyhow!("{source}: expected the key-encryption key as 64 hex digits: {e}"))
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Re-wrap every workspace's data keys under a new key-encryption key
    /// (audited in each workspace); sealed rows are not touched.
    Rotate {
        #[command(flatten)]
        current: KekArgs,
        #[command(flatten)]
        new: NewKekArgs,
        #[command(flatten)]
        db: Database,
    },
}

pub fn run(command: KeysCommand) -> Result<ExitCode> {
    let KeysCommand::Rotate { current, new, db } = command;
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(async move {
            let (old, new) = (current.load().await?, new.load().await?);
            let store = db.current().await?;
            let done = store.rotate_kek(&old, &new, "system:keys-rotate").await?;
            let total: u64 = done.rewrapped.iter().map(|(_, n)| n).sum();
            println!(
                "{total} data key(s) of {} workspace(s) re-wrapped from {} to {}",
                done.rewrapped.len(),
                old.id(),
                new.id()
            );
            if done.other_kek > 0 {
                eprintln!(
                    "sightline: {} data key(s) are wrapped by another key-encryption key and were left as they are",
                    done.other_kek
                );
            }
            println!(
                "now give the servers the new key (SIGHTLINE_KEK or SIGHTLINE_KEK_SECRET_ID, with SIGHTLINE_KEK_ID={}) and restart them",
                new.id()
            );
            Ok(ExitCode::SUCCESS)
        })
}
