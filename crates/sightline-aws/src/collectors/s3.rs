//! S3: buckets with their region, ACL, policy status, public access block
//! and versioning, plus the account-level public access block, and whether
//! the bucket policy denies requests without TLS. Per bucket, only the calls
//! whose answer some check reads (the action manifest test proves it from
//! the checks' `required_actions`): no encryption, logging, lifecycle or
//! tag reads. Object contents are never read; of the policy document only
//! that conclusion is kept.

use std::collections::BTreeMap;

use aws_sdk_s3::types::Type;
use futures::StreamExt;
use sightline_core::inventory::s3::{Bucket, PublicAccessBlock};
use sightline_core::{Inventory, ResourceMeta};

use super::{to_chrono, Collect, DETAIL_CONCURRENCY};
use crate::record::{Outcome, ScanRecorder};

pub const ACTIONS: &[&str] = &[
    "s3:ListAllMyBuckets",
    "s3:GetBucketLocation",
    "s3:GetBucketAcl",
    "s3:GetBucketPolicyStatus",
    "s3:GetBucketPolicy",
    "s3:GetBucketPublicAccessBlock",
    "s3:GetBucketVersioning",
    "s3:GetAccountPublicAccessBlock",
];

const SERVICE: &str = "s3";

/// The reads made for each bucket: those whose answer some S3 check needs.
const BUCKET_READS: &[&str] = &[
    "s3:GetBucketAcl",
    "s3:GetBucketPolicyStatus",
    "s3:GetBucketPolicy",
    "s3:GetBucketPublicAccessBlock",
    "s3:GetBucketVersioning",
];
const PUBLIC_GRANTEES: &[&str] = &[
    "http://acs.amazonaws.com/groups/global/AllUsers",
    "http://acs.amazonaws.com/groups/global/AuthenticatedUsers",
];

pub(crate) fn s3_client(cx: &Collect<'_>, region: &str) -> aws_sdk_s3::Client {
    let config = aws_sdk_s3::config::Builder::from(&cx.in_region(region))
        .force_path_style(cx.session.custom_endpoint)
        .retry_partition(crate::session::own_retry_partition("aws_sdk_s3"))
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

/// `LocationConstraint` to region: empty means us-east-1, `EU` means eu-west-1.
pub(crate) fn location_region(constraint: Option<&str>) -> String {
    match constraint {
        None | Some("") => "us-east-1".to_owned(),
        Some("EU") => "eu-west-1".to_owned(),
        Some(other) => other.to_owned(),
    }
}

/// Collect S3 once per account; only buckets located in `regions` are kept.
pub async fn collect(cx: Collect<'_>, regions: &[String]) -> Inventory {
    let mut inv = cx.fragment();
    let rec = cx.recorder;
    let home = cx.region;
    let home_client = s3_client(&cx, home);

    inv.s3.account_public_access_block = account_public_access_block(&cx).await;

    let mut names = Vec::new();
    let mut pages = home_client
        .list_buckets()
        .max_buckets(10_000)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let Outcome::Ok(page) = rec.settle(SERVICE, "global", "s3:ListAllMyBuckets", &[], page)
        else {
            break;
        };
        for b in page.buckets() {
            if let Some(name) = b.name() {
                names.push((
                    name.to_owned(),
                    to_chrono(b.creation_date()),
                    b.bucket_region().map(str::to_owned),
                ));
            }
        }
    }

    let clients: BTreeMap<String, aws_sdk_s3::Client> = regions
        .iter()
        .map(|r| (r.clone(), s3_client(&cx, r)))
        .collect();
    let buckets: Vec<Option<Bucket>> =
        futures::stream::iter(names.into_iter().map(|(name, created, listed_region)| {
            let home_client = home_client.clone();
            let clients = &clients;
            async move {
                // The listing gives each bucket's region (it asks with
                // max-buckets, which makes S3 include it); only a listing
                // without it costs a GetBucketLocation per bucket.
                let region = match listed_region {
                    Some(region) => region,
                    None => {
                        let location = home_client.get_bucket_location().bucket(&name).send().await;
                        let Outcome::Ok(location) =
                            rec.settle(SERVICE, home, "s3:GetBucketLocation", &[], location)
                        else {
                            // Kept, with nothing known about it; none of its
                            // reads could be made, so each is a gap and the
                            // bucket checks say "not evaluated".
                            for action in BUCKET_READS {
                                rec.gap(
                                    SERVICE,
                                    "global",
                                    action,
                                    "RegionError",
                                    &format!("not read for {name}: its region is unknown (GetBucketLocation failed)"),
                                );
                            }
                            return Some(unread_bucket(&cx, name, created));
                        };
                        location_region(location.location_constraint().map(|c| c.as_str()))
                    }
                };
                let client = clients.get(&region)?;
                Some(bucket_details(&cx, rec, client, &region, name, created).await)
            }
        }))
        .buffered(DETAIL_CONCURRENCY)
        .collect()
        .await;
    inv.s3.buckets = buckets.into_iter().flatten().collect();
    rec.found(inv.s3.buckets.len());
    inv
}

/// Where a bucket is unknown, so are its settings.
pub const UNKNOWN_REGION: &str = "unknown";

