//! IAM policy documents as data: which actions a policy allows, matched the
//! way IAM does (case-insensitive, `*` and `?` wildcards, Deny wins), the
//! least-privilege policy generated from the manifest, and the data-plane
//! deny policy.

use serde_json::{json, Value};

use crate::coverage::{data_plane_grants, ManagedPolicyFacts};
use crate::manifest::ActionManifest;

/// Whether `pattern` (with `*` and `?`) matches `action`, ignoring case.
pub fn action_matches(pattern: &str, action: &str) -> bool {
    fn go(p: &[u8], a: &[u8]) -> bool {
        match (p.first(), a.first()) {
            (None, None) => true,
            (Some(b'*'), _) => go(&p[1..], a) || (!a.is_empty() && go(p, &a[1..])),
            (Some(b'?'), Some(_)) => go(&p[1..], &a[1..]),
            (Some(x), Some(y)) if x.eq_ignore_ascii_case(y) => go(&p[1..], &a[1..]),
            _ => false,
        }
    }
    go(pattern.as_bytes(), action.as_bytes())
}

/// Whether some action matches both patterns (each with `*` and `?`,
/// ignoring case): does a policy's `s3:Get*` reach the family `s3:GetObject*`?
pub fn patterns_overlap(a: &str, b: &str) -> bool {
    fn go(a: &[u8], b: &[u8]) -> bool {
        match (a.first(), b.first()) {
            (None, None) => true,
            (Some(b'*'), _) => go(&a[1..], b) || (!b.is_empty() && go(a, &b[1..])),
            (_, Some(b'*')) => go(a, &b[1..]) || (!a.is_empty() && go(&a[1..], b)),
            (Some(b'?'), Some(_)) | (Some(_), Some(b'?')) => go(&a[1..], &b[1..]),
            (Some(x), Some(y)) if x.eq_ignore_ascii_case(y) => go(&a[1..], &b[1..]),
            _ => false,
        }
    }
    go(a.as_bytes(), b.as_bytes())
}

fn list(value: Option<&Value>) -> Vec<&str> {
    match value {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

/// The statements of a policy document (accepts a bare document or a
/// `GetPolicyVersion` answer).
fn statements(doc: &Value) -> Vec<&Value> {
    let doc = doc.pointer("/PolicyVersion/Document").unwrap_or(doc);
    match doc.get("Statement") {
        Some(Value::Array(items)) => items.iter().collect(),
        Some(single @ Value::Object(_)) => vec![single],
        _ => Vec::new(),
    }
}

fn statement_covers(statement: &Value, action: &str) -> bool {
    if let Some(not) = statement.get("NotAction") {
        return !list(Some(not)).iter().any(|p| action_matches(p, action));
    }
    list(statement.get("Action"))
        .iter()
        .any(|p| action_matches(p, action))
}

/// Whether the document allows `action` on every resource (`Resource: *`),
/// with explicit denies taking precedence. Conditions are not evaluated.
pub fn allows(doc: &Value, action: &str) -> bool {
    let effect = |s: &Value| {
        s.get("Effect")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned()
    };
    let on_everything = |s: &Value| list(s.get("Resource")).contains(&"*");
    let denied = statements(doc)
        .into_iter()
        .any(|s| effect(s) == "Deny" && statement_covers(s, action));
    let allowed = statements(doc)
        .into_iter()
        .any(|s| effect(s) == "Allow" && on_everything(s) && statement_covers(s, action));
    allowed && !denied
}

/// The least-privilege policy: exactly the manifest's actions.
pub fn least_privilege_policy(manifest: &ActionManifest) -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "SightlineReadOnlyScan",
            "Effect": "Allow",
            "Action": manifest.actions(),
            "Resource": "*",
        }],
    })
}

/// STS's limit on an inline session policy, in characters of plain text.
pub const SESSION_POLICY_MAX_CHARS: usize = 2048;

