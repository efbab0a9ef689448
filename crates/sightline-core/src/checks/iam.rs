//! IAM checks: the root user, console users, access keys, policies, role
//! trust and the password policy.

use chrono::{DateTime, Utc};

use super::{Basis, Check, CheckContext};
use crate::finding::{Category, Severity, Violation};
use crate::inventory::iam::{
    statements, string_list, CredentialReportRow, InlinePolicy, PasswordPolicy,
};
use crate::inventory::{Inventory, ResourceMeta};
use crate::shell::Command;

pub const CHECKS: &[&Check] = &[
    &ROOT_ACCESS_KEYS,
    &ROOT_NO_MFA,
    &USER_CONSOLE_NO_MFA,
    &ACCESS_KEY_OLD,
    &ACCESS_KEY_UNUSED,
    &POLICY_ADMIN_WILDCARD,
    &ROLE_TRUST_OPEN,
    &PASSWORD_POLICY_WEAK,
    &USER_TWO_ACTIVE_KEYS,
    &USER_DIRECT_POLICIES,
    &NO_SUPPORT_ROLE,
    &ADMIN_ACCESS_ATTACHED,
    &CREDENTIALS_UNUSED_45_DAYS,
    &CONSOLE_USER_UNUSED_KEY,
    &SERVER_CERTIFICATE_EXPIRED,
    &ROOT_NO_HARDWARE_MFA,
    &ROOT_USED_RECENTLY,
];

/// Deactivating one of a user's access keys, known by its credential-report
/// slot (the report names slots, not key ids), and turning it back on.
trait DeactivatingKey {
    fn deactivating_key(self, user: &str, slot: u8, note: Option<&str>) -> Self;
}

impl DeactivatingKey for Violation {
    fn deactivating_key(self, user: &str, slot: u8, note: Option<&str>) -> Self {
        let update = |status: &str| {
            Command::aws("iam", "update-access-key")
                .arg("--user-name", user)
                .placeholder("--access-key-id", "key-id")
                .arg("--status", status)
        };
        let deactivate = match note {
            Some(note) => update("Inactive").note(note),
            None => update("Inactive"),
        };
        self.remediation(
            Command::aws("iam", "list-access-keys")
                .arg("--user-name", user)
                .note(&format!("find the key id of slot {slot}")),
        )
        .remediation(deactivate)
        .rollback(update("Active"))
    }
}

fn root_row(inv: &Inventory) -> Option<&CredentialReportRow> {
    inv.iam
        .credential_report
        .as_ref()?
        .iter()
        .find(|r| r.is_root())
}

fn summary(inv: &Inventory, key: &str) -> Option<i64> {
    inv.iam.account_summary.as_ref()?.get(key).copied()
}

pub static ROOT_ACCESS_KEYS: Check = Check {
    id: "iam.root_access_keys",
    title: "Root user has access keys",
    category: Category::Security,
    severity: Severity::Critical,
    service: "iam",
    required_actions: &["iam:GetAccountSummary"],
    basis: Basis::Observed,
    risk: "Root access keys cannot be limited by any policy; whoever holds them owns the account.",
    evaluate: root_access_keys,
};

/// A root fact from the live summary when it was read, else from the
/// credential report (which may be four hours old).
fn root_fact(
    inv: &Inventory,
    key: &str,
    from_report: impl Fn(&CredentialReportRow) -> bool,
) -> Option<bool> {
    summary(inv, key)
        .map(|n| n > 0)
        .or_else(|| root_row(inv).map(from_report))
}

fn root_access_keys(inv: &Inventory, _ctx: &CheckContext) -> Vec<Violation> {
    let keys = root_fact(inv, "AccountAccessKeysPresent", |r| {
        r.access_keys.iter().any(|k| k.active)
    });
    if keys != Some(true) {
        return Vec::new();
    }
    vec![Violation::new(&inv.account_meta(), "The root user has at least one access key")
        .evidence("account_access_keys_present", true)
        .remediation("# Sign in as root: Security credentials → Access keys → Deactivate, then Delete (no CLI can act as root safely)")
        .rollback("# Create a new root access key from the same page (not recommended)")]
}

pub static ROOT_NO_MFA: Check = Check {
    id: "iam.root_no_mfa",
    title: "Root user without MFA",
    category: Category::Security,
    severity: Severity::Critical,
    service: "iam",
    required_actions: &["iam:GetAccountSummary"],
    basis: Basis::Observed,
    risk: "The root user can do anything, including closing the account; a password alone protects it.",
    evaluate: root_no_mfa,
};

fn root_no_mfa(inv: &Inventory, _ctx: &CheckContext) -> Vec<Violation> {
    if root_fact(inv, "AccountMFAEnabled", |r| r.mfa_active) != Some(false) {
        return Vec::new();
    }
    // Root credentials deleted (Organizations' centralised root access): no
    // password and no key, nothing to sign in with, nothing for MFA to guard.
    // Only the live summary says so; a summary without the key says nothing.
    let credentials_deleted = summary(inv, "AccountPasswordPresent") == Some(0)
        && summary(inv, "AccountAccessKeysPresent") == Some(0);
    if credentials_deleted {
        return Vec::new();
    }
    vec![Violation::new(&inv.account_meta(), "MFA is not enabled for the root user")
        .evidence("account_mfa_enabled", false)
        .remediation("# Sign in as root: Security credentials → Multi-factor authentication → Assign MFA device (hardware or passkey)")
        .rollback("# Remove the MFA device from the same page (not recommended)")]
}

pub static ROOT_NO_HARDWARE_MFA: Check = Check {
    id: "iam.root_no_hardware_mfa",
    title: "Root user without a hardware MFA device",
    category: Category::Security,
    severity: Severity::High,
    service: "iam",
    required_actions: &["iam:GetAccountSummary", "iam:ListVirtualMFADevices"],
    basis: Basis::Observed,
    risk: "A virtual MFA lives on a phone that is lost, cloned or backed up to the cloud; the root user deserves a key that exists once, in a safe.",
    evaluate: root_no_hardware_mfa,
};

fn root_no_hardware_mfa(inv: &Inventory, _ctx: &CheckContext) -> Vec<Violation> {
    let Some(virtual_device) = inv.iam.root_virtual_mfa else {
        return Vec::new();
    };
    let Some(mfa) = root_fact(inv, "AccountMFAEnabled", |r| r.mfa_active) else {
        return Vec::new();
    };
    let credentials_deleted = summary(inv, "AccountPasswordPresent") == Some(0)
        && summary(inv, "AccountAccessKeysPresent") == Some(0);
    if credentials_deleted || (mfa && !virtual_device) {
        return Vec::new();
    }
    let message = if mfa {
        "A virtual MFA device is assigned to the root user (CIS asks for hardware only)"
    } else {
        "The root user has no MFA device, hardware or other"
    };
    vec![Violation::new(&inv.account_meta(), message)
        .evidence("account_mfa_enabled", mfa)
        .evidence("virtual_mfa_assigned_to_root", virtual_device)
        .remediation("# Sign in as root: Security credentials → Multi-factor authentication → Assign MFA device: a FIDO security key or a hardware TOTP token; then remove the virtual device")
        .rollback("# Assign the virtual device again from the same page (not recommended)")]
}

/// How recent a use of the root user counts as "in use".
const ROOT_RECENT_DAYS: i64 = 90;

pub static ROOT_USED_RECENTLY: Check = Check {
    id: "iam.root_used_recently",
    title: "Root user used in the last 90 days",
    category: Category::Security,
    severity: Severity::Medium,
    service: "iam",
    required_actions: &["iam:GenerateCredentialReport", "iam:GetCredentialReport"],
    basis: Basis::Observed,
    risk: "Work done as root bypasses every permission boundary and leaves one identity for everyone; the root user is for the few tasks only it can do.",
    evaluate: root_used_recently,
};

