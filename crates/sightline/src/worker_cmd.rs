//! `sightline worker`: claim scan jobs from PostgreSQL, scan the account
//! (assuming its role), and save the results together with the job's
//! completion. Holds no state between jobs; renews its lease while it works
//! and drops the job if the lease is lost. Schedules are enqueued by every
//! worker (duplicates are impossible by construction).

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;
use clap::Args;
use sightline_aws::{AwsSession, ConnectOptions, RoleArn, ScanOptions, ScanRecorder, Service};
use sightline_store::jobs::LeasedJob;
use sightline_store::{Store, StoreError};

use crate::store_cmd::Database;

#[derive(Debug, Args)]
pub struct WorkerArgs {
    #[command(flatten)]
    db: Database,
    /// Lease on a claimed job, renewed every third of it while the scan runs.
    #[arg(long, default_value_t = 30)]
    lease_seconds: u64,
    /// Wait between polls when the queue is empty.
    #[arg(long, default_value_t = 2)]
    poll_seconds: u64,
    /// Exit once the queue is empty (for tests and one-off runs).
    #[arg(long)]
    exit_when_idle: bool,
    /// Name in job leases (default: hostname and pid).
    #[arg(long)]
    name: Option<String>,
}

pub fn run(args: WorkerArgs) -> Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(work(args))
}

async fn work(args: WorkerArgs) -> Result<ExitCode> {
    let name = args
        .name
        .clone()
        .unwrap_or_else(|| format!("worker-{}", std::process::id()));
    let lease = Duration::from_secs(args.lease_seconds.max(3));
    let poll = Duration::from_secs(args.poll_seconds.max(1));
    let store = args.db.current().await?;
    tracing::info!(worker = %name, "worker started");
    loop {
        let claimed = async {
            store.enqueue_due_scans().await?;
            store.claim_job(&name, lease).await
        }
        .await;
        match claimed {
            Ok(Some(job)) => run_job(&store, &job, lease).await,
            Ok(None) if args.exit_when_idle => return Ok(ExitCode::SUCCESS),
            Ok(None) => tokio::time::sleep(poll).await,
            // The database went away: wait and try again; the pool reconnects.
            Err(e) if e.is_connection() => {
                tracing::warn!(error = %e, "database unavailable; retrying");
                tokio::time::sleep(poll).await;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// Run one job to completion, failure, or a lost lease.
async fn run_job(store: &Store, job: &LeasedJob, lease: Duration) {
    let renewing = async {
        loop {
            tokio::time::sleep(lease / 3).await;
            if let Err(e) = store.renew_lease(job, lease).await {
                if matches!(e, StoreError::LeaseLost { .. }) {
                    return e;
                }
                tracing::warn!(job = %job.id, error = %e, "could not renew the lease; will try again");
            }
        }
    };
    let outcome = tokio::select! {
        result = scan_job(store, job) => result,
        lost = renewing => Err(anyhow::Error::from(lost)),
    };
    match outcome {
        Ok(()) => tracing::info!(job = %job.id, "job done"),
        Err(e)
            if e.downcast_ref::<StoreError>()
                .is_some_and(|s| matches!(s, StoreError::LeaseLost { .. })) =>
        {
            tracing::warn!(job = %job.id, "lease lost: another worker has the job");
        }
        Err(e) => {
            let backoff =
                Duration::from_secs(2u64.saturating_pow(job.attempts.max(0) as u32).min(300));
            tracing::warn!(job = %job.id, attempt = job.attempts, error = %e, "job failed");
            if let Err(e) = store.fail_job(job, &format!("{e:#}"), backoff).await {
                tracing::warn!(job = %job.id, error = %e, "could not record the failure; the lease will expire");
            }
        }
    }
}

async fn scan_job(store: &Store, job: &LeasedJob) -> Result<()> {
    let account = store.account(job.account_id).await?;
    let external_id = match (&account.external_id, &account.role_arn) {
        (Some(id), _) => Some(id.clone()),
        (None, Some(_)) => Some(store.workspace_external_id(account.workspace_id).await?),
        (None, None) => None,
    };
    let connect = ConnectOptions {
        role_arn: account
            .role_arn
            .as_deref()
            .map(RoleArn::parse)
            .transpose()?,
        external_id,
        ..ConnectOptions::default()
    };
    let session = AwsSession::connect(&connect).await?;
    let options = ScanOptions {
        regions: (!account.regions.is_empty()).then(|| account.regions.clone()),
        services: Service::ALL.to_vec(),
        concurrency: 8,
    };
    let scan_id = store.begin_scan(&account, Some(job)).await?;
    let recorder = ScanRecorder::new();
    let checks = sightline_core::catalog();
    let (inventory, report) =
        sightline_aws::scan_and_evaluate(&session, &options, &recorder, &checks).await?;
    let diff = store
        .save_scan(scan_id, &account, Some(job), &inventory, &report)
        .await?;
    tracing::info!(job = %job.id, account = %account.aws_account_id, new = diff.new, resolved = diff.resolved, regressed = diff.regressed, "scan saved");
    Ok(())
}
