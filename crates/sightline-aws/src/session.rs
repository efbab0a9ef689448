//! Credentials and SDK configuration for one scanned account: ambient or
//! profile credentials, optionally exchanged for the monitoring role with
//! STS AssumeRole and an ExternalId. One shared config per credential, with
//! the retry policy below and per-call timeouts.
//!
//! With a role, nothing runs on the role's full rights: the scan's own
//! calls (identity, regions) and each collector get their own STS session,
//! named `sightline-<collector>` so CloudTrail shows which collector made a
//! call, limited by an inline session policy to exactly that collector's
//! manifest actions, for 15 minutes and refreshed by the SDK as needed.

use std::time::{Duration, Instant, SystemTime};

use aws_config::meta::region::RegionProviderChain;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{self, ProvideCredentials, SharedCredentialsProvider};
use aws_credential_types::Credentials;
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
use aws_types::region::Region;

use crate::dns::SightlineResolver;
use crate::error::AwsError;
use crate::manifest::SCAN_ACTIONS;
use crate::policy::session_policy;
use crate::record::classify;

/// A role ARN that has been checked for shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleArn {
    pub arn: String,
    pub account_id: String,
    pub partition: String,
}

impl RoleArn {
    pub fn parse(s: &str) -> Result<Self, AwsError> {
        let bad = || AwsError::MalformedRoleArn {
            found: s.to_owned(),
        };
        let parts: Vec<&str> = s.splitn(6, ':').collect();
        let [arn, partition, service, region, account, resource] = parts.as_slice() else {
            return Err(bad());
        };
        let name_ok = resource.strip_prefix("role/").is_some_and(|n| {
            !n.is_empty()
                && n.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-/".contains(c))
        });
        let valid = *arn == "arn"
            && partition.starts_with("aws")
            && *service == "iam"
            && region.is_empty()
            && account.len() == 12
            && account.chars().all(|c| c.is_ascii_digit())
            && name_ok;
        if !valid {
            return Err(bad());
        }
        Ok(Self {
            arn: s.to_owned(),
            account_id: (*account).to_owned(),
            partition: (*partition).to_owned(),
        })
    }
}

#[derive(Debug, Clone, Default)]
pub struct ConnectOptions {
    pub profile: Option<String>,
    pub role_arn: Option<RoleArn>,
    pub external_id: Option<String>,
    pub session_duration: Option<Duration>,
    /// Limit for one attempt of one API call.
    pub call_timeout: Option<Duration>,
}

/// What a collector's session is assumed from: the caller's configuration,
/// its credentials (fetched once and kept until they near their end, not
/// once per session), and the monitoring role.
#[derive(Debug, Clone)]
struct Assumed {
    base: SdkConfig,
    base_credentials: Option<SharedCredentialsProvider>,
    role: RoleArn,
    external_id: Option<String>,
}

/// How long before credentials expire they are fetched again.
const RENEW_BEFORE: Duration = Duration::from_secs(60);
/// How long a failure to get credentials is given back as it is, before
/// the provider is asked again: a refused or throttled AssumeRole is not
/// retried by every call of a collector.
pub const FAILURE_REMEMBERED: Duration = Duration::from_secs(60);

/// A credentials provider that keeps what `inner` gave until it nears its
/// expiry, and a failure for `FAILURE_REMEMBERED`.
#[derive(Debug)]
pub struct Remembered<P> {
    inner: P,
    last: tokio::sync::Mutex<Option<(Instant, Result<Credentials, String>)>>,
}

impl<P: ProvideCredentials> Remembered<P> {
    pub fn new(inner: P) -> Self {
        Self {
            inner,
            last: tokio::sync::Mutex::new(None),
        }
    }

