//! IAM: the credential report, account authorization details (users,
//! roles, groups, customer managed policies with their documents), the
//! password policy and the account summary. Global: collected once.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_iam::types::{EntityType, ReportStateType};
use chrono::{DateTime, Utc};
use percent_encoding::percent_decode_str;
use sightline_core::inventory::iam::{
    AccessKeyReport, CredentialReportRow, Group, InlinePolicy, ManagedPolicy, PasswordPolicy, Role,
    ServerCertificate, User,
};
use sightline_core::{Inventory, ResourceMeta};

use super::{tag_map, to_chrono, Collect};
use crate::record::Outcome;

pub const ACTIONS: &[&str] = &[
    "iam:GenerateCredentialReport",
    "iam:GetCredentialReport",
    "iam:GetAccountAuthorizationDetails",
    "iam:GetAccountPasswordPolicy",
    "iam:GetAccountSummary",
    "iam:ListServerCertificates",
    "iam:ListVirtualMFADevices",
];

const SERVICE: &str = "iam";
const REGION: &str = "global";
/// How long to wait, at most, for AWS to build the credential report
/// (minutes in a large account), asking again with a growing pause.
const REPORT_WAIT: Duration = Duration::from_secs(60);

/// The pauses between asks for the credential report: doubling from half a
/// second, at most 8 s each, together within `REPORT_WAIT`.
fn report_pauses() -> Vec<Duration> {
    let mut pauses = Vec::new();
    let mut total = Duration::ZERO;
    let mut next = Duration::from_millis(500);
    while total + next <= REPORT_WAIT {
        pauses.push(next);
        total += next;
        next = (next * 2).min(Duration::from_secs(8));
    }
    pauses
}

