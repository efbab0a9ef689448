//! Ask's question library: curated questions, each a read-only query over
//! the SQL console's four views with a sentence on what it answers. With the
//! `none` profile (no model at all, so it works air-gapped) a question in
//! plain words is matched to an entry by its keywords, its parameters (a
//! number of days, a region, a resource type) are read from the words, and
//! the entry runs through the console's whole path: parser allowlist,
//! console role, row-level security, timeout and caps. With a model, the
//! entries are its worked examples.
//!
//! Parameters are never pasted as typed: each is parsed into its kind (an
//! integer in range, a region or resource-type name of a fixed shape), and
//! the statement built from them is validated by the console again.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::console::{self, ConsolePool, ResultSet};
use crate::StoreError;

/// Longest question accepted, in characters.
pub const MAX_QUESTION_CHARS: usize = 500;

/// Longest library id accepted.
pub const MAX_ID_CHARS: usize = 64;

/// What a parameter may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ParamKind {
    /// A whole number of days, 1 to 3,650.
    Days,
    /// An AWS region name (`eu-west-1`, `us-gov-west-1`).
    Region,
    /// A Sightline resource type (`ec2.instance`, `s3.bucket`).
    ResourceType,
}

/// A parameter of an entry: `{name}` in its SQL.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Param {
    pub name: &'static str,
    pub kind: ParamKind,
    /// Used when the question does not say, and said so in the answer;
    /// empty when the question must say (a region, a resource type).
    pub default: &'static str,
}

/// One curated question.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Entry {
    /// Stable id, `kebab-case`.
    pub id: &'static str,
    pub question: &'static str,
    /// Words and phrases that point at this entry, lower case.
    pub keywords: &'static [&'static str],
    /// One `SELECT`/`WITH` over `resources`, `findings`, `scans`, `accounts`.
    pub sql: &'static str,
    /// What the answer means and where it stops.
    pub explanation: &'static str,
    pub params: &'static [Param],
}

/// Why a question could not be turned into a query.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AskError {
    #[error("no library question matches the question; try one of: {suggestions}")]
    NoMatch { suggestions: String },
    #[error("{why}; the library's closest questions: {suggestions}")]
    CannotAnswer { why: String, suggestions: String },
    #[error("{param} must be {expected}, found {found:?}")]
    BadParam {
        param: &'static str,
        expected: &'static str,
        found: String,
    },
    #[error("no library question has that id; ids are lower-case words joined by '-', listed by GET /api/v1/ask/library")]
    UnknownId,
}

const DAYS: Param = Param {
    name: "days",
    kind: ParamKind::Days,
    default: "30",
};
const REGION: Param = Param {
    name: "region",
    kind: ParamKind::Region,
    default: "",
};
const TYPE: Param = Param {
    name: "type",
    kind: ParamKind::ResourceType,
    default: "",
};

macro_rules! entries {
    ($($id:literal => { q: $q:literal, k: [$($k:literal),* $(,)?], sql: $sql:expr, why: $why:literal $(, p: [$($p:expr),*])? $(,)? }),* $(,)?) => {
        &[$(Entry {
            id: $id,
            question: $q,
            keywords: &[$($k),*],
            sql: $sql,
            explanation: $why,
            params: &[$($($p),*)?],
        }),*]
    };
}

