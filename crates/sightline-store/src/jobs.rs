//! The job queue any number of stateless workers share. A worker claims a
//! job with `FOR UPDATE SKIP LOCKED` and a lease it renews while it works;
//! a job whose lease expired goes back to whoever claims next. Completion
//! happens inside the scan's own transaction and only while the lease is
//! still held, so a job completes exactly once. A lease is the owner's name
//! and the attempt it claimed: a worker that shares a name with another (or
//! restarts under its old one) cannot renew, fail or complete a later claim.

use std::time::Duration;

use sqlx::{FromRow, Postgres, Transaction};
use uuid::Uuid;

use crate::{Store, StoreError};

/// A job this worker holds the lease on.
#[derive(Debug, Clone, FromRow)]
pub struct LeasedJob {
    pub id: Uuid,
    pub workspace_id: Uuid,
    pub account_id: Uuid,
    pub attempts: i32,
    pub max_attempts: i32,
    pub lease_owner: String,
}

/// What [`Store::claim`] found.
#[derive(Debug)]
pub struct Claim {
    pub job: Option<LeasedJob>,
    /// Jobs failed for good on the way: their last attempt's worker died.
    pub given_up: u32,
}

/// What recording a failure did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failed {
    /// Queued again, after the backoff.
    WillRetry,
    /// Its attempts are spent.
    ForGood,
    /// This worker's lease was gone: nothing recorded.
    NotHeld,
}

#[derive(Debug, Clone, FromRow)]
pub struct JobRow {
    pub id: Uuid,
    pub account_id: Uuid,
    pub status: String,
    pub attempts: i32,
    pub last_error: Option<String>,
}

fn seconds(d: Duration) -> f64 {
    d.as_secs_f64()
}

