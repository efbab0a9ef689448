//! S3 checks: public buckets and Block Public Access, per bucket and account.

use super::{Basis, Check, CheckContext};
use crate::finding::{Category, Severity, Violation};
use crate::inventory::s3::PublicAccessBlock;
use crate::inventory::Inventory;
use crate::shell::Command;

pub const CHECKS: &[&Check] = &[
    &BUCKET_PUBLIC_ACL,
    &BUCKET_PUBLIC_POLICY,
    &BUCKET_NO_PUBLIC_ACCESS_BLOCK,
    &ACCOUNT_PUBLIC_ACCESS_BLOCK_OFF,
    &BUCKET_ALLOWS_HTTP,
    &BUCKET_MFA_DELETE_OFF,
];

const BLOCK_ALL: &str =
    "BlockPublicAcls=true,IgnorePublicAcls=true,BlockPublicPolicy=true,RestrictPublicBuckets=true";

fn block_config(pab: Option<&PublicAccessBlock>) -> String {
    match pab {
        Some(p) => format!(
            "BlockPublicAcls={},IgnorePublicAcls={},BlockPublicPolicy={},RestrictPublicBuckets={}",
            p.block_public_acls,
            p.ignore_public_acls,
            p.block_public_policy,
            p.restrict_public_buckets
        ),
        None => "<none>".to_owned(),
    }
}

/// `put-public-access-block` of one bucket with this configuration.
fn block_bucket(bucket: &str, config: &str) -> Command {
    Command::aws("s3api", "put-public-access-block")
        .arg("--bucket", bucket)
        .arg("--public-access-block-configuration", config)
}

/// Whether the account-level block fully protects every bucket.
/// Whether both Block Public Access settings a grant depends on were read
/// (each either a configuration or S3's answer that there is none).
fn block_public_access_read(inv: &Inventory, bucket: &crate::inventory::s3::Bucket) -> bool {
    bucket.public_access_block.is_some() && inv.s3.account_public_access_block.is_some()
}

fn account_blocks_everything(inv: &Inventory) -> bool {
    matches!(inv.s3.account_public_access_block, Some(Some(p)) if p.all_on())
}

pub static BUCKET_PUBLIC_ACL: Check = Check {
    id: "s3.bucket_public_acl",
    title: "S3 bucket public through its ACL",
    category: Category::Security,
    severity: Severity::Critical,
    service: "s3",
    required_actions: &[
        "s3:GetBucketAcl",
        "s3:ListAllMyBuckets",
        "s3:GetBucketPublicAccessBlock",
        "s3:GetAccountPublicAccessBlock",
    ],
    basis: Basis::Observed,
    risk: "An ACL grant to AllUsers or AuthenticatedUsers lets anyone on the internet list or read the bucket.",
    evaluate: bucket_public_acl,
};

fn bucket_public_acl(inv: &Inventory, _ctx: &CheckContext) -> Vec<Violation> {
    inv.s3
        .buckets
        .iter()
        .filter_map(|b| {
            let grants = b.public_acl_grants.as_ref().filter(|g| !g.is_empty())?;
            let ignored = matches!(b.public_access_block, Some(Some(p)) if p.ignore_public_acls)
                || matches!(inv.s3.account_public_access_block, Some(Some(p)) if p.ignore_public_acls);
            // Unread, Block Public Access may be what stops the grant: unknown, not public.
            if ignored || !block_public_access_read(inv, b) {
                return None;
            }
            Some(
                Violation::new(&b.meta, format!("ACL grants access to {}", grants.join(", ")))
                    .evidence("public_grantees", grants)
                    .remediation(Command::aws("s3api", "put-bucket-acl").arg("--bucket", &b.meta.id).arg("--acl", "private"))
                    .rollback(
                        Command::aws("s3api", "put-bucket-acl")
                            .arg("--bucket", &b.meta.id)
                            .arg("--acl", "public-read")
                            .note("restores the canned public-read ACL; re-apply any custom grants from the evidence"),
                    ),
            )
        })
        .collect()
}