fn unread_bucket(
    cx: &Collect<'_>,
    name: String,
    created: Option<chrono::DateTime<chrono::Utc>>,
) -> Bucket {
    let mut meta = ResourceMeta::new(
        "s3.bucket",
        &name,
        &format!("arn:{}:s3:::{name}", cx.partition()),
        UNKNOWN_REGION,
    );
    meta.name = Some(name);
    Bucket {
        meta,
        creation_date: created,
        public_acl_grants: None,
        policy_is_public: None,
        public_access_block: None,
        versioning: None,
        mfa_delete: None,
        denies_insecure_transport: None,
    }
}

async fn account_public_access_block(cx: &Collect<'_>) -> Option<Option<PublicAccessBlock>> {
    let client = crate::sdk_client!(aws_sdk_s3control, &cx.in_region(cx.region));
    let result = client
        .get_public_access_block()
        .account_id(cx.account_id())
        .send()
        .await;
    cx.recorder
        .settle(
            SERVICE,
            "global",
            "s3:GetAccountPublicAccessBlock",
            &["NoSuchPublicAccessBlockConfiguration"],
            result,
        )
        .configured(|out| {
            out.public_access_block_configuration().map(|c| {
                block(
                    c.block_public_acls(),
                    c.ignore_public_acls(),
                    c.block_public_policy(),
                    c.restrict_public_buckets(),
                )
            })
        })
}

/// A public access block from its four settings (unset means off).
fn block(
    acls: Option<bool>,
    ignore: Option<bool>,
    policy: Option<bool>,
    restrict: Option<bool>,
) -> PublicAccessBlock {
    PublicAccessBlock {
        block_public_acls: acls.unwrap_or(false),
        ignore_public_acls: ignore.unwrap_or(false),
        block_public_policy: policy.unwrap_or(false),
        restrict_public_buckets: restrict.unwrap_or(false),
    }
}

async fn bucket_details(
    cx: &Collect<'_>,
    rec: &ScanRecorder,
    client: &aws_sdk_s3::Client,
    region: &str,
    name: String,
    created: Option<chrono::DateTime<chrono::Utc>>,
) -> Bucket {
    let arn = format!("arn:{}:s3:::{name}", cx.partition());

    let acl = client.get_bucket_acl().bucket(&name).send().await;
    let public_acl_grants = rec
        .settle(SERVICE, region, "s3:GetBucketAcl", &[], acl)
        .ok()
        .map(|acl| {
            let mut grantees: Vec<String> = acl
                .grants()
                .iter()
                .filter_map(|g| g.grantee())
                .filter(|g| g.r#type() == &Type::Group)
                .filter_map(|g| g.uri())
                .filter(|uri| PUBLIC_GRANTEES.contains(uri))
                .map(str::to_owned)
                .collect();
            grantees.sort();
            grantees.dedup();
            grantees
        });

    let status = client.get_bucket_policy_status().bucket(&name).send().await;
    let policy_is_public = match rec.settle(
        SERVICE,
        region,
        "s3:GetBucketPolicyStatus",
        &["NoSuchBucketPolicy"],
        status,
    ) {
        Outcome::Ok(out) => Some(
            out.policy_status()
                .and_then(|s| s.is_public())
                .unwrap_or(false),
        ),
        Outcome::Absent => Some(false),
        Outcome::Gap => None,
    };

    let policy = client.get_bucket_policy().bucket(&name).send().await;
    let denies_insecure_transport = match rec.settle(
        SERVICE,
        region,
        "s3:GetBucketPolicy",
        &["NoSuchBucketPolicy"],
        policy,
    ) {
        Outcome::Ok(out) => {
            match serde_json::from_str::<serde_json::Value>(out.policy().unwrap_or_default()) {
                Ok(doc) => Some(sightline_core::inventory::s3::denies_insecure_transport(
                    &doc, &arn,
                )),
                Err(e) => {
                    rec.gap(
                        SERVICE,
                        region,
                        "s3:GetBucketPolicy",
                        "Unparsable",
                        &format!("the policy of {name} is not JSON: {e}"),
                    );
                    None
                }
            }
        }
        Outcome::Absent => Some(false),
        Outcome::Gap => None,
    };

    let pab = client.get_public_access_block().bucket(&name).send().await;
    let public_access_block = rec
        .settle(
            SERVICE,
            region,
            "s3:GetBucketPublicAccessBlock",
            &["NoSuchPublicAccessBlockConfiguration"],
            pab,
        )
        .configured(|out| {
            out.public_access_block_configuration().map(|c| {
                block(
                    c.block_public_acls(),
                    c.ignore_public_acls(),
                    c.block_public_policy(),
                    c.restrict_public_buckets(),
                )
            })
        });

    let ver = client.get_bucket_versioning().bucket(&name).send().await;
    let ver = rec
        .settle(SERVICE, region, "s3:GetBucketVersioning", &[], ver)
        .ok();
    let versioning = ver
        .as_ref()
        .map(|v| v.status().map(|s| s.as_str().to_owned()));
    // S3 leaves MfaDelete out until it was ever set: then it is off.
    let mfa_delete = ver
        .as_ref()
        .map(|v| v.mfa_delete().map(|m| m.as_str()) == Some("Enabled"));

    let mut meta = ResourceMeta::new("s3.bucket", &name, &arn, region);
    meta.name = Some(name.clone());
    Bucket {
        meta,
        creation_date: created,
        public_acl_grants,
        policy_is_public,
        public_access_block,
        versioning,
        mfa_delete,
        denies_insecure_transport,
    }
}