/// The library, in the order the Ask page offers it.
pub const LIBRARY: &[Entry] = entries![
    "open-to-internet" => {
        q: "What is open to the internet?",
        k: ["open to the internet", "internet", "public", "exposed", "world", "0.0.0.0/0", "anyone"],
        sql: "SELECT check_id, severity, account, region, resource_arn, message FROM findings WHERE status = 'open' AND check_id IN ('ebs.snapshot_public', 'ec2.ami_public', 'ec2.sg_open_admin_ports', 'ec2.sg_open_database_ports', 'ec2.sg_open_cifs', 'ec2.nacl_open_admin_ports', 's3.bucket_public_acl', 's3.bucket_public_policy', 's3.bucket_no_public_access_block', 's3.account_public_access_block_off', 'rds.instance_public', 'rds.snapshot_public', 'iam.role_trust_open', 'kms.key_policy_public') ORDER BY CASE severity WHEN 'critical' THEN 1 WHEN 'high' THEN 2 WHEN 'medium' THEN 3 WHEN 'low' THEN 4 ELSE 5 END, check_id LIMIT 500",
        why: "Open findings of the checks that look for exposure: public buckets, snapshots, AMIs, databases and key policies; security groups and network ACLs open to the world; role trusts open to anyone.",
    },
    "idle-spend-by-account" => {
        q: "How much idle spend is there, by account?",
        k: ["idle", "spend", "waste", "unused", "by account", "money"],
        sql: "SELECT account, count(*) AS findings, round(sum(monthly_savings)::numeric, 2) AS monthly_usd FROM findings WHERE status = 'open' AND check_id IN ('ebs.volume_unattached', 'ebs.snapshot_stale', 'ec2.instance_idle', 'ec2.instance_stopped_with_volumes', 'ec2.eip_unassociated', 'ec2.nat_gateway_idle', 'ec2.ami_unused', 'rds.instance_idle', 'elb.idle', 'elb.no_healthy_targets') GROUP BY account ORDER BY monthly_usd DESC NULLS LAST",
        why: "What resources nobody uses cost a month (unattached, idle, stopped, stale, unassociated), summed per account. Migrations such as gp2 to gp3 are not idle spend: \"Which findings would save the most money?\" lists them. List prices of the shipped table, not your bill.",
    },
    "biggest-savings" => {
        q: "Which findings would save the most money?",
        k: ["save the most", "biggest savings", "most expensive", "top savings", "largest saving"],
        sql: "SELECT check_id, account, region, resource_arn, round(monthly_savings::numeric, 2) AS monthly_usd, message FROM findings WHERE status = 'open' AND monthly_savings > 0 ORDER BY monthly_savings DESC LIMIT 25",
        why: "The 25 open findings with the largest monthly saving.",
    },
    "changed-since-last-scan" => {
        q: "What changed since the last scan?",
        k: ["changed", "since the last scan", "new", "diff", "latest scan", "regressed"],
        sql: "WITH latest AS (SELECT account, id, finished_at, findings_new, findings_resolved, findings_regressed, resources, row_number() OVER (PARTITION BY account ORDER BY finished_at DESC) AS n FROM scans WHERE finished_at IS NOT NULL) SELECT account, id AS scan, finished_at, findings_new, findings_resolved, findings_regressed, resources FROM latest WHERE n = 1 ORDER BY finished_at DESC",
        why: "Each account's latest scan: findings new, resolved and regressed against the scan before it. The scan page lists each one.",
    },
    "new-findings-recent" => {
        q: "Which findings appeared in the last {days} days?",
        k: ["new findings", "recent findings", "findings appeared"],
        sql: "SELECT check_id, severity, status, account, region, resource_arn, first_seen FROM findings WHERE first_seen > now() - ({days} * interval '1 day') ORDER BY first_seen DESC LIMIT 500",
        why: "Findings first seen within the window, whatever became of them since (their status says).",
        p: [DAYS],
    },
    "imdsv2" => {
        q: "Which instances do not require IMDSv2?",
        k: ["imdsv2", "imds", "metadata", "http tokens", "instance metadata"],
        sql: "SELECT account, region, resource_arn, message FROM findings WHERE status = 'open' AND check_id = 'ec2.instance_imdsv2_not_required' ORDER BY account, region, resource_arn LIMIT 1000",
        why: "Open findings of `ec2.instance_imdsv2_not_required`: instances whose metadata service still answers without a session token. Terminated instances, and instances with the metadata service off, are not among them.",
    },
    "no-owner-tag" => {
        q: "Which resources have no owner tag?",
        k: ["owner", "untagged", "no owner", "without an owner", "tag"],
        sql: "SELECT type, account, region, resource_id, name FROM resources WHERE gone_at IS NULL AND jsonb_extract_path_text(tags, 'owner') IS NULL AND jsonb_extract_path_text(tags, 'Owner') IS NULL ORDER BY type, account, region LIMIT 1000",
        why: "Resources with neither an `owner` nor an `Owner` tag. Resources that cannot be tagged (listeners, flow logs) show too.",
    },
    "critical-old" => {
        q: "Which critical findings are older than {days} days?",
        k: ["critical", "older than", "old critical", "overdue", "aging"],
        sql: "SELECT check_id, account, region, resource_arn, first_seen, message FROM findings WHERE status = 'open' AND severity = 'critical' AND first_seen < now() - ({days} * interval '1 day') ORDER BY first_seen LIMIT 500",
        why: "Open critical findings first seen before the window: what has waited longest.",
        p: [DAYS],
    },
    "open-by-severity" => {
        q: "How many open findings are there by severity?",
        k: ["by severity", "how many findings", "severity", "count findings"],
        sql: "SELECT severity, count(*) AS open_findings FROM findings WHERE status = 'open' GROUP BY severity ORDER BY min(CASE severity WHEN 'critical' THEN 1 WHEN 'high' THEN 2 WHEN 'medium' THEN 3 WHEN 'low' THEN 4 ELSE 5 END)",
        why: "Open findings counted per severity.",
    },
    "open-by-check" => {
        q: "Which checks fail most often?",
        k: ["most common", "fail most", "by check", "top checks", "frequent"],
        sql: "SELECT check_id, title, count(*) AS open_findings FROM findings WHERE status = 'open' GROUP BY check_id, title ORDER BY open_findings DESC LIMIT 25",
        why: "Open findings counted per check.",
    },
    "open-by-account" => {
        q: "Which accounts have the most open findings?",
        k: ["accounts", "most findings", "by account", "worst account"],
        sql: "SELECT account, count(*) FILTER (WHERE severity IN ('critical', 'high')) AS critical_or_high, count(*) AS open_findings FROM findings WHERE status = 'open' GROUP BY account ORDER BY critical_or_high DESC, open_findings DESC",
        why: "Open findings per account, the critical and high ones first.",
    },
    "resources-by-type" => {
        q: "How many resources of each type are there?",
        k: ["inventory", "by type", "each type", "per type", "resource count", "what do we have"],
        sql: "SELECT type, count(*) AS resources FROM resources WHERE gone_at IS NULL GROUP BY type ORDER BY resources DESC",
        why: "Resources seen by the latest scans, counted per type.",
    },
    "resources-by-region" => {
        q: "How many resources are in each region?",
        k: ["by region", "each region", "per region", "regions", "region count"],
        sql: "SELECT region, count(*) AS resources FROM resources WHERE gone_at IS NULL GROUP BY region ORDER BY resources DESC",
        why: "Resources seen by the latest scans, counted per region.",
    },
    "resources-in-region" => {
        q: "What runs in {region}?",
        k: ["in region", "runs in", "what is in"],
        sql: "SELECT type, count(*) AS resources FROM resources WHERE gone_at IS NULL AND region = {region} GROUP BY type ORDER BY resources DESC",
        why: "Resources of one region, counted per type.",
        p: [REGION],
    },
    "resources-of-type" => {
        q: "List every {type}.",
        k: ["list every", "list all", "show all", "every"],
        sql: "SELECT account, region, resource_id, name, last_seen FROM resources WHERE gone_at IS NULL AND type = {type} ORDER BY account, region, resource_id LIMIT 1000",
        why: "Every resource of one type still present.",
        p: [TYPE],
    },
    "gone-recently" => {
        q: "What disappeared in the last {days} days?",
        k: ["disappeared", "deleted", "gone", "removed"],
        sql: "SELECT type, account, region, resource_id, name, gone_at FROM resources WHERE gone_at > now() - ({days} * interval '1 day') ORDER BY gone_at DESC LIMIT 1000",
        why: "Resources a scan no longer found, within the window.",
        p: [DAYS],
    },
    "appeared-recently" => {
        q: "What was created or first seen in the last {days} days?",
        k: ["created", "first seen", "appeared", "new resources", "added"],
        sql: "SELECT type, account, region, resource_id, name, first_seen FROM resources WHERE gone_at IS NULL AND first_seen > now() - ({days} * interval '1 day') ORDER BY first_seen DESC LIMIT 1000",
        why: "Resources first seen by a scan within the window (a resource created before Sightline first looked shows from that scan).",
        p: [DAYS],
    },
    "unattached-volumes" => {
        q: "Which EBS volumes are unattached?",
        k: ["unattached", "volumes", "ebs", "available volumes", "orphaned"],
        sql: "SELECT account, region, resource_arn, round(monthly_savings::numeric, 2) AS monthly_usd, message FROM findings WHERE status = 'open' AND check_id = 'ebs.volume_unattached' ORDER BY monthly_savings DESC NULLS LAST",
        why: "Open findings of `ebs.volume_unattached`, with what deleting each saves.",
    },
    "stopped-instances" => {
        q: "Which instances are stopped?",
        k: ["stopped", "stopped instances", "shut down"],
        sql: "SELECT account, region, resource_id, name, jsonb_extract_path_text(attributes, 'instance_type') AS instance_type, jsonb_extract_path_text(attributes, 'state_since') AS stopped_since FROM resources WHERE type = 'ec2.instance' AND gone_at IS NULL AND jsonb_extract_path_text(attributes, 'state') = 'stopped' ORDER BY stopped_since NULLS FIRST",
        why: "Stopped instances, longest stopped first: their volumes are still billed.",
    },
    "instance-types" => {
        q: "Which instance types do we run?",
        k: ["instance types", "instance type", "sizes", "families"],
        sql: "SELECT jsonb_extract_path_text(attributes, 'instance_type') AS instance_type, count(*) AS instances FROM resources WHERE type = 'ec2.instance' AND gone_at IS NULL GROUP BY instance_type ORDER BY instances DESC",
        why: "Instances counted per type.",
    },
    "public-buckets" => {
        q: "Which S3 buckets are public?",
        k: ["public buckets", "s3", "bucket", "buckets"],
        sql: "SELECT check_id, account, resource_arn, message FROM findings WHERE status = 'open' AND check_id IN ('s3.bucket_public_acl', 's3.bucket_public_policy', 's3.bucket_no_public_access_block') ORDER BY resource_arn, check_id",
        why: "Buckets whose ACL or policy grants the public, or that have no Block Public Access.",
    },
    "open-security-groups" => {
        q: "Which security groups are open to the world?",
        k: ["security groups", "security group", "ssh", "rdp", "port 22", "admin ports", "firewall"],
        sql: "SELECT check_id, account, region, resource_arn, message FROM findings WHERE status = 'open' AND check_id IN ('ec2.sg_open_admin_ports', 'ec2.sg_open_database_ports', 'ec2.sg_open_cifs', 'ec2.nacl_open_admin_ports', 'ec2.default_sg_allows_traffic') ORDER BY check_id, account, region",
        why: "Security groups and network ACLs that let the internet reach admin, database or file-sharing ports, and default groups that allow any traffic.",
    },
    "iam-without-mfa" => {
        q: "Which users or roots have no MFA?",
        k: ["mfa", "multi-factor", "two-factor", "2fa", "root"],
        sql: "SELECT check_id, account, resource_arn, message FROM findings WHERE status = 'open' AND check_id IN ('iam.root_no_mfa', 'iam.root_no_hardware_mfa', 'iam.user_console_no_mfa') ORDER BY check_id, account",
        why: "Console users and root users without MFA (or root without hardware MFA).",
    },
    "old-access-keys" => {
        q: "Which access keys are old or unused?",
        k: ["access keys", "access key", "keys", "credentials", "rotate", "unused keys"],
        sql: "SELECT check_id, account, resource_arn, message FROM findings WHERE status = 'open' AND check_id IN ('iam.access_key_old', 'iam.access_key_unused', 'iam.credentials_unused_45_days', 'iam.console_user_unused_key', 'iam.user_two_active_keys', 'iam.root_access_keys') ORDER BY check_id, account",
        why: "Keys past their age, unused keys and credentials, users with two active keys, and root keys.",
    },
    "admin-access" => {
        q: "Who has administrator access?",
        k: ["admin", "administrator", "full access", "wildcard", "privileged"],
        sql: "SELECT check_id, account, resource_arn, message FROM findings WHERE status = 'open' AND check_id IN ('iam.policy_admin_wildcard', 'iam.admin_access_attached') ORDER BY account, resource_arn",
        why: "Policies that allow every action on every resource, and where AWS's AdministratorAccess is attached.",
    },
    "unencrypted" => {
        q: "What is stored unencrypted?",
        k: ["unencrypted", "encryption", "encrypted", "at rest", "kms"],
        sql: "SELECT check_id, account, region, resource_arn, message FROM findings WHERE status = 'open' AND check_id IN ('ebs.volume_unencrypted', 'ebs.encryption_by_default_off', 'rds.instance_unencrypted', 'efs.unencrypted', 'cloudtrail.not_kms_encrypted') ORDER BY check_id, account, region",
        why: "Volumes, databases and file systems without encryption at rest, regions where new volumes are not encrypted by default, and trails without a KMS key.",
    },
    "databases-at-risk" => {
        q: "Which databases are at risk?",
        k: ["database", "databases", "rds", "backups", "deletion protection", "multi-az"],
        sql: "SELECT check_id, severity, account, region, resource_arn, message FROM findings WHERE status = 'open' AND check_id LIKE 'rds.%' ORDER BY CASE severity WHEN 'critical' THEN 1 WHEN 'high' THEN 2 WHEN 'medium' THEN 3 WHEN 'low' THEN 4 ELSE 5 END, check_id",
        why: "Open RDS findings: public, unencrypted, single-AZ, short backups, no deletion protection, idle.",
    },
    "reliability" => {
        q: "What are our reliability risks?",
        k: ["reliability", "single az", "single point of failure", "availability", "outage", "resilience"],
        sql: "SELECT check_id, severity, account, region, resource_arn, message FROM findings WHERE status = 'open' AND category = 'reliability' ORDER BY CASE severity WHEN 'critical' THEN 1 WHEN 'high' THEN 2 WHEN 'medium' THEN 3 WHEN 'low' THEN 4 ELSE 5 END, check_id",
        why: "Open findings of the reliability checks.",
    },
    "monitoring-gaps" => {
        q: "Where are logging and monitoring missing?",
        k: ["logging", "monitoring", "cloudtrail", "guardduty", "config", "security hub", "flow logs", "alarms"],
        sql: "SELECT check_id, account, region, resource_arn, message FROM findings WHERE status = 'open' AND check_id IN ('cloudtrail.not_multi_region', 'cloudtrail.log_validation_off', 'cloudtrail.s3_object_events_unlogged', 'cloudtrail.bucket_logging_off', 'cloudtrail.events_unalarmed', 'security.access_analyzer_off', 'security.config_off', 'security.security_hub_off', 'security.guardduty_off', 'ec2.vpc_no_flow_logs', 'bedrock.invocation_logging_off') ORDER BY check_id, account, region",
        why: "Trails, alarms, GuardDuty, Config, Security Hub, Access Analyzer, flow logs and Bedrock invocation logs that are missing or incomplete.",
    },
    "findings-in-region" => {
        q: "What is wrong in {region}?",
        k: ["wrong in", "findings in", "issues in", "problems in"],
        sql: "SELECT check_id, severity, resource_arn, message FROM findings WHERE status = 'open' AND region = {region} ORDER BY CASE severity WHEN 'critical' THEN 1 WHEN 'high' THEN 2 WHEN 'medium' THEN 3 WHEN 'low' THEN 4 ELSE 5 END, check_id LIMIT 500",
        why: "Open findings of one region, worst first.",
        p: [REGION],
    },
    "decided-findings" => {
        q: "Which findings were dismissed, snoozed or approved?",
        k: ["dismissed", "snoozed", "approved", "decided", "accepted risk", "decisions"],
        sql: "SELECT status, check_id, account, region, resource_arn, last_seen FROM findings WHERE status IN ('dismissed', 'snoozed', 'approved') ORDER BY status, last_seen DESC LIMIT 500",
        why: "Findings a human decided on; the inbox shows each decision with who made it and why.",
    },
    "resolved-recently" => {
        q: "What was fixed in the last {days} days?",
        k: ["fixed", "resolved", "remediated", "closed"],
        sql: "SELECT check_id, account, region, resource_arn, resolved_at FROM findings WHERE status = 'resolved' AND resolved_at > now() - ({days} * interval '1 day') ORDER BY resolved_at DESC LIMIT 500",
        why: "Findings a later scan no longer saw, within the window.",
        p: [DAYS],
    },
    "scan-coverage" => {
        q: "Did the last scans see everything?",
        k: ["coverage", "gaps", "evaluated", "permissions", "denied", "scan health", "failed scans"],
        sql: "SELECT account, status, finished_at, api_calls, resources, gaps FROM scans ORDER BY started_at DESC LIMIT 20",
        why: "Recent scans with their coverage gaps: a scan with gaps left some checks not evaluated (the scan page lists each gap and why).",
    },
    "accounts" => {
        q: "Which accounts are monitored?",
        k: ["monitored accounts", "monitored", "accounts", "organization", "onboarded"],
        sql: "SELECT account, name, regions, source, created_at FROM accounts ORDER BY created_at",
        why: "The accounts this workspace scans, and how each was added.",
    },
    "lambda-secrets" => {
        q: "Which Lambda functions keep secrets in their environment?",
        k: ["lambda", "functions", "environment variables", "secrets in", "hardcoded"],
        sql: "SELECT account, region, resource_arn, message FROM findings WHERE status = 'open' AND check_id = 'lambda.env_secret_name' ORDER BY account, region",
        why: "Functions with a variable that holds or names a secret (Sightline keeps only whether it does, never the value).",
    },
];

