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
    Security,
    Kms,
    Efs,
    SecretsManager,
    DynamoDb,
    Ecr,
    Logs,
    Bedrock,
}

impl Service {
    pub const ALL: [Service; 15] = [
        Service::Ec2,
        Service::S3,
        Service::Iam,
        Service::Rds,
        Service::Elb,
        Service::Lambda,
        Service::CloudTrail,
        Service::Security,
        Service::Kms,
        Service::Efs,
        Service::SecretsManager,
        Service::DynamoDb,
        Service::Ecr,
        Service::Logs,
        Service::Bedrock,
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
            Service::Security => "security",
            Service::Kms => "kms",
            Service::Efs => "efs",
            Service::SecretsManager => "secretsmanager",
            Service::DynamoDb => "dynamodb",
            Service::Ecr => "ecr",
            Service::Logs => "logs",
            Service::Bedrock => "bedrock",
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
            Service::Security => collectors::security::ACTIONS,
            Service::Kms => collectors::kms::ACTIONS,
            Service::Efs => collectors::efs::ACTIONS,
            Service::SecretsManager => collectors::secretsmanager::ACTIONS,
            Service::DynamoDb => collectors::dynamodb::ACTIONS,
            Service::Ecr => collectors::ecr::ACTIONS,
            Service::Logs => collectors::logs::ACTIONS,
            Service::Bedrock => collectors::bedrock::ACTIONS,
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
/// Read actions whose names do not say so: generating the credential report
/// (it writes nothing a customer sees), and ECR's batch read of repository
/// scanning settings (AWS's access level "Read"; it returns settings, never
/// an image).
const READ_EXCEPTIONS: &[&str] = &[
    "iam:GenerateCredentialReport",
    "ecr:BatchGetRepositoryScanningConfiguration",
];

/// A family of actions that read data inside resources, as AWS names it
/// (a trailing `*` covers the variants AWS adds to the family).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataFamily {
    /// An IAM action pattern.
    pub actions: &'static str,
    /// What it reads.
    pub reads: &'static str,
}

/// Every action family that reads data inside resources (PRODUCT.md §4):
/// contents, items, messages, records, values, logs, user data. Sightline
/// never calls any of them (a test holds the manifest to that), and the
/// shipped deny policy is generated from those of them that ReadOnlyAccess
/// or ViewOnlyAccess grant (`crate::policy::data_plane_deny_policy`).
pub const DATA_READ_FAMILIES: &[DataFamily] = &[
    DataFamily {
        actions: "s3:GetObject*",
        reads: "object contents, and their ACLs, tags, retention, attributes and versions",
    },
    DataFamily {
        actions: "s3-object-lambda:GetObject*",
        reads: "objects, through an Object Lambda access point",
    },
    DataFamily {
        actions: "dynamodb:GetItem",
        reads: "table items",
    },
    DataFamily {
        actions: "dynamodb:BatchGetItem",
        reads: "table items",
    },
    DataFamily {
        actions: "dynamodb:Query",
        reads: "table items",
    },
    DataFamily {
        actions: "dynamodb:Scan",
        reads: "table items",
    },
    DataFamily {
        actions: "dynamodb:PartiQLSelect",
        reads: "table items",
    },
    DataFamily {
        actions: "dynamodb:GetRecords",
        reads: "stream records (item images)",
    },
    DataFamily {
        actions: "dax:GetItem",
        reads: "table items, through DAX",
    },
    DataFamily {
        actions: "dax:BatchGetItem",
        reads: "table items, through DAX",
    },
    DataFamily {
        actions: "dax:Query",
        reads: "table items, through DAX",
    },
    DataFamily {
        actions: "dax:Scan",
        reads: "table items, through DAX",
    },
    DataFamily {
        actions: "cassandra:Select",
        reads: "Keyspaces rows",
    },
    DataFamily {
        actions: "timestream:Select",
        reads: "Timestream records",
    },
    DataFamily {
        actions: "sdb:Select",
        reads: "SimpleDB items",
    },
    DataFamily {
        actions: "ssm:GetParameter*",
        reads: "parameter values, SecureString ones included, and their history",
    },
    DataFamily {
        actions: "ssm:GetCommandInvocation",
        reads: "Run Command output",
    },
    DataFamily {
        actions: "secretsmanager:GetSecretValue",
        reads: "secret values",
    },
    DataFamily {
        actions: "secretsmanager:BatchGetSecretValue",
        reads: "secret values",
    },
    DataFamily {
        actions: "logs:GetLogEvents",
        reads: "log events",
    },
    DataFamily {
        actions: "logs:FilterLogEvents",
        reads: "log events",
    },
    DataFamily {
        actions: "logs:GetLogRecord",
        reads: "a log event",
    },
    DataFamily {
        actions: "logs:StartQuery",
        reads: "Logs Insights queries over log events",
    },
    DataFamily {
        actions: "logs:GetQueryResults",
        reads: "Logs Insights results (log events)",
    },
    DataFamily {
        actions: "logs:StartLiveTail",
        reads: "log events, live",
    },
    DataFamily {
        actions: "sqs:ReceiveMessage",
        reads: "queue messages",
    },
    DataFamily {
        actions: "kinesis:GetRecords",
        reads: "stream records",
    },
    DataFamily {
        actions: "kinesis:GetShardIterator",
        reads: "the cursor stream records are read with",
    },
    DataFamily {
        actions: "kinesis:SubscribeToShard",
        reads: "stream records, pushed",
    },
    DataFamily {
        actions: "kinesisvideo:GetMedia*",
        reads: "video fragments",
    },
    DataFamily {
        actions: "kinesisvideo:GetClip",
        reads: "video clips",
    },
    DataFamily {
        actions: "kinesisvideo:GetImages",
        reads: "video frames",
    },
    DataFamily {
        actions: "kinesisvideo:GetHLSStreamingSessionURL",
        reads: "video playback",
    },
    DataFamily {
        actions: "kinesisvideo:GetDASHStreamingSessionURL",
        reads: "video playback",
    },
    DataFamily {
        actions: "es:ESHttpGet",
        reads: "OpenSearch documents and search results",
    },
    DataFamily {
        actions: "codecommit:GitPull",
        reads: "repository contents",
    },
    DataFamily {
        actions: "codecommit:GetFolder",
        reads: "repository contents",
    },
    DataFamily {
        actions: "codecommit:GetCommit",
        reads: "commit contents",
    },
    DataFamily {
        actions: "codecommit:GetFile",
        reads: "file contents",
    },
    DataFamily {
        actions: "codecommit:GetBlob",
        reads: "file contents",
    },
    DataFamily {
        actions: "codecommit:GetDifferences",
        reads: "file changes",
    },
    DataFamily {
        actions: "glacier:GetJobOutput",
        reads: "archive contents and inventories",
    },
    DataFamily {
        actions: "states:GetExecutionHistory",
        reads: "execution inputs and outputs",
    },
    DataFamily {
        actions: "states:DescribeExecution",
        reads: "execution input and output",
    },
    DataFamily {
        actions: "xray:BatchGetTraces",
        reads: "trace segments (request data)",
    },
    DataFamily {
        actions: "athena:GetQueryResults*",
        reads: "query results",
    },
    DataFamily {
        actions: "cloudtrail:GetQueryResults",
        reads: "CloudTrail Lake query results",
    },
    DataFamily {
        actions: "redshift-data:GetStatementResult*",
        reads: "query results",
    },
    DataFamily {
        actions: "rds-data:ExecuteStatement",
        reads: "query results",
    },
    DataFamily {
        actions: "qldb:GetBlock",
        reads: "ledger blocks (document revisions)",
    },
    DataFamily {
        actions: "qldb:GetRevision",
        reads: "document revisions",
    },
    DataFamily {
        actions: "lambda:GetFunction",
        reads: "the code download URL and the environment",
    },
    DataFamily {
        actions: "lambda:GetLayerVersion",
        reads: "the layer's code download URL",
    },
    DataFamily {
        actions: "lambda:InvokeFunction",
        reads: "whatever the function returns",
    },
    DataFamily {
        actions: "ec2:GetPasswordData",
        reads: "Windows administrator passwords",
    },
    DataFamily {
        actions: "ec2:GetConsoleOutput",
        reads: "instance console output",
    },
    DataFamily {
        actions: "ec2:GetConsoleScreenshot",
        reads: "instance screens",
    },
    DataFamily {
        actions: "ec2:GetLaunchTemplateData",
        reads: "user data",
    },
    DataFamily {
        actions: "ec2:DescribeLaunchTemplateVersions",
        reads: "user data",
    },
    DataFamily {
        actions: "ec2:DescribeInstanceAttribute",
        reads: "user data",
    },
    DataFamily {
        actions: "autoscaling:DescribeLaunchConfigurations",
        reads: "user data",
    },
    DataFamily {
        actions: "ecr:BatchGetImage",
        reads: "image manifests",
    },
    DataFamily {
        actions: "ecr:GetDownloadUrlForLayer",
        reads: "image layers",
    },
    DataFamily {
        actions: "rds:DownloadDBLogFilePortion",
        reads: "database log files",
    },
    DataFamily {
        actions: "rds:DownloadCompleteDBLogFile",
        reads: "database log files",
    },
    DataFamily {
        actions: "glue:GetTable",
        reads: "table definitions, with their serde parameters",
    },
    DataFamily {
        actions: "cloudformation:GetTemplate",
        reads: "templates, with any values written into them",
    },
    DataFamily {
        actions: "s3tables:GetTableData",
        reads: "table data in S3 Tables",
    },
    DataFamily {
        actions: "mediastore:GetObject",
        reads: "stored media objects",
    },
    DataFamily {
        actions: "codeartifact:ReadFromRepository",
        reads: "package contents",
    },
    DataFamily {
        actions: "codeartifact:GetPackageVersionAsset",
        reads: "package contents",
    },
    DataFamily {
        actions: "healthlake:ReadResource",
        reads: "health records",
    },
    DataFamily {
        actions: "healthlake:SearchWith*",
        reads: "health records",
    },
    DataFamily {
        actions: "omics:GetReadSet",
        reads: "genomic read sets",
    },
    DataFamily {
        actions: "kendra:Query",
        reads: "indexed documents' text",
    },
    DataFamily {
        actions: "kendra:Retrieve",
        reads: "indexed documents' text",
    },
    DataFamily {
        actions: "transcribe:GetTranscriptionJob",
        reads: "the transcript's location",
    },
    DataFamily {
        actions: "transcribe:GetMedicalTranscriptionJob",
        reads: "the transcript's location",
    },
    DataFamily {
        actions: "appconfig:GetConfiguration",
        reads: "configuration values",
    },
    DataFamily {
        actions: "appconfig:GetLatestConfiguration",
        reads: "configuration values",
    },
    DataFamily {
        actions: "appconfig:GetHostedConfigurationVersion",
        reads: "configuration values",
    },
    DataFamily {
        actions: "iot:GetThingShadow",
        reads: "device state documents",
    },
    DataFamily {
        actions: "iot:GetRetainedMessage",
        reads: "MQTT messages",
    },
    DataFamily {
        actions: "iotanalytics:SampleChannelData",
        reads: "channel messages",
    },
    DataFamily {
        actions: "appsync:GetGraphqlApiEnvironmentVariables",
        reads: "environment values",
    },
    DataFamily {
        actions: "glue:GetTables",
        reads: "table definitions, with their serde parameters",
    },
    DataFamily {
        actions: "glue:GetTableVersion*",
        reads: "table definitions, with their serde parameters",
    },
    DataFamily {
        actions: "glue:GetPartition*",
        reads: "partition definitions and locations",
    },
    DataFamily {
        actions: "ssm:ListCommandInvocations",
        reads: "Run Command output (with Details)",
    },
    DataFamily {
        actions: "ec2:DescribeSpotFleetRequests",
        reads: "user data in launch specifications",
    },
    DataFamily {
        actions: "ec2:DescribeSpotInstanceRequests",
        reads: "user data in launch specifications",
    },
    DataFamily {
        actions: "ecs:DescribeTaskDefinition",
        reads: "container environment values",
    },
    DataFamily {
        actions: "connect:GetContactAttributes",
        reads: "contact data",
    },
    DataFamily {
        actions: "connect:GetFederationToken",
        reads: "credentials for the agent application",
    },
    DataFamily {
        actions: "cognito-idp:AdminGetUser",
        reads: "users' personal attributes",
    },
    DataFamily {
        actions: "cognito-idp:ListUsers",
        reads: "users' personal attributes",
    },
    DataFamily {
        actions: "apigateway:GET",
        reads: "every API Gateway read, stage variables and API keys included",
    },
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
    DATA_READ_FAMILIES
        .iter()
        .any(|f| crate::policy::action_matches(f.actions, action))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reviewer's documents name every action that is read-only
    /// without a read-only name, so none slips in unannounced.
    #[test]
    fn every_read_exception_is_named_where_reviewers_read() {
        let docs = [
            (
                "docs/security.md",
                include_str!("../../../docs/security.md"),
            ),
            (
                "iam-policies/README.md",
                include_str!("../../../iam-policies/README.md"),
            ),
        ];
        for action in READ_EXCEPTIONS {
            for (file, text) in docs {
                assert!(
                    text.contains(&format!("`{action}`")),
                    "{file} does not name {action}"
                );
            }
        }
    }

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
        assert!(reads_data("s3:GetObjectVersionTagging"));
        assert!(!reads_data("s3:GetBucketTagging"));
        assert!(!reads_data("ec2:DescribeInstances"));
    }