fn root_used_recently(inv: &Inventory, ctx: &CheckContext) -> Vec<Violation> {
    let Some(root) = root_row(inv) else {
        return Vec::new();
    };
    let cutoff = ctx.days_ago(ROOT_RECENT_DAYS);
    let mut uses: Vec<(String, DateTime<Utc>)> = Vec::new();
    if let Some(t) = root.password_last_used.filter(|t| *t >= cutoff) {
        uses.push(("signed in to the console".to_owned(), t));
    }
    for key in &root.access_keys {
        if let Some(t) = key.last_used.filter(|t| *t >= cutoff) {
            uses.push((format!("used access key {}", key.slot), t));
        }
    }
    let Some(last) = uses.iter().map(|(_, t)| *t).max() else {
        return Vec::new();
    };
    vec![Violation::new(
        &inv.account_meta(),
        format!(
            "The root user was used {} days ago: {}",
            (ctx.now - last).num_days(),
            uses.iter()
                .map(|(what, t)| format!("{what} on {}", t.format("%Y-%m-%d")))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    )
    .evidence("password_last_used", root.password_last_used)
    .evidence(
        "access_keys_last_used",
        root.access_keys.iter().map(|k| k.last_used).collect::<Vec<_>>(),
    )
    .remediation("# Do the task with an IAM Identity Center user or an IAM role instead; keep root for the tasks only it can do (see AWS's list), with hardware MFA and no access keys")
    .rollback("# Nothing is changed by this finding")]
}

pub static USER_CONSOLE_NO_MFA: Check = Check {
    id: "iam.user_console_no_mfa",
    title: "IAM user with a console password and no MFA",
    category: Category::Security,
    severity: Severity::High,
    service: "iam",
    required_actions: &["iam:GenerateCredentialReport", "iam:GetCredentialReport"],
    basis: Basis::Observed,
    risk: "A phished or reused password is enough to sign in to the console as this user.",
    evaluate: user_console_no_mfa,
};

fn user_meta(inv: &Inventory, row: &CredentialReportRow) -> ResourceMeta {
    inv.iam
        .users
        .iter()
        .find(|u| u.meta.arn == row.arn)
        .map(|u| u.meta.clone())
        .unwrap_or_else(|| ResourceMeta::new("iam.user", &row.user, &row.arn, "global"))
}

fn user_console_no_mfa(inv: &Inventory, _ctx: &CheckContext) -> Vec<Violation> {
    let Some(report) = inv.iam.credential_report.as_ref() else {
        return Vec::new();
    };
    report
        .iter()
        .filter(|r| !r.is_root() && r.password_enabled && !r.mfa_active)
        .map(|r| {
            Violation::new(
                &user_meta(inv, r),
                format!("{} can sign in to the console without MFA", r.user),
            )
            .evidence("password_enabled", true)
            .evidence("mfa_active", false)
            .remediation(
                Command::aws("iam", "create-virtual-mfa-device")
                    .arg("--virtual-mfa-device-name", &r.user)
                    .arg("--outfile", &format!("{}-qr.png", r.user))
                    .arg("--bootstrap-method", "QRCodePNG"),
            )
            .remediation(
                Command::aws("iam", "enable-mfa-device")
                    .arg("--user-name", &r.user)
                    .placeholder("--serial-number", "mfa-arn")
                    .placeholder("--authentication-code1", "code")
                    .placeholder("--authentication-code2", "next-code")
                    .note("or, to take the console password away instead:"),
            )
            .remediation(
                Command::aws("iam", "delete-login-profile")
                    .arg("--user-name", &r.user)
                    .note("(the alternative)"),
            )
            .rollback(
                Command::aws("iam", "deactivate-mfa-device")
                    .arg("--user-name", &r.user)
                    .placeholder("--serial-number", "mfa-arn"),
            )
        })
        .collect()
}

fn key_violations(
    inv: &Inventory,
    ctx: &CheckContext,
    stale: impl Fn(
        &crate::inventory::iam::AccessKeyReport,
        &CredentialReportRow,
        DateTime<Utc>,
    ) -> Option<(String, Option<DateTime<Utc>>)>,
) -> Vec<Violation> {
    let Some(report) = inv.iam.credential_report.as_ref() else {
        return Vec::new();
    };
    let cutoff = ctx.days_ago(ctx.access_key_max_age_days);
    let mut out = Vec::new();
    for row in report.iter().filter(|r| !r.is_root()) {
        for key in row.access_keys.iter().filter(|k| k.active) {
            let Some((reason, since)) = stale(key, row, cutoff) else {
                continue;
            };
            let user = &row.user;
            out.push(
                Violation::new(
                    &user_meta(inv, row),
                    format!(
                        "Access key {} of {user} {reason}{}",
                        key.slot,
                        since
                            .map(|t| format!(" ({} days)", (ctx.now - t).num_days()))
                            .unwrap_or_default()
                    ),
                )
                .evidence("key_slot", key.slot)
                .evidence("last_rotated", key.last_rotated)
                .evidence("last_used", key.last_used)
                .deactivating_key(user, key.slot, None),
            );
        }
    }
    out
}

pub static CONSOLE_USER_UNUSED_KEY: Check = Check {
    id: "iam.console_user_unused_key",
    title: "Console user with an access key that was never used",
    category: Category::Security,
    severity: Severity::Low,
    service: "iam",
    required_actions: &["iam:GenerateCredentialReport", "iam:GetCredentialReport"],
    basis: Basis::Absence,
    risk: "A key made with a console login 'just in case' is a long-lived secret nobody needs and nobody watches.",
    evaluate: console_user_unused_key,
};

fn console_user_unused_key(inv: &Inventory, _ctx: &CheckContext) -> Vec<Violation> {
    let Some(report) = inv.iam.credential_report.as_ref() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for row in report.iter().filter(|r| !r.is_root() && r.password_enabled) {
        for key in row
            .access_keys
            .iter()
            .filter(|k| k.active && k.last_used.is_none())
        {
            let user = &row.user;
            out.push(
                Violation::new(
                    &user_meta(inv, row),
                    format!(
                        "{user} signs in to the console and holds access key {}, never used",
                        key.slot
                    ),
                )
                .evidence("key_slot", key.slot)
                .evidence("last_rotated", key.last_rotated)
                .deactivating_key(
                    user,
                    key.slot,
                    Some("then delete-access-key once nothing is found to need it"),
                ),
            );
        }
    }
    out
}

pub static SERVER_CERTIFICATE_EXPIRED: Check = Check {
    id: "iam.server_certificate_expired",
    title: "Expired SSL/TLS certificate stored in IAM",
    category: Category::Security,
    severity: Severity::Low,
    service: "iam",
    required_actions: &["iam:ListServerCertificates"],
    basis: Basis::Observed,
    risk: "An expired certificate deployed by mistake to a load balancer or CloudFront breaks every client's connection, and looks careless to all of them.",
    evaluate: server_certificate_expired,
};

fn server_certificate_expired(inv: &Inventory, ctx: &CheckContext) -> Vec<Violation> {
    let Some(certificates) = inv.iam.server_certificates.as_ref() else {
        return Vec::new();
    };
    certificates
        .iter()
        .filter_map(|c| {
            let expired = c.expiration.filter(|t| *t < ctx.now)?;
            let mut meta = ResourceMeta::new("iam.server_certificate", &c.name, &c.arn, "global");
            meta.name = Some(c.name.clone());
            Some(
                Violation::new(
                    &meta,
                    format!(
                        "The certificate expired on {} ({} days ago)",
                        expired.format("%Y-%m-%d"),
                        (ctx.now - expired).num_days()
                    ),
                )
                .evidence("expiration", expired)
                .remediation(
                    Command::aws("iam", "delete-server-certificate")
                        .arg("--server-certificate-name", &c.name)
                        .note("first make sure no load balancer or CloudFront distribution still names it"),
                )
                .rollback(crate::shell::note_line(
                    "a deleted certificate comes back only by uploading its body and key again (upload-server-certificate)",
                )),
            )
        })
        .collect()
}

/// CIS's limit on an unused credential.
const UNUSED_CREDENTIAL_DAYS: i64 = 45;

pub static CREDENTIALS_UNUSED_45_DAYS: Check = Check {
    id: "iam.credentials_unused_45_days",
    title: "IAM user credential unused for 45 days or more",
    category: Category::Security,
    severity: Severity::Medium,
    service: "iam",
    required_actions: &["iam:GenerateCredentialReport", "iam:GetCredentialReport"],
    basis: Basis::Absence,
    risk: "A password or key nobody uses is a way in that nobody would miss: disabling it costs nothing and closes it.",
    evaluate: credentials_unused_45_days,
};

/// Why a credential counts as unused: last used before `cutoff`, or never
/// used and set before `cutoff`.
fn unused_since(
    last_used: Option<DateTime<Utc>>,
    set: Option<DateTime<Utc>>,
    cutoff: DateTime<Utc>,
) -> Option<(&'static str, DateTime<Utc>)> {
    match last_used {
        Some(used) if used < cutoff => Some(("last used", used)),
        Some(_) => None,
        None => set.filter(|t| *t < cutoff).map(|t| ("never used, set", t)),
    }
}

fn credentials_unused_45_days(inv: &Inventory, ctx: &CheckContext) -> Vec<Violation> {
    let Some(report) = inv.iam.credential_report.as_ref() else {
        return Vec::new();
    };
    let cutoff = ctx.days_ago(UNUSED_CREDENTIAL_DAYS);
    let days = |t: DateTime<Utc>| (ctx.now - t).num_days();
    let mut out = Vec::new();
    for row in report.iter().filter(|r| !r.is_root()) {
        let user = &row.user;
        let password = row
            .password_enabled
            .then(|| {
                unused_since(
                    row.password_last_used,
                    row.password_last_changed.or(row.user_creation_time),
                    cutoff,
                )
            })
            .flatten();
        let keys: Vec<(u8, &'static str, DateTime<Utc>)> = row
            .access_keys
            .iter()
            .filter(|k| k.active)
            .filter_map(|k| {
                unused_since(k.last_used, k.last_rotated, cutoff).map(|(w, t)| (k.slot, w, t))
            })
            .collect();
        if password.is_none() && keys.is_empty() {
            continue;
        }
        let mut parts = Vec::new();
        if let Some((how, t)) = password {
            parts.push(format!("console password {how} {} days ago", days(t)));
        }
        for (slot, how, t) in &keys {
            parts.push(format!("access key {slot} {how} {} days ago", days(*t)));
        }
        let mut v = Violation::new(
            &user_meta(inv, row),
            format!("{user}: {}", parts.join("; ")),
        )
        .evidence("password_last_used", row.password_last_used)
        .evidence("password_last_changed", row.password_last_changed)
        .evidence(
            "unused_key_slots",
            keys.iter().map(|(slot, _, _)| *slot).collect::<Vec<_>>(),
        );
        if password.is_some() {
            v = v
                .remediation(
                    Command::aws("iam", "delete-login-profile")
                        .arg("--user-name", user)
                        .note("the user can no longer sign in to the console; their keys and permissions stay"),
                )
                .rollback(
                    Command::aws("iam", "create-login-profile")
                        .arg("--user-name", user)
                        .placeholder("--password", "new-temporary-password")
                        .flag("--password-reset-required"),
                );
        }
        for (slot, _, _) in &keys {
            v = v.deactivating_key(user, *slot, None);
        }
        out.push(v);
    }
    out
}

pub static ACCESS_KEY_OLD: Check = Check {
    id: "iam.access_key_old",
    title: "Access key older than 90 days",
    category: Category::Security,
    severity: Severity::Medium,
    service: "iam",
    required_actions: &["iam:GenerateCredentialReport", "iam:GetCredentialReport"],
    basis: Basis::Observed,
    risk: "Long-lived keys leak into laptops, CI logs and repositories; rotation limits how long a leak is useful.",
    evaluate: |inv, ctx| {
        key_violations(inv, ctx, |key, _, cutoff| {
            let rotated = key.last_rotated?;
            (rotated < cutoff).then(|| ("has not been rotated in over 90 days".to_owned(), Some(rotated)))
        })
    },
};

pub static ACCESS_KEY_UNUSED: Check = Check {
    id: "iam.access_key_unused",
    title: "Active access key unused for 90 days",
    category: Category::Security,
    severity: Severity::Medium,
    service: "iam",
    required_actions: &["iam:GenerateCredentialReport", "iam:GetCredentialReport"],
    basis: Basis::Absence,
    risk: "An active key nobody uses is pure exposure: deactivating it breaks nothing.",
    evaluate: |inv, ctx| {
        key_violations(inv, ctx, |key, _, cutoff| match key.last_used {
            Some(used) if used < cutoff => {
                Some(("has not been used in over 90 days".to_owned(), Some(used)))
            }
            None if key.last_rotated.is_some_and(|r| r < cutoff) => Some((
                "has never been used and is over 90 days old".to_owned(),
                key.last_rotated,
            )),
            _ => None,
        })
    },
};

/// Whether a statement allows every action on every resource.
fn grants_everything(statement: &serde_json::Value) -> bool {
    statement.get("Effect").and_then(|e| e.as_str()) == Some("Allow")
        && statement.get("NotAction").is_none()
        && string_list(statement.get("Action"))
            .iter()
            .any(|a| a == "*")
        && string_list(statement.get("Resource"))
            .iter()
            .any(|r| r == "*")
}

pub static POLICY_ADMIN_WILDCARD: Check = Check {
    id: "iam.policy_admin_wildcard",
    title: "Customer policy granting * on *",
    category: Category::Security,
    severity: Severity::High,
    service: "iam",
    required_actions: &["iam:GetAccountAuthorizationDetails"],
    basis: Basis::Observed,
    risk: "A policy allowing every action on every resource is full administrator access, whoever it is attached to.",
    evaluate: policy_admin_wildcard,
};

fn policy_admin_wildcard(inv: &Inventory, _ctx: &CheckContext) -> Vec<Violation> {
    let mut out = Vec::new();
    for policy in &inv.iam.policies {
        let Some(doc) = policy.document.as_ref() else {
            continue;
        };
        if statements(doc).into_iter().any(grants_everything) {
            let name = policy
                .meta
                .name
                .clone()
                .unwrap_or_else(|| policy.meta.id.clone());
            out.push(
                Violation::new(
                    &policy.meta,
                    format!("Managed policy {name} allows \"*\" on \"*\""),
                )
                .evidence(
                    "statement",
                    statements(doc).into_iter().find(|s| grants_everything(s)),
                )
                .evidence("attachment_count", policy.attachment_count)
                .evidence("default_version_id", &policy.default_version_id)
                .remediation(
                    Command::aws("iam", "create-policy-version")
                        .arg("--policy-arn", &policy.meta.arn)
                        .arg("--policy-document", "file://least-privilege.json")
                        .flag("--set-as-default"),
                )
                .rollback(
                    Command::aws("iam", "set-default-policy-version")
                        .arg("--policy-arn", &policy.meta.arn)
                        .arg_or(
                            "--version-id",
                            policy.default_version_id.as_deref(),
                            "previous-version",
                        ),
                ),
            );
        }
    }
    let inline_owners = inv
        .iam
        .users
        .iter()
        .map(|u| (&u.meta, &u.inline_policies, "user"))
        .chain(
            inv.iam
                .roles
                .iter()
                .map(|r| (&r.meta, &r.inline_policies, "role")),
        )
        .chain(
            inv.iam
                .groups
                .iter()
                .map(|g| (&g.meta, &g.inline_policies, "group")),
        );
    for (meta, policies, kind) in inline_owners {
        for InlinePolicy { name, document } in policies {
            if let Some(statement) = statements(document)
                .into_iter()
                .find(|s| grants_everything(s))
            {
                out.push(
                    Violation::new(
                        meta,
                        format!(
                            "Inline policy {name} of {kind} {} allows \"*\" on \"*\"",
                            meta.id
                        ),
                    )
                    .evidence("inline_policy", name)
                    .evidence("statement", statement)
                    .remediation(
                        put_inline_policy(kind, &meta.id, name)
                            .arg("--policy-document", "file://least-privilege.json"),
                    )
                    .rollback(
                        put_inline_policy(kind, &meta.id, name)
                            .arg("--policy-document", &format!("file://original-{name}.json"))
                            .note("save the evidence statement first"),
                    ),
                );
            }
        }
    }
    out
}

/// Condition keys that say who the caller is (or on whose behalf a service
/// calls). A tag the caller sets on itself, the ExternalId it chooses to
/// send, MFA or TLS say nothing of who.
const PRINCIPAL_KEYS: &[&str] = &[
    "aws:principalorgid",
    "aws:principalorgpaths",
    "aws:principalaccount",
    "aws:principalarn",
    "aws:sourceaccount",
    "aws:sourcearn",
    "aws:sourceorgid",
    "aws:sourceorgpaths",
    "aws:userid",
];

/// Operators under which a present key must match: no negation, no
/// `IfExists` (a direct caller has no `aws:SourceAccount`, and would pass)
/// and no `ForAllValues` (true when the key is absent).
const MATCHING_OPERATORS: &[&str] = &[
    "stringequals",
    "stringequalsignorecase",
    "stringlike",
    "arnequals",
    "arnlike",
    "foranyvalue:stringequals",
    "foranyvalue:stringlike",
];

/// Whether `value` of condition `key` pins the caller down: no wildcard in
/// the part that says whose it is (an ARN's account, an org path's
/// organization), and none at all in the other keys' values.
fn value_pins_the_caller(key: &str, value: &str) -> bool {
    // A policy variable (`${aws:PrincipalAccount}`) takes the caller's own
    // value: it matches everyone.
    let wild = |part: &str| part.is_empty() || part.contains(['*', '?']) || part.contains("${");
    match key {
        "aws:principalarn" | "aws:sourcearn" => {
            let parts: Vec<&str> = value.split(':').collect();
            parts.len() >= 6 && !wild(parts[4])
        }
        "aws:principalorgpaths" | "aws:sourceorgpaths" => {
            !wild(value.split('/').next().unwrap_or_default())
        }
        // A web identity's subject may leave the rest open once its owner is
        // fixed (`repo:acme/*`), not before (`repo:*`).
        k if k.ends_with(":sub") => {
            let fixed = value.split(['*', '?']).next().unwrap_or_default();
            fixed.len() == value.len() || fixed.contains('/')
        }
        _ => !wild(value),
    }
}

/// Whether a statement's Condition limits who may assume the role: some
/// matching operator tests a principal key, or a web identity's subject
/// (`<provider>:sub`; its audience alone is the same for everyone), against
/// values that each pin the caller down.
fn condition_limits_the_principal(
    condition: Option<&serde_json::Value>,
    service_keys: &[&str],
    trust: bool,
) -> bool {
    let Some(serde_json::Value::Object(operators)) = condition else {
        return false;
    };
    operators.iter().any(|(operator, tests)| {
        MATCHING_OPERATORS.contains(&operator.to_ascii_lowercase().as_str())
            && tests.as_object().is_some_and(|keys| {
                keys.iter().any(|(key, values)| {
                    let key = key.to_ascii_lowercase();
                    // Only in a trust policy is `<provider>:sub` a web
                    // identity's subject; in a key policy
                    // `kms:EncryptionContext:sub` is whatever the caller sends.
                    let web_identity_subject =
                        trust && key.ends_with(":sub") && !key.starts_with("aws:");
                    let names_the_caller = PRINCIPAL_KEYS.contains(&key.as_str())
                        || service_keys.contains(&key.as_str())
                        || web_identity_subject;
                    let values = string_list(Some(values));
                    names_the_caller
                        && !values.is_empty()
                        && values.iter().all(|v| value_pins_the_caller(&key, v))
                })
            })
    })
}

/// Whether a trust statement lets any principal assume the role, with no
/// condition that limits who.
fn trusts_anyone(statement: &serde_json::Value) -> bool {
    open_to_anyone(statement, &[], true)
}

/// Whether a resource-policy statement allows any principal, with no
/// condition that limits who. `service_keys` are the service's own
/// condition keys that name the caller's account (lower case, e.g.
/// `kms:calleraccount`).
pub(crate) fn allows_anyone(statement: &serde_json::Value, service_keys: &[&str]) -> bool {
    open_to_anyone(statement, service_keys, false)
}

/// Whether a Deny statement refuses every principal outside a named set:
/// Principal `*`, and a negated condition (`StringNotEquals`,
/// `StringNotLike`, `ArnNotEquals`, `ArnNotLike`, with or without
/// `IfExists`) on a key naming the caller, against pinned values. The data
/// perimeter's "deny anyone outside my organization" statement.
pub(crate) fn denies_outsiders(statement: &serde_json::Value, service_keys: &[&str]) -> bool {
    const NEGATED: &[&str] = &[
        "stringnotequals",
        "stringnotequalsignorecase",
        "stringnotlike",
        "arnnotequals",
        "arnnotlike",
    ];
    let any_principal = match statement.get("Principal") {
        Some(serde_json::Value::String(p)) => p == "*",
        Some(serde_json::Value::Object(map)) => map
            .get("AWS")
            .is_some_and(|v| string_list(Some(v)).iter().any(|p| p == "*")),
        _ => false,
    };
    let Some(serde_json::Value::Object(operators)) = statement.get("Condition") else {
        return false;
    };
    statement.get("Effect").and_then(|e| e.as_str()) == Some("Deny")
        && any_principal
        && operators.iter().any(|(operator, tests)| {
            let operator = operator.to_ascii_lowercase();
            NEGATED.contains(&operator.trim_end_matches("ifexists"))
                && tests.as_object().is_some_and(|keys| {
                    keys.iter().any(|(key, values)| {
                        let key = key.to_ascii_lowercase();
                        let values = string_list(Some(values));
                        (PRINCIPAL_KEYS.contains(&key.as_str())
                            || service_keys.contains(&key.as_str()))
                            && !values.is_empty()
                            && values.iter().all(|v| value_pins_the_caller(&key, v))
                    })
                })
        })
}

fn open_to_anyone(statement: &serde_json::Value, service_keys: &[&str], trust: bool) -> bool {
    if statement.get("Effect").and_then(|e| e.as_str()) != Some("Allow")
        || condition_limits_the_principal(statement.get("Condition"), service_keys, trust)
    {
        return false;
    }
    match statement.get("Principal") {
        Some(serde_json::Value::String(p)) => p == "*",
        Some(serde_json::Value::Object(map)) => map
            .iter()
            .filter(|(kind, _)| *kind == "AWS" || *kind == "Federated" || *kind == "CanonicalUser")
            .any(|(_, v)| string_list(Some(v)).iter().any(|p| p == "*")),
        _ => false,
    }
}

pub static ROLE_TRUST_OPEN: Check = Check {
    id: "iam.role_trust_open",
    title: "Role trust policy open to any principal without a condition on who",
    category: Category::Security,
    severity: Severity::Critical,
    service: "iam",
    required_actions: &["iam:GetAccountAuthorizationDetails"],
    basis: Basis::Observed,
    risk: "Any AWS account in the world can assume this role and act with its permissions.",
    evaluate: role_trust_open,
};

fn role_trust_open(inv: &Inventory, _ctx: &CheckContext) -> Vec<Violation> {
    inv.iam
        .roles
        .iter()
        .filter_map(|role| {
            let statement = statements(&role.trust_policy)
                .into_iter()
                .find(|s| trusts_anyone(s))?;
            let name = role.meta.name.as_deref().unwrap_or(&role.meta.id);
            Some(
                Violation::new(
                    &role.meta,
                    "Trust policy allows Principal \"*\" with no condition that limits who may assume it",
                )
                .evidence("statement", statement)
                .remediation(
                    Command::aws("iam", "update-assume-role-policy")
                        .arg("--role-name", name)
                        .arg("--policy-document", "file://trust-named-principals.json"),
                )
                .rollback(
                    Command::aws("iam", "update-assume-role-policy")
                        .arg("--role-name", name)
                        .arg("--policy-document", &role.trust_policy.to_string()),
                ),
            )
        })
        .collect()
}

/// `aws iam put-user-policy` (or role, group) of one inline policy.
fn put_inline_policy(kind: &str, owner: &str, policy: &str) -> Command {
    let (operation, flag) = match kind {
        "role" => ("put-role-policy", "--role-name"),
        "group" => ("put-group-policy", "--group-name"),
        _ => ("put-user-policy", "--user-name"),
    };
    Command::aws("iam", operation)
        .arg(flag, owner)
        .arg("--policy-name", policy)
}

/// `update-account-password-policy` with every setting of `p` spelled out:
/// the call resets whatever it is not given to AWS's default.
fn password_policy_command(p: &PasswordPolicy) -> Command {
    let mut c = Command::aws("iam", "update-account-password-policy").arg(
        "--minimum-password-length",
        &p.minimum_password_length.to_string(),
    );
    let either = |on: bool, flag: &'static str, off: &'static str| if on { flag } else { off };
    for (on, flag, off) in [
        (
            p.require_symbols,
            "--require-symbols",
            "--no-require-symbols",
        ),
        (
            p.require_numbers,
            "--require-numbers",
            "--no-require-numbers",
        ),
        (
            p.require_uppercase_characters,
            "--require-uppercase-characters",
            "--no-require-uppercase-characters",
        ),
        (
            p.require_lowercase_characters,
            "--require-lowercase-characters",
            "--no-require-lowercase-characters",
        ),
    ] {
        c = c.flag(either(on, flag, off));
    }
    if let Some(on) = p.allow_users_to_change_password {
        c = c.flag(either(
            on,
            "--allow-users-to-change-password",
            "--no-allow-users-to-change-password",
        ));
    }
    if let Some(on) = p.hard_expiry {
        c = c.flag(either(on, "--hard-expiry", "--no-hard-expiry"));
    }
    if let Some(days) = p.max_password_age {
        c = c.arg("--max-password-age", &days.to_string());
    }
    if let Some(n) = p.password_reuse_prevention {
        c = c.arg("--password-reuse-prevention", &n.to_string());
    }
    if p.allow_users_to_change_password.is_none() || p.hard_expiry.is_none() {
        c = c.note(
            "AllowUsersToChangePassword and HardExpiry were not read: this resets them to false",
        );
    }
    c
}

pub const MIN_PASSWORD_LENGTH: i64 = 14;
pub const MIN_PASSWORD_REUSE_PREVENTION: i64 = 24;

pub static PASSWORD_POLICY_WEAK: Check = Check {
    id: "iam.password_policy_weak",
    title: "Weak or missing IAM password policy",
    category: Category::Security,
    severity: Severity::Medium,
    service: "iam",
    required_actions: &["iam:GetAccountPasswordPolicy"],
    basis: Basis::Observed,
    risk: "Short, reusable passwords are guessed and stuffed; CIS asks for 14 characters and no reuse of the last 24.",
    evaluate: password_policy_weak,
};

fn password_policy_weak(inv: &Inventory, _ctx: &CheckContext) -> Vec<Violation> {
    let Some(policy) = inv.iam.password_policy.as_ref() else {
        return Vec::new();
    };
    let mut problems = Vec::new();
    // Which of CIS's two password controls each problem breaks.
    let mut aspects = Vec::new();
    match policy {
        None => {
            problems.push("no password policy is set".to_owned());
            aspects = vec!["length", "reuse"];
        }
        Some(p) => {
            if p.minimum_password_length < MIN_PASSWORD_LENGTH {
                problems.push(format!(
                    "minimum length {} < {MIN_PASSWORD_LENGTH}",
                    p.minimum_password_length
                ));
                aspects.push("length");
            }
            if p.password_reuse_prevention.unwrap_or(0) < MIN_PASSWORD_REUSE_PREVENTION {
                problems.push(format!(
                    "reuse prevention {} < {MIN_PASSWORD_REUSE_PREVENTION}",
                    p.password_reuse_prevention.unwrap_or(0)
                ));
                aspects.push("reuse");
            }
        }
    }
    if problems.is_empty() {
        return Vec::new();
    }
    let rollback = match policy {
        None => Command::aws("iam", "delete-account-password-policy"),
        Some(p) => password_policy_command(p),
    };
    // Only the failing fields change; a stricter setting than the benchmark's stays.
    let fixed = match policy {
        // No policy at all: the benchmark's length and reuse, with the mix of
        // character kinds AWS's own default policy asks for.
        None => PasswordPolicy {
            minimum_password_length: MIN_PASSWORD_LENGTH,
            require_symbols: true,
            require_numbers: true,
            require_uppercase_characters: true,
            require_lowercase_characters: true,
            max_password_age: None,
            password_reuse_prevention: Some(MIN_PASSWORD_REUSE_PREVENTION),
            // AWS's defaults, said out loud.
            allow_users_to_change_password: Some(false),
            hard_expiry: Some(false),
        },
        Some(p) => PasswordPolicy {
            minimum_password_length: p.minimum_password_length.max(MIN_PASSWORD_LENGTH),
            password_reuse_prevention: Some(
                p.password_reuse_prevention
                    .unwrap_or(0)
                    .max(MIN_PASSWORD_REUSE_PREVENTION),
            ),
            ..p.clone()
        },
    };
    let meta = ResourceMeta::new(
        "iam.password_policy",
        &inv.account_id,
        &format!(
            "arn:{}:iam::{}:account-password-policy",
            inv.partition, inv.account_id
        ),
        "global",
    );
    vec![Violation::new(
        &meta,
        format!("Password policy is weak: {}", problems.join("; ")),
    )
    .evidence("password_policy", policy)
    .evidence("problems", &problems)
    .evidence("aspects", &aspects)
    .remediation(password_policy_command(&fixed))
    .rollback(rollback)]
}

pub static USER_TWO_ACTIVE_KEYS: Check = Check {
    id: "iam.user_two_active_keys",
    title: "IAM user with two active access keys",
    category: Category::Security,
    severity: Severity::Medium,
    service: "iam",
    required_actions: &["iam:GenerateCredentialReport", "iam:GetCredentialReport"],
    basis: Basis::Observed,
    risk: "Two live keys mean one is usually forgotten: a rotation that never finished leaves a second way in.",
    evaluate: user_two_active_keys,
};

fn user_two_active_keys(inv: &Inventory, _ctx: &CheckContext) -> Vec<Violation> {
    let Some(report) = inv.iam.credential_report.as_ref() else {
        return Vec::new();
    };
    report
        .iter()
        .filter(|r| !r.is_root() && r.access_keys.iter().filter(|k| k.active).count() > 1)
        .map(|r| {
            let user = &r.user;
            Violation::new(
                &user_meta(inv, r),
                format!("{user} has two active access keys"),
            )
            .evidence(
                "active_key_slots",
                r.access_keys
                    .iter()
                    .filter(|k| k.active)
                    .map(|k| k.slot)
                    .collect::<Vec<_>>(),
            )
            .evidence(
                "last_used",
                r.access_keys
                    .iter()
                    .map(|k| k.last_used)
                    .collect::<Vec<_>>(),
            )
            .remediation(
                Command::aws("iam", "list-access-keys")
                    .arg("--user-name", user)
                    .note("find the key no client uses any more"),
            )
            .remediation(
                Command::aws("iam", "update-access-key")
                    .arg("--user-name", user)
                    .placeholder("--access-key-id", "unused-key-id")
                    .arg("--status", "Inactive"),
            )
            .rollback(
                Command::aws("iam", "update-access-key")
                    .arg("--user-name", user)
                    .placeholder("--access-key-id", "unused-key-id")
                    .arg("--status", "Active"),
            )
        })
        .collect()
}

pub static USER_DIRECT_POLICIES: Check = Check {
    id: "iam.user_direct_policies",
    title: "IAM user with policies of its own instead of through groups",
    category: Category::Security,
    severity: Severity::Low,
    service: "iam",
    required_actions: &["iam:GetAccountAuthorizationDetails"],
    basis: Basis::Observed,
    risk: "Permissions attached user by user drift apart and outlive the job they were granted for; groups keep them reviewable.",
    evaluate: user_direct_policies,
};

fn user_direct_policies(inv: &Inventory, _ctx: &CheckContext) -> Vec<Violation> {
    inv.iam
        .users
        .iter()
        .filter(|u| !u.attached_policy_arns.is_empty() || !u.inline_policies.is_empty())
        .map(|u| {
            let user = u.meta.name.clone().unwrap_or_else(|| u.meta.id.clone());
            let inline: Vec<&str> = u.inline_policies.iter().map(|p| p.name.as_str()).collect();
            let mut v = Violation::new(
                &u.meta,
                format!(
                    "{user} has {} attached and {} inline polic{} of its own",
                    u.attached_policy_arns.len(),
                    inline.len(),
                    if u.attached_policy_arns.len() + inline.len() == 1 {
                        "y"
                    } else {
                        "ies"
                    }
                ),
            )
            .evidence("attached_policy_arns", &u.attached_policy_arns)
            .evidence("inline_policy_names", &inline)
            .remediation(
                Command::aws("iam", "add-user-to-group")
                    .placeholder("--group-name", "group-granting-the-same")
                    .arg("--user-name", &user)
                    .note("first, a group that grants what this user needs"),
            );
            for arn in &u.attached_policy_arns {
                v = v
                    .remediation(
                        Command::aws("iam", "detach-user-policy")
                            .arg("--user-name", &user)
                            .arg("--policy-arn", arn),
                    )
                    .rollback(
                        Command::aws("iam", "attach-user-policy")
                            .arg("--user-name", &user)
                            .arg("--policy-arn", arn),
                    );
            }
            for name in &inline {
                v = v
                    .remediation(
                        Command::aws("iam", "get-user-policy")
                            .arg("--user-name", &user)
                            .arg("--policy-name", name)
                            .arg("--query", "PolicyDocument")
                            .arg("--output", "json")
                            .note(&format!(
                                "save it as {user}-{name}.json: the rollback puts it back"
                            )),
                    )
                    .remediation(
                        Command::aws("iam", "delete-user-policy")
                            .arg("--user-name", &user)
                            .arg("--policy-name", name),
                    )
                    .rollback(
                        Command::aws("iam", "put-user-policy")
                            .arg("--user-name", &user)
                            .arg("--policy-name", name)
                            .arg("--policy-document", &format!("file://{user}-{name}.json")),
                    );
            }
            v.rollback(
                Command::aws("iam", "remove-user-from-group")
                    .placeholder("--group-name", "group-granting-the-same")
                    .arg("--user-name", &user),
            )
        })
        .collect()
}

/// The AWS managed policy CIS asks a support role to hold, in the
/// account's partition (a customer policy of the same name is not it).
fn support_policy_arn(inv: &Inventory) -> String {
    format!("arn:{}:iam::aws:policy/AWSSupportAccess", inv.partition)
}

pub static NO_SUPPORT_ROLE: Check = Check {
    id: "iam.no_support_role",
    title: "No role may manage incidents with AWS Support",
    category: Category::Reliability,
    severity: Severity::Low,
    service: "iam",
    required_actions: &["iam:GetAccountAuthorizationDetails"],
    basis: Basis::Absence,
    risk: "In an incident, opening and following AWS Support cases then needs the root user or an administrator.",
    evaluate: no_support_role,
};

fn no_support_role(inv: &Inventory, _ctx: &CheckContext) -> Vec<Violation> {
    // Only a complete read of every role can say none holds the policy.
    let support = support_policy_arn(inv);
    if !inv.iam.authorization_details_read
        || inv
            .iam
            .roles
            .iter()
            .any(|r| r.attached_policy_arns.contains(&support))
    {
        return Vec::new();
    }
    let trust = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{}:root", inv.account_id)}, "Action": "sts:AssumeRole"}]
    })
    .to_string();
    vec![Violation::new(
        &inv.account_meta(),
        format!("No role in the account has {support} attached"),
    )
    .evidence("roles_read", inv.iam.roles.len())
    .remediation(
        Command::aws("iam", "create-role")
            .arg("--role-name", "aws-support")
            .arg("--assume-role-policy-document", &trust)
            .note("narrow the principal to the incident responders' role"),
    )
    .remediation(
        Command::aws("iam", "attach-role-policy")
            .arg("--role-name", "aws-support")
            .arg("--policy-arn", &support),
    )
    .rollback(
        Command::aws("iam", "detach-role-policy")
            .arg("--role-name", "aws-support")
            .arg("--policy-arn", &support),
    )
    .rollback(Command::aws("iam", "delete-role").arg("--role-name", "aws-support"))]
}