/// The entry with this id.
pub fn entry(id: &str) -> Result<&'static Entry, AskError> {
    LIBRARY
        .iter()
        .find(|e| e.id == id)
        .ok_or(AskError::UnknownId)
}

/// A question matched to the library: the entry, its parameters, and the
/// statement to run.
#[derive(Debug, Clone, Serialize)]
pub struct Matched {
    pub entry: &'static Entry,
    pub params: BTreeMap<&'static str, String>,
    /// The parameters the question did not give, at their defaults.
    pub defaulted: Vec<&'static str>,
    /// The entry's question with its parameters filled in.
    pub asked: String,
    pub sql: String,
    /// Other entries that matched less well.
    pub also: Vec<&'static str>,
}

impl Matched {
    /// `entry` with `params` (the missing ones at their defaults, or
    /// refused where there is none).
    pub fn of(
        entry: &'static Entry,
        params: BTreeMap<&'static str, String>,
    ) -> Result<Self, AskError> {
        let mut params = params;
        let mut defaulted = Vec::new();
        for p in entry.params {
            if !params.contains_key(p.name) {
                if p.default.is_empty() {
                    return Err(AskError::CannotAnswer {
                        why: format!("\"{}\" needs {}", entry.question, p.kind.wanted()),
                        suggestions: entry.question.to_owned(),
                    });
                }
                params.insert(p.name, p.default.to_owned());
                defaulted.push(p.name);
            }
        }
        let sql = render(entry, &params)?;
        let mut asked = entry.question.to_owned();
        for (name, value) in &params {
            asked = asked.replace(&format!("{{{name}}}"), value);
        }
        Ok(Self {
            entry,
            params,
            defaulted,
            asked,
            sql,
            also: Vec::new(),
        })
    }
}

