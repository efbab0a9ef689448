//! Amazon Bedrock checks: regions where model invocations are not logged.

use super::{setting, Basis, Check, CheckContext};
use crate::finding::{Category, Severity, Violation};
use crate::inventory::Inventory;
use crate::shell::Command;

pub const CHECKS: &[&Check] = &[&INVOCATION_LOGGING_OFF];

pub static INVOCATION_LOGGING_OFF: Check = Check {
    id: "bedrock.invocation_logging_off",
    title: "Bedrock model invocation logging off in a region",
    category: Category::Security,
    severity: Severity::Medium,
    service: "bedrock",
    required_actions: &["bedrock:GetModelInvocationLoggingConfiguration"],
    basis: Basis::Observed,
    risk: "Without invocation logs nobody can say who asked a model what, which data went into a prompt, or what an agent was told to do: a leak or an abuse through Bedrock leaves no trace beyond CloudTrail's bare API call. A region nobody uses is where stolen keys run models on the account's bill unseen.",
    evaluate: invocation_logging_off,
};

/// A region whose logging settings were read and name no destination. A
/// region not read (a gap) or without Bedrock is not judged.
fn invocation_logging_off(inv: &Inventory, _ctx: &CheckContext) -> Vec<Violation> {
    inv.bedrock
        .regions
        .iter()
        .filter(|r| !r.logging.as_ref().is_some_and(|l| l.has_destination()))
        .map(|r| {
            let region = &r.region;
            let config = serde_json::json!({
                "cloudWatchConfig": {
                    "logGroupName": "<log-group>",
                    "roleArn": "<role-bedrock-may-assume-to-write-it>",
                },
                "textDataDeliveryEnabled": true,
                "imageDataDeliveryEnabled": true,
                "embeddingDataDeliveryEnabled": true,
            });
            Violation::new(
                &setting(
                    inv,
                    "bedrock.invocation_logging",
                    "bedrock",
                    "model-invocation-logging",
                    region,
                ),
                format!("Bedrock model invocations in {region} are logged nowhere"),
            )
            .evidence("logging_configured", r.logging.is_some())
            .evidence("destination", false)
            .remediation(
                Command::aws("bedrock", "put-model-invocation-logging-configuration")
                    .region(region)
                    .arg("--logging-config", &config.to_string())
                    .note("the logs hold every prompt and answer: give the log group a KMS key and a retention, and read access to few"),
            )
            .rollback(
                Command::aws("bedrock", "delete-model-invocation-logging-configuration")
                    .region(region),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::test_support::{ctx, flagged, inventory};
    use crate::inventory::bedrock::{BedrockRegion, InvocationLogging};

    #[test]
    fn a_region_whose_invocations_go_nowhere_is_flagged() {
        let mut inv = inventory();
        let logged = InvocationLogging {
            cloudwatch_log_group: Some("/bedrock/invocations".into()),
            text_data: true,
            ..InvocationLogging::default()
        };
        let to_s3 = InvocationLogging {
            s3_bucket: Some("invocation-logs".into()),
            ..InvocationLogging::default()
        };
        inv.bedrock.regions = vec![
            BedrockRegion {
                region: "us-east-1".into(),
                logging: Some(logged),
            },
            BedrockRegion {
                region: "us-west-2".into(),
                logging: Some(to_s3),
            },
            BedrockRegion {
                region: "eu-west-1".into(),
                logging: None,
            },
            // A configuration that names no destination logs nothing.
            BedrockRegion {
                region: "eu-central-1".into(),
                logging: Some(InvocationLogging::default()),
            },
        ];
        // Not read, or not offered: not judged.
        inv.bedrock.not_offered = vec!["il-central-1".into()];
        assert_eq!(
            flagged(&INVOCATION_LOGGING_OFF, &inv),
            ["123456789012/eu-central-1", "123456789012/eu-west-1"]
        );
        let found = (INVOCATION_LOGGING_OFF.evaluate)(&inv, &ctx());
        let eu = found
            .iter()
            .find(|v| v.resource.region == "eu-west-1")
            .unwrap();
        assert_eq!(
            eu.resource.arn,
            "arn:aws:bedrock:eu-west-1:123456789012:model-invocation-logging"
        );
        assert!(
            eu.remediation[0].starts_with(
                "aws bedrock put-model-invocation-logging-configuration --region eu-west-1 --logging-config '{"
            ),
            "{:?}",
            eu.remediation
        );
        assert_eq!(
            eu.rollback,
            ["aws bedrock delete-model-invocation-logging-configuration --region eu-west-1"]
        );
    }
}