pub static ADMIN_ACCESS_ATTACHED: Check = Check {
    id: "iam.admin_access_attached",
    title: "AWS-managed AdministratorAccess attached to a user, group or role",
    category: Category::Security,
    severity: Severity::High,
    service: "iam",
    required_actions: &["iam:GetAccountAuthorizationDetails"],
    basis: Basis::Observed,
    risk: "AdministratorAccess allows every action on every resource: whoever holds it can undo every other control.",
    evaluate: admin_access_attached,
};

fn admin_access_attached(inv: &Inventory, _ctx: &CheckContext) -> Vec<Violation> {
    let admin = format!("arn:{}:iam::aws:policy/AdministratorAccess", inv.partition);
    let principals = inv
        .iam
        .users
        .iter()
        .map(|u| (&u.meta, &u.attached_policy_arns, "user"))
        .chain(
            inv.iam
                .groups
                .iter()
                .map(|g| (&g.meta, &g.attached_policy_arns, "group")),
        )
        .chain(
            inv.iam
                .roles
                .iter()
                .map(|r| (&r.meta, &r.attached_policy_arns, "role")),
        );
    principals
        .filter(|(_, attached, _)| attached.contains(&admin))
        .map(|(meta, _, kind)| {
            let name = meta.name.clone().unwrap_or_else(|| meta.id.clone());
            let (detach, attach, flag) = match kind {
                "user" => ("detach-user-policy", "attach-user-policy", "--user-name"),
                "group" => ("detach-group-policy", "attach-group-policy", "--group-name"),
                _ => ("detach-role-policy", "attach-role-policy", "--role-name"),
            };
            Violation::new(meta, format!("The {kind} {name} has {admin} attached"))
                .evidence("policy_arn", &admin)
                .evidence("principal_type", kind)
                .remediation(crate::shell::note_line(&format!(
                    "first grant {name} only what it needs; then:"
                )))
                .remediation(
                    Command::aws("iam", detach)
                        .arg(flag, &name)
                        .arg("--policy-arn", &admin),
                )
                .rollback(
                    Command::aws("iam", attach)
                        .arg(flag, &name)
                        .arg("--policy-arn", &admin),
                )
        })
        .collect()
}

