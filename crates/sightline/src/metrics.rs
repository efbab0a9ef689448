//! Job metrics in CloudWatch embedded metric format (EMF): one JSON line per
//! finished attempt on standard output, which the awslogs driver ships to
//! the worker's log group, where CloudWatch extracts the metrics. The task
//! needs no `cloudwatch:PutMetricData`. Namespace `Sightline`, dimension
//! `Stack` (from `SIGHTLINE_METRICS_STACK`) when set; the stack's
//! FailedJobsAlarm watches `JobsFailed`.

use std::io::Write;
use std::time::Duration;

use serde_json::{json, Map, Value};

/// How one attempt at a job ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobOutcome {
    Succeeded,
    /// Failed, to be retried after a backoff.
    Retried,
    /// Failed with its attempts spent: failed for good.
    Failed,
    /// Another worker holds the job now.
    LeaseLost,
}

/// The EMF document for one attempt.
pub fn job_record(
    outcome: JobOutcome,
    took: Duration,
    stack: Option<&str>,
    timestamp_ms: i64,
) -> Value {
    let count = |o: JobOutcome| if o == outcome { 1 } else { 0 };
    let metrics = [
        (
            "JobsSucceeded",
            "Count",
            json!(count(JobOutcome::Succeeded)),
        ),
        ("JobsRetried", "Count", json!(count(JobOutcome::Retried))),
        ("JobsFailed", "Count", json!(count(JobOutcome::Failed))),
        ("LeasesLost", "Count", json!(count(JobOutcome::LeaseLost))),
        ("JobSeconds", "Seconds", json!(took.as_secs_f64())),
    ];
    let dimensions: Vec<&str> = stack.map(|_| "Stack").into_iter().collect();
    let mut record = Map::new();
    record.insert(
        "_aws".into(),
        json!({
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": "Sightline",
                "Dimensions": [dimensions],
                "Metrics": metrics.iter().map(|(name, unit, _)| json!({"Name": name, "Unit": unit})).collect::<Vec<_>>(),
            }],
        }),
    );
    if let Some(stack) = stack {
        record.insert("Stack".into(), json!(stack));
    }
    for (name, _, value) in metrics {
        record.insert(name.into(), value);
    }
    Value::Object(record)
}

/// Write the attempt's record to standard output when logs are JSON (the
/// deployed form); a developer's terminal gets none.
pub fn emit_job(outcome: JobOutcome, took: Duration) {
    if std::env::var("SIGHTLINE_LOG_FORMAT").as_deref() != Ok("json") {
        return;
    }
    let stack = std::env::var("SIGHTLINE_METRICS_STACK").ok();
    let record = job_record(
        outcome,
        took,
        stack.as_deref().filter(|s| !s.is_empty()),
        chrono::Utc::now().timestamp_millis(),
    );
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{record}");
    let _ = out.flush();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_job_is_one_jobs_failed_in_the_stack_dimension() {
        let record = job_record(
            JobOutcome::Failed,
            Duration::from_millis(1500),
            Some("prod"),
            1_700_000_000_000,
        );
        assert_eq!(
            record,
            json!({
                "_aws": {
                    "Timestamp": 1_700_000_000_000i64,
                    "CloudWatchMetrics": [{
                        "Namespace": "Sightline",
                        "Dimensions": [["Stack"]],
                        "Metrics": [
                            {"Name": "JobsSucceeded", "Unit": "Count"},
                            {"Name": "JobsRetried", "Unit": "Count"},
                            {"Name": "JobsFailed", "Unit": "Count"},
                            {"Name": "LeasesLost", "Unit": "Count"},
                            {"Name": "JobSeconds", "Unit": "Seconds"},
                        ],
                    }],
                },
                "Stack": "prod",
                "JobsSucceeded": 0,
                "JobsRetried": 0,
                "JobsFailed": 1,
                "LeasesLost": 0,
                "JobSeconds": 1.5,
            })
        );
    }

    #[test]
    fn without_a_stack_the_metrics_have_no_dimension() {
        let record = job_record(JobOutcome::Succeeded, Duration::ZERO, None, 0);
        assert_eq!(
            record["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([[]])
        );
        assert_eq!(record["JobsSucceeded"], json!(1));
        assert!(record.get("Stack").is_none());
    }
}