    async fn credentials(&self) -> Result<Credentials, CredentialsError> {
        let mut last = self.last.lock().await;
        match &*last {
            Some((_, Ok(creds)))
                if creds
                    .expiry()
                    .is_none_or(|end| end > SystemTime::now() + RENEW_BEFORE) =>
            {
                return Ok(creds.clone());
            }
            Some((at, Err(message))) if at.elapsed() < FAILURE_REMEMBERED => {
                return Err(CredentialsError::provider_error(message.clone()));
            }
            _ => {}
        }
        let fresh = self.inner.provide_credentials().await;
        let kept = match &fresh {
            Ok(creds) => Ok(creds.clone()),
            Err(err) => Err(credentials_failure(err)),
        };
        *last = Some((Instant::now(), kept));
        fresh.map_err(|err| CredentialsError::provider_error(credentials_failure(&err)))
    }
}

impl<P: ProvideCredentials> ProvideCredentials for Remembered<P> {
    fn provide_credentials<'a>(&'a self) -> provider::future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        provider::future::ProvideCredentials::new(self.credentials())
    }
}

/// A credentials failure on one line, with the cause STS gave.
pub fn credentials_failure(err: &(dyn std::error::Error + 'static)) -> String {
    crate::record::source_chain(err).replace('\n', " ")
}

/// A collector whose session could not be had: what STS said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRefused {
    /// A gap kind: `AccessDenied`, `Throttled`, `Connection` or `Other`.
    pub kind: &'static str,
    pub message: String,
}

/// Credentials and configuration for one account, verified with GetCallerIdentity.
#[derive(Debug, Clone)]
pub struct AwsSession {
    /// The scan's own session: with a role, limited to `SCAN_ACTIONS`.
    pub config: SdkConfig,
    pub account_id: String,
    pub caller_arn: String,
    pub partition: String,
    /// A custom endpoint (`AWS_ENDPOINT_URL`) is in use: S3 then needs path-style addressing.
    pub custom_endpoint: bool,
    assumed: Option<Assumed>,
}

pub const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(20);

/// The retry policy, chosen by measurement (docs/benchmarks.md,
/// "Scanning under throttling"): the SDK's standard mode, not adaptive.
/// Adaptive mode's client-side rate limiter drops a throttled partition (one
/// service in one region; every S3 bucket shares one) towards a floor of
/// 0.5 requests/s; under throttling at a fixed rate, which slowing down does
/// not lower, it stays there, and a 1.6 s scan took 247 s at 30% throttling
/// and still left gaps. Standard mode with these settings takes about 3 s
/// there, without a gap (a 200 ms base took 5 to 8 s). A scan makes a few
/// hundred reads at a bounded concurrency, each retried on its own:
/// throttling is answered by backing off that call, with full jitter, from
/// `RETRY_BACKOFF_BASE` doubling up to `RETRY_BACKOFF_CAP`, for up to
/// `RETRY_MAX_ATTEMPTS` attempts (at 30% throttling and 5% 500s a call fails
/// all ten with odds of 3 in 100,000). The measurement cannot reward a
/// longer first wait (its faults are drawn at a fixed rate); AWS's rate
/// buckets, shared with the customer's own tools, would reward it somewhat,
/// which the doubling and the 20 s cap answer. Each client has a retry
/// quota of its own ([`own_retry_partition`]), and each attempt has
/// `DEFAULT_CALL_TIMEOUT`.
pub const RETRY_MAX_ATTEMPTS: u32 = 10;
pub const RETRY_BACKOFF_BASE: Duration = Duration::from_millis(100);
pub const RETRY_BACKOFF_CAP: Duration = Duration::from_secs(20);
/// Tokens a client's retry quota regains each second (it holds 500; a retry
/// takes 5, 10 after a timeout or 5xx, and gets them back if it succeeds).
/// At the scanner's concurrency under 30% throttling and 5% 500s the quota
/// loses about 0.43 tokens a call, some 20 a second: the refill keeps it
/// full, while an outage (every call failing) still empties it within
/// seconds and then allows 2 or 3 retries a second.
pub const RETRY_QUOTA_REFILL_PER_SEC: f32 = 25.0;