pub static BUCKET_PUBLIC_POLICY: Check = Check {
    id: "s3.bucket_public_policy",
    title: "S3 bucket public through its bucket policy",
    category: Category::Security,
    severity: Severity::Critical,
    service: "s3",
    required_actions: &[
        "s3:GetBucketPolicyStatus",
        "s3:ListAllMyBuckets",
        "s3:GetBucketPublicAccessBlock",
        "s3:GetAccountPublicAccessBlock",
    ],
    basis: Basis::Observed,
    risk: "A bucket policy that S3 itself evaluates as public grants access to anyone.",
    evaluate: bucket_public_policy,
};

fn bucket_public_policy(inv: &Inventory, _ctx: &CheckContext) -> Vec<Violation> {
    inv.s3
        .buckets
        .iter()
        .filter(|b| b.policy_is_public == Some(true))
        .filter(|b| block_public_access_read(inv, b))
        // RestrictPublicBuckets (bucket or account) makes a public policy grant nothing to the public.
        .filter(|b| {
            !(matches!(b.public_access_block, Some(Some(p)) if p.restrict_public_buckets)
                || matches!(inv.s3.account_public_access_block, Some(Some(p)) if p.restrict_public_buckets))
        })
        .map(|b| {
            Violation::new(&b.meta, "GetBucketPolicyStatus reports the bucket policy as public")
                .evidence("policy_is_public", true)
                .remediation(
                    Command::aws("s3api", "get-bucket-policy")
                        .arg("--bucket", &b.meta.id)
                        .arg("--query", "Policy")
                        .arg("--output", "text")
                        .save_to(&format!("{}-policy.json", b.meta.id))
                        .note("keep a copy"),
                )
                .remediation(block_bucket(&b.meta.id, BLOCK_ALL))
                .rollback(Command::aws("s3api", "delete-public-access-block").arg("--bucket", &b.meta.id))
        })
        .collect()
}

pub static BUCKET_NO_PUBLIC_ACCESS_BLOCK: Check = Check {
    id: "s3.bucket_no_public_access_block",
    title: "S3 bucket without Block Public Access",
    category: Category::Security,
    severity: Severity::Medium,
    service: "s3",
    required_actions: &[
        "s3:GetBucketPublicAccessBlock",
        "s3:GetAccountPublicAccessBlock",
        "s3:ListAllMyBuckets",
    ],
    basis: Basis::Observed,
    risk: "Without Block Public Access, one mistaken ACL or policy makes the bucket public.",
    evaluate: bucket_no_public_access_block,
};

fn bucket_no_public_access_block(inv: &Inventory, _ctx: &CheckContext) -> Vec<Violation> {
    // An account-wide block makes the bucket's moot: unread, nothing can
    // be concluded (the gap makes the check "not evaluated").
    if account_blocks_everything(inv) || inv.s3.account_public_access_block.is_none() {
        return Vec::new();
    }
    inv.s3
        .buckets
        .iter()
        .filter_map(|b| {
            let pab = b.public_access_block.as_ref()?;
            if pab.is_some_and(|p| p.all_on()) {
                return None;
            }
            let previous = block_config(pab.as_ref());
            let rollback = match pab {
                Some(_) => block_bucket(&b.meta.id, &previous),
                None => {
                    Command::aws("s3api", "delete-public-access-block").arg("--bucket", &b.meta.id)
                }
            };
            Some(
                Violation::new(
                    &b.meta,
                    "Block Public Access is not fully on for the bucket or the account",
                )
                .evidence("bucket_public_access_block", previous)
                .evidence(
                    "account_public_access_block",
                    block_config(inv.s3.account_public_access_block.flatten().as_ref()),
                )
                .remediation(block_bucket(&b.meta.id, BLOCK_ALL))
                .rollback(rollback),
            )
        })
        .collect()
}

pub static ACCOUNT_PUBLIC_ACCESS_BLOCK_OFF: Check = Check {
    id: "s3.account_public_access_block_off",
    title: "Account-level S3 Block Public Access is off",
    category: Category::Security,
    severity: Severity::High,
    service: "s3",
    required_actions: &["s3:GetAccountPublicAccessBlock"],
    basis: Basis::Observed,
    risk: "The account-level block is the one switch that stops any bucket, present or future, from being made public.",
    evaluate: account_public_access_block_off,
};