impl Store {
    /// Queue a scan of `account_id` now.
    pub async fn enqueue_scan(
        &self,
        account_id: Uuid,
        max_attempts: i32,
    ) -> Result<Uuid, StoreError> {
        sqlx::query_scalar(
            "INSERT INTO jobs (workspace_id, account_id, max_attempts) SELECT workspace_id, id, $2 FROM accounts WHERE id = $1 RETURNING id",
        )
        .bind(account_id)
        .bind(max_attempts)
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| StoreError::NotFound { what: "account", id: account_id.to_string() })
    }

    /// Queue the scans whose schedule is due. Two workers doing this at once
    /// enqueue each scheduled scan once: the due rows are locked, and a job is
    /// unique per (account, scheduled time).
    pub async fn enqueue_due_scans(&self) -> Result<u64, StoreError> {
        let inserted: i64 = sqlx::query_scalar(
            "WITH due AS (
                 SELECT id, workspace_id, next_scan_at, schedule_interval FROM accounts
                 WHERE schedule_interval IS NOT NULL AND next_scan_at <= now()
                 FOR UPDATE SKIP LOCKED
             ),
             queued AS (
                 INSERT INTO jobs (workspace_id, account_id, scheduled_for)
                 SELECT workspace_id, id, next_scan_at FROM due
                 ON CONFLICT (account_id, scheduled_for) DO NOTHING
                 RETURNING 1
             ),
             advanced AS (
                 UPDATE accounts a SET next_scan_at = greatest(due.next_scan_at + due.schedule_interval, now())
                 FROM due WHERE a.id = due.id
                 RETURNING 1
             )
             SELECT (SELECT count(*) FROM queued) + 0 * (SELECT count(*) FROM advanced)",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(inserted as u64)
    }

    /// Claim the next runnable job: queued and due, or running with an
    /// expired lease. A job past its attempts is failed instead of returned.
    pub async fn claim_job(
        &self,
        worker: &str,
        lease: Duration,
    ) -> Result<Option<LeasedJob>, StoreError> {
        Ok(self.claim(worker, lease).await?.job)
    }

    /// [`Store::claim_job`], also counting the jobs failed for good on the
    /// way (their workers died with their last attempt), for the metrics.
    pub async fn claim(&self, worker: &str, lease: Duration) -> Result<Claim, StoreError> {
        let mut given_up = 0;
        loop {
            let job: Option<LeasedJob> = sqlx::query_as(
                "UPDATE jobs SET status = 'running', attempts = attempts + 1, lease_owner = $1,
                        lease_expires_at = now() + make_interval(secs => $2)
                 WHERE id = (
                     SELECT id FROM jobs
                     WHERE (status = 'queued' AND run_after <= now()) OR (status = 'running' AND lease_expires_at < now())
                     -- run_after alone, which jobs_claimable serves in order:
                     -- a tie-break on created_at made every claim sort the
                     -- whole batch a round enqueues at one instant (318
                     -- jobs/s at 16 workers against 1,627; queue_bench).
                     ORDER BY run_after
                     FOR UPDATE SKIP LOCKED
                     LIMIT 1
                 )
                 RETURNING id, workspace_id, account_id, attempts, max_attempts, lease_owner",
            )
            .bind(worker)
            .bind(seconds(lease))
            .fetch_optional(&self.pool)
            .await?;
            let Some(job) = job else {
                return Ok(Claim {
                    job: None,
                    given_up,
                });
            };
            // A scan left running by a worker that died is abandoned, not resumed.
            sqlx::query("UPDATE scans SET status = 'abandoned', finished_at = now() WHERE job_id = $1 AND status = 'running'")
                .bind(job.id)
                .execute(&self.pool)
                .await?;
            if job.attempts <= job.max_attempts {
                return Ok(Claim {
                    job: Some(job),
                    given_up,
                });
            }
            given_up += 1;
            sqlx::query(
                "UPDATE jobs SET status = 'failed', finished_at = now(), lease_owner = NULL, lease_expires_at = NULL,
                        last_error = coalesce(last_error || '; ', '') || 'gave up after ' || max_attempts || ' attempts'
                 WHERE id = $1",
            )
            .bind(job.id)
            .execute(&self.pool)
            .await?;
        }
    }

    /// Extend the lease; `LeaseLost` if another worker has taken the job.
    ///
    /// A job this very attempt already completed is no lost lease: the
    /// scan's transaction can commit while a renewal waits on the row, and
    /// the renewal then finds nothing running to extend.
    pub async fn renew_lease(&self, job: &LeasedJob, lease: Duration) -> Result<(), StoreError> {
        let renewed = sqlx::query(
            "UPDATE jobs SET lease_expires_at = now() + make_interval(secs => $3)
             WHERE id = $1 AND lease_owner = $2 AND attempts = $4 AND status = 'running'",
        )
        .bind(job.id)
        .bind(&job.lease_owner)
        .bind(seconds(lease))
        .bind(job.attempts)
        .execute(&self.pool)
        .await?
        .rows_affected();
        if renewed == 1 {
            return Ok(());
        }
        // A statement of its own, so a snapshot taken after the completing
        // transaction committed: a subquery of the UPDATE above would see
        // the row as it was before the wait. Each claim counts an attempt,
        // so `succeeded` at this attempt is this worker's own completion.
        let completed_by_this_attempt: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM jobs WHERE id = $1 AND attempts = $2 AND status = 'succeeded')",
        )
        .bind(job.id)
        .bind(job.attempts)
        .fetch_one(&self.pool)
        .await?;
        if completed_by_this_attempt {
            Ok(())
        } else {
            Err(StoreError::LeaseLost { job_id: job.id })
        }
    }

    /// Record a failed attempt: retried after `backoff`, or failed for good
    /// once its attempts are spent; nothing if this worker no longer holds
    /// the lease.
    pub async fn fail_job(
        &self,
        job: &LeasedJob,
        error: &str,
        backoff: Duration,
    ) -> Result<Failed, StoreError> {
        let status: Option<String> = sqlx::query_scalar(
            "UPDATE jobs SET
                 status = CASE WHEN attempts >= max_attempts THEN 'failed' ELSE 'queued' END,
                 finished_at = CASE WHEN attempts >= max_attempts THEN now() END,
                 run_after = now() + make_interval(secs => $4),
                 lease_owner = NULL, lease_expires_at = NULL, last_error = $3
             WHERE id = $1 AND lease_owner = $2 AND attempts = $5 AND status = 'running'
             RETURNING status",
        )
        .bind(job.id)
        .bind(&job.lease_owner)
        .bind(error)
        .bind(seconds(backoff))
        .bind(job.attempts)
        .fetch_optional(&self.pool)
        .await?;
        let Some(status) = status else {
            return Ok(Failed::NotHeld);
        };
        // Only the lease holder's failure ends the attempt's scan: a stale
        // worker must not abandon the scan of the worker that took over.
        sqlx::query("UPDATE scans SET status = 'abandoned', finished_at = now() WHERE job_id = $1 AND status = 'running'")
            .bind(job.id)
            .execute(&self.pool)
            .await?;
        Ok(if status == "failed" {
            Failed::ForGood
        } else {
            Failed::WillRetry
        })
    }

    /// Mark a held job succeeded on its own, by the statement a scan's
    /// write uses inside its transaction (for a job that writes nothing
    /// else: the queue's benchmark). `LeaseLost` if the lease is gone.
    pub async fn complete_job(&self, job: &LeasedJob) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        complete_in(&mut tx, job).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn job(&self, id: Uuid) -> Result<JobRow, StoreError> {
        sqlx::query_as(
            "SELECT id, account_id, status, attempts, last_error FROM jobs WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| StoreError::NotFound {
            what: "job",
            id: id.to_string(),
        })
    }
}

/// Mark the job succeeded inside the scan's transaction, only if this worker
/// still holds its lease.
pub(crate) async fn complete_in(
    tx: &mut Transaction<'_, Postgres>,
    job: &LeasedJob,
) -> Result<(), StoreError> {
    let done = sqlx::query(
        "UPDATE jobs SET status = 'succeeded', finished_at = now(), lease_owner = NULL, lease_expires_at = NULL
         WHERE id = $1 AND lease_owner = $2 AND attempts = $3 AND status = 'running'",
    )
    .bind(job.id)
    .bind(&job.lease_owner)
    .bind(job.attempts)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if done == 1 {
        Ok(())
    } else {
        Err(StoreError::LeaseLost { job_id: job.id })
    }
}