/// A retry partition of the client's own. The SDK's default partitions are
/// process-wide, one per service and region, so a worker scanning many
/// accounts would share one retry quota per service and region while AWS
/// throttles each account apart: one account's throttling would use up the
/// retries of every other. A client is built per collector, region and
/// scan, so this quota is that scan's alone.
pub fn own_retry_partition(
    service: &'static str,
) -> aws_smithy_runtime::client::retries::RetryPartition {
    use aws_smithy_runtime::client::retries::{RetryPartition, TokenBucket};
    RetryPartition::custom(service)
        .token_bucket(
            TokenBucket::builder()
                .refill_rate(RETRY_QUOTA_REFILL_PER_SEC)
                .build(),
        )
        .build()
}

/// `$sdk::Client` for `$config` with a retry partition of its own
/// ([`own_retry_partition`]); every client of the scanner is made so.
#[macro_export]
macro_rules! sdk_client {
    ($sdk:ident, $config:expr) => {
        $sdk::Client::from_conf(
            $sdk::config::Builder::from($config)
                .retry_partition($crate::session::own_retry_partition(stringify!($sdk)))
                .build(),
        )
    };
}

/// The lifetime of a collector's session, STS's minimum: the SDK assumes
/// the role again shortly before it ends.
pub const COLLECTOR_SESSION_LENGTH: Duration = Duration::from_secs(900);

/// The role session name of a collector (or `scan`): visible in the
/// customer's CloudTrail as `assumed-role/<role>/sightline-<collector>`.
pub fn session_name(collector: &str) -> String {
    format!("sightline-{collector}")
}

/// A provider of the role's credentials, scoped by `policy`, assumed from
/// the caller's remembered credentials.
async fn assume(
    assumed: &Assumed,
    name: &str,
    policy: String,
    length: Option<Duration>,
) -> SharedCredentialsProvider {
    let mut builder = aws_config::sts::AssumeRoleProvider::builder(&assumed.role.arn)
        .session_name(name)
        .policy(policy)
        .configure(&assumed.base);
    if let Some(id) = &assumed.external_id {
        builder = builder.external_id(id);
    }
    if let Some(d) = length {
        builder = builder.session_length(d);
    }
    let provider = match &assumed.base_credentials {
        Some(base) => builder.build_from_provider(base.clone()).await,
        None => builder.build().await,
    };
    SharedCredentialsProvider::new(Remembered::new(provider))
}

/// `base` calling with `credentials`.
fn with_credentials(base: &SdkConfig, credentials: SharedCredentialsProvider) -> SdkConfig {
    base.clone()
        .into_builder()
        .credentials_provider(credentials)
        .build()
}