fn account_public_access_block_off(inv: &Inventory, _ctx: &CheckContext) -> Vec<Violation> {
    let Some(pab) = inv.s3.account_public_access_block.as_ref() else {
        return Vec::new();
    };
    if pab.is_some_and(|p| p.all_on()) {
        return Vec::new();
    }
    let account = &inv.account_id;
    let block_account = |config: &str| {
        Command::aws("s3control", "put-public-access-block")
            .arg("--account-id", account)
            .arg("--public-access-block-configuration", config)
    };
    let rollback = match pab {
        Some(_) => block_account(&block_config(pab.as_ref())),
        None => {
            Command::aws("s3control", "delete-public-access-block").arg("--account-id", account)
        }
    };
    vec![Violation::new(
        &inv.account_meta(),
        "Account-level Block Public Access is not fully on",
    )
    .evidence("account_public_access_block", block_config(pab.as_ref()))
    .remediation(block_account(BLOCK_ALL))
    .rollback(rollback)]
}

pub static BUCKET_MFA_DELETE_OFF: Check = Check {
    id: "s3.bucket_mfa_delete_off",
    title: "S3 bucket without MFA delete",
    category: Category::Security,
    severity: Severity::Low,
    service: "s3",
    required_actions: &[
        "s3:ListAllMyBuckets",
        "s3:GetBucketVersioning",
    ],
    basis: Basis::Observed,
    risk: "Without MFA delete, stolen credentials can suspend versioning and delete every version of every object; with it, that takes the root user's MFA device too.",
    evaluate: bucket_mfa_delete_off,
};

fn bucket_mfa_delete_off(inv: &Inventory, _ctx: &CheckContext) -> Vec<Violation> {
    inv.s3
        .buckets
        .iter()
        .filter(|b| b.mfa_delete == Some(false))
        .map(|b| {
            let versioning = b
                .versioning
                .clone()
                .flatten()
                .unwrap_or_else(|| "never enabled".to_owned());
            let put = |mfa_delete: &str| {
                Command::aws("s3api", "put-bucket-versioning")
                    .arg("--bucket", &b.meta.id)
                    .arg(
                        "--versioning-configuration",
                        &format!("Status=Enabled,MFADelete={mfa_delete}"),
                    )
                    .placeholders("--mfa", &["root-mfa-device-serial then-a-space then-the-current-code"])
            };
            Violation::new(
                &b.meta,
                format!("MFA delete is off (versioning: {versioning})"),
            )
            .evidence("versioning", &b.versioning)
            .evidence("mfa_delete", false)
            .remediation(put("Enabled").note(
                "only the root user's own credentials with its MFA device can set this (then delete any root key made for it); it turns versioning on, so old versions are kept and billed; lifecycle rules cannot be used with it",
            ))
            .rollback(put("Disabled").note(match b.versioning.as_ref() {
                Some(Some(status)) if status == "Enabled" => "versioning stays on, as it was",
                _ => "versioning was not on before: suspend it too if it should not stay",
            }))
        })
        .collect()
}

pub static BUCKET_ALLOWS_HTTP: Check = Check {
    id: "s3.bucket_allows_http",
    title: "S3 bucket policy does not deny requests without TLS",
    category: Category::Security,
    severity: Severity::Medium,
    service: "s3",
    required_actions: &["s3:GetBucketPolicy", "s3:ListAllMyBuckets"],
    basis: Basis::Absence,
    risk: "Without a deny on aws:SecureTransport=false, clients may read and write the bucket over plain HTTP, in the clear.",
    evaluate: bucket_allows_http,
};

