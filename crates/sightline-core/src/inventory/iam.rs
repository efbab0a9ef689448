//! IAM records: the credential report, users, roles, groups and customer
//! managed policies from the account authorization details, the password
//! policy and the account summary.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::ResourceMeta;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct IamInventory {
    /// `None` when the credential report could not be generated or read.
    pub credential_report: Option<Vec<CredentialReportRow>>,
    pub users: Vec<User>,
    pub roles: Vec<Role>,
    pub groups: Vec<Group>,
    /// Customer managed policies only.
    pub policies: Vec<ManagedPolicy>,
    /// Outer `None`: not read. `Some(None)`: the account has no password policy.
    pub password_policy: Option<Option<PasswordPolicy>>,
    /// `GetAccountSummary` map; `None` when not read.
    pub account_summary: Option<BTreeMap<String, i64>>,
    /// Whether `GetAccountAuthorizationDetails` was read completely.
    pub authorization_details_read: bool,
    /// Whether a virtual MFA device is assigned to the root user; `None`
    /// when the virtual devices could not be listed.
    #[serde(default)]
    pub root_virtual_mfa: Option<bool>,
    /// Server certificates stored in IAM; `None` when not read.
    #[serde(default)]
    pub server_certificates: Option<Vec<ServerCertificate>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServerCertificate {
    pub name: String,
    pub arn: String,
    pub expiration: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CredentialReportRow {
    /// `<root_account>` for the root user.
    pub user: String,
    pub arn: String,
    pub user_creation_time: Option<DateTime<Utc>>,
    pub password_enabled: bool,
    pub password_last_used: Option<DateTime<Utc>>,
    /// When the console password was set (the credential report's column).
    #[serde(default)]
    pub password_last_changed: Option<DateTime<Utc>>,
    pub mfa_active: bool,
    pub access_keys: Vec<AccessKeyReport>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccessKeyReport {
    /// 1 or 2, the column of the credential report.
    pub slot: u8,
    pub active: bool,
    pub last_rotated: Option<DateTime<Utc>>,
    pub last_used: Option<DateTime<Utc>>,
}

impl CredentialReportRow {
    pub fn is_root(&self) -> bool {
        self.user == "<root_account>"
    }
}

/// A policy document attached inline to a principal.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InlinePolicy {
    pub name: String,
    pub document: serde_json::Value,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct User {
    pub meta: ResourceMeta,
    pub inline_policies: Vec<InlinePolicy>,
    pub attached_policy_arns: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Role {
    pub meta: ResourceMeta,
    pub path: String,
    pub trust_policy: serde_json::Value,
    pub inline_policies: Vec<InlinePolicy>,
    pub attached_policy_arns: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Group {
    pub meta: ResourceMeta,
    pub inline_policies: Vec<InlinePolicy>,
    pub attached_policy_arns: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ManagedPolicy {
    pub meta: ResourceMeta,
    pub attachment_count: i64,
    pub default_version_id: Option<String>,
    /// The default version's document.
    pub document: Option<serde_json::Value>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PasswordPolicy {
    pub minimum_password_length: i64,
    pub require_symbols: bool,
    pub require_numbers: bool,
    pub require_uppercase_characters: bool,
    pub require_lowercase_characters: bool,
    pub max_password_age: Option<i64>,
    pub password_reuse_prevention: Option<i64>,
    /// Whether users may change their own password (`None`: not read, as in
    /// inventories from before it was collected).
    #[serde(default)]
    pub allow_users_to_change_password: Option<bool>,
    #[serde(default)]
    pub hard_expiry: Option<bool>,
}

/// Iterate a policy document's statements whatever their JSON shape.
pub fn statements(document: &serde_json::Value) -> Vec<&serde_json::Value> {
    match document.get("Statement") {
        Some(serde_json::Value::Array(list)) => list.iter().collect(),
        Some(single @ serde_json::Value::Object(_)) => vec![single],
        _ => Vec::new(),
    }
}

/// A string-or-list policy field as a list.
pub fn string_list(value: Option<&serde_json::Value>) -> Vec<String> {
    match value {
        Some(serde_json::Value::String(s)) => vec![s.clone()],
        Some(serde_json::Value::Array(list)) => list
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}