impl ParamKind {
    /// A value of this kind, for examples and tests.
    pub fn example(self) -> &'static str {
        match self {
            ParamKind::Days => "30",
            ParamKind::Region => "us-east-1",
            ParamKind::ResourceType => "ec2.volume",
        }
    }

    fn wanted(self) -> &'static str {
        match self {
            ParamKind::Days => "a number of days, weeks, months or years",
            ParamKind::Region => "a region, such as eu-west-1",
            ParamKind::ResourceType => "a resource type, such as s3.bucket or ec2.instance",
        }
    }
}

/// Lower-case words of `text`, with the characters a region or a resource
/// type spells kept (`eu-west-1`, `ec2.instance`).
fn words(text: &str) -> Vec<String> {
    text.to_lowercase()
        .split(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '/' | '_')))
        .map(|w| {
            w.trim_matches(|c: char| matches!(c, '.' | '-' | '/'))
                .to_owned()
        })
        .filter(|w| !w.is_empty())
        .collect()
}

/// How well `entry` fits the question's words: a keyword phrase found as a
/// whole counts twice its word count, and so does each word (not a common
/// one) shared with the entry's own question.
fn score(entry: &Entry, said: &[String]) -> usize {
    let padded = format!(" {} ", said.join(" "));
    let phrases: usize = entry
        .keywords
        .iter()
        .filter(|k| padded.contains(&format!(" {} ", words(k).join(" "))))
        .map(|k| 2 * words(k).len())
        .sum();
    const COMMON: &[&str] = &[
        "what", "which", "is", "are", "the", "a", "an", "of", "in", "do", "we", "our", "there",
        "how", "many", "much", "to", "by", "have", "has", "or", "and", "last", "than", "each",
    ];
    let own = words(entry.question);
    let shared = said
        .iter()
        .filter(|w| !COMMON.contains(&w.as_str()) && own.contains(w))
        .count();
    phrases + 2 * shared
}

