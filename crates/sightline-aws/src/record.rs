//! The scan's ledger: every API call made, every coverage gap, and the
//! progress counters the CLI shows. An error on a call becomes a gap here
//! and the collector carries on.

use std::collections::BTreeMap;
use std::error::Error as StdError;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use sightline_core::CoverageGap;

/// What came of one call.
#[derive(Debug)]
pub enum Outcome<T> {
    Ok(T),
    /// The API said "not configured" (e.g. no bucket policy): an answer, not a gap.
    Absent,
    /// The call failed and a gap was recorded.
    Gap,
}

impl<T> Outcome<T> {
    pub fn ok(self) -> Option<T> {
        match self {
            Outcome::Ok(v) => Some(v),
            _ => None,
        }
    }

    /// For "what is configured?" reads: `Some(Some(_))` configured,
    /// `Some(None)` not configured, `None` not read (a gap).
    pub fn configured<U>(self, read: impl FnOnce(T) -> Option<U>) -> Option<Option<U>> {
        match self {
            Outcome::Ok(v) => Some(read(v)),
            Outcome::Absent => Some(None),
            Outcome::Gap => None,
        }
    }
}

/// Counters a progress display can read while the scan runs.
#[derive(Debug, Default)]
pub struct Progress {
    pub units_total: AtomicUsize,
    pub units_done: AtomicUsize,
    pub resources: AtomicUsize,
    pub api_calls: AtomicU64,
    pub gaps: AtomicUsize,
}

#[derive(Debug, Default)]
pub struct ScanRecorder {
    pub progress: Progress,
    gaps: Mutex<Vec<CoverageGap>>,
    calls: Mutex<BTreeMap<&'static str, u64>>,
}

/// Error codes that mean the caller lacks permission.
const ACCESS_DENIED: &[&str] = &[
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "AuthorizationError",
    "UnauthorizedAccess",
    "Forbidden",
    "InvalidClientTokenId",
];
const REGION_ERRORS: &[&str] = &[
    "OptInRequired",
    "AuthFailure",
    "InvalidRegion",
    "UnrecognizedClientException",
];
const UNSUPPORTED: &[&str] = &[
    "InvalidAction",
    "UnsupportedOperation",
    "NotImplemented",
    "UnknownOperationException",
    "InvalidRequest",
];
const THROTTLED: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "RequestLimitExceeded",
    "TooManyRequestsException",
    "SlowDown",
];

impl ScanRecorder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Account one API call and turn its error into a gap (or `Absent` when
    /// the error code is in `absent_codes`).
    pub fn settle<T, E>(
        &self,
        service: &str,
        region: &str,
        action: &'static str,
        absent_codes: &[&str],
        result: Result<T, SdkError<E, HttpResponse>>,
    ) -> Outcome<T>
    where
        E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
    {
        self.called(action);
        match result {
            Ok(value) => Outcome::Ok(value),
            Err(err) => {
                let code = err.code().map(str::to_owned);
                if code.as_deref().is_some_and(|c| absent_codes.contains(&c)) {
                    return Outcome::Absent;
                }
                let (kind, message) = classify(&err);
                tracing::debug!(service, region, action, kind, error = %message, "coverage gap");
                self.gap(service, region, action, kind, &message);
                Outcome::Gap
            }
        }
    }

    pub fn gap(&self, service: &str, region: &str, action: &str, kind: &str, error: &str) {
        self.progress.gaps.fetch_add(1, Ordering::Relaxed);
        let mut gaps = self.gaps.lock().unwrap_or_else(|p| p.into_inner());
        gaps.push(CoverageGap {
            service: service.to_owned(),
            region: region.to_owned(),
            action: action.to_owned(),
            kind: kind.to_owned(),
            error: error.to_owned(),
        });
    }

    pub fn found(&self, resources: usize) {
        self.progress
            .resources
            .fetch_add(resources, Ordering::Relaxed);
    }

    pub fn take_gaps(&self) -> Vec<CoverageGap> {
        let mut gaps = std::mem::take(&mut *self.gaps.lock().unwrap_or_else(|p| p.into_inner()));
        gaps.sort_by(|a, b| {
            (&a.service, &a.region, &a.action).cmp(&(&b.service, &b.region, &b.action))
        });
        gaps.dedup_by(|a, b| {
            a.service == b.service
                && a.region == b.region
                && a.action == b.action
                && a.kind == b.kind
        });
        gaps
    }

    pub fn api_calls(&self) -> u64 {
        self.progress.api_calls.load(Ordering::Relaxed)
    }

    /// Count one call of `action` (`settle` does this for every call it settles).
    pub fn called(&self, action: &'static str) {
        self.progress.api_calls.fetch_add(1, Ordering::Relaxed);
        let mut calls = self.calls.lock().unwrap_or_else(|p| p.into_inner());
        *calls.entry(action).or_default() += 1;
    }

    /// The calls made so far, by IAM action.
    pub fn calls_by_action(&self) -> BTreeMap<String, u64> {
        let calls = self.calls.lock().unwrap_or_else(|p| p.into_inner());
        calls.iter().map(|(a, n)| ((*a).to_owned(), *n)).collect()
    }
}

