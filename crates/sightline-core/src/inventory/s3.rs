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
    /// `Enabled`, `Suspended`, or `Some(None)` when never enabled.
    pub versioning: Option<Option<String>>,
    /// Whether deleting a version or suspending versioning needs the root
    /// user's MFA code; `None` when versioning could not be read.
    #[serde(default)]
    pub mfa_delete: Option<bool>,
    /// Whether the bucket policy denies requests without TLS
    /// ([`denies_insecure_transport`]); `Some(false)` when it has no policy.
    /// Only this conclusion is kept, never the document.
    #[serde(default)]
    pub denies_insecure_transport: Option<bool>,
}

/// Whether a bucket policy denies every S3 action to everyone on this bucket
/// and its objects when `aws:SecureTransport` is false, as CIS asks: a
/// `Deny` of `s3:*` (or `*`) to `*`, on the bucket's ARN or `*`, under a
/// `Bool` or `BoolIfExists` condition with `aws:SecureTransport` `false`.
pub fn denies_insecure_transport(policy: &serde_json::Value, bucket_arn: &str) -> bool {
    use super::iam::{statements, string_list};
    statements(policy).into_iter().any(|st| {
        let deny = st.get("Effect").and_then(|e| e.as_str()) == Some("Deny");
        let everyone = match st.get("Principal") {
            Some(serde_json::Value::String(p)) => p == "*",
            Some(p) => string_list(p.get("AWS")).iter().any(|a| a == "*"),
            None => false,
        };
        let all_actions = st.get("NotAction").is_none()
            && string_list(st.get("Action"))
                .iter()
                .any(|a| a == "*" || a.eq_ignore_ascii_case("s3:*"));
        let objects = format!("{bucket_arn}/*");
        let resources = string_list(st.get("Resource"));
        let on_bucket = st.get("NotResource").is_none()
            && resources
                .iter()
                .any(|r| r == "*" || *r == objects || r == bucket_arn);
        let insecure = ["Bool", "BoolIfExists"].iter().any(|op| {
            st.get("Condition")
                .and_then(|c| c.get(*op))
                .and_then(|c| c.as_object())
                .and_then(|c| {
                    c.iter()
                        .find(|(k, _)| k.eq_ignore_ascii_case("aws:SecureTransport"))
                        .map(|(_, v)| v)
                })
                .is_some_and(|v| {
                    let values = match v {
                        serde_json::Value::Bool(b) => vec![b.to_string()],
                        other => string_list(Some(other)),
                    };
                    values.len() == 1 && values[0].eq_ignore_ascii_case("false")
                })
        });
        deny && everyone && all_actions && on_bucket && insecure
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::denies_insecure_transport;

    const ARN: &str = "arn:aws:s3:::logs";

    fn deny(
        principal: serde_json::Value,
        action: &str,
        resource: serde_json::Value,
        condition: serde_json::Value,
    ) -> serde_json::Value {
        json!({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "cloudtrail.amazonaws.com"}, "Action": "s3:PutObject", "Resource": "arn:aws:s3:::logs/*"},
            {"Effect": "Deny", "Principal": principal, "Action": action, "Resource": resource, "Condition": condition}
        ]})
    }

    #[test]
    fn only_a_deny_of_everything_without_tls_counts() {
        let no_tls = json!({"Bool": {"aws:SecureTransport": "false"}});
        let both = json!([ARN, "arn:aws:s3:::logs/*"]);
        assert!(denies_insecure_transport(
            &deny(json!("*"), "s3:*", both.clone(), no_tls.clone()),
            ARN
        ));
        assert!(denies_insecure_transport(
            &deny(
                json!({"AWS": "*"}),
                "*",
                json!("arn:aws:s3:::logs/*"),
                json!({"Bool": {"aws:SecureTransport": false}})
            ),
            ARN
        ));
        assert!(denies_insecure_transport(
            &deny(
                json!("*"),
                "s3:*",
                both.clone(),
                json!({"BoolIfExists": {"aws:SecureTransport": "false"}})
            ),
            ARN
        ));
        // Too narrow: one action, one principal, another bucket, or TLS allowed.
        assert!(!denies_insecure_transport(
            &deny(json!("*"), "s3:GetObject", both.clone(), no_tls.clone()),
            ARN
        ));
        assert!(!denies_insecure_transport(
            &deny(
                json!({"AWS": "arn:aws:iam::123456789012:root"}),
                "s3:*",
                both.clone(),
                no_tls.clone()
            ),
            ARN
        ));
        assert!(!denies_insecure_transport(
            &deny(
                json!("*"),
                "s3:*",
                json!("arn:aws:s3:::other/*"),
                no_tls.clone()
            ),
            ARN
        ));
        assert!(!denies_insecure_transport(
            &deny(
                json!("*"),
                "s3:*",
                both.clone(),
                json!({"Bool": {"aws:SecureTransport": "true"}})
            ),
            ARN
        ));
        assert!(!denies_insecure_transport(
            &deny(json!("*"), "s3:*", both, json!({})),
            ARN
        ));
        assert!(!denies_insecure_transport(&json!({}), ARN));
    }
}