impl AwsSession {
    /// Load credentials, assume the role if asked, and prove they work.
    pub async fn connect(options: &ConnectOptions) -> Result<Self, AwsError> {
        if let Some(d) = options.session_duration {
            if !(900..=43_200).contains(&d.as_secs()) {
                return Err(AwsError::SessionDuration { found: d.as_secs() });
            }
        }
        let attempt = options.call_timeout.unwrap_or(DEFAULT_CALL_TIMEOUT);
        let http_client = aws_smithy_http_client::Builder::new()
            .tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc))
            .build_with_resolver(SightlineResolver);
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .region(RegionProviderChain::default_provider().or_else(Region::new("us-east-1")))
            .retry_config(
                RetryConfig::standard()
                    .with_max_attempts(RETRY_MAX_ATTEMPTS)
                    .with_initial_backoff(RETRY_BACKOFF_BASE)
                    .with_max_backoff(RETRY_BACKOFF_CAP),
            )
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(5))
                    .operation_attempt_timeout(attempt)
                    // A ceiling for one call with all its retries: four
                    // attempts at their limit plus the longest backoff of
                    // ten attempts (0.1 + 0.2 + ... + 12.8 + 20 s = 45.5 s).
                    .operation_timeout(attempt * 4 + RETRY_BACKOFF_CAP * 4)
                    .build(),
            )
            .http_client(http_client);
        if let Some(profile) = &options.profile {
            loader = loader.profile_name(profile);
        }
        let base = loader.load().await;
        let custom_endpoint = base.endpoint_url().is_some();

        let assumed = options.role_arn.as_ref().map(|role| Assumed {
            base: base.clone(),
            base_credentials: base
                .credentials_provider()
                .map(|p| SharedCredentialsProvider::new(Remembered::new(p))),
            role: role.clone(),
            external_id: options.external_id.clone(),
        });
        let config = match &assumed {
            None => base,
            Some(assumed) => with_credentials(
                &assumed.base,
                assume(
                    assumed,
                    &session_name("scan"),
                    session_policy(SCAN_ACTIONS),
                    options.session_duration,
                )
                .await,
            ),
        };

        let identity = crate::sdk_client!(aws_sdk_sts, &config)
            .get_caller_identity()
            .send()
            .await;
        let identity = identity.map_err(|err| {
            let (_, message) = classify(&err);
            match &options.role_arn {
                Some(role) => {
                    let code = [
                        "AccessDenied",
                        "InvalidClientTokenId",
                        "ExpiredToken",
                        "NoSuchEntity",
                    ]
                    .into_iter()
                    .find(|c| message.contains(c))
                    .unwrap_or("a refusal")
                    .to_owned();
                    // The SDK nests the STS refusal inside a credentials error; say it plainly.
                    let message = if message.contains("loading credentials") {
                        "STS refused the AssumeRole request for these credentials".to_owned()
                    } else {
                        message
                    };
                    AwsError::AssumeRole {
                        role_arn: role.arn.clone(),
                        external_id_hint: match &options.external_id {
                            Some(_) => " with the ExternalId given by --external-id".to_owned(),
                            None => " (no --external-id was given)".to_owned(),
                        },
                        code,
                        message,
                    }
                }
                None => {
                    // The SDK lists every provider it tried, one per line: keep it on one line.
                    let tried = message
                        .split("dispatch failure: other: ")
                        .last()
                        .unwrap_or(&message)
                        .lines()
                        .map(str::trim)
                        .collect::<Vec<_>>()
                        .join("; ");
                    let detail = match &options.profile {
                        Some(profile) => format!("none for profile {profile:?} ({tried})"),
                        None => tried,
                    };
                    AwsError::Credentials { detail }
                }
            }
        })?;
        let caller_arn = identity.arn().unwrap_or_default().to_owned();
        let partition = caller_arn
            .split(':')
            .nth(1)
            .filter(|p| !p.is_empty())
            .unwrap_or("aws")
            .to_owned();
        Ok(Self {
            config,
            account_id: identity.account().unwrap_or_default().to_owned(),
            caller_arn,
            partition,
            custom_endpoint,
            assumed,
        })
    }

    /// The configuration `collector` calls AWS with. With a role: its own
    /// STS session, allowed only `actions` (its manifest section), 15
    /// minutes long, assumed here (so a refusal is known before any of
    /// the collector's calls) and renewed as it nears its end. Make one per
    /// collector per scan and share it across regions. Without a role there
    /// is nothing to assume: the caller's credentials are used as they are.
    pub async fn for_collector(
        &self,
        collector: &str,
        actions: &[&str],
    ) -> Result<SdkConfig, SessionRefused> {
        let Some(assumed) = &self.assumed else {
            return Ok(self.config.clone());
        };
        let credentials = assume(
            assumed,
            &session_name(collector),
            session_policy(actions),
            Some(COLLECTOR_SESSION_LENGTH),
        )
        .await;
        match credentials.provide_credentials().await {
            Ok(_) => Ok(with_credentials(&assumed.base, credentials)),
            Err(err) => {
                let message = credentials_failure(&err);
                let kind = if ["AccessDenied", "InvalidClientTokenId", "ExpiredToken"]
                    .iter()
                    .any(|c| message.contains(c))
                {
                    "AccessDenied"
                } else if message.contains("Throttl") || message.contains("Rate exceeded") {
                    "Throttled"
                } else if message.contains("dispatch failure") {
                    "Connection"
                } else {
                    "Other"
                };
                Err(SessionRefused {
                    kind,
                    message: format!(
                        "STS refused the session {} of {}: {message}",
                        session_name(collector),
                        assumed.role.arn
                    ),
                })
            }
        }
    }

    /// The scan's own SDK config pinned to `region`.
    pub fn in_region(&self, region: &str) -> SdkConfig {
        pinned(&self.config, region)
    }

    /// The region global services (IAM, S3 listing, STS) are called in.
    pub fn home_region(&self) -> String {
        match self.partition.as_str() {
            "aws-cn" => "cn-north-1".to_owned(),
            "aws-us-gov" => "us-gov-west-1".to_owned(),
            _ => "us-east-1".to_owned(),
        }
    }
}

