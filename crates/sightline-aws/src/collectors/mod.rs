//! One collector per AWS service. Each module has the same shape: `ACTIONS`,
//! the IAM actions it calls (the action manifest is built from these), and
//! `collect`, which returns the inventory fragment it read. Failed calls
//! become coverage gaps through the scan recorder; nothing here panics on
//! an AWS error.

pub mod bedrock;
pub mod cloudtrail;
pub mod cloudwatch;
pub mod dynamodb;
pub mod ec2;
pub mod ecr;
pub mod efs;
pub mod elb;
pub mod iam;
pub mod kms;
pub mod lambda;
pub mod logs;
pub mod rds;
pub mod s3;
pub mod secretsmanager;
pub mod security;

use std::collections::BTreeMap;

use aws_config::SdkConfig;
use chrono::{DateTime, Utc};
use sightline_core::secrets::redact_tag_value;
use sightline_core::Inventory;

use crate::record::ScanRecorder;
use crate::session::AwsSession;

/// Per-resource calls (bucket details, snapshot attributes, ...) in flight at once per collector.
pub const DETAIL_CONCURRENCY: usize = 8;

/// What a collector works with: the account's session, the collector's own
/// SDK config (its STS session when a role is assumed: `AwsSession::for_collector`),
/// one region, the recorder.
#[derive(Clone, Copy)]
pub struct Collect<'a> {
    pub session: &'a AwsSession,
    pub config: &'a SdkConfig,
    pub recorder: &'a ScanRecorder,
    pub region: &'a str,
}

impl Collect<'_> {
    /// The collector's SDK config pinned to `region`: every AWS client of a
    /// collector is made from this, never from the session's own config.
    pub fn in_region(&self, region: &str) -> SdkConfig {
        crate::session::pinned(self.config, region)
    }

    pub fn account_id(&self) -> &str {
        &self.session.account_id
    }

    pub fn partition(&self) -> &str {
        &self.session.partition
    }

    /// An empty fragment for this account.
    pub fn fragment(&self) -> Inventory {
        let mut inv = Inventory::new(self.account_id());
        inv.partition = self.partition().to_owned();
        inv
    }

    pub fn arn(&self, service: &str, resource: &str) -> String {
        format!(
            "arn:{}:{service}:{}:{}:{resource}",
            self.partition(),
            self.region,
            self.account_id()
        )
    }
}

/// Tags as a map, with credential-looking values redacted before they go anywhere.
pub fn tag_map<'a>(
    pairs: impl IntoIterator<Item = (Option<&'a str>, Option<&'a str>)>,
) -> BTreeMap<String, String> {
    pairs
        .into_iter()
        .filter_map(|(k, v)| {
            let key = k?;
            Some((key.to_owned(), redact_tag_value(key, v.unwrap_or_default())))
        })
        .collect()
}

pub fn to_chrono(t: Option<&aws_smithy_types::DateTime>) -> Option<DateTime<Utc>> {
    t.and_then(|t| DateTime::from_timestamp(t.secs(), t.subsec_nanos()))
}