/// The value of a `kind` parameter the question's words give, if any.
fn read_param(kind: ParamKind, said: &[String]) -> Option<String> {
    match kind {
        ParamKind::Days => said.windows(2).find_map(|w| {
            let per = if w[1].starts_with("day") {
                1
            } else if w[1].starts_with("week") {
                7
            } else if w[1].starts_with("month") {
                30
            } else if w[1].starts_with("year") {
                365
            } else if w[1].starts_with("hour") || w[1].starts_with("minute") {
                // A unit the library does not take: refused, not rounded.
                0
            } else {
                return None;
            };
            if w[0].is_empty() || !w[0].chars().all(|c| c.is_ascii_digit()) {
                return None;
            }
            // A number too large for its unit, or in a unit not taken,
            // stays as typed, for the parameter check to refuse.
            Some(
                w[0].parse::<u32>()
                    .ok()
                    .and_then(|n| n.checked_mul(per))
                    .filter(|d| *d > 0)
                    .map_or_else(|| format!("{} {}", w[0], w[1]), |d| d.to_string()),
            )
        }),
        ParamKind::Region => said.iter().find(|w| is_region(w)).cloned(),
        ParamKind::ResourceType => said.iter().find(|w| is_resource_type(w)).cloned(),
    }
}

/// Words that turn a question around.
const NEGATIONS: &[&str] = &[
    "not", "no", "without", "never", "none", "nobody", "don", "doesn", "isn", "aren", "hasn",
    "haven", "didn", "lacking", "missing",
];

fn negated(words: &[String]) -> bool {
    words.iter().any(|w| NEGATIONS.contains(&w.as_str()))
}

fn is_region(w: &str) -> bool {
    let parts: Vec<&str> = w.split('-').collect();
    let (Some(first), Some(last)) = (parts.first(), parts.last()) else {
        return false;
    };
    (3..=4).contains(&parts.len())
        && first.len() == 2
        && first.chars().all(|c| c.is_ascii_lowercase())
        && last.len() == 1
        && last.chars().all(|c| c.is_ascii_digit())
        && parts[1..parts.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_lowercase()))
}

/// The resource types Sightline's collectors record.
pub const RESOURCE_TYPES: &[&str] = &[
    "cloudtrail.trail",
    "dynamodb.table",
    "ec2.elastic_ip",
    "ec2.flow_log",
    "ec2.image",
    "ec2.instance",
    "ec2.nat_gateway",
    "ec2.network_acl",
    "ec2.security_group",
    "ec2.snapshot",
    "ec2.volume",
    "ec2.vpc",
    "ecr.repository",
    "efs.file_system",
    "elb.classic_load_balancer",
    "elb.listener",
    "elb.load_balancer",
    "elb.target_group",
    "iam.group",
    "iam.policy",
    "iam.role",
    "iam.user",
    "kms.key",
    "lambda.function",
    "logs.log_group",
    "rds.db_cluster",
    "rds.db_instance",
    "rds.db_snapshot",
    "s3.bucket",
    "secretsmanager.secret",
];

fn is_resource_type(w: &str) -> bool {
    RESOURCE_TYPES.contains(&w)
}

