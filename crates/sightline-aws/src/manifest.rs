//! The action manifest: every IAM action each collector may call. The
//! least-privilege policy is generated from it, and a test proves the scan
//! sends nothing else and that everything here is read-only.

use std::fmt;
use std::str::FromStr;

use crate::collectors;
use crate::error::AwsError;

/// The services a scan can be asked for (`--services`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Service {
    Ec2,
    S3,
    Iam,
    Rds,
    Elb,
    Lambda,
    CloudTrail,
}

impl Service {
    pub const ALL: [Service; 7] = [
        Service::Ec2,
        Service::S3,
        Service::Iam,
        Service::Rds,
        Service::Elb,
        Service::Lambda,
        Service::CloudTrail,
    ];

    /// The name used by `--services`, checks and coverage gaps.
    pub fn name(self) -> &'static str {
        match self {
            Service::Ec2 => "ec2",
            Service::S3 => "s3",
            Service::Iam => "iam",
            Service::Rds => "rds",
            Service::Elb => "elb",
            Service::Lambda => "lambda",
            Service::CloudTrail => "cloudtrail",
        }
    }

    /// Whether the service is listed once per account rather than per region.
    pub fn is_global(self) -> bool {
        matches!(self, Service::Iam | Service::S3)
    }

    /// Whether its checks need CloudWatch utilisation metrics.
    pub fn uses_metrics(self) -> bool {
        matches!(self, Service::Ec2 | Service::Rds | Service::Elb)
    }

    pub fn actions(self) -> &'static [&'static str] {
        match self {
            Service::Ec2 => collectors::ec2::ACTIONS,
            Service::S3 => collectors::s3::ACTIONS,
            Service::Iam => collectors::iam::ACTIONS,
            Service::Rds => collectors::rds::ACTIONS,
            Service::Elb => collectors::elb::ACTIONS,
            Service::Lambda => collectors::lambda::ACTIONS,
            Service::CloudTrail => collectors::cloudtrail::ACTIONS,
        }
    }
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Service {
    type Err = AwsError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = match s.to_ascii_lowercase().as_str() {
            "elbv2" | "elasticloadbalancing" => "elb".to_owned(),
            other => other.to_owned(),
        };
        Service::ALL
            .into_iter()
            .find(|svc| svc.name() == wanted)
            .ok_or_else(|| AwsError::UnknownService {
                found: s.to_owned(),
                known: Service::ALL.map(Service::name).join(", "),
            })
    }
}

/// Actions every scan makes whatever services it covers.
pub const SCAN_ACTIONS: &[&str] = &["sts:GetCallerIdentity", "ec2:DescribeRegions"];

/// The manifest section of member-account discovery, which runs in the
/// management account rather than in a scan.
pub const DISCOVERY: &str = "organizations";

/// A section of the manifest: who calls these actions and why.
#[derive(Debug, Clone)]
pub struct ManifestEntry {
    pub collector: &'static str,
    pub actions: &'static [&'static str],
}

/// Every action Sightline's scanner may call, grouped by collector.
#[derive(Debug, Clone)]
pub struct ActionManifest {
    pub entries: Vec<ManifestEntry>,
}

impl ActionManifest {
    pub fn full() -> Self {
        let mut entries = vec![ManifestEntry {
            collector: "scan",
            actions: SCAN_ACTIONS,
        }];
        entries.extend(Service::ALL.map(|s| ManifestEntry {
            collector: s.name(),
            actions: s.actions(),
        }));
        entries.push(ManifestEntry {
            collector: "cloudwatch",
            actions: collectors::cloudwatch::ACTIONS,
        });
        entries.push(ManifestEntry {
            collector: DISCOVERY,
            actions: crate::organizations::ACTIONS,
        });
        Self { entries }
    }

    /// Every action, sorted and deduplicated.
    pub fn actions(&self) -> Vec<&'static str> {
        let mut all: Vec<&'static str> = self
            .entries
            .iter()
            .flat_map(|e| e.actions.iter().copied())
            .collect();
        all.sort_unstable_by_key(|a| a.to_ascii_lowercase());
        all.dedup_by_key(|a| a.to_ascii_lowercase());
        all
    }

    /// The actions a scan of one account may send (discovery excluded).
    pub fn scan_actions(&self) -> Vec<&'static str> {
        let mut all: Vec<&'static str> = self
            .entries
            .iter()
            .filter(|e| e.collector != DISCOVERY)
            .flat_map(|e| e.actions.iter().copied())
            .collect();
        all.sort_unstable_by_key(|a| a.to_ascii_lowercase());
        all.dedup();
        all
    }

    pub fn contains(&self, action: &str) -> bool {
        self.entries
            .iter()
            .flat_map(|e| e.actions.iter())
            .any(|a| a.eq_ignore_ascii_case(action))
    }
}