fn bucket_allows_http(inv: &Inventory, _ctx: &CheckContext) -> Vec<Violation> {
    inv.s3
        .buckets
        .iter()
        .filter(|b| b.denies_insecure_transport == Some(false))
        .map(|b| {
            let bucket = &b.meta.id;
            let statement = serde_json::json!({
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [b.meta.arn.clone(), format!("{}/*", b.meta.arn)],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}}
            });
            Violation::new(
                &b.meta,
                "The bucket policy does not deny requests made without TLS",
            )
            .evidence("denies_insecure_transport", false)
            .remediation(
                Command::aws("s3api", "get-bucket-policy")
                    .arg("--bucket", bucket)
                    .arg("--query", "Policy")
                    .arg("--output", "text")
                    .note(
                        "save it as policy-before.json (none: start from an empty Statement list)",
                    ),
            )
            .remediation(crate::shell::note_line(&format!(
                "add to its Statement list, saved as policy-after.json: {statement}"
            )))
            .remediation(
                Command::aws("s3api", "put-bucket-policy")
                    .arg("--bucket", bucket)
                    .arg("--policy", "file://policy-after.json"),
            )
            .rollback(
                Command::aws("s3api", "put-bucket-policy")
                    .arg("--bucket", bucket)
                    .arg("--policy", "file://policy-before.json")
                    .note("or delete-bucket-policy if it had none"),
            )
        })
        .collect()
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::checks::test_support::{ctx, flagged, inventory, meta};
    use crate::inventory::s3::Bucket;

    const ON: PublicAccessBlock = PublicAccessBlock {
        block_public_acls: true,
        ignore_public_acls: true,
        block_public_policy: true,
        restrict_public_buckets: true,
    };

    fn bucket(name: &str) -> Bucket {
        Bucket {
            meta: meta("s3.bucket", name, "us-east-1"),
            creation_date: None,
            public_acl_grants: Some(vec![]),
            policy_is_public: Some(false),
            public_access_block: Some(Some(ON)),
            versioning: Some(None),
            mfa_delete: Some(false),
            denies_insecure_transport: Some(true),
        }
    }

    #[test]
    fn buckets_without_mfa_delete_are_flagged_unless_unread() {
        let mut inv = inventory();
        let mut guarded = bucket("guarded");
        guarded.versioning = Some(Some("Enabled".into()));
        guarded.mfa_delete = Some(true);
        let mut unread = bucket("unread");
        unread.versioning = None;
        unread.mfa_delete = None;
        inv.s3.buckets = vec![bucket("plain"), guarded, unread];
        assert_eq!(flagged(&BUCKET_MFA_DELETE_OFF, &inv), ["plain"]);
        let v = bucket_mfa_delete_off(&inv, &ctx());
        assert_eq!(
            v[0].message,
            "MFA delete is off (versioning: never enabled)"
        );
        assert_eq!(
            v[0].remediation,
            ["aws s3api put-bucket-versioning --bucket plain --versioning-configuration Status=Enabled,MFADelete=Enabled --mfa '<root-mfa-device-serial then-a-space then-the-current-code>'  # only the root user's own credentials with its MFA device can set this (then delete any root key made for it); it turns versioning on, so old versions are kept and billed; lifecycle rules cannot be used with it"]
        );
    }

    #[test]
    fn public_buckets_are_flagged_and_unknown_ones_are_not() {
        let mut inv = inventory();
        inv.s3.account_public_access_block = Some(None);
        let mut acl = bucket("acl-public");
        acl.public_acl_grants = Some(vec![
            "http://acs.amazonaws.com/groups/global/AllUsers".into()
        ]);
        acl.public_access_block = Some(None);
        let mut policy = bucket("policy-public");
        policy.policy_is_public = Some(true);
        policy.public_access_block = Some(None);
        let mut restricted = bucket("policy-restricted");
        restricted.policy_is_public = Some(true);
        let mut unknown = bucket("unreadable");
        unknown.public_acl_grants = None;
        unknown.policy_is_public = None;
        unknown.public_access_block = None;
        inv.s3.buckets = vec![acl, policy, restricted, unknown, bucket("clean")];
        assert_eq!(flagged(&BUCKET_PUBLIC_ACL, &inv), ["acl-public"]);
        assert_eq!(flagged(&BUCKET_PUBLIC_POLICY, &inv), ["policy-public"]);
        assert_eq!(
            flagged(&BUCKET_NO_PUBLIC_ACCESS_BLOCK, &inv),
            ["acl-public", "policy-public"]
        );
        assert_eq!(
            flagged(&ACCOUNT_PUBLIC_ACCESS_BLOCK_OFF, &inv),
            ["123456789012"]
        );
    }

    /// Whether an ACL or policy grant reaches the public depends on Block
    /// Public Access; unread, it is unknown, not public.
    #[test]
    fn a_public_grant_is_not_called_public_while_block_public_access_is_unread() {
        let mut inv = inventory();
        inv.s3.account_public_access_block = Some(None);
        let mut acl = bucket("acl-unknown-block");
        acl.public_acl_grants = Some(vec![
            "http://acs.amazonaws.com/groups/global/AllUsers".into()
        ]);
        acl.public_access_block = None;
        let mut policy = bucket("policy-unknown-block");
        policy.policy_is_public = Some(true);
        policy.public_access_block = None;
        inv.s3.buckets = vec![acl, policy];
        assert!(flagged(&BUCKET_PUBLIC_ACL, &inv).is_empty());
        assert!(flagged(&BUCKET_PUBLIC_POLICY, &inv).is_empty());
        // The account's setting unread: the same.
        inv.s3.account_public_access_block = None;
        for b in &mut inv.s3.buckets {
            b.public_access_block = Some(None);
        }
        assert!(flagged(&BUCKET_PUBLIC_ACL, &inv).is_empty());
        assert!(flagged(&BUCKET_PUBLIC_POLICY, &inv).is_empty());
        // Both read, neither blocking: public.
        inv.s3.account_public_access_block = Some(None);
        assert_eq!(flagged(&BUCKET_PUBLIC_ACL, &inv), ["acl-unknown-block"]);
        assert_eq!(
            flagged(&BUCKET_PUBLIC_POLICY, &inv),
            ["policy-unknown-block"]
        );
        for check in [&BUCKET_PUBLIC_ACL, &BUCKET_PUBLIC_POLICY] {
            for action in [
                "s3:GetBucketPublicAccessBlock",
                "s3:GetAccountPublicAccessBlock",
            ] {
                assert!(
                    check.required_actions.contains(&action),
                    "{} {action}",
                    check.id
                );
            }
        }
    }

    #[test]
    fn account_block_covers_buckets_and_unread_account_block_flags_nothing() {
        let mut inv = inventory();
        let mut open = bucket("open");
        open.public_access_block = Some(None);
        inv.s3.buckets = vec![open];
        inv.s3.account_public_access_block = Some(Some(ON));
        assert!(flagged(&BUCKET_NO_PUBLIC_ACCESS_BLOCK, &inv).is_empty());
        assert!(flagged(&ACCOUNT_PUBLIC_ACCESS_BLOCK_OFF, &inv).is_empty());
        inv.s3.account_public_access_block = None;
        assert!(flagged(&ACCOUNT_PUBLIC_ACCESS_BLOCK_OFF, &inv).is_empty());
        // An account-wide block, unread, may cover the bucket: no finding.
        assert!(flagged(&BUCKET_NO_PUBLIC_ACCESS_BLOCK, &inv).is_empty());
    }

    /// An inventory on which each of this file's absence checks fires.
    pub(in crate::checks) fn firing() -> Vec<(&'static Check, Inventory)> {
        let mut inv = inventory();
        let mut open = bucket("no-tls-deny");
        open.denies_insecure_transport = Some(false);
        inv.s3.buckets = vec![open];
        vec![(&BUCKET_ALLOWS_HTTP, inv)]
    }

    #[test]
    fn a_bucket_whose_policy_allows_plain_http_is_flagged_and_an_unread_one_is_not() {
        let mut inv = inventory();
        let mut open = bucket("no-tls-deny");
        open.denies_insecure_transport = Some(false);
        let mut unread = bucket("unread");
        unread.denies_insecure_transport = None;
        inv.s3.buckets = vec![bucket("tls-only"), open, unread];
        assert_eq!(flagged(&BUCKET_ALLOWS_HTTP, &inv), ["no-tls-deny"]);
        let v = bucket_allows_http(&inv, &ctx());
        assert!(
            v[0].remediation[1].starts_with("# add to its Statement list"),
            "{:?}",
            v[0].remediation
        );
        assert!(v[0].remediation[1].contains(r#""aws:SecureTransport":"false""#));
    }
}