/// Classify an SDK error as a gap kind with a one-line message.
pub fn classify<E>(err: &SdkError<E, HttpResponse>) -> (&'static str, String)
where
    E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
{
    match err {
        SdkError::TimeoutError(_) => ("Timeout", "the call timed out".to_owned()),
        // Credentials that could not be had (a collector's session refused
        // or throttled on renewal) are not a network failure.
        SdkError::DispatchFailure(_) if has_credentials_error(err) => (
            "Credentials",
            format!("no credentials for the call: {}", source_chain(err)),
        ),
        SdkError::DispatchFailure(d) => {
            let kind = if d.is_timeout() {
                "Timeout"
            } else {
                "Connection"
            };
            (
                kind,
                format!("could not reach the endpoint: {}", source_chain(err)),
            )
        }
        // An error body not in AWS's format: judge by the HTTP status alone.
        SdkError::ServiceError(ctx) if err.code().is_none() => {
            let status = ctx.raw().status().as_u16();
            let kind = match status {
                401 | 403 => "AccessDenied",
                404 | 501 => "Unsupported",
                429 | 503 => "Throttled",
                _ => "BadResponse",
            };
            let what = if (200..300).contains(&status) {
                "an answer"
            } else {
                "an error"
            };
            (
                kind,
                format!(
                    "HTTP {status} with {what} the SDK could not parse (not the shape AWS sends)"
                ),
            )
        }
        SdkError::ServiceError(_) => {
            let code = err.code().unwrap_or("Unknown");
            let message = err.message().unwrap_or("").to_owned();
            let kind = if ACCESS_DENIED.contains(&code) {
                "AccessDenied"
            } else if REGION_ERRORS.contains(&code) {
                "RegionError"
            } else if UNSUPPORTED.contains(&code) {
                "Unsupported"
            } else if THROTTLED.contains(&code) {
                "Throttled"
            } else {
                "Other"
            };
            (
                kind,
                format!("{code}: {message}")
                    .trim_end_matches([':', ' '])
                    .to_owned(),
            )
        }
        SdkError::ResponseError(_) => (
            "Other",
            format!("unreadable response: {}", source_chain(err)),
        ),
        _ => ("Other", source_chain(err)),
    }
}

fn has_credentials_error(err: &(dyn StdError + 'static)) -> bool {
    let mut source = err.source();
    while let Some(s) = source {
        if s.is::<aws_credential_types::provider::error::CredentialsError>() {
            return true;
        }
        source = s.source();
    }
    false
}

/// An error and its causes on one line, repeats dropped.
pub(crate) fn source_chain(err: &dyn StdError) -> String {
    let mut parts = vec![err.to_string()];
    let mut source = err.source();
    while let Some(s) = source {
        parts.push(s.to_string());
        source = s.source();
    }
    parts.dedup();
    parts.join(": ")
}