/// Read-only action verbs. `GenerateCredentialReport` is classed "Read" by
/// IAM: it builds the report, it changes no identity or permission.
const READ_PREFIXES: &[&str] = &["Describe", "Get", "List"];
const READ_EXCEPTIONS: &[&str] = &["iam:GenerateCredentialReport"];

/// Actions that read data inside resources (PRODUCT.md §4). Sightline never
/// calls them, and the shipped deny policy refuses them.
pub const DATA_PLANE_ACTIONS: &[&str] = &[
    "s3:GetObject",
    "s3:GetObjectVersion",
    "s3:GetObjectAcl",
    "s3:GetObjectAttributes",
    "s3:GetObjectTorrent",
    "s3:GetObjectVersionTorrent",
    "s3:GetObjectLegalHold",
    "s3:GetObjectRetention",
    "s3:GetObjectTagging",
    "s3:GetObjectVersionAcl",
    "s3:GetObjectVersionAttributes",
    "s3:GetObjectVersionForReplication",
    "s3:GetObjectVersionTagging",
    "dynamodb:GetItem",
    "dynamodb:BatchGetItem",
    "dynamodb:Query",
    "dynamodb:Scan",
    "dynamodb:GetRecords",
    "dynamodb:PartiQLSelect",
    "ssm:GetParameter",
    "ssm:GetParameters",
    "ssm:GetParametersByPath",
    "ssm:GetParameterHistory",
    "logs:GetLogEvents",
    "logs:FilterLogEvents",
    "logs:StartQuery",
    "logs:GetQueryResults",
    "logs:StartLiveTail",
    "sqs:ReceiveMessage",
    "kinesis:GetRecords",
    "kinesis:GetShardIterator",
    "secretsmanager:GetSecretValue",
    "secretsmanager:BatchGetSecretValue",
    "ec2:GetPasswordData",
    "ec2:GetConsoleOutput",
    "ec2:GetConsoleScreenshot",
    "ec2:GetLaunchTemplateData",
    "ec2:DescribeInstanceAttribute",
    "lambda:GetFunction",
    "lambda:InvokeFunction",
    "rds:DownloadDBLogFilePortion",
    "rds:DownloadCompleteDBLogFile",
    "rds-data:ExecuteStatement",
    "athena:GetQueryResults",
    "glue:GetTable",
    "codecommit:GetFile",
    "codecommit:GetBlob",
    "ecr:BatchGetImage",
    "ecr:GetDownloadUrlForLayer",
    "cloudformation:GetTemplate",
    "apigateway:GET",
];

/// Whether `action` only reads configuration (by its verb).
pub fn is_read_only(action: &str) -> bool {
    let Some((_, operation)) = action.split_once(':') else {
        return false;
    };
    READ_EXCEPTIONS
        .iter()
        .any(|e| e.eq_ignore_ascii_case(action))
        || READ_PREFIXES.iter().any(|p| operation.starts_with(p))
}

/// Whether `action` reads data inside a resource.
pub fn reads_data(action: &str) -> bool {
    DATA_PLANE_ACTIONS
        .iter()
        .any(|d| d.eq_ignore_ascii_case(action))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_manifest_action_is_read_only_and_reads_no_data() {
        let manifest = ActionManifest::full();
        for action in manifest.actions() {
            assert!(is_read_only(action), "{action} is not a read action");
            assert!(!reads_data(action), "{action} reads data inside resources");
        }
        assert!(manifest.contains("ec2:DescribeInstances"));
        assert!(!manifest.contains("s3:GetObject"));
    }

    #[test]
    fn write_and_data_actions_are_recognised() {
        assert!(!is_read_only("ec2:DeleteVolume"));
        assert!(!is_read_only("s3:PutBucketPolicy"));
        assert!(!is_read_only("iam:CreateUser"));
        assert!(reads_data("s3:GetObject") && is_read_only("s3:GetObject"));
    }

    #[test]
    fn services_parse_with_aliases_and_unknown_names_are_explained() {
        assert_eq!("elbv2".parse::<Service>().unwrap(), Service::Elb);
        assert_eq!("EC2".parse::<Service>().unwrap(), Service::Ec2);
        let err = "dynamo".parse::<Service>().unwrap_err().to_string();
        assert!(
            err.contains("\"dynamo\"") && err.contains("cloudtrail"),
            "{err}"
        );
    }
}