/// `config` pinned to `region`.
pub fn pinned(config: &SdkConfig, region: &str) -> SdkConfig {
    config
        .to_builder()
        .region(Region::new(region.to_owned()))
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_arns_are_checked_for_shape() {
        let role = RoleArn::parse("arn:aws:iam::123456789012:role/sightline/Monitoring").unwrap();
        assert_eq!(role.account_id, "123456789012");
        for bad in [
            "arn:aws:iam::12345:role/x",
            "arn:aws:iam::123456789012:user/x",
            "arn:aws:s3:::bucket",
            "role/x",
            "arn:aws:iam::123456789012:role/",
            "arn:aws:iam:us-east-1:123456789012:role/x",
        ] {
            let err = RoleArn::parse(bad).unwrap_err().to_string();
            assert!(
                err.contains(bad) && err.contains("expected arn:aws:iam::"),
                "{err}"
            );
        }
    }

    /// A provider that counts its calls and answers as told.
    #[derive(Debug)]
    struct Counted {
        calls: std::sync::atomic::AtomicUsize,
        answer: fn() -> provider::Result,
    }

    impl ProvideCredentials for Counted {
        fn provide_credentials<'a>(&'a self) -> provider::future::ProvideCredentials<'a>
        where
            Self: 'a,
        {
            self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            provider::future::ProvideCredentials::ready((self.answer)())
        }
    }

    fn counted(answer: fn() -> provider::Result) -> Remembered<Counted> {
        Remembered::new(Counted {
            calls: Default::default(),
            answer,
        })
    }

    fn calls(r: &Remembered<Counted>) -> usize {
        r.inner.calls.load(std::sync::atomic::Ordering::SeqCst)
    }

    #[tokio::test]
    async fn a_refused_session_is_not_asked_again_by_every_call() {
        let refused = counted(|| {
            Err(CredentialsError::provider_error(
                "AccessDenied: not authorized to perform sts:AssumeRole",
            ))
        });
        for _ in 0..50 {
            let err = refused.provide_credentials().await.unwrap_err();
            assert!(credentials_failure(&err).contains("AccessDenied"), "{err}");
        }
        assert_eq!(calls(&refused), 1, "one AssumeRole for fifty calls");
    }

    #[tokio::test]
    async fn credentials_are_kept_until_they_near_their_end() {
        let lasting = counted(|| {
            Ok(Credentials::new(
                "AKID",
                "secret",
                Some("token".into()),
                Some(SystemTime::now() + Duration::from_secs(900)),
                "test",
            ))
        });
        for _ in 0..10 {
            assert_eq!(
                lasting.provide_credentials().await.unwrap().access_key_id(),
                "AKID"
            );
        }
        assert_eq!(calls(&lasting), 1);

        let ending = counted(|| {
            Ok(Credentials::new(
                "AKID",
                "secret",
                None,
                Some(SystemTime::now() + RENEW_BEFORE / 2),
                "test",
            ))
        });
        ending.provide_credentials().await.unwrap();
        ending.provide_credentials().await.unwrap();
        assert_eq!(calls(&ending), 2, "credentials about to end are renewed");
    }
}
