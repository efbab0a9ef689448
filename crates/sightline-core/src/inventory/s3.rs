//! S3 records: buckets with their configuration, and the account-level
//! public access block. Object contents are never read.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::ResourceMeta;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct S3Inventory {
    pub buckets: Vec<Bucket>,
    /// Outer `None`: not read. `Some(None)`: no account-level block configured.
    pub account_public_access_block: Option<Option<PublicAccessBlock>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicAccessBlock {
    pub block_public_acls: bool,
    pub ignore_public_acls: bool,
    pub block_public_policy: bool,
    pub restrict_public_buckets: bool,
}

impl PublicAccessBlock {
    pub fn all_on(&self) -> bool {
        self.block_public_acls
            && self.ignore_public_acls
            && self.block_public_policy
            && self.restrict_public_buckets
    }
}

/// Each `Option` is `None` when the call that reads it failed (a coverage gap).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Bucket {
    pub meta: ResourceMeta,
    pub creation_date: Option<DateTime<Utc>>,
    /// Grantee URIs of the ACL that name everyone (`AllUsers`, `AuthenticatedUsers`).
    pub public_acl_grants: Option<Vec<String>>,
    /// `GetBucketPolicyStatus.IsPublic`; `Some(false)` when the bucket has no policy.
    pub policy_is_public: Option<bool>,
    /// `Some(None)` when no bucket-level block is configured.
    pub public_access_block: Option<Option<PublicAccessBlock>>,
    /// Default encryption algorithm; `Some(None)` when none is configured.
    pub encryption: Option<Option<String>>,
    /// `Enabled`, `Suspended`, or `Some(None)` when never enabled.
    pub versioning: Option<Option<String>>,
    pub logging_enabled: Option<bool>,
    pub lifecycle_rule_count: Option<usize>,
}