pub async fn collect(cx: Collect<'_>) -> Inventory {
    let client = crate::sdk_client!(aws_sdk_iam, &cx.in_region(cx.region));
    let rec = cx.recorder;
    let mut inv = cx.fragment();

    inv.iam.credential_report = credential_report(&client, &cx).await;

    let mut complete = true;
    let mut pages = client
        .get_account_authorization_details()
        .set_filter(Some(vec![
            EntityType::User,
            EntityType::Role,
            EntityType::Group,
            EntityType::LocalManagedPolicy,
        ]))
        .max_items(1000)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let Outcome::Ok(page) = rec.settle(
            SERVICE,
            REGION,
            "iam:GetAccountAuthorizationDetails",
            &[],
            page,
        ) else {
            complete = false;
            break;
        };
        for u in page.user_detail_list() {
            let (Some(name), Some(arn)) = (u.user_name(), u.arn()) else {
                continue;
            };
            inv.iam.users.push(User {
                meta: named(
                    ResourceMeta::new("iam.user", name, arn, REGION).with_tags(tag_map(
                        u.tags().iter().map(|t| (Some(t.key()), Some(t.value()))),
                    )),
                    name,
                ),
                inline_policies: u
                    .user_policy_list()
                    .iter()
                    .filter_map(|p| inline(p.policy_name(), p.policy_document()))
                    .collect(),
                attached_policy_arns: u
                    .attached_managed_policies()
                    .iter()
                    .filter_map(|p| p.policy_arn().map(str::to_owned))
                    .collect(),
            });
        }
        for r in page.role_detail_list() {
            let (Some(name), Some(arn)) = (r.role_name(), r.arn()) else {
                continue;
            };
            inv.iam.roles.push(Role {
                meta: named(
                    ResourceMeta::new("iam.role", name, arn, REGION).with_tags(tag_map(
                        r.tags().iter().map(|t| (Some(t.key()), Some(t.value()))),
                    )),
                    name,
                ),
                path: r.path().unwrap_or("/").to_owned(),
                trust_policy: r
                    .assume_role_policy_document()
                    .map(decode_document)
                    .unwrap_or_default(),
                inline_policies: r
                    .role_policy_list()
                    .iter()
                    .filter_map(|p| inline(p.policy_name(), p.policy_document()))
                    .collect(),
                attached_policy_arns: r
                    .attached_managed_policies()
                    .iter()
                    .filter_map(|p| p.policy_arn().map(str::to_owned))
                    .collect(),
            });
        }
        for g in page.group_detail_list() {
            let (Some(name), Some(arn)) = (g.group_name(), g.arn()) else {
                continue;
            };
            inv.iam.groups.push(Group {
                meta: named(ResourceMeta::new("iam.group", name, arn, REGION), name),
                inline_policies: g
                    .group_policy_list()
                    .iter()
                    .filter_map(|p| inline(p.policy_name(), p.policy_document()))
                    .collect(),
                attached_policy_arns: g
                    .attached_managed_policies()
                    .iter()
                    .filter_map(|p| p.policy_arn().map(str::to_owned))
                    .collect(),
            });
        }
        for p in page.policies() {
            let Some(arn) = p.arn() else { continue };
            // The name is the ARN's last path segment when the answer omits it.
            let name = p
                .policy_name()
                .unwrap_or_else(|| arn.rsplit('/').next().unwrap_or(arn));
            let default_version = p
                .policy_version_list()
                .iter()
                .find(|v| v.is_default_version());
            inv.iam.policies.push(ManagedPolicy {
                meta: named(ResourceMeta::new("iam.policy", name, arn, REGION), name),
                attachment_count: p.attachment_count().unwrap_or(0).into(),
                default_version_id: p.default_version_id().map(str::to_owned),
                document: default_version
                    .and_then(|v| v.document())
                    .map(decode_document),
            });
        }
    }
    inv.iam.authorization_details_read = complete;

    let policy = client.get_account_password_policy().send().await;
    inv.iam.password_policy = rec
        .settle(
            SERVICE,
            REGION,
            "iam:GetAccountPasswordPolicy",
            &["NoSuchEntity"],
            policy,
        )
        .configured(|out| {
            out.password_policy().map(|p| PasswordPolicy {
                minimum_password_length: p.minimum_password_length().unwrap_or(0).into(),
                require_symbols: p.require_symbols(),
                require_numbers: p.require_numbers(),
                require_uppercase_characters: p.require_uppercase_characters(),
                require_lowercase_characters: p.require_lowercase_characters(),
                max_password_age: p.max_password_age().map(i64::from),
                password_reuse_prevention: p.password_reuse_prevention().map(i64::from),
                allow_users_to_change_password: Some(p.allow_users_to_change_password()),
                hard_expiry: p.hard_expiry(),
            })
        });

    let summary = client.get_account_summary().send().await;
    inv.iam.account_summary = rec
        .settle(SERVICE, REGION, "iam:GetAccountSummary", &[], summary)
        .ok()
        .map(|out| {
            out.summary_map()
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| (k.as_str().to_owned(), i64::from(*v)))
                        .collect::<BTreeMap<_, _>>()
                })
                .unwrap_or_default()
        });

    // Whether the root user's MFA is a virtual device (the alternative, a
    // hardware one, is what CIS asks for).
    let mut root_virtual_mfa = Some(false);
    let mut pages = client
        .list_virtual_mfa_devices()
        .assignment_status(aws_sdk_iam::types::AssignmentStatusType::Assigned)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let Outcome::Ok(page) = rec.settle(SERVICE, REGION, "iam:ListVirtualMFADevices", &[], page)
        else {
            root_virtual_mfa = None;
            break;
        };
        // The device's user, not its name: names are free since several
        // devices per user are allowed.
        if page
            .virtual_mfa_devices()
            .iter()
            .any(|d| d.user().is_some_and(|u| u.arn().ends_with(":root")))
        {
            root_virtual_mfa = root_virtual_mfa.map(|_| true);
        }
    }
    inv.iam.root_virtual_mfa = root_virtual_mfa;

    // Metadata only: the certificate body and chain are not read.
    let mut certificates = Some(Vec::new());
    let mut pages = client.list_server_certificates().into_paginator().send();
    while let Some(page) = pages.next().await {
        let Outcome::Ok(page) =
            rec.settle(SERVICE, REGION, "iam:ListServerCertificates", &[], page)
        else {
            certificates = None;
            break;
        };
        if let Some(list) = certificates.as_mut() {
            list.extend(page.server_certificate_metadata_list().iter().map(|c| {
                ServerCertificate {
                    name: c.server_certificate_name().to_owned(),
                    arn: c.arn().to_owned(),
                    expiration: to_chrono(c.expiration()),
                }
            }));
        }
    }
    inv.iam.server_certificates = certificates;

    rec.found(inv.resource_count());
    inv
}

fn named(mut meta: ResourceMeta, name: &str) -> ResourceMeta {
    meta.name = Some(name.to_owned());
    meta
}

fn inline(name: Option<&str>, document: Option<&str>) -> Option<InlinePolicy> {
    Some(InlinePolicy {
        name: name?.to_owned(),
        document: decode_document(document?),
    })
}

/// IAM returns policy documents URL-encoded.
fn decode_document(raw: &str) -> serde_json::Value {
    let decoded = percent_decode_str(raw).decode_utf8_lossy();
    serde_json::from_str(&decoded).unwrap_or(serde_json::Value::Null)
}

