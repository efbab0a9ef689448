//! `sightline worker`: claim scan jobs from PostgreSQL, scan the account
//! (assuming its role), and save the results together with the job's
//! completion. Holds no state between jobs; renews its lease while it works
//! and drops the job if the lease is lost. Schedules are enqueued by every
//! worker (duplicates are impossible by construction).

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;
use sightline_aws::{AwsSession, ConnectOptions, RoleArn, ScanOptions, ScanRecorder, Service};
use sightline_store::jobs::{Failed, LeasedJob};
use sightline_store::{Store, StoreError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::metrics::JobOutcome;
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
    /// Name in job leases (default: the ECS task ARN from the container
    /// metadata endpoint, else `worker-<random UUID>`; never the PID, which
    /// is 1 in every container).
    #[arg(long)]
    name: Option<String>,
    /// Answer `GET /healthz` on this loopback address (the container's health
    /// check): 200 while the work loop has been alive recently, 503 otherwise.
    #[arg(long, env = "SIGHTLINE_WORKER_HEALTH_LISTEN")]
    health_listen: Option<SocketAddr>,
    /// Publish the audit chain's head to this CloudWatch Logs group, at start
    /// and whenever it has changed, checked every `--audit-publish-seconds`.
    #[arg(long, env = "SIGHTLINE_AUDIT_LOG_GROUP")]
    audit_log_group: Option<String>,
    #[arg(long, env = "SIGHTLINE_AUDIT_LOG_STREAM", default_value = "audit-head")]
    audit_log_stream: String,
    #[arg(long, env = "SIGHTLINE_AUDIT_PUBLISH_SECONDS", default_value_t = 300)]
    audit_publish_seconds: u64,
}

/// Unix seconds of the work loop's last sign of life (a poll or a lease renewal).
static ALIVE_AT: AtomicI64 = AtomicI64::new(0);

fn alive() {
    ALIVE_AT.store(chrono::Utc::now().timestamp(), Ordering::Relaxed);
}