#[cfg(test)]
pub(super) mod tests {
    use std::collections::BTreeMap;

    use chrono::Duration;
    use serde_json::json;

    use super::*;
    use crate::checks::test_support::{ctx, flagged, inventory, meta};
    use crate::inventory::iam::{AccessKeyReport, ManagedPolicy, PasswordPolicy, Role};

    fn row(
        user: &str,
        password: bool,
        mfa: bool,
        keys: Vec<AccessKeyReport>,
    ) -> CredentialReportRow {
        CredentialReportRow {
            user: user.into(),
            arn: format!("arn:aws:iam::123456789012:user/{user}"),
            user_creation_time: None,
            password_enabled: password,
            password_last_used: None,
            password_last_changed: None,
            mfa_active: mfa,
            access_keys: keys,
        }
    }

    fn key(rotated_days: i64, used_days: Option<i64>) -> AccessKeyReport {
        let now = ctx().now;
        AccessKeyReport {
            slot: 1,
            active: true,
            last_rotated: Some(now - Duration::days(rotated_days)),
            last_used: used_days.map(|d| now - Duration::days(d)),
        }
    }

    /// An inventory on which each of this file's absence checks fires.
    pub(in crate::checks) fn firing() -> Vec<(&'static Check, Inventory)> {
        let mut unused = inventory();
        unused.iam.credential_report = Some(vec![row(
            "unused-key",
            false,
            false,
            vec![key(30, Some(100))],
        )]);
        let mut no_support = inventory();
        no_support.iam.authorization_details_read = true;
        vec![
            (&ACCESS_KEY_UNUSED, unused.clone()),
            (&CREDENTIALS_UNUSED_45_DAYS, unused),
            (&CONSOLE_USER_UNUSED_KEY, {
                let mut inv = inventory();
                inv.iam.credential_report =
                    Some(vec![row("console-key", true, true, vec![key(1, None)])]);
                inv
            }),
            (&NO_SUPPORT_ROLE, no_support),
        ]
    }

