//! IAM policy documents as data: which actions a policy allows, matched the
//! way IAM does (case-insensitive, `*` and `?` wildcards, Deny wins), the
//! least-privilege policy generated from the manifest, and the data-plane
//! deny policy.

use serde_json::{json, Value};

use crate::manifest::{ActionManifest, DATA_PLANE_ACTIONS};

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

/// Explicit deny of every action that reads data inside resources.
pub fn data_plane_deny_policy() -> Value {
    let mut actions: Vec<&str> = DATA_PLANE_ACTIONS.to_vec();
    actions.sort_unstable_by_key(|a| a.to_ascii_lowercase());
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
