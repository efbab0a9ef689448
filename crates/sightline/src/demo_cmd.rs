//! `sightline demo`: scan the account the current credentials reach (in
//! `make demo`, the seeded emulator), store it in PostgreSQL, and show the
//! findings and what the database now holds. Uses `DATABASE_URL` when set;
//! otherwise a private PostgreSQL under `.sightline/postgres`, stopped on
//! exit and reused next time (so a second run shows the diff).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Args;
use sightline_aws::{AwsSession, ConnectOptions, ScanOptions, ScanRecorder, Service};
use sightline_core::report::{render, Format};
use sightline_store::accounts::NewAccount;
use sightline_store::embedded::EmbeddedPostgres;
use sightline_store::{Store, StoreError};

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Regions to scan, comma-separated (default: every enabled region).
    #[arg(long, value_delimiter = ',')]
    regions: Option<Vec<String>>,
    /// PostgreSQL URL; without it a private server runs under --data-dir.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
    #[arg(long, default_value = ".sightline/postgres")]
    data_dir: PathBuf,
}

pub fn run(args: DemoArgs) -> Result<ExitCode> {
    // Started outside the async runtime so it stops (Drop) after everything else.
    let embedded = match &args.database_url {
        Some(_) => None,
        None => Some(
            EmbeddedPostgres::start(&args.data_dir).context("starting the private PostgreSQL")?,
        ),
    };
    let url = args
        .database_url
        .clone()
        .or_else(|| embedded.as_ref().map(EmbeddedPostgres::url))
        .unwrap_or_default();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let result = runtime.block_on(demo(&url, args.regions));
    drop(runtime);
    drop(embedded);
    result
}

async fn demo(url: &str, regions: Option<Vec<String>>) -> Result<ExitCode> {
    let store = Store::connect(url).await?;
    store.migrate().await?;
    let session = AwsSession::connect(&ConnectOptions::default()).await?;
    let workspace = match store.workspace_by_name("demo").await {
        Ok(ws) => ws,
        Err(StoreError::NotFound { .. }) => {
            store.create_workspace("demo", "sightline-demo").await?
        }
        Err(e) => return Err(e.into()),
    };
    let account = match store
        .accounts(workspace.id)
        .await?
        .into_iter()
        .find(|a| a.aws_account_id == session.account_id)
    {
        Some(a) => a,
        None => {
            let new = NewAccount {
                aws_account_id: session.account_id.clone(),
                name: Some("demo".into()),
                regions: regions.clone().unwrap_or_default(),
                ..NewAccount::default()
            };
            store.add_account(&workspace, &new).await?
        }
    };

    let options = ScanOptions {
        regions,
        services: Service::ALL.to_vec(),
        concurrency: 8,
    };
    let checks = sightline_core::catalog();
    let recorder = ScanRecorder::new();
    let scan_id = store.begin_scan(&account, None).await?;
    let (inventory, report) =
        sightline_aws::scan_and_evaluate(&session, &options, &recorder, &checks).await?;
    let diff = store
        .save_scan(scan_id, &account, None, &inventory, &report)
        .await?;

    print!("{}", render(&report, &checks, Format::Table));
    let summary = store.account_summary(account.id).await?;
    println!(
        "\nStored in PostgreSQL: {} resources, {} open findings, {} scan(s) of account {}. This scan: {} new, {} still open, {} resolved, {} regressed.",
        summary.resources, summary.open_findings, summary.scans, account.aws_account_id, diff.new, diff.still_open, diff.resolved, diff.regressed
    );
    Ok(ExitCode::SUCCESS)
}