/// `value` as the SQL literal of a `kind` parameter, or why it cannot be one.
fn literal(param: &Param, value: &str) -> Result<String, AskError> {
    let bad = |expected| AskError::BadParam {
        param: param.name,
        expected,
        found: value.to_owned(),
    };
    match param.kind {
        ParamKind::Days => match value.parse::<u32>() {
            Ok(n) if (1..=3650).contains(&n) => Ok(n.to_string()),
            _ => Err(bad(
                "a whole number of days, weeks, months or years, from 1 day to 3650 days",
            )),
        },
        ParamKind::Region if is_region(value) => Ok(format!("'{value}'")),
        ParamKind::Region => Err(bad("an AWS region name such as eu-west-1")),
        ParamKind::ResourceType if is_resource_type(value) => Ok(format!("'{value}'")),
        ParamKind::ResourceType => Err(bad(
            "a resource type such as s3.bucket (GET /api/v1/ask/library lists them)",
        )),
    }
}

/// Every parameter of `entry` at an example value: its default, or an
/// example of its kind.
pub fn example_params(entry: &Entry) -> BTreeMap<&'static str, String> {
    entry
        .params
        .iter()
        .map(|p| {
            let value = if p.default.is_empty() {
                p.kind.example()
            } else {
                p.default
            };
            (p.name, value.to_owned())
        })
        .collect()
}

/// The entry's statement with `params` (missing ones at their defaults).
pub fn render(entry: &Entry, params: &BTreeMap<&str, String>) -> Result<String, AskError> {
    let mut sql = entry.sql.to_owned();
    for p in entry.params {
        let value = params.get(p.name).map_or(p.default, String::as_str);
        sql = sql.replace(&format!("{{{}}}", p.name), &literal(p, value)?);
    }
    Ok(sql)
}

/// Match a question in plain words to the library (profile `none`).
///
/// The best-scoring entry answers, unless that would answer another
/// question: one the question turns around (a negation the entry does not
/// share, or the other way round), or one that drops a region, resource
/// type or time span the question gives; then nothing answers, and the
/// closest entries that would fit are named. Two entries scoring alike are
/// refused as ambiguous, naming both. A parameter the question does not
/// give is its default, said so in the answer, or refused where it has none.
pub fn match_question(question: &str) -> Result<Matched, AskError> {
    let said = words(question);
    let mut ranked: Vec<(usize, &'static Entry)> = LIBRARY
        .iter()
        .map(|e| (score(e, &said), e))
        .filter(|(s, _)| *s > 0)
        .collect();
    // Best first; among equals, the library's own order.
    ranked.sort_by_key(|(score, _)| std::cmp::Reverse(*score));
    let suggest = |entries: &[&Entry]| {
        entries
            .iter()
            .map(|e| e.question)
            .collect::<Vec<_>>()
            .join(" | ")
    };
    if ranked.is_empty() {
        return Err(AskError::NoMatch {
            suggestions: suggest(&LIBRARY.iter().take(5).collect::<Vec<_>>()),
        });
    }
    let given: BTreeMap<ParamKind, String> =
        [ParamKind::Days, ParamKind::Region, ParamKind::ResourceType]
            .into_iter()
            .filter_map(|k| read_param(k, &said).map(|v| (k, v)))
            .collect();
    let turned = negated(&said);
    let entry_negated =
        |e: &Entry| negated(&words(e.question)) || e.keywords.iter().any(|k| negated(&words(k)));
    // Whether an entry keeps everything the question says.
    let fits = |e: &Entry| {
        entry_negated(e) == turned && given.keys().all(|k| e.params.iter().any(|p| p.kind == *k))
    };
    let (score, entry) = ranked[0];
    if !fits(entry) {
        let mut why = Vec::new();
        if turned != entry_negated(entry) {
            why.push(
                "the library has no question turned around like this one (not, no, without)"
                    .to_owned(),
            );
        }
        if !given
            .keys()
            .all(|k| entry.params.iter().any(|p| p.kind == *k))
        {
            why.push(format!(
                "no close library question takes {}",
                given
                    .keys()
                    .map(|k| k.wanted())
                    .collect::<Vec<_>>()
                    .join(" and ")
            ));
        }
        if why.is_empty() {
            why.push("the closest library questions ask something else".into());
        }
        let fitting: Vec<&Entry> = ranked
            .iter()
            .map(|(_, e)| *e)
            .filter(|e| fits(e))
            .take(3)
            .collect();
        let closest: Vec<&Entry> = if fitting.is_empty() {
            ranked.iter().take(3).map(|(_, e)| *e).collect()
        } else {
            fitting
        };
        return Err(AskError::CannotAnswer {
            why: why.join("; "),
            suggestions: suggest(&closest),
        });
    }
    if let Some(&(_, tie)) = ranked.get(1).filter(|(s, _)| *s == score) {
        return Err(AskError::CannotAnswer {
            why: "the question fits two library questions alike".into(),
            suggestions: suggest(&[entry, tie]),
        });
    }
    let params: BTreeMap<&'static str, String> = entry
        .params
        .iter()
        .filter_map(|p| given.get(&p.kind).map(|v| (p.name, v.clone())))
        .collect();
    let mut matched = Matched::of(entry, params)?;
    matched.also = ranked.iter().skip(1).take(3).map(|(_, e)| e.id).collect();
    Ok(matched)
}

/// A question answered: the entry that answered it and its rows.
#[derive(Debug, Clone, Serialize)]
pub struct Asked {
    pub matched: Matched,
    pub result: ResultSet,
}

/// Why a question got no answer.
#[derive(Debug, thiserror::Error)]
pub enum AskFailure {
    /// The question, or what the library made of it: the asker's to change.
    #[error("{0}")]
    Refused(String),
    #[error("Ask is off: started without SIGHTLINE_CONSOLE_DATABASE_URL (Ask runs its queries as the console does)")]
    Off,
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The task that ran the question ended without an answer (a panic).
    #[error("the question's task ended without an answer: {0}")]
    Task(String),
}

/// The question's shape, checked before anything else (and before it is
/// audited): its length, and an id that could be one.
pub fn check_shape(question: &str, id: Option<&str>) -> Result<(), AskFailure> {
    let chars = question.chars().count();
    if let Some(c) = question
        .chars()
        .find(|c| c.is_control() && *c != '\n' && *c != '\t')
    {
        return Err(AskFailure::Refused(format!(
            "question: expected printable text, found the control character U+{:04X}",
            c as u32
        )));
    }
    if chars > MAX_QUESTION_CHARS {
        return Err(AskFailure::Refused(format!(
            "question: expected at most {MAX_QUESTION_CHARS} characters, found {chars}"
        )));
    }
    match id {
        Some(id)
            if id.is_empty()
                || id.len() > MAX_ID_CHARS
                || !id
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') =>
        {
            Err(AskFailure::Refused(format!(
                "id: expected a library id (lower-case letters, digits and '-', at most {MAX_ID_CHARS}), as the library lists them"
            )))
        }
        Some(_) if !question.trim().is_empty() => Err(AskFailure::Refused(
            "expected a question or a library id, found both".into(),
        )),
        None if question.trim().is_empty() => Err(AskFailure::Refused(
            "question: expected a question in plain words or a library id, found nothing".into(),
        )),
        _ => Ok(()),
    }
}

/// The question (or library id) matched to the library, without running it.
pub fn plan(question: &str, id: Option<&str>) -> Result<Matched, AskError> {
    match id {
        Some(id) => Matched::of(entry(id)?, BTreeMap::new()),
        None => match_question(question),
    }
}

/// What the audit trail keeps of a refusal: its kind, never its text (which
/// may quote the question).
fn refusal(e: &AskError) -> &'static str {
    match e {
        AskError::NoMatch { .. } => "no library question matches",
        AskError::CannotAnswer { .. } => "the library cannot answer it",
        AskError::BadParam { .. } => "a parameter out of range",
        AskError::UnknownId => "no such library id",
    }
}