    /// No family is one the scanner needs: the deny cannot break a scan.
    #[test]
    fn no_data_family_covers_an_action_the_scanner_calls() {
        for action in ActionManifest::full().actions() {
            for family in DATA_READ_FAMILIES {
                assert!(
                    !crate::policy::action_matches(family.actions, action),
                    "{} ({}) would deny the scanner's {action}",
                    family.actions,
                    family.reads
                );
            }
        }
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

    /// The string literals of Rust source (escapes honoured, raw strings not).
    fn string_literals(source: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut chars = source.chars();
        while let Some(c) = chars.next() {
            match c {
                // A char literal such as '"' must not open a string.
                '\'' => {
                    let rest: String = chars.clone().take(3).collect();
                    if rest.starts_with("\"'") || rest.starts_with("\\\"'") {
                        chars.nth(if rest.starts_with('\\') { 2 } else { 1 });
                    }
                }
                '"' => {
                    let mut lit = String::new();
                    while let Some(c) = chars.next() {
                        match c {
                            '\\' => {
                                chars.next();
                            }
                            '"' => break,
                            c => lit.push(c),
                        }
                    }
                    out.push(lit);
                }
                _ => {}
            }
        }
        out
    }

    /// Every action a collector's source names (what it settles or records
    /// a gap for) is in that collector's own `ACTIONS`: with per-collector
    /// sessions, a call outside the list would be refused by AWS.
    #[test]
    fn each_collector_names_only_its_own_actions() {
        let sources: [(&str, &str, &[&str]); 16] = [
            (
                "ec2",
                include_str!("collectors/ec2.rs"),
                collectors::ec2::ACTIONS,
            ),
            (
                "s3",
                include_str!("collectors/s3.rs"),
                collectors::s3::ACTIONS,
            ),
            (
                "iam",
                include_str!("collectors/iam.rs"),
                collectors::iam::ACTIONS,
            ),
            (
                "rds",
                include_str!("collectors/rds.rs"),
                collectors::rds::ACTIONS,
            ),
            (
                "elb",
                include_str!("collectors/elb.rs"),
                collectors::elb::ACTIONS,
            ),
            (
                "lambda",
                include_str!("collectors/lambda.rs"),
                collectors::lambda::ACTIONS,
            ),
            (
                "cloudtrail",
                include_str!("collectors/cloudtrail.rs"),
                collectors::cloudtrail::ACTIONS,
            ),
            (
                "security",
                include_str!("collectors/security.rs"),
                collectors::security::ACTIONS,
            ),
            (
                "kms",
                include_str!("collectors/kms.rs"),
                collectors::kms::ACTIONS,
            ),
            (
                "efs",
                include_str!("collectors/efs.rs"),
                collectors::efs::ACTIONS,
            ),
            (
                "secretsmanager",
                include_str!("collectors/secretsmanager.rs"),
                collectors::secretsmanager::ACTIONS,
            ),
            (
                "dynamodb",
                include_str!("collectors/dynamodb.rs"),
                collectors::dynamodb::ACTIONS,
            ),
            (
                "ecr",
                include_str!("collectors/ecr.rs"),
                collectors::ecr::ACTIONS,
            ),
            (
                "logs",
                include_str!("collectors/logs.rs"),
                collectors::logs::ACTIONS,
            ),
            (
                "bedrock",
                include_str!("collectors/bedrock.rs"),
                collectors::bedrock::ACTIONS,
            ),
            (
                "cloudwatch",
                include_str!("collectors/cloudwatch.rs"),
                collectors::cloudwatch::ACTIONS,
            ),
        ];
        assert_eq!(
            sources.len(),
            Service::ALL.len() + 1,
            "every collector is listed"
        );
        let known = ActionManifest::full();
        // `service:Operation`, as IAM spells actions (not a condition key such as `aws:SecureTransport`).
        let looks_like_action = |lit: &str| {
            lit.split_once(':').is_some_and(|(service, op)| {
                service != "aws"
                    && !service.is_empty()
                    && service
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                    && op.starts_with(|c: char| c.is_ascii_uppercase())
                    && op.chars().all(|c| c.is_ascii_alphanumeric())
            })
        };
        for (collector, source, actions) in sources {
            // String literals that spell an action of the manifest.
            let named: Vec<String> = string_literals(source)
                .into_iter()
                .filter(|lit| looks_like_action(lit) || known.contains(lit))
                .collect();
            assert!(!named.is_empty(), "{collector} names no action");
            for action in named {
                assert!(
                    actions.contains(&action.as_str()),
                    "collectors/{collector}.rs calls {action}, which is not in its ACTIONS"
                );
            }
        }
    }
}
