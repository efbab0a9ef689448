//! Amazon Bedrock: where the region's model invocations are logged. One
//! call per region, for the account's logging settings; never a model, a
//! prompt or an answer (`bedrock-runtime` is not called at all).
//!
//! Bedrock is not offered in every region. The call is made in every
//! scanned region all the same, so a region AWS adds is read as soon as it
//! answers. Only where the endpoint's name does not resolve at all (AWS
//! publishes no `bedrock.<region>` name where Bedrock is not offered) and
//! the region is not one where AWS documents Bedrock is the region noted as
//! not offering it; any other failure (refused, reset, TLS, proxy, timeout,
//! denied), and any failure where Bedrock is documented, is a gap, and the
//! check says "not evaluated" there.

use std::error::Error as StdError;

use aws_smithy_runtime_api::client::dns::ResolveDnsError;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use sightline_core::inventory::bedrock::{BedrockRegion, InvocationLogging};
use sightline_core::Inventory;

use super::Collect;
use crate::record::{classify, Outcome};

pub const ACTIONS: &[&str] = &["bedrock:GetModelInvocationLoggingConfiguration"];

const SERVICE: &str = "bedrock";

/// Regions where AWS documents Bedrock's endpoints (the user guide's
/// "Regional availability by endpoints" and botocore's endpoint list, read
/// 2026-12). A region missing here costs nothing but precision: it is
/// still called, and only an endpoint name that does not resolve there
/// is taken for "not offered".
pub const OFFERED_IN: &[&str] = &[
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
    "ca-central-1",
    "ca-west-1",
    "eu-central-1",
    "eu-central-2",
    "eu-north-1",
    "eu-south-1",
    "eu-south-2",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "ap-east-2",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ap-south-1",
    "ap-south-2",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-southeast-3",
    "ap-southeast-4",
    "ap-southeast-5",
    "ap-southeast-6",
    "ap-southeast-7",
    "sa-east-1",
    "mx-central-1",
    "me-central-1",
    "me-south-1",
    "il-central-1",
    "af-south-1",
    "us-gov-west-1",
    "us-gov-east-1",
];

/// Whether the call failed because the endpoint's name did not resolve
/// (nothing was sent anywhere).
pub fn endpoint_unresolved<E: StdError + 'static>(err: &SdkError<E, HttpResponse>) -> bool {
    if !matches!(err, SdkError::DispatchFailure(_)) {
        return false;
    }
    let mut source: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(e) = source {
        if e.downcast_ref::<ResolveDnsError>().is_some() {
            return true;
        }
        source = e.source();
    }
    false
}

/// Whether a failed call means Bedrock is not offered in `region`: its
/// endpoint's name did not resolve, in a region AWS does not document it in.
pub fn means_not_offered(region: &str, unresolved: bool) -> bool {
    unresolved && !OFFERED_IN.contains(&region)
}

pub async fn collect(cx: Collect<'_>) -> Inventory {
    let client = crate::sdk_client!(aws_sdk_bedrock, &cx.in_region(cx.region));
    let rec = cx.recorder;
    let region = cx.region;
    let mut inv = cx.fragment();

    let action = "bedrock:GetModelInvocationLoggingConfiguration";
    let result = client
        .get_model_invocation_logging_configuration()
        .send()
        .await;
    if let Err(err) = &result {
        if means_not_offered(region, endpoint_unresolved(err)) {
            let (_, message) = classify(err);
            rec.called(action);
            tracing::debug!(region, error = %message, "no Bedrock endpoint: not offered here");
            inv.bedrock.not_offered.push(region.to_owned());
            return inv;
        }
    }
    if let Outcome::Ok(out) = rec.settle(SERVICE, region, action, &[], result) {
        let logging = out.logging_config().map(|c| InvocationLogging {
            cloudwatch_log_group: c
                .cloud_watch_config()
                .map(|w| w.log_group_name().to_owned())
                .filter(|g| !g.is_empty()),
            s3_bucket: c
                .s3_config()
                .map(|s| s.bucket_name().to_owned())
                .filter(|b| !b.is_empty()),
            text_data: c.text_data_delivery_enabled().unwrap_or(false),
            image_data: c.image_data_delivery_enabled().unwrap_or(false),
            embedding_data: c.embedding_data_delivery_enabled().unwrap_or(false),
            video_data: c.video_data_delivery_enabled().unwrap_or(false),
        });
        inv.bedrock.regions.push(BedrockRegion {
            region: region.to_owned(),
            logging,
        });
    }
    inv
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use aws_config::{BehaviorVersion, Region};
    use aws_credential_types::provider::SharedCredentialsProvider;
    use aws_credential_types::Credentials;
    use aws_sdk_bedrock::operation::get_model_invocation_logging_configuration::GetModelInvocationLoggingConfigurationError as LoggingError;
    use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
    use aws_smithy_runtime_api::client::dns::{DnsFuture, ResolveDns};

    use super::*;

    /// A resolver for which no name exists, as for `bedrock.<region>` where
    /// AWS publishes none.
    #[derive(Debug, Clone)]
    struct NoSuchName;

    impl ResolveDns for NoSuchName {
        fn resolve_dns<'a>(&'a self, name: &'a str) -> DnsFuture<'a> {
            DnsFuture::ready(Err(ResolveDnsError::new(format!("{name}: no such name"))))
        }
    }

    /// The error the real HTTP client gives for `endpoint`.
    async fn failure(
        endpoint: &str,
        resolver: Option<NoSuchName>,
    ) -> SdkError<LoggingError, HttpResponse> {
        // The scan's own client: rustls, and a resolver (ours, or one that
        // knows no name).
        let builder = aws_smithy_http_client::Builder::new()
            .tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc));
        let http = match resolver {
            Some(r) => builder.build_with_resolver(r),
            None => builder.build_with_resolver(crate::dns::SightlineResolver),
        };
        let config = aws_config::SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("xx-nowhere-1"))
            .endpoint_url(endpoint)
            .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
                "AKIDTEST", "secret", None, None, "test",
            )))
            .retry_config(aws_config::retry::RetryConfig::disabled())
            .timeout_config(
                aws_config::timeout::TimeoutConfig::builder()
                    .operation_timeout(Duration::from_secs(10))
                    .build(),
            )
            .http_client(http)
            .build();
        crate::sdk_client!(aws_sdk_bedrock, &config)
            .get_model_invocation_logging_configuration()
            .send()
            .await
            .expect_err("nothing answers there")
    }

    #[tokio::test]
    async fn only_a_name_that_does_not_resolve_outside_bedrocks_regions_is_not_offered() {
        let unresolved = failure("http://bedrock.xx-nowhere-1.example", Some(NoSuchName)).await;
        assert!(endpoint_unresolved(&unresolved), "{unresolved:?}");
        // A port nothing listens on: refused, not absent.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let refused = failure(&format!("http://127.0.0.1:{port}"), None).await;
        assert!(!endpoint_unresolved(&refused), "{refused:?}");
        assert_eq!(classify(&refused).0, "Connection");

        assert!(means_not_offered("xx-nowhere-1", true));
        // Where Bedrock is documented, even an unresolved name is a gap.
        assert!(!means_not_offered("us-east-1", true));
        assert!(!means_not_offered("il-central-1", true));
        // Anything but an unresolved name is a gap wherever it happens.
        assert!(!means_not_offered("xx-nowhere-1", false));
    }
}
