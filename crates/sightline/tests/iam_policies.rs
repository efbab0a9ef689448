//! The committed IAM policy files are exactly what `sightline iam` generates
//! from the action manifest, and the reviewer README's coverage table is
//! exactly what `sightline iam coverage` computes.

mod support;

use std::process::Command;

fn sightline(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_sightline"))
        .args(args)
        .output()
        .expect("run sightline");
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn committed(path: &str) -> String {
    std::fs::read_to_string(support::repo_root().join(path))
        .unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn committed_policies_match_the_generated_ones() {
    assert_eq!(
        committed("iam-policies/sightline-least-privilege.json"),
        sightline(&["iam", "policy", "--kind", "least-privilege"]),
        "regenerate with: sightline iam policy > iam-policies/sightline-least-privilege.json"
    );
    assert_eq!(
        committed("iam-policies/sightline-data-plane-deny.json"),
        sightline(&["iam", "policy", "--kind", "data-plane-deny"]),
        "regenerate with: sightline iam policy --kind data-plane-deny > iam-policies/sightline-data-plane-deny.json"
    );
}

#[test]
fn reviewer_readme_holds_the_computed_coverage_table() {
    let table = sightline(&["iam", "coverage"]);
    let readme = committed("iam-policies/README.md");
    assert!(
        readme.contains(&table),
        "iam-policies/README.md is stale: paste the output of `sightline iam coverage`"
    );
    let data = sightline(&["iam", "data-access"]);
    assert!(
        readme.contains(&data),
        "iam-policies/README.md is stale: paste the output of `sightline iam data-access`"
    );
}

#[test]
fn the_generated_policy_holds_only_read_actions() {
    let policy: serde_json::Value = serde_json::from_str(&sightline(&["iam", "policy"])).unwrap();
    for action in policy["Statement"][0]["Action"].as_array().unwrap() {
        let action = action.as_str().unwrap();
        assert!(sightline_aws::manifest::is_read_only(action), "{action}");
        assert!(!action.contains('*'), "{action} is a wildcard");
    }
}