/// The inline session policy of one collector's STS session: exactly the
/// collector's manifest actions, compact so it stays well inside STS's
/// limit. The session's rights are this intersected with the role's, so a
/// collector that calls outside its list is refused by AWS even though the
/// monitoring role would allow it.
pub fn session_policy(actions: &[&str]) -> String {
    let mut actions = actions.to_vec();
    actions.sort_unstable_by_key(|a| a.to_ascii_lowercase());
    actions.dedup_by_key(|a| a.to_ascii_lowercase());
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Action": actions,
            "Resource": "*",
        }],
    })
    .to_string()
}

/// The read policies a monitoring role may carry instead of Sightline's own.
pub const DENY_COVERS: [&str; 2] = ["ReadOnlyAccess", "ViewOnlyAccess"];

/// Families denied even though neither policy grants them today: secret
/// values, code execution and SQL over data APIs. A later version of a
/// managed policy that added one would otherwise read data until the next
/// regeneration.
pub const DENIED_REGARDLESS: &[&str] = &[
    "secretsmanager:GetSecretValue",
    "secretsmanager:BatchGetSecretValue",
    "lambda:InvokeFunction",
    "rds-data:ExecuteStatement",
    "redshift-data:GetStatementResult*",
];

/// Explicit deny of every data-reading family (`DATA_READ_FAMILIES`) that
/// ReadOnlyAccess or ViewOnlyAccess grants, derived from AWS's documents
/// (`data/managed-policy-facts.json`): whatever read policy is attached, the
/// role reads none of the catalogued families. A data reader the catalog
/// does not name is not denied; a family neither policy grants needs no deny.
pub fn data_plane_deny_policy() -> Value {
    let grants = data_plane_grants(&ManagedPolicyFacts::shipped());
    let mut actions: Vec<&str> = DENY_COVERS
        .iter()
        .filter_map(|policy| grants.get(*policy))
        .flatten()
        .copied()
        .chain(DENIED_REGARDLESS.iter().copied())
        .collect();
    actions.sort_unstable_by_key(|a| a.to_ascii_lowercase());
    actions.dedup();
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "SightlineNeverReadsData",
            "Effect": "Deny",
            "Action": actions,
            "Resource": "*",
        }],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each collector's session allows its own actions and no other action
    /// of the manifest, and fits STS's size limit.
    #[test]
    fn each_collector_session_allows_exactly_its_manifest_section() {
        let manifest = ActionManifest::full();
        for entry in &manifest.entries {
            let text = session_policy(entry.actions);
            assert!(
                text.len() <= SESSION_POLICY_MAX_CHARS,
                "{}: {} chars",
                entry.collector,
                text.len()
            );
            let doc: Value = serde_json::from_str(&text).unwrap();
            for action in manifest.actions() {
                let own = entry.actions.iter().any(|a| a.eq_ignore_ascii_case(action));
                assert_eq!(allows(&doc, action), own, "{}: {action}", entry.collector);
            }
            for data_read in ["s3:GetObject", "secretsmanager:GetSecretValue"] {
                assert!(!allows(&doc, data_read), "{}: {data_read}", entry.collector);
            }
        }
    }

    #[test]
    fn patterns_overlap_when_one_action_matches_both() {
        assert!(patterns_overlap("s3:Get*", "s3:GetObject*"));
        assert!(patterns_overlap("S3:GETOBJECT", "s3:GetObject*"));
        assert!(patterns_overlap(
            "ec2:DescribeInstance*",
            "ec2:DescribeInstanceAttribute"
        ));
        assert!(patterns_overlap("xray:BatchGet*", "xray:BatchGetTraces"));
        assert!(patterns_overlap("*", "logs:GetLogEvents"));
        assert!(patterns_overlap(
            "kinesisvideo:Get?edia*",
            "kinesisvideo:GetMedia"
        ));
        assert!(!patterns_overlap("s3:GetBucket*", "s3:GetObject*"));
        assert!(!patterns_overlap("logs:Describe*", "logs:GetLogEvents"));
        assert!(!patterns_overlap(
            "ec2:DescribeInstances",
            "ec2:DescribeInstanceAttribute"
        ));
    }

    /// The families the issue named, each denied by the generated policy.
    #[test]
    fn the_generated_deny_covers_the_known_data_readers() {
        let deny = data_plane_deny_policy();
        let denied: Vec<&str> = deny["Statement"][0]["Action"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        for action in [
            "s3:GetObject",
            "s3:GetObjectVersion",
            "secretsmanager:GetSecretValue",
            "dynamodb:Scan",
            "ssm:GetParameter",
            "ssm:GetParametersByPath",
            "secretsmanager:GetSecretValue",
            "sqs:ReceiveMessage",
            "logs:GetLogEvents",
            "logs:GetLogRecord",
            "logs:StartQuery",
            "logs:GetQueryResults",
            "ssm:GetCommandInvocation",
            "s3-object-lambda:GetObject",
            "es:ESHttpGet",
            "dax:GetItem",
            "dax:Query",
            "dax:Scan",
            "cassandra:Select",
            "codecommit:GitPull",
            "codecommit:GetFolder",
            "codecommit:GetCommit",
            "glacier:GetJobOutput",
            "states:GetExecutionHistory",
            "xray:BatchGetTraces",
            "athena:GetQueryResultsStream",
            "cloudtrail:GetQueryResults",
            "kinesisvideo:GetMedia",
            "qldb:GetBlock",
            "lambda:GetLayerVersion",
            "ec2:DescribeLaunchTemplateVersions",
            "autoscaling:DescribeLaunchConfigurations",
            "ec2:DescribeInstanceAttribute",
        ] {
            assert!(
                denied.iter().any(|d| action_matches(d, action)),
                "{action} is not denied by {denied:?}"
            );
        }
        // Every entry is a catalog family: the policy holds nothing else.
        for entry in &denied {
            assert!(
                crate::manifest::DATA_READ_FAMILIES
                    .iter()
                    .any(|f| f.actions == *entry),
                "{entry} is not a catalog family"
            );
        }
        assert_eq!(deny["Statement"][0]["Resource"], "*");
        assert!(deny["Statement"][0].get("Condition").is_none());
        // Nothing the scanner calls is denied.
        for action in ActionManifest::full().actions() {
            assert!(
                !denied.iter().any(|d| action_matches(d, action)),
                "the deny refuses the scanner's {action}"
            );
        }
    }

    #[test]
    fn wildcards_match_like_iam() {
        assert!(action_matches("s3:Get*", "s3:GetObject"));
        assert!(action_matches("S3:get*", "s3:GetBucketAcl"));
        assert!(action_matches("ec2:Describe?olumes", "ec2:DescribeVolumes"));
        assert!(action_matches("*", "iam:CreateUser"));
        assert!(!action_matches("s3:Get*", "s3:ListAllMyBuckets"));
        assert!(!action_matches("ec2:Describe*", "ec2:DeleteVolume"));
    }

    #[test]
    fn deny_wins_and_not_action_inverts() {
        let doc = json!({"Statement": [
            {"Effect": "Allow", "Action": ["s3:Get*", "ec2:Describe*"], "Resource": "*"},
            {"Effect": "Deny", "Action": "s3:GetObject", "Resource": "*"},
            {"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}
        ]});
        assert!(allows(&doc, "s3:GetBucketAcl"));
        assert!(!allows(&doc, "s3:GetObject"));
        assert!(allows(&doc, "lambda:ListFunctions"));
        assert!(!allows(&doc, "iam:GetAccountSummary"));
    }

    #[test]
    fn least_privilege_policy_allows_exactly_the_manifest() {
        let manifest = ActionManifest::full();
        let policy = least_privilege_policy(&manifest);
        for action in manifest.actions() {
            assert!(allows(&policy, action), "{action}");
        }
        assert!(!allows(&policy, "s3:GetObject"));
        assert!(!allows(&policy, "ec2:DeleteVolume"));
        let deny = data_plane_deny_policy();
        let combined =
            json!({"Statement": [policy["Statement"][0].clone(), deny["Statement"][0].clone()]});
        for action in manifest.actions() {
            assert!(
                allows(&combined, action),
                "the deny policy blocks the scanner's own {action}"
            );
        }
    }
}
