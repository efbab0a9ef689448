//! Errors that stop a scan before it starts. Everything after that is a
//! coverage gap, recorded and survived.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum AwsError {
    #[error(
        "malformed role ARN {found:?}: expected arn:aws:iam::<12-digit account id>:role/<name>"
    )]
    MalformedRoleArn { found: String },
    #[error("unknown region {found:?}: expected one of {known}")]
    UnknownRegion { found: String, known: String },
    #[error("malformed region {found:?}: expected a region name like us-east-1")]
    MalformedRegion { found: String },
    #[error("unknown service {found:?}: expected one of {known}")]
    UnknownService { found: String, known: String },
    #[error("could not assume role {role_arn}: expected it to trust this caller{external_id_hint}; found {code}: {message}")]
    AssumeRole {
        role_arn: String,
        external_id_hint: String,
        code: String,
        message: String,
    },
    #[error("no usable AWS credentials: expected a profile, environment credentials or an instance role; found {detail}")]
    Credentials { detail: String },
    #[error(
        "could not list regions with ec2:DescribeRegions ({detail}); pass --regions to name them"
    )]
    RegionDiscovery { detail: String },
    #[error("could not list the organization's accounts with organizations:ListAccounts: {detail}; expected the management or a delegated-administrator account")]
    Organizations { detail: String },
    #[error("could not write to the CloudWatch Logs group {group}: {detail}")]
    Telemetry { group: String, detail: String },
    #[error("cannot read secret {secret_id}: {detail}")]
    Secret { secret_id: String, detail: String },
    #[error("invalid session duration {found}s: expected 900 to 43200 seconds")]
    SessionDuration { found: u64 },
}