    #[test]
    fn only_expired_server_certificates_are_flagged() {
        use crate::inventory::iam::ServerCertificate;
        let now = ctx().now;
        let cert = |name: &str, days: Option<i64>| ServerCertificate {
            name: name.into(),
            arn: format!("arn:aws:iam::123456789012:server-certificate/{name}"),
            expiration: days.map(|d| now + Duration::days(d)),
        };
        let mut inv = inventory();
        inv.iam.server_certificates = Some(vec![
            cert("old-site", Some(-40)),
            cert("current-site", Some(200)),
            cert("no-date", None),
        ]);
        let v = server_certificate_expired(&inv, &ctx());
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].resource.id, "old-site");
        assert!(v[0].message.ends_with("(40 days ago)"), "{}", v[0].message);
    }

    fn root(password_days_ago: Option<i64>, key_days_ago: Option<i64>) -> CredentialReportRow {
        let now = ctx().now;
        let mut r = row("<root_account>", true, false, Vec::new());
        r.arn = "arn:aws:iam::123456789012:root".into();
        r.password_last_used = password_days_ago.map(|d| now - Duration::days(d));
        r.access_keys = vec![AccessKeyReport {
            slot: 1,
            active: key_days_ago.is_some(),
            last_rotated: None,
            last_used: key_days_ago.map(|d| now - Duration::days(d)),
        }];
        r
    }

    #[test]
    fn root_use_in_the_last_90_days_is_named_with_how_and_when() {
        let mut inv = inventory();
        inv.iam.credential_report = Some(vec![root(Some(200), None)]);
        assert!(flagged(&ROOT_USED_RECENTLY, &inv).is_empty());
        inv.iam.credential_report = Some(vec![root(Some(3), Some(30))]);
        let v = root_used_recently(&inv, &ctx());
        assert!(
            v[0].message
                .starts_with("The root user was used 3 days ago: signed in to the console on "),
            "{}",
            v[0].message
        );
        assert!(v[0].message.contains(", used access key 1 on "));
        // No report, or no root row in it: nothing said.
        inv.iam.credential_report = Some(Vec::new());
        assert!(flagged(&ROOT_USED_RECENTLY, &inv).is_empty());
    }

    #[test]
    fn root_mfa_must_be_a_hardware_device() {
        let mut inv = inventory();
        let summary = |mfa: i64| {
            Some(BTreeMap::from([
                ("AccountMFAEnabled".to_owned(), mfa),
                ("AccountPasswordPresent".to_owned(), 1),
                ("AccountAccessKeysPresent".to_owned(), 0),
            ]))
        };
        inv.iam.account_summary = summary(1);
        inv.iam.root_virtual_mfa = Some(false);
        assert!(flagged(&ROOT_NO_HARDWARE_MFA, &inv).is_empty());
        inv.iam.root_virtual_mfa = Some(true);
        assert_eq!(
            root_no_hardware_mfa(&inv, &ctx())[0].message,
            "A virtual MFA device is assigned to the root user (CIS asks for hardware only)"
        );
        inv.iam.account_summary = summary(0);
        inv.iam.root_virtual_mfa = Some(false);
        assert_eq!(
            root_no_hardware_mfa(&inv, &ctx())[0].message,
            "The root user has no MFA device, hardware or other"
        );
        // The virtual devices could not be listed: unknown.
        inv.iam.root_virtual_mfa = None;
        assert!(flagged(&ROOT_NO_HARDWARE_MFA, &inv).is_empty());
    }

    #[test]
    fn a_console_user_with_a_never_used_key_is_flagged() {
        let mut inv = inventory();
        let mut inactive = key(5, None);
        inactive.active = false;
        inv.iam.credential_report = Some(vec![
            row("console-new-key", true, true, vec![key(1, None)]),
            row("console-used-key", true, true, vec![key(100, Some(1))]),
            row("api-only", false, false, vec![key(1, None)]),
            row("console-inactive-key", true, true, vec![inactive]),
        ]);
        assert_eq!(flagged(&CONSOLE_USER_UNUSED_KEY, &inv), ["console-new-key"]);
    }

    #[test]
    fn credentials_unused_for_45_days_are_named_with_how_long() {
        let now = ctx().now;
        let days = |d: i64| Some(now - Duration::days(d));
        let mut stale_password = row("stale-password", true, true, Vec::new());
        stale_password.password_last_used = days(60);
        let mut never_signed_in = row("never-signed-in", true, true, Vec::new());
        never_signed_in.password_last_changed = days(50);
        let mut new_hire = row("new-hire", true, true, Vec::new());
        new_hire.password_last_changed = days(10);
        let mut recent = row("recent", true, true, vec![key(400, Some(44))]);
        recent.password_last_used = days(1);
        let idle_key = row("idle-key", false, false, vec![key(46, None)]);
        let mut inactive = key(400, None);
        inactive.active = false;
        let disabled = row("disabled-key", false, false, vec![inactive]);
        let mut inv = inventory();
        inv.iam.credential_report = Some(vec![
            stale_password,
            never_signed_in,
            new_hire,
            recent,
            idle_key,
            disabled,
        ]);
        let found: Vec<String> = credentials_unused_45_days(&inv, &ctx())
            .into_iter()
            .map(|v| v.into_data().message)
            .collect();
        assert_eq!(
            found,
            [
                "stale-password: console password last used 60 days ago",
                "never-signed-in: console password never used, set 50 days ago",
                "idle-key: access key 1 never used, set 46 days ago",
            ]
        );
        let v = &credentials_unused_45_days(&inv, &ctx())[0];
        assert_eq!(
            v.remediation,
            ["aws iam delete-login-profile --user-name stale-password  # the user can no longer sign in to the console; their keys and permissions stay"]
        );
        // A key is found by its slot, deactivated, and can be turned back on.
        let key_finding = &credentials_unused_45_days(&inv, &ctx())[2];
        assert_eq!(
            key_finding.remediation,
            [
                "aws iam list-access-keys --user-name idle-key  # find the key id of slot 1",
                "aws iam update-access-key --user-name idle-key --access-key-id '<key-id>' --status Inactive",
            ]
        );
        assert_eq!(
            key_finding.rollback,
            ["aws iam update-access-key --user-name idle-key --access-key-id '<key-id>' --status Active"]
        );
    }

    fn named(mut meta: ResourceMeta, name: &str) -> ResourceMeta {
        meta.name = Some(name.into());
        meta
    }

    fn user(name: &str, attached: &[&str], inline: &[&str]) -> crate::inventory::iam::User {
        crate::inventory::iam::User {
            meta: named(meta("iam.user", name, "global"), name),
            inline_policies: inline
                .iter()
                .map(|n| InlinePolicy {
                    name: (*n).into(),
                    document: json!({}),
                })
                .collect(),
            attached_policy_arns: attached.iter().map(|a| (*a).into()).collect(),
        }
    }

    fn role(name: &str, attached: &[&str]) -> Role {
        Role {
            meta: named(meta("iam.role", name, "global"), name),
            path: "/".into(),
            trust_policy: json!({}),
            inline_policies: vec![],
            attached_policy_arns: attached.iter().map(|a| (*a).into()).collect(),
        }
    }

    #[test]
    fn a_user_with_two_live_keys_is_flagged_and_one_live_key_is_not() {
        let mut inv = inventory();
        let mut second = key(10, Some(1));
        second.slot = 2;
        let mut inactive = second.clone();
        inactive.active = false;
        inv.iam.credential_report = Some(vec![
            row("two-keys", false, false, vec![key(10, Some(1)), second]),
            row(
                "one-live-one-off",
                false,
                false,
                vec![key(10, Some(1)), inactive],
            ),
            row("one-key", false, false, vec![key(10, None)]),
        ]);
        assert_eq!(flagged(&USER_TWO_ACTIVE_KEYS, &inv), ["two-keys"]);
    }

    #[test]
    fn users_with_policies_of_their_own_are_flagged_with_a_plan_that_can_be_undone() {
        let mut inv = inventory();
        inv.iam.users = vec![
            user("attached", &["arn:aws:iam::aws:policy/ReadOnlyAccess"], &[]),
            user("inline", &[], &["deploy"]),
            user("through-groups", &[], &[]),
        ];
        assert_eq!(flagged(&USER_DIRECT_POLICIES, &inv), ["attached", "inline"]);
        let v = user_direct_policies(&inv, &ctx());
        assert_eq!(
            v[1].remediation,
            [
                "aws iam add-user-to-group --group-name '<group-granting-the-same>' --user-name inline  # first, a group that grants what this user needs",
                "aws iam get-user-policy --user-name inline --policy-name deploy --query PolicyDocument --output json  # save it as inline-deploy.json: the rollback puts it back",
                "aws iam delete-user-policy --user-name inline --policy-name deploy",
            ]
        );
        assert_eq!(
            v[1].rollback[0],
            "aws iam put-user-policy --user-name inline --policy-name deploy --policy-document file://inline-deploy.json"
        );
    }

    #[test]
    fn aws_managed_administrator_access_attached_anywhere_is_flagged() {
        let mut inv = inventory();
        let admin = "arn:aws:iam::aws:policy/AdministratorAccess";
        inv.iam.users = vec![
            user("admin-user", &[admin], &[]),
            user("reader", &["arn:aws:iam::aws:policy/ReadOnlyAccess"], &[]),
        ];
        inv.iam.roles = vec![
            role("break-glass", &[admin]),
            // A customer policy of the same name is another check's business.
            role(
                "lookalike",
                &["arn:aws:iam::123456789012:policy/AdministratorAccess"],
            ),
        ];
        assert_eq!(
            flagged(&ADMIN_ACCESS_ATTACHED, &inv),
            ["admin-user", "break-glass"]
        );
        let v = admin_access_attached(&inv, &ctx());
        assert_eq!(
            v[1].remediation[1],
            "aws iam detach-role-policy --role-name break-glass --policy-arn arn:aws:iam::aws:policy/AdministratorAccess"
        );
    }

    #[test]
    fn the_support_role_is_missing_only_when_every_role_was_read_and_none_holds_the_policy() {
        let mut inv = inventory();
        inv.iam.roles = vec![role("app", &["arn:aws:iam::aws:policy/ReadOnlyAccess"])];
        assert!(
            flagged(&NO_SUPPORT_ROLE, &inv).is_empty(),
            "roles not read completely: no conclusion"
        );
        inv.iam.authorization_details_read = true;
        assert_eq!(flagged(&NO_SUPPORT_ROLE, &inv), ["123456789012"]);
        // A customer policy that borrows the name is not AWS's policy.
        inv.iam.roles.push(role(
            "impostor",
            &["arn:aws:iam::123456789012:policy/AWSSupportAccess"],
        ));
        assert_eq!(flagged(&NO_SUPPORT_ROLE, &inv), ["123456789012"]);
        inv.iam.roles.push(role(
            "support",
            &["arn:aws:iam::aws:policy/AWSSupportAccess"],
        ));
        assert!(flagged(&NO_SUPPORT_ROLE, &inv).is_empty());
    }

    #[test]
    fn credential_report_checks() {
        let mut inv = inventory();
        inv.iam.credential_report = Some(vec![
            row("<root_account>", true, true, vec![]),
            row("console-no-mfa", true, false, vec![]),
            row("console-mfa", true, true, vec![]),
            row("old-key", false, false, vec![key(120, Some(1))]),
            row("unused-key", false, false, vec![key(30, Some(100))]),
            row("never-used-old", false, false, vec![key(100, None)]),
            row("fresh-key", false, false, vec![key(10, None)]),
        ]);
        assert_eq!(flagged(&USER_CONSOLE_NO_MFA, &inv), ["console-no-mfa"]);
        assert_eq!(
            flagged(&ACCESS_KEY_OLD, &inv),
            ["never-used-old", "old-key"]
        );
        assert_eq!(
            flagged(&ACCESS_KEY_UNUSED, &inv),
            ["never-used-old", "unused-key"]
        );
        assert!(flagged(&ROOT_NO_MFA, &inv).is_empty());
    }

    #[test]
    fn root_checks_read_the_report_first_then_the_summary() {
        let mut inv = inventory();
        assert!(
            flagged(&ROOT_NO_MFA, &inv).is_empty(),
            "nothing read: no finding"
        );
        inv.iam.account_summary = Some(BTreeMap::from([
            ("AccountMFAEnabled".into(), 0),
            ("AccountAccessKeysPresent".into(), 1),
        ]));
        assert_eq!(flagged(&ROOT_NO_MFA, &inv), ["123456789012"]);
        assert_eq!(flagged(&ROOT_ACCESS_KEYS, &inv), ["123456789012"]);
        // A report saying all is well does not outvote the live summary.
        inv.iam.credential_report = Some(vec![row("<root_account>", true, true, vec![])]);
        assert_eq!(flagged(&ROOT_NO_MFA, &inv), ["123456789012"]);
        inv.iam.account_summary = Some(BTreeMap::from([
            ("AccountMFAEnabled".into(), 1),
            ("AccountAccessKeysPresent".into(), 0),
        ]));
        assert!(flagged(&ROOT_NO_MFA, &inv).is_empty());
        assert!(flagged(&ROOT_ACCESS_KEYS, &inv).is_empty());
    }

    /// The report can be four hours old; the summary is live. When the
    /// summary was read it decides, and the report only stands in for it.
    #[test]
    fn the_live_summary_outvotes_a_stale_report_and_deleted_root_credentials_need_no_mfa() {
        let mut inv = inventory();
        let stale_key = AccessKeyReport {
            slot: 1,
            active: true,
            last_rotated: None,
            last_used: None,
        };
        inv.iam.credential_report = Some(vec![row("<root_account>", true, false, vec![stale_key])]);
        // Without a summary the report speaks.
        assert_eq!(flagged(&ROOT_NO_MFA, &inv), ["123456789012"]);
        assert_eq!(flagged(&ROOT_ACCESS_KEYS, &inv), ["123456789012"]);
        // MFA added and the key deleted since the report was generated.
        inv.iam.account_summary = Some(BTreeMap::from([
            ("AccountMFAEnabled".into(), 1),
            ("AccountAccessKeysPresent".into(), 0),
            ("AccountPasswordPresent".into(), 1),
        ]));
        assert!(flagged(&ROOT_NO_MFA, &inv).is_empty());
        assert!(flagged(&ROOT_ACCESS_KEYS, &inv).is_empty());
        // A member account whose root credentials were deleted (Organizations'
        // centralised root access): no password, no keys, nothing to protect.
        inv.iam.account_summary = Some(BTreeMap::from([
            ("AccountMFAEnabled".into(), 0),
            ("AccountAccessKeysPresent".into(), 0),
            ("AccountPasswordPresent".into(), 0),
        ]));
        assert!(flagged(&ROOT_NO_MFA, &inv).is_empty());
        // A password and no MFA: flagged; so is a summary that does not say.
        inv.iam.account_summary = Some(BTreeMap::from([
            ("AccountMFAEnabled".into(), 0),
            ("AccountAccessKeysPresent".into(), 0),
            ("AccountPasswordPresent".into(), 1),
        ]));
        assert_eq!(flagged(&ROOT_NO_MFA, &inv), ["123456789012"]);
        inv.iam.account_summary = Some(BTreeMap::from([("AccountMFAEnabled".into(), 0)]));
        assert_eq!(flagged(&ROOT_NO_MFA, &inv), ["123456789012"]);
    }

    #[test]
    fn wildcard_policies_and_open_trust_are_flagged() {
        let mut inv = inventory();
        let policy = |id: &str, doc: serde_json::Value| ManagedPolicy {
            meta: meta("iam.policy", id, "global"),
            attachment_count: 1,
            default_version_id: Some("v1".into()),
            document: Some(doc),
        };
        inv.iam.policies = vec![
            policy(
                "admin",
                json!({"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}),
            ),
            policy(
                "scoped",
                json!({"Statement": {"Effect": "Allow", "Action": ["s3:*"], "Resource": "*"}}),
            ),
            policy(
                "notaction",
                json!({"Statement": [{"Effect": "Allow", "NotAction": "iam:*", "Action": "*", "Resource": "*"}]}),
            ),
        ];
        assert_eq!(flagged(&POLICY_ADMIN_WILDCARD, &inv), ["admin"]);
        let role = |id: &str, trust: serde_json::Value| Role {
            meta: meta("iam.role", id, "global"),
            path: "/".into(),
            trust_policy: trust,
            inline_policies: vec![],
            attached_policy_arns: vec![],
        };
        inv.iam.roles = vec![
            role(
                "open",
                json!({"Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}]}),
            ),
            role(
                "conditioned",
                json!({"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "sts:AssumeRole", "Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-abc123"}}}]}),
            ),
            role(
                "service",
                json!({"Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}),
            ),
        ];
        assert_eq!(flagged(&ROLE_TRUST_OPEN, &inv), ["open"]);
    }

    /// Only a condition that limits *who* may assume the role closes an
    /// open trust; an empty one, a transport or MFA test, a negation, an
    /// IfExists on a key direct callers lack, a wildcard value or a tag the
    /// caller sets itself do not.
    #[test]
    fn only_a_condition_on_the_principal_closes_an_open_trust() {
        let mut inv = inventory();
        let role = |id: &str, condition: serde_json::Value| Role {
            meta: meta("iam.role", id, "global"),
            path: "/".into(),
            trust_policy: json!({"Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"},
                                                 "Action": "sts:AssumeRole", "Condition": condition}]}),
            inline_policies: vec![],
            attached_policy_arns: vec![],
        };
        inv.iam.roles = vec![
            role("empty", json!({})),
            role("tls-only", json!({"Bool": {"aws:SecureTransport": "true"}})),
            role(
                "mfa-only",
                json!({"Bool": {"aws:MultiFactorAuthPresent": "true"}}),
            ),
            role(
                "negated",
                json!({"StringNotEquals": {"aws:PrincipalAccount": "111122223333"}}),
            ),
            role(
                "if-exists",
                json!({"StringEqualsIfExists": {"aws:SourceAccount": "111122223333"}}),
            ),
            role(
                "wildcard-arn",
                json!({"StringLike": {"aws:PrincipalArn": "*"}}),
            ),
            role(
                "own-tag",
                json!({"StringEquals": {"aws:PrincipalTag/team": "ops"}}),
            ),
            // ForAllValues holds when the key is absent: a caller outside any organization passes.
            role(
                "for-all-values",
                json!({"ForAllValues:StringEquals": {"aws:PrincipalOrgID": "o-abc123"}}),
            ),
            // The caller chooses the ExternalId it sends: no limit on who.
            role(
                "external-id-only",
                json!({"StringEquals": {"sts:ExternalId": "x"}}),
            ),
            // Every GitHub repository's token has this audience.
            role(
                "audience-only",
                json!({"StringEquals": {"token.actions.githubusercontent.com:aud": "sts.amazonaws.com"}}),
            ),
            role(
                "any-repository",
                json!({"StringLike": {"token.actions.githubusercontent.com:sub": "repo:*"}}),
            ),
            role(
                "tag-named-sub",
                json!({"StringEquals": {"aws:RequestTag/team:sub": "ops"}}),
            ),
            role(
                "any-account-arn",
                json!({"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/deployer"}}),
            ),
            role(
                "any-org",
                json!({"StringLike": {"aws:PrincipalOrgID": "o-*"}}),
            ),
            role(
                "org",
                json!({"StringEquals": {"AWS:PrincipalOrgID": "o-abc123"}}),
            ),
            role(
                "org-path",
                json!({"ForAnyValue:StringLike": {"aws:PrincipalOrgPaths": "o-abc123/r-ab12/ou-ab12-*"}}),
            ),
            role(
                "named-arn",
                json!({"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::111122223333:role/ci-*"}}),
            ),
            role(
                "account",
                json!({"StringEquals": {"aws:PrincipalAccount": ["111122223333"]}}),
            ),
            role(
                "source",
                json!({"StringEquals": {"aws:SourceAccount": "111122223333"}, "Bool": {"aws:SecureTransport": "true"}}),
            ),
            role(
                "one-repository",
                json!({"StringEquals": {"token.actions.githubusercontent.com:sub": "repo:acme/app:ref:refs/heads/main"}}),
            ),
            role(
                "one-owner",
                json!({"StringLike": {"token.actions.githubusercontent.com:sub": "repo:acme/*"}}),
            ),
        ];
        assert_eq!(
            flagged(&ROLE_TRUST_OPEN, &inv),
            [
                "any-account-arn",
                "any-org",
                "any-repository",
                "audience-only",
                "empty",
                "external-id-only",
                "for-all-values",
                "if-exists",
                "mfa-only",
                "negated",
                "own-tag",
                "tag-named-sub",
                "tls-only",
                "wildcard-arn"
            ]
        );
    }

    #[test]
    fn password_policy_missing_or_short_is_weak() {
        let mut inv = inventory();
        assert!(flagged(&PASSWORD_POLICY_WEAK, &inv).is_empty());
        inv.iam.password_policy = Some(None);
        assert_eq!(flagged(&PASSWORD_POLICY_WEAK, &inv), ["123456789012"]);
        let strong = PasswordPolicy {
            minimum_password_length: 14,
            require_symbols: true,
            require_numbers: true,
            require_uppercase_characters: true,
            require_lowercase_characters: true,
            max_password_age: None,
            password_reuse_prevention: Some(24),
            allow_users_to_change_password: Some(true),
            hard_expiry: Some(false),
        };
        inv.iam.password_policy = Some(Some(strong.clone()));
        assert!(flagged(&PASSWORD_POLICY_WEAK, &inv).is_empty());
        inv.iam.password_policy = Some(Some(PasswordPolicy {
            minimum_password_length: 8,
            ..strong.clone()
        }));
        assert_eq!(flagged(&PASSWORD_POLICY_WEAK, &inv), ["123456789012"]);
    }

    /// CIS asks for length and for no reuse in two controls: the finding
    /// says which of the two it breaks, so the other can still pass.
    #[test]
    fn a_weak_password_policy_names_the_aspects_it_breaks() {
        let aspects = |policy: Option<PasswordPolicy>| {
            let mut inv = inventory();
            inv.iam.password_policy = Some(policy);
            password_policy_weak(&inv, &ctx())[0].evidence["aspects"].clone()
        };
        let strong = PasswordPolicy {
            minimum_password_length: 14,
            require_symbols: true,
            require_numbers: true,
            require_uppercase_characters: true,
            require_lowercase_characters: true,
            max_password_age: None,
            password_reuse_prevention: Some(24),
            allow_users_to_change_password: Some(true),
            hard_expiry: Some(false),
        };
        assert_eq!(aspects(None), serde_json::json!(["length", "reuse"]));
        let short = PasswordPolicy {
            minimum_password_length: 8,
            ..strong.clone()
        };
        assert_eq!(aspects(Some(short)), serde_json::json!(["length"]));
        let reused = PasswordPolicy {
            password_reuse_prevention: None,
            ..strong
        };
        assert_eq!(aspects(Some(reused)), serde_json::json!(["reuse"]));
    }

    /// `update-account-password-policy` resets every setting it is not
    /// given: the fix names them all, changes only the failing ones, and the
    /// rollback restores every one.
    #[test]
    fn the_password_fix_keeps_every_other_setting_and_the_rollback_restores_them_all() {
        let mut inv = inventory();
        inv.iam.password_policy = Some(Some(PasswordPolicy {
            minimum_password_length: 8,
            require_symbols: true,
            require_numbers: false,
            require_uppercase_characters: true,
            require_lowercase_characters: false,
            max_password_age: Some(90),
            password_reuse_prevention: None,
            allow_users_to_change_password: Some(true),
            hard_expiry: Some(true),
        }));
        let found = (PASSWORD_POLICY_WEAK.evaluate)(&inv, &ctx());
        assert_eq!(
            found[0].remediation,
            [
                "aws iam update-account-password-policy --minimum-password-length 14 \
              --require-symbols --no-require-numbers --require-uppercase-characters \
              --no-require-lowercase-characters --allow-users-to-change-password --hard-expiry \
              --max-password-age 90 --password-reuse-prevention 24"
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
            ]
        );
        assert_eq!(
            found[0].rollback,
            [
                "aws iam update-account-password-policy --minimum-password-length 8 \
              --require-symbols --no-require-numbers --require-uppercase-characters \
              --no-require-lowercase-characters --allow-users-to-change-password --hard-expiry \
              --max-password-age 90"
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
            ]
        );
        // A longer length and reuse than the benchmark's are kept, not lowered.
        inv.iam.password_policy = Some(Some(PasswordPolicy {
            minimum_password_length: 20,
            require_symbols: false,
            require_numbers: false,
            require_uppercase_characters: false,
            require_lowercase_characters: false,
            max_password_age: None,
            password_reuse_prevention: Some(3),
            allow_users_to_change_password: None,
            hard_expiry: None,
        }));
        let found = (PASSWORD_POLICY_WEAK.evaluate)(&inv, &ctx());
        assert!(
            found[0].remediation[0].contains("--minimum-password-length 20 ")
                && found[0].remediation[0].contains("--password-reuse-prevention 24")
                && found[0].remediation[0]
                    .ends_with("# AllowUsersToChangePassword and HardExpiry were not read: this resets them to false"),
            "{}",
            found[0].remediation[0]
        );
    }
}