/// What a question came to, and what the audit trail keeps of it.
#[derive(Debug)]
pub struct Outcome {
    pub asked: Result<Asked, AskFailure>,
    /// The `ask.question` record's details: the question's SHA-256 and
    /// length, never its text (the trail is append-only, and a question may
    /// hold whatever was pasted into it); the entry, the statement, the rows
    /// or why it was refused.
    pub audit: serde_json::Value,
}

/// Ask, profile `none`: match the question (or the library id) and run its
/// statement on the console's path for `workspace_id`. A question refused
/// for its shape alone is an error, not recorded; anything after that is an
/// `Outcome` the caller records as `ask.question` in the workspace's
/// audit trail, whatever became of it.
pub async fn ask(
    console: Option<&ConsolePool>,
    workspace_id: Uuid,
    question: &str,
    id: Option<&str>,
) -> Result<Outcome, AskFailure> {
    check_shape(question, id)?;
    let matched = plan(question, id);
    let outcome = match (&matched, console) {
        (Ok(m), Some(pool)) => console::run(pool, workspace_id, &m.sql, console::Limits::default())
            .await
            .map_err(AskFailure::from),
        (Ok(_), None) => Err(AskFailure::Off),
        (Err(e), _) => Err(AskFailure::Refused(e.to_string())),
    };
    let digest = Sha256::digest(question.as_bytes());
    let mut audit = json!({
        "profile": "none",
        "question_sha256": digest.iter().map(|b| format!("{b:02x}")).collect::<String>(),
        "question_chars": question.chars().count(),
    });
    match (&matched, &outcome) {
        (Ok(m), Ok(r)) => {
            audit["entry"] = json!(m.entry.id);
            audit["sql"] = json!(m.sql);
            audit["rows"] = json!(r.rows.len());
            audit["truncated"] = json!(r.truncated.is_some());
        }
        (Ok(m), Err(e)) => {
            audit["entry"] = json!(m.entry.id);
            audit["sql"] = json!(m.sql);
            audit["refused"] = json!(e.to_string());
        }
        (Err(e), _) => audit["refused"] = json!(refusal(e)),
    }
    let asked = match matched {
        Ok(matched) => outcome.map(|result| Asked { matched, result }),
        Err(e) => Err(AskFailure::Refused(e.to_string())),
    };
    Ok(Outcome { asked, audit })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::console;

    #[test]
    fn the_library_holds_thirty_distinct_questions_each_a_valid_console_query() {
        assert!(LIBRARY.len() >= 30, "{} entries", LIBRARY.len());
        let ids: BTreeSet<&str> = LIBRARY.iter().map(|e| e.id).collect();
        assert_eq!(ids.len(), LIBRARY.len(), "ids are unique");
        for e in LIBRARY {
            let sql = render(e, &example_params(e)).unwrap();
            assert!(!sql.contains('{'), "{}: a parameter is left: {sql}", e.id);
            if let Err(err) = console::validate(&sql) {
                panic!("{}: the console refuses it: {err}", e.id);
            }
            assert!(
                !e.keywords.is_empty() && !e.explanation.is_empty(),
                "{}",
                e.id
            );
            for p in e.params {
                assert!(
                    e.sql.contains(&format!("{{{}}}", p.name)),
                    "{}: {}",
                    e.id,
                    p.name
                );
            }
        }
    }

    #[test]
    fn each_library_question_finds_itself() {
        let astray: Vec<(&str, &str)> = LIBRARY
            .iter()
            .map(|e| {
                let mut question = e.question.to_owned();
                for (name, value) in example_params(e) {
                    question = question.replace(&format!("{{{name}}}"), &value);
                }
                match match_question(&question) {
                    Ok(m) => (e.id, m.entry.id),
                    Err(err) => panic!("{question:?}: {err}"),
                }
            })
            .filter(|(own, found)| own != found)
            .collect();
        assert!(
            astray.is_empty(),
            "(entry, what its question matched): {astray:?}"
        );
    }

    #[test]
    fn questions_in_other_words_find_their_entry_and_parameters() {
        let mut astray = Vec::new();
        for (question, id) in [
            ("what's exposed to the internet?", "open-to-internet"),
            ("show me idle spend per account", "idle-spend-by-account"),
            ("instances without IMDSv2", "imdsv2"),
            ("resources without an owner tag", "no-owner-tag"),
            (
                "what changed since the last scan",
                "changed-since-last-scan",
            ),
            ("critical findings older than 45 days", "critical-old"),
            ("critical findings older than 1 year", "critical-old"),
            (
                "which security groups allow ssh from anywhere",
                "open-security-groups",
            ),
            ("who is an admin", "admin-access"),
        ] {
            let found = match_question(question).unwrap().entry.id;
            if found != id {
                astray.push((question, id, found));
            }
        }
        assert!(
            astray.is_empty(),
            "(question, expected, matched): {astray:?}"
        );
        let m = match_question("critical findings older than 45 days").unwrap();
        assert_eq!(m.params["days"], "45");
        assert!(m.defaulted.is_empty());
        assert_eq!(
            match_question("critical findings older than 1 year")
                .unwrap()
                .params["days"],
            "365"
        );
        assert!(m.sql.contains("(45 * interval '1 day')"), "{}", m.sql);
        let m = match_question("what is wrong in eu-west-1?").unwrap();
        assert_eq!(m.entry.id, "findings-in-region");
        assert!(m.sql.contains("region = 'eu-west-1'"), "{}", m.sql);
        let m = match_question("list every s3.bucket").unwrap();
        assert!(m.sql.contains("type = 's3.bucket'"), "{}", m.sql);
        // A number too large for its unit is refused, not wrapped.
        assert!(matches!(
            match_question("what was fixed in the last 4294967295 months"),
            Err(AskError::BadParam { .. })
        ));
        let m = match_question("what was fixed in the last 2 weeks").unwrap();
        assert_eq!(
            (m.entry.id, m.params["days"].as_str()),
            ("resolved-recently", "14")
        );
    }

    #[test]
    fn nothing_the_question_says_reaches_the_sql_but_checked_parameters() {
        let quote = "what is wrong in eu-west-1' OR '1'='1";
        let m = match_question(quote).unwrap();
        assert!(!m.sql.contains("OR '1'='1"), "{}", m.sql);
        let entry = entry("findings-in-region").unwrap();
        let hostile = BTreeMap::from([("region", "x' OR 1=1 --".to_owned())]);
        assert_eq!(
            render(entry, &hostile),
            Err(AskError::BadParam {
                param: "region",
                expected: "an AWS region name such as eu-west-1",
                found: "x' OR 1=1 --".into()
            })
        );
        // Each check id a statement names is one the catalog has.
        let checks: BTreeSet<&str> = sightline_core::catalog().iter().map(|c| c.id).collect();
        for e in LIBRARY {
            for literal in e.sql.split('\'').skip(1).step_by(2) {
                let dotted =
                    literal.contains('.') && !literal.contains(' ') && !literal.ends_with('%');
                if dotted && !RESOURCE_TYPES.contains(&literal) {
                    assert!(checks.contains(literal), "{}: no check {literal}", e.id);
                }
            }
        }
        let days = entry_days();
        for bad in ["0", "3651", "-1", "1e3", "7; DROP TABLE findings"] {
            let p = BTreeMap::from([("days", bad.to_owned())]);
            assert!(render(days, &p).is_err(), "{bad}");
        }
        // A control character (NUL, which PostgreSQL's text refuses) is refused before anything runs.
        assert!(check_shape("a\u{0}b", None)
            .unwrap_err()
            .to_string()
            .contains("control character U+0000"));
        assert!(check_shape("two lines\nof question", None).is_ok());
        let err = match_question("zzz qqq").unwrap_err();
        assert!(matches!(err, AskError::NoMatch { .. }), "{err}");
        // The refusal does not repeat the question (it may hold anything).
        assert!(!match_question("zzz secret-ish qqq")
            .unwrap_err()
            .to_string()
            .contains("secret-ish"));
    }

    /// A question the best entry would answer wrongly is refused, with the
    /// entries that would fit: never a default region or type, never the
    /// opposite set, never a filter the asker did not give dropped.
    #[test]
    fn a_question_the_library_would_answer_wrongly_is_refused() {
        for (question, why) in [
            ("list every s3 bucket", "needs a resource type"),
            ("what runs in Frankfurt?", "needs a region"),
            ("which buckets are not public", "turned around"),
            ("which instances do require imdsv2", "turned around"),
            ("critical findings in eu-west-1", "takes a region"),
            (
                "which findings appeared in the last 24 hours",
                "days, weeks, months or years",
            ),
            ("list every rds.instance", "needs a resource type"),
        ] {
            match match_question(question) {
                Err(e) => assert!(e.to_string().contains(why), "{question:?}: {e}"),
                Ok(m) => panic!("{question:?} was answered by {}: {}", m.entry.id, m.sql),
            }
        }
        // What the question leaves out is said: the default is named.
        let m = match_question("which critical findings are old").unwrap();
        assert_eq!(
            (m.entry.id, m.defaulted.as_slice()),
            ("critical-old", &["days"][..])
        );
        assert_eq!(m.asked, "Which critical findings are older than 30 days?");
    }

    fn entry_days() -> &'static Entry {
        entry("critical-old").unwrap()
    }
}
