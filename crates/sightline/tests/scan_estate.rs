//! `sightline scan` against the seeded emulator: every seeded
//! misconfiguration yields exactly its finding on exactly its resource,
//! clean resources yield none, and every report format is written.

mod support;

use std::collections::BTreeSet;

use serde_json::Value;
use support::{finding_labels, outcome, run, stderr, Emulator};

/// Checks whose service the emulator (moto 5.2.5) does not implement, and
/// the action that fails for it.
const UNEMULATED: &[(&str, &str)] = &[(
    "security.access_analyzer_off",
    "access-analyzer:ListAnalyzers",
)];

#[test]
fn scan_reports_exactly_the_seeded_misconfigurations() {
    let emulator = Emulator::start("test");
    let out_dir = tempfile::tempdir().unwrap();
    let out = run(emulator
        .sightline()
        .args(["scan", "--regions", "us-east-1,eu-west-1", "--output-dir"])
        .arg(out_dir.path())
        .args([
            "--format",
            "json",
            "--format",
            "csv",
            "--format",
            "ocsf",
            "--format",
            "sarif",
            "--format",
            "table",
            "--compliance",
            "cis-3.0",
            "--compliance",
            "cis-7.0",
        ])
        .env("SIGHTLINE_LOG", "trace"));
    let log = stderr(&out);
    assert_eq!(
        out.status.code(),
        Some(3),
        "failing findings exit 3; stderr:\n{log}"
    );

    let report: Value = serde_json::from_slice(
        &std::fs::read(out_dir.path().join("sightline-report.json")).unwrap(),
    )
    .unwrap();
    let found = finding_labels(&report);
    let expected = emulator.expected();
    let missing: Vec<_> = expected.difference(&found).collect();
    let unexpected: Vec<_> = found.difference(&expected).collect();
    assert!(missing.is_empty() && unexpected.is_empty(), "missing findings: {missing:#?}\nunexpected findings (clean resources flagged): {unexpected:#?}");

    // Every check in the catalog is covered by the estate and fails there,
    // but for those the emulator cannot serve: each is a gap in every
    // region it reads, and "not evaluated", never a pass.
    let seeded_checks: BTreeSet<&str> = expected.iter().map(|(c, _)| c.as_str()).collect();
    for (check, action) in UNEMULATED {
        assert_eq!(
            outcome(&report, check)["status"],
            "not_evaluated",
            "{check}"
        );
        let regions: BTreeSet<&str> = report["gaps"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|g| g["action"] == *action)
            .map(|g| g["region"].as_str().unwrap())
            .collect();
        assert_eq!(
            regions,
            BTreeSet::from(["eu-west-1", "us-east-1"]),
            "{action}"
        );
    }
    for check in sightline_core::catalog()
        .iter()
        .filter(|c| !UNEMULATED.iter().any(|(u, _)| *u == c.id))
    {
        assert!(
            seeded_checks.contains(check.id),
            "the test estate seeds nothing for {}",
            check.id
        );
        assert_eq!(
            outcome(&report, check.id)["status"],
            "failed",
            "{}",
            check.id
        );
    }

    // No other gap: everything else the emulator answers as AWS does.
    let gaps: BTreeSet<String> = report["gaps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["action"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        gaps,
        BTreeSet::from(["access-analyzer:ListAnalyzers".to_owned()]),
        "{:#?}",
        report["gaps"]
    );

    // Savings come with their formula, and remediation with rollback.
    let unattached = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["resource_name"] == "unattached-gp3")
        .unwrap();
    assert_eq!(unattached["savings"]["monthly_usd"], 8.0);
    assert!(unattached["savings"]["formula"]
        .as_str()
        .unwrap()
        .contains("100 GiB"));
    for f in report["findings"].as_array().unwrap() {
        assert!(
            !f["remediation"].as_array().unwrap().is_empty(),
            "{} has no remediation",
            f["check_id"]
        );
        assert!(
            !f["rollback"].as_array().unwrap().is_empty(),
            "{} has no rollback",
            f["check_id"]
        );
        assert_eq!(f["evidence_sha256"].as_str().unwrap().len(), 64);
    }

    // Every format was written and names the same findings.
    let csv = std::fs::read_to_string(out_dir.path().join("sightline-findings.csv")).unwrap();
    assert_eq!(
        csv.lines()
            .filter(|l| l.contains("ec2.instance_idle"))
            .count(),
        1
    );
    let ocsf: Value = serde_json::from_slice(
        &std::fs::read(out_dir.path().join("sightline-findings.ocsf.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(ocsf.as_array().unwrap().len(), found.len());
    assert!(ocsf
        .as_array()
        .unwrap()
        .iter()
        .all(|f| f["class_uid"] == 2004));
    let sarif: Value = serde_json::from_slice(
        &std::fs::read(out_dir.path().join("sightline-findings.sarif")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        sarif["runs"][0]["results"].as_array().unwrap().len(),
        found.len()
    );
    let table = std::fs::read_to_string(out_dir.path().join("sightline-report.txt")).unwrap();
    let every_check_failed = format!(
        "Checks: 0 passed, {} failed, {} not evaluated.",
        sightline_core::catalog().len() - UNEMULATED.len(),
        UNEMULATED.len()
    );
    assert!(table.contains(&every_check_failed), "{table}");

    // The compliance report: every check fails on the estate, so every
    // control a check decides fails, with the findings behind it.
    let control = |framework: &str, id: &str| -> Value {
        report["compliance"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["framework"] == framework)
            .and_then(|f| {
                f["controls"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|c| c["id"] == id)
            })
            .cloned()
            .unwrap_or_else(|| panic!("no {framework} {id}"))
    };
    let root_keys = control("cis-3.0", "1.4");
    assert_eq!(root_keys["status"], "fail");
    assert_eq!(root_keys["findings"][0]["check_id"], "iam.root_access_keys");
    assert_eq!(control("cis-7.0", "2.4")["status"], "fail");
    assert_eq!(control("cis-7.0", "6.1.1")["status"], "fail");
    assert_eq!(control("cis-3.0", "1.1")["status"], "manual");
    // IAM Access Analyzer, which the emulator lacks: not evaluated, with why.
    let analyzer = control("cis-3.0", "1.20");
    assert_eq!(analyzer["status"], "not_evaluated");
    assert_eq!(
        analyzer["reason"],
        "security.access_analyzer_off could not be evaluated (a coverage gap)"
    );
    let bpa = control("cis-3.0", "2.1.4");
    let bpa_resources: BTreeSet<&str> = bpa["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["check_id"].as_str().unwrap())
        .collect();
    // The bucket check already allows for the account-level block.
    assert_eq!(
        bpa_resources,
        BTreeSet::from(["s3.bucket_no_public_access_block"])
    );
    let csv = std::fs::read_to_string(out_dir.path().join("sightline-compliance.csv")).unwrap();
    assert!(
        csv.contains("\ncis-7.0,7.0.0,2.4,1,automated,fail,"),
        "{csv}"
    );
    let ocsf: Value = serde_json::from_slice(
        &std::fs::read(out_dir.path().join("sightline-compliance.ocsf.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(ocsf.as_array().unwrap().len(), 62 + 70);
    assert!(
        table.contains("CIS AWS Foundations 7.0.0 (cis-7.0):"),
        "{table}"
    );

    // The planted Lambda environment value, and the canaries inside
    // resources (a secret's value, a table item's, a listener's OIDC client
    // secret), appear in no output and no log.
    let secrets = emulator.canaries();
    assert_eq!(secrets.len(), 4);
    for secret in &secrets {
        assert!(!log.contains(secret), "{secret} in the log");
        for entry in std::fs::read_dir(out_dir.path()).unwrap() {
            let path = entry.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap();
            assert!(!text.contains(secret), "{secret} in {}", path.display());
        }
    }
    // The replicated secret is judged once, in its primary's region, not
    // again as its eu-west-1 replica.
    let replicated: Vec<&str> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| {
            f["check_id"] == "secretsmanager.rotation_off" && f["resource_id"] == "app/replicated"
        })
        .map(|f| f["region"].as_str().unwrap())
        .collect();
    assert_eq!(replicated, ["us-east-1"]);
    // The never-expiring log group's saving: half of its two years of
    // events are older than the year the fix keeps.
    let forever = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["check_id"] == "logs.group_never_expires")
        .unwrap();
    assert_eq!(forever["resource_id"], "/app/forever");
    assert_eq!(forever["savings"]["monthly_usd"], 0.75, "{forever:#}");
    assert!(
        report.to_string().contains("DB_PASSWORD"),
        "the variable's name is kept"
    );
}

#[test]
fn a_scan_with_no_failing_finding_exits_zero_and_honours_checks_and_regions() {
    let emulator = Emulator::start("test");
    let out = run(emulator.sightline().args([
        "scan",
        "--regions",
        "eu-west-1",
        "--checks",
        "ebs.volume_gp2,ec2.sg_*",
        "--format",
        "json",
    ]));
    // `ec2.sg_*` is not a valid selector: only `service.*` prefixes are.
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));

    let out = run(emulator.sightline().args([
        "scan",
        "--regions",
        "eu-west-1",
        "--checks",
        "ebs.volume_gp2,rds.*",
        "--format",
        "json",
    ]));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let ran: BTreeSet<&str> = report["outcomes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["check_id"].as_str().unwrap())
        .collect();
    let selected: BTreeSet<&str> = sightline_core::catalog()
        .iter()
        .map(|c| c.id)
        .filter(|id| *id == "ebs.volume_gp2" || id.starts_with("rds."))
        .collect();
    assert!(selected.contains("rds.instance_public"));
    assert_eq!(ran, selected);
    assert_eq!(report["services"], serde_json::json!(["ec2", "rds"]));
    assert!(report["findings"].as_array().unwrap().is_empty());
}