/// A minimal HTTP answer to the container's health check; it reads nothing but the request line.
async fn serve_health(listener: tokio::net::TcpListener, stale_after: Duration) {
    loop {
        let Ok((mut stream, _)) = listener.accept().await else {
            continue;
        };
        tokio::spawn(async move {
            // Read up to the end of the request line (it may arrive in pieces).
            let mut buf = Vec::with_capacity(128);
            let _ = tokio::time::timeout(Duration::from_secs(2), async {
                let mut chunk = [0u8; 256];
                while !buf.windows(2).any(|w| w == b"\r\n") && buf.len() < 1024 {
                    match stream.read(&mut chunk).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
            })
            .await;
            let age = chrono::Utc::now().timestamp() - ALIVE_AT.load(Ordering::Relaxed);
            let fresh = age <= stale_after.as_secs() as i64;
            let is_health = buf.starts_with(b"GET /healthz ");
            let (status, body) = match (is_health, fresh) {
                (false, _) => ("404 Not Found", "not found\n".to_owned()),
                (true, true) => ("200 OK", "ok\n".to_owned()),
                (true, false) => (
                    "503 Service Unavailable",
                    format!("work loop silent for {age} s\n"),
                ),
            };
            let reply = format!(
                "HTTP/1.1 {status}\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(reply.as_bytes()).await;
        });
    }
}

/// Publish the audit head at start and then whenever it changes.
async fn publish_audit(store: Store, group: String, stream: String, every: Duration) {
    let mut last = None;
    loop {
        match crate::store_cmd::publish_audit_head_if_changed(
            &store,
            &group,
            &stream,
            last.as_deref(),
        )
        .await
        {
            Ok(Some(message)) => {
                tracing::info!(group = %group, %message, "published audit head");
                last = Some(message);
            }
            Ok(None) => {}
            Err(e) => {
                tracing::error!(group = %group, error = %format!("{e:#}"), "audit head not published")
            }
        }
        tokio::time::sleep(every).await;
    }
}

pub fn run(args: WorkerArgs) -> Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(work(args))
}

async fn work(args: WorkerArgs) -> Result<ExitCode> {
    let name = match args.name.clone() {
        Some(name) => name,
        None => default_name().await,
    };
    let lease = Duration::from_secs(args.lease_seconds.max(3));
    let poll = Duration::from_secs(args.poll_seconds.max(1));
    let store = args.db.current().await?;
    alive();
    if let Some(address) = args.health_listen {
        if !address.ip().is_loopback() {
            anyhow::bail!("--health-listen: expected a loopback address (the check runs in the container), found {address}");
        }
        let listener = tokio::net::TcpListener::bind(address)
            .await
            .with_context(|| format!("cannot listen on {address}"))?;
        tokio::spawn(serve_health(
            listener,
            (lease * 4).max(Duration::from_secs(120)),
        ));
    }
    if let Some(group) = &args.audit_log_group {
        tokio::spawn(publish_audit(
            store.clone(),
            group.clone(),
            args.audit_log_stream.clone(),
            Duration::from_secs(args.audit_publish_seconds.max(10)),
        ));
    }
    tracing::info!(worker = %name, pid = std::process::id(), "worker started");
    loop {
        alive();
        let claimed = async {
            store.enqueue_due_scans().await?;
            store.claim(&name, lease).await
        }
        .await;
        if let Ok(claim) = &claimed {
            for _ in 0..claim.given_up {
                tracing::warn!("a job failed for good: its last attempt's worker stopped");
                crate::metrics::emit_job(JobOutcome::Failed, Duration::ZERO);
            }
        }
        match claimed.map(|c| c.job) {
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

/// A name unique per task. In ECS, the task's ARN, read from the container
/// metadata endpoint (`ECS_CONTAINER_METADATA_URI_V4`); elsewhere, or when
/// the endpoint does not answer, a random UUID.
async fn default_name() -> String {
    if let Ok(uri) = std::env::var("ECS_CONTAINER_METADATA_URI_V4") {
        let task = format!("{}/task", uri.trim_end_matches('/'));
        match tokio::time::timeout(Duration::from_secs(3), ecs_task_arn(&task)).await {
            Ok(Ok(arn)) => return arn,
            Ok(Err(e)) => {
                tracing::warn!(url = %task, error = %format!("{e:#}"), "no task ARN from the ECS metadata endpoint; naming this worker with a random UUID")
            }
            Err(_) => {
                tracing::warn!(url = %task, "the ECS metadata endpoint did not answer in 3 s; naming this worker with a random UUID")
            }
        }
    }
    format!("worker-{}", uuid::Uuid::new_v4())
}

/// `TaskARN` from the task metadata document at `url` (plain HTTP, as the
/// ECS agent serves it on a link-local address).
async fn ecs_task_arn(url: &str) -> Result<String> {
    let rest = url
        .strip_prefix("http://")
        .with_context(|| format!("expected an http:// metadata URL, found {url:?}"))?;
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let authority = if authority.contains(':') {
        authority.to_owned()
    } else {
        format!("{authority}:80")
    };
    let mut stream = tokio::net::TcpStream::connect(&authority)
        .await
        .with_context(|| format!("cannot reach {authority}"))?;
    // HTTP/1.0: the answer is the body up to the end of the stream, never chunked.
    let request = format!("GET {path} HTTP/1.0\r\nHost: {authority}\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut answer = Vec::new();
    stream.take(1 << 20).read_to_end(&mut answer).await?;
    let answer = String::from_utf8_lossy(&answer);
    let (head, body) = answer
        .split_once("\r\n\r\n")
        .context("the metadata endpoint's answer has no body")?;
    let status = head.split_whitespace().nth(1).unwrap_or("");
    anyhow::ensure!(
        status == "200",
        "the metadata endpoint answered {status:?}, expected 200"
    );
    let document: serde_json::Value =
        serde_json::from_str(body).context("the task metadata is not JSON")?;
    match document.get("TaskARN").and_then(|v| v.as_str()) {
        Some(arn) if arn.starts_with("arn:") && arn.contains(":task/") => Ok(arn.to_owned()),
        other => anyhow::bail!(
            "expected TaskARN arn:<partition>:ecs:<region>:<account>:task/..., found {other:?}"
        ),
    }
}

/// Run one job to completion, failure, or a lost lease.
async fn run_job(store: &Store, job: &LeasedJob, lease: Duration) {
    let renewing = async {
        loop {
            tokio::time::sleep(lease / 3).await;
            alive();
            if let Err(e) = store.renew_lease(job, lease).await {
                if matches!(e, StoreError::LeaseLost { .. }) {
                    return e;
                }
                tracing::warn!(job = %job.id, error = %e, "could not renew the lease; will try again");
            }
        }
    };
    let started = std::time::Instant::now();
    let outcome = tokio::select! {
        result = scan_job(store, job) => result,
        lost = renewing => Err(anyhow::Error::from(lost)),
    };
    let recorded = match outcome {
        Ok(()) => {
            tracing::info!(job = %job.id, "job done");
            JobOutcome::Succeeded
        }
        Err(e)
            if e.downcast_ref::<StoreError>()
                .is_some_and(|s| matches!(s, StoreError::LeaseLost { .. })) =>
        {
            tracing::warn!(job = %job.id, "lease lost: another worker has the job");
            JobOutcome::LeaseLost
        }
        Err(e) => {
            let backoff =
                Duration::from_secs(2u64.saturating_pow(job.attempts.max(0) as u32).min(300));
            tracing::warn!(job = %job.id, attempt = job.attempts, error = %e, "job failed");
            // The metric follows what the database recorded, not a guess.
            match store.fail_job(job, &format!("{e:#}"), backoff).await {
                Ok(Failed::ForGood) => JobOutcome::Failed,
                Ok(Failed::WillRetry) => JobOutcome::Retried,
                Ok(Failed::NotHeld) => JobOutcome::LeaseLost,
                Err(e) => {
                    tracing::warn!(job = %job.id, error = %e, "could not record the failure; the lease will expire");
                    JobOutcome::Retried
                }
            }
        }
    };
    crate::metrics::emit_job(recorded, started.elapsed());
}

async fn scan_job(store: &Store, job: &LeasedJob) -> Result<()> {
    let account = store.account(job.account_id).await?;
    // Always the workspace's own ExternalId: an account has none of its own,
    // so one workspace cannot use another's to assume that one's role.
    // A role-less account is scanned as the worker only when an operator registered it so.
    let role_arn = account.scan_role()?.map(RoleArn::parse).transpose()?;
    let external_id = match &role_arn {
        Some(_) => Some(store.workspace_external_id(account.workspace_id).await?),
        None => None,
    };
    let connect = ConnectOptions {
        role_arn,
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
    let (inventory, mut report) =
        sightline_aws::scan_and_evaluate(&session, &options, &recorder, &checks).await?;
    report.compliance = sightline_core::compliance::assess_all_counted(&report);
    let diff = store
        .save_scan(scan_id, &account, Some(job), &inventory, &report)
        .await?;
    tracing::info!(job = %job.id, account = %account.aws_account_id, new = diff.new, resolved = diff.resolved, regressed = diff.regressed, "scan saved");
    Ok(())
}