async fn credential_report(
    client: &aws_sdk_iam::Client,
    cx: &Collect<'_>,
) -> Option<Vec<CredentialReportRow>> {
    let rec = cx.recorder;
    let mut pauses = report_pauses().into_iter();
    loop {
        let generated = client.generate_credential_report().send().await;
        let state = rec
            .settle(
                SERVICE,
                REGION,
                "iam:GenerateCredentialReport",
                &[],
                generated,
            )
            .ok()?;
        if state.state() == Some(&ReportStateType::Complete) {
            break;
        }
        let Some(pause) = pauses.next() else {
            // Not ready in time: a gap, and the checks that need it say so.
            rec.gap(
                SERVICE,
                REGION,
                "iam:GetCredentialReport",
                "Timeout",
                &format!(
                    "the credential report was not ready after {} s",
                    REPORT_WAIT.as_secs()
                ),
            );
            return None;
        };
        tokio::time::sleep(pause).await;
    }
    let report = client.get_credential_report().send().await;
    let report = rec
        .settle(SERVICE, REGION, "iam:GetCredentialReport", &[], report)
        .ok()?;
    let rows = report
        .content()
        .map(|c| parse_credential_report(c.as_ref()))
        .unwrap_or_default();
    // An empty report cannot be right (it always has the root row): a gap, not "no users".
    if rows.is_empty() {
        rec.gap(
            SERVICE,
            REGION,
            "iam:GetCredentialReport",
            "BadResponse",
            "the credential report was empty or unreadable",
        );
        return None;
    }
    Some(rows)
}

fn report_time(value: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(value).ok().map(|d| d.to_utc())
}

/// Parse the credential report CSV by column name (AWS adds columns over time).
pub fn parse_credential_report(csv_bytes: &[u8]) -> Vec<CredentialReportRow> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(csv_bytes);
    let Ok(columns) = reader.headers().cloned() else {
        return Vec::new();
    };
    reader
        .records()
        .filter_map(Result::ok)
        .map(|values| {
            let get = |name: &str| {
                columns
                    .iter()
                    .position(|c| c == name)
                    .and_then(|i| values.get(i))
                    .unwrap_or("")
            };
            let key = |slot: u8| AccessKeyReport {
                slot,
                active: get(&format!("access_key_{slot}_active")) == "true",
                last_rotated: report_time(get(&format!("access_key_{slot}_last_rotated"))),
                last_used: report_time(get(&format!("access_key_{slot}_last_used_date"))),
            };
            CredentialReportRow {
                user: get("user").to_owned(),
                arn: get("arn").to_owned(),
                user_creation_time: report_time(get("user_creation_time")),
                password_enabled: get("password_enabled") == "true",
                password_last_used: report_time(get("password_last_used")),
                password_last_changed: report_time(get("password_last_changed")),
                mfa_active: get("mfa_active") == "true",
                access_keys: vec![key(1), key(2)],
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_report_is_awaited_with_a_growing_pause_for_up_to_a_minute() {
        let pauses = report_pauses();
        let total: Duration = pauses.iter().sum();
        assert!(
            total <= REPORT_WAIT && total >= Duration::from_secs(50),
            "{total:?}"
        );
        assert_eq!(pauses[0], Duration::from_millis(500));
        assert!(pauses.windows(2).all(|w| w[1] >= w[0]), "{pauses:?}");
        assert!(
            pauses.iter().all(|p| *p <= Duration::from_secs(8)),
            "{pauses:?}"
        );
    }

    #[test]
    fn credential_report_is_parsed_by_column_name() {
        let csv = "user,arn,user_creation_time,password_enabled,password_last_used,password_last_changed,password_next_rotation,mfa_active,access_key_1_active,access_key_1_last_rotated,access_key_1_last_used_date,access_key_1_last_used_region,access_key_1_last_used_service,access_key_2_active,access_key_2_last_rotated,access_key_2_last_used_date,access_key_2_last_used_region,access_key_2_last_used_service,cert_1_active,cert_1_last_rotated,cert_2_active,cert_2_last_rotated\n\
<root_account>,arn:aws:iam::123456789012:root,2020-01-01T00:00:00+00:00,not_supported,2024-01-01T00:00:00+00:00,not_supported,not_supported,false,true,2021-01-01T00:00:00+00:00,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A\n\
alice,arn:aws:iam::123456789012:user/alice,2020-01-01T00:00:00+00:00,true,no_information,N/A,N/A,true,false,N/A,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A\n";
        let rows = parse_credential_report(csv.as_bytes());
        assert_eq!(rows.len(), 2);
        assert!(rows[0].is_root() && !rows[0].mfa_active && rows[0].access_keys[0].active);
        assert_eq!(
            rows[0].access_keys[0].last_rotated,
            report_time("2021-01-01T00:00:00+00:00")
        );
        assert!(
            rows[1].password_enabled
                && rows[1].mfa_active
                && rows[1].access_keys[0].last_used.is_none()
        );
    }

    #[test]
    fn policy_documents_are_url_decoded() {
        let doc = decode_document("%7B%22Statement%22%3A%5B%5D%7D");
        assert_eq!(doc, serde_json::json!({"Statement": []}));
    }
}
