use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use super::*;
use crate::evaluate::{CheckOutcome, ScanStats};
use crate::finding::{Category, Finding, Severity};

/// Automated controls no check decides yet: they report "not evaluated".
/// The list may only shrink: each entry must really be unmapped.
const PENDING: &[(&str, &[&str])] = &[("cis-3.0", &[]), ("cis-5.0", &[]), ("cis-7.0", &[])];

/// Where the reference data misnumbers a control: (version, title prefix,
/// the benchmark's number). The shipped file uses the benchmark's number.
const RENUMBERED: &[(&str, &str, &str)] = &[(
    "5.0",
    "Do not create access keys during initial setup",
    "1.10",
)];

fn shared_cis(version: &str) -> Option<Vec<BTreeMap<String, String>>> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/cis")
        .join(format!("cis-aws-{version}.tsv"));
    let text = std::fs::read_to_string(&path).ok()?;
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next()?.split('\t').collect();
    Some(
        lines
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                let mut row: BTreeMap<String, String> = header
                    .iter()
                    .zip(l.split('\t'))
                    .map(|(k, v)| ((*k).to_owned(), v.to_owned()))
                    .collect();
                for (v, title, id) in RENUMBERED {
                    if *v == version && row["title"].starts_with(title) {
                        row.insert("id".into(), (*id).into());
                    }
                }
                row
            })
            .collect(),
    )
}

#[test]
fn every_shipped_framework_parses_and_names_only_real_checks() {
    let catalog: BTreeSet<&str> = crate::catalog().iter().map(|c| c.id).collect();
    let ids: Vec<&str> = frameworks().iter().map(|f| f.id).collect();
    assert_eq!(ids, ["cis-3.0", "cis-5.0", "cis-7.0"]);
    for (id, _, _, text) in SHIPPED {
        let controls = parse_controls(text).unwrap_or_else(|e| panic!("{id}: {e}"));
        let unique: BTreeSet<&str> = controls.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(
            unique.len(),
            controls.len(),
            "{id}: a control is listed twice"
        );
        for control in &controls {
            for check in &control.checks {
                let check = check.split('#').next().unwrap_or_default();
                assert!(
                    catalog.contains(check),
                    "{id} {}: no check {check}",
                    control.id
                );
            }
        }
    }
}

#[test]
fn every_automated_control_of_every_version_maps_to_a_check_and_manual_ones_are_manual() {
    for (framework_id, version, count, automated) in [
        ("cis-3.0", "3.0", 62, 54),
        ("cis-5.0", "5.0", 63, 35),
        ("cis-7.0", "7.0", 70, 34),
    ] {
        let framework = framework(framework_id).unwrap();
        assert_eq!(framework.controls.len(), count, "{framework_id}");
        let ours_automated: Vec<&Control> = framework
            .controls
            .iter()
            .filter(|c| c.assessment == Assessment::Automated)
            .collect();
        assert_eq!(ours_automated.len(), automated, "{framework_id}");

        // Against the published benchmark, where the reference data is here.
        if let Some(reference) = shared_cis(version) {
            let theirs: BTreeMap<&str, (&str, &str, &str)> = reference
                .iter()
                .map(|r| {
                    (
                        r["id"].as_str(),
                        (
                            r["profile"].as_str(),
                            r["assessment"].as_str(),
                            r["title"].as_str(),
                        ),
                    )
                })
                .collect();
            let ours: BTreeMap<&str, (String, &str, &str)> = framework
                .controls
                .iter()
                .map(|c| {
                    (
                        c.id.as_str(),
                        (
                            format!("Level {}", c.level),
                            match c.assessment {
                                Assessment::Automated => "Automated",
                                Assessment::Manual => "Manual",
                            },
                            c.title.as_str(),
                        ),
                    )
                })
                .collect();
            let ours: BTreeMap<&str, (&str, &str, &str)> = ours
                .iter()
                .map(|(k, (l, a, t))| (*k, (l.as_str(), *a, *t)))
                .collect();
            assert_eq!(
                ours, theirs,
                "{framework_id} differs from ../shared/data/cis"
            );
        } else {
            eprintln!("../shared/data/cis not present: compared with the shipped file only");
        }

        let unmapped: BTreeSet<&str> = ours_automated
            .iter()
            .filter(|c| c.checks.is_empty())
            .map(|c| c.id.as_str())
            .collect();
        let pending: BTreeSet<&str> = PENDING
            .iter()
            .find(|(f, _)| *f == framework_id)
            .map(|(_, ids)| ids.iter().copied().collect())
            .unwrap_or_default();
        assert_eq!(
            unmapped, pending,
            "{framework_id}: automated controls without a check must be exactly the pending list"
        );
        let manual: Vec<&str> = framework
            .controls
            .iter()
            .filter(|c| c.assessment == Assessment::Manual)
            .map(|c| c.id.as_str())
            .collect();
        let report = assess(framework, &report_of(&[], &[]));
        for control in &report.controls {
            assert_eq!(
                control.status == ControlStatus::Manual,
                manual.contains(&control.id.as_str()),
                "{framework_id} {}",
                control.id
            );
        }
    }
}

fn outcome(check_id: &str, status: CheckStatus) -> CheckOutcome {
    CheckOutcome {
        check_id: check_id.into(),
        title: check_id.into(),
        category: Category::Security,
        severity: Severity::High,
        status,
        findings: usize::from(status == CheckStatus::Failed),
        incomplete: false,
        missing: Vec::new(),
    }
}

fn finding(check_id: &str, resource: &str) -> Finding {
    Finding {
        check_id: check_id.to_owned().into(),
        title: check_id.to_owned().into(),
        category: Category::Security,
        severity: Severity::High,
        account_id: "111122223333".into(),
        region: "global".into(),
        resource_type: "AWS::IAM::User".into(),
        resource_id: resource.into(),
        resource_arn: format!("arn:aws:iam::111122223333:user/{resource}"),
        resource_name: None,
        message: format!("{resource} is wrong"),
        evidence: Default::default(),
        evidence_sha256: Default::default(),
        remediation: Default::default(),
        rollback: Default::default(),
        cis: Vec::new(),
        savings: None,
    }
}

fn report_of(outcomes: &[CheckOutcome], findings: &[Finding]) -> ScanReport {
    ScanReport {
        account_id: "111122223333".into(),
        regions: vec!["us-east-1".into()],
        services: vec!["iam".into()],
        generated_at: chrono::Utc::now(),
        stats: ScanStats::default(),
        outcomes: outcomes.to_vec(),
        findings: findings.to_vec(),
        gaps: Vec::new(),
        all_regions_scanned: true,
        compliance: Vec::new(),
    }
}

fn control(report: &ComplianceReport, id: &str) -> ControlResult {
    report
        .controls
        .iter()
        .find(|c| c.id == id)
        .cloned()
        .unwrap_or_else(|| panic!("no control {id}"))
}

#[test]
fn a_control_fails_on_a_finding_passes_only_when_every_check_passed_and_otherwise_is_not_evaluated()
{
    let cis = framework("cis-3.0").unwrap();
    let report = report_of(
        &[
            // 1.4: its one check passed.
            outcome("iam.root_access_keys", CheckStatus::Passed),
            // 1.5: its check could not read what it needs.
            outcome("iam.root_no_mfa", CheckStatus::NotEvaluated),
            // 1.10: failed on one user.
            outcome("iam.user_console_no_mfa", CheckStatus::Failed),
            // 2.2.1: one of its two checks failed, the other had a gap.
            outcome("ebs.volume_unencrypted", CheckStatus::Failed),
            outcome("ebs.encryption_by_default_off", CheckStatus::NotEvaluated),
            // 3.2 (cloudtrail.log_validation_off) did not run at all.
        ],
        &[
            finding("iam.user_console_no_mfa", "alice"),
            finding("ebs.volume_unencrypted", "vol-1"),
        ],
    );
    let assessed = assess(cis, &report);

    let root_keys = control(&assessed, "1.4");
    assert_eq!(root_keys.status, ControlStatus::Pass);
    assert!(root_keys.findings.is_empty());

    let root_mfa = control(&assessed, "1.5");
    assert_eq!(root_mfa.status, ControlStatus::NotEvaluated);
    assert_eq!(
        root_mfa.reason.as_deref(),
        Some("iam.root_no_mfa could not be evaluated (a coverage gap)")
    );

    let user_mfa = control(&assessed, "1.10");
    assert_eq!(user_mfa.status, ControlStatus::Fail);
    assert_eq!(
        user_mfa
            .findings
            .iter()
            .map(|f| f.resource_id.as_str())
            .collect::<Vec<_>>(),
        ["alice"]
    );

    let ebs = control(&assessed, "2.2.1");
    assert_eq!(ebs.status, ControlStatus::Fail);
    assert_eq!(ebs.findings[0].resource_id, "vol-1");

    let trail = control(&assessed, "3.2");
    assert_eq!(trail.status, ControlStatus::NotEvaluated);
    assert_eq!(
        trail.checks,
        [ControlCheck {
            check_id: "cloudtrail.log_validation_off".into(),
            aspect: None,
            status: None
        }]
    );

    assert_eq!(control(&assessed, "1.1").status, ControlStatus::Manual);
    assert_eq!(
        control(&assessed, "3.4").reason.as_deref(),
        Some("cloudtrail.bucket_logging_off did not run (its service was not scanned or it was not selected)")
    );
    // An automated control no check decides (none is left in the shipped
    // files) says so.
    let draft = Framework {
        id: "draft",
        name: "Draft",
        version: "0",
        controls: parse_controls("9.9\t1\tautomated\t-\tSomething new\n").unwrap(),
    };
    assert_eq!(
        assess(&draft, &report).controls[0].reason.as_deref(),
        Some("no Sightline check decides this control yet")
    );
    assert_eq!(assessed.summary.pass, 1);
    assert_eq!(assessed.summary.fail, 2);
    assert_eq!(assessed.summary.manual, 8);
    assert_eq!(assessed.summary.not_evaluated, 54 - 3);
    assert_eq!(assessed.summary.pass_rate(), Some(1.9));
}

/// A misspelt aspect in a framework file would let its control pass while
/// the check fails: every aspect a file names is one its check emits.
#[test]
fn every_aspect_a_framework_names_is_one_its_check_emits() {
    let mut emitted: BTreeMap<&str, Vec<&str>> = BTreeMap::from([
        ("iam.password_policy_weak", vec!["length", "reuse"]),
        ("ec2.sg_open_admin_ports", vec!["ipv4", "ipv6"]),
        (
            "cloudtrail.s3_object_events_unlogged",
            vec!["write", "read"],
        ),
    ]);
    emitted.insert(
        "cloudtrail.events_unalarmed",
        crate::checks::WATCHED.iter().map(|w| w.aspect).collect(),
    );
    let mut named = BTreeSet::new();
    for framework in frameworks() {
        for control in &framework.controls {
            for (check, aspect) in control.check_refs() {
                if let Some(aspect) = aspect {
                    assert!(
                        emitted.get(check).is_some_and(|a| a.contains(&aspect)),
                        "{} {}: {check} emits no aspect {aspect}",
                        framework.id,
                        control.id
                    );
                    named.insert((check, aspect));
                }
            }
        }
    }
    // And every aspect is decided by some control (all 15 alarms in 3.0).
    let all: BTreeSet<(&str, &str)> = emitted
        .iter()
        .flat_map(|(c, a)| a.iter().map(move |a| (*c, *a)))
        .collect();
    assert_eq!(named, all);
}

fn with_aspects(mut f: Finding, aspects: &[&str]) -> Finding {
    let mut evidence = f.evidence.fields();
    evidence.insert("aspects".into(), serde_json::json!(aspects));
    f.evidence = crate::finding::EvidenceJson::of(&evidence);
    f
}

#[test]
fn a_control_decided_by_one_aspect_of_a_check_fails_only_on_findings_with_that_aspect() {
    let cis = framework("cis-3.0").unwrap();
    let report = report_of(
        &[
            outcome("iam.password_policy_weak", CheckStatus::Failed),
            outcome("ec2.sg_open_admin_ports", CheckStatus::Failed),
        ],
        &[
            // Reuse is allowed, the length is long enough.
            with_aspects(
                finding("iam.password_policy_weak", "111122223333"),
                &["reuse"],
            ),
            // SSH open to ::/0 only.
            with_aspects(finding("ec2.sg_open_admin_ports", "sg-v6"), &["ipv6"]),
            // A finding that says nothing of its aspects (stored before
            // they existed) counts against every control of its check.
            finding("ec2.sg_open_admin_ports", "sg-old"),
        ],
    );
    let assessed = assess(cis, &report);
    assert_eq!(control(&assessed, "1.8").status, ControlStatus::Pass);
    assert!(control(&assessed, "1.8").findings.is_empty());
    assert_eq!(
        control(&assessed, "1.8").checks,
        [ControlCheck {
            check_id: "iam.password_policy_weak".into(),
            aspect: Some("length".into()),
            status: Some(CheckStatus::Passed)
        }]
    );
    assert_eq!(control(&assessed, "1.9").status, ControlStatus::Fail);
    let resources = |id: &str| -> Vec<String> {
        control(&assessed, id)
            .findings
            .iter()
            .map(|f| f.resource_id.clone())
            .collect()
    };
    assert_eq!(resources("5.2"), ["sg-old"]);
    assert_eq!(resources("5.3"), ["sg-v6", "sg-old"]);
    assert_eq!(control(&assessed, "5.2").status, ControlStatus::Fail);

    // Counted, not listed (what a stored scan keeps): the same decisions
    // and the same counts, every control, with no finding copied.
    let counted = crate::compliance::assess_counted(cis, &report);
    assert_eq!(counted.summary, assessed.summary);
    assert_eq!(counted.controls.len(), assessed.controls.len());
    for (c, a) in counted.controls.iter().zip(&assessed.controls) {
        assert_eq!((&c.id, c.status, &c.checks), (&a.id, a.status, &a.checks));
        assert_eq!(c.finding_count, a.findings.len(), "{}", c.id);
        assert_eq!(a.finding_count, a.findings.len(), "{}", a.id);
        assert!(c.findings.is_empty(), "{}", c.id);
    }
    assert_eq!(control(&counted, "5.3").finding_count, 2);

    let v6 = with_aspects(finding("ec2.sg_open_admin_ports", "sg-v6"), &["ipv6"]);
    assert_eq!(
        references_for(&v6.check_id, &v6.evidence.fields()),
        [
            "CIS AWS Foundations 3.0.0 5.3",
            "CIS AWS Foundations 5.0.0 5.4",
            "CIS AWS Foundations 7.0.0 6.4"
        ]
    );
}

#[test]
fn findings_cite_every_version_that_maps_their_check() {
    assert_eq!(
        references("iam.root_access_keys"),
        [
            "CIS AWS Foundations 3.0.0 1.4",
            "CIS AWS Foundations 5.0.0 1.3",
            "CIS AWS Foundations 7.0.0 2.4"
        ]
    );
    assert!(references("ebs.volume_gp2").is_empty());
}

#[test]
fn a_malformed_framework_file_says_which_line_and_what_was_expected() {
    assert_eq!(
        parse_controls("# c\n1.1\t1\tmanual\t-\n"),
        Err(FrameworkError::Columns { line: 2, found: 4 })
    );
    assert_eq!(
        parse_controls("1.1\t3\tmanual\t-\tT\n"),
        Err(FrameworkError::Level {
            line: 1,
            found: "3".into()
        })
    );
    assert_eq!(
        parse_controls("1.1\t1\tsometimes\t-\tT\n"),
        Err(FrameworkError::Assessment {
            line: 1,
            found: "sometimes".into()
        })
    );
    assert_eq!(
        parse_controls("1.1\t1\tmanual\tiam.root_no_mfa\tT\n"),
        Err(FrameworkError::ManualWithChecks {
            line: 1,
            id: "1.1".into()
        })
    );
    assert_eq!(
        framework("cis-9.9").unwrap_err().to_string(),
        "unknown compliance framework \"cis-9.9\": expected one of cis-3.0, cis-5.0, cis-7.0"
    );
}

#[test]
fn a_scan_of_some_regions_cannot_pass_a_control_that_reads_every_region() {
    let cis = framework("cis-3.0").unwrap();
    let mut report = report_of(
        &[
            outcome("iam.root_access_keys", CheckStatus::Passed),
            outcome("ebs.volume_unencrypted", CheckStatus::Passed),
            outcome("ebs.encryption_by_default_off", CheckStatus::Passed),
            outcome("ec2.instance_imdsv2_not_required", CheckStatus::Failed),
        ],
        &[finding("ec2.instance_imdsv2_not_required", "i-1")],
    );
    report.all_regions_scanned = false;
    let assessed = assess(cis, &report);
    // IAM is global: the region subset does not matter.
    assert_eq!(control(&assessed, "1.4").status, ControlStatus::Pass);
    let ebs = control(&assessed, "2.2.1");
    assert_eq!(ebs.status, ControlStatus::NotEvaluated);
    assert_eq!(
        ebs.reason.as_deref(),
        Some("the scan covered only us-east-1, not every enabled region, and ebs.volume_unencrypted, ebs.encryption_by_default_off read(s) each region")
    );
    // A failure seen in one region fails the control wherever the rest stand.
    assert_eq!(control(&assessed, "5.6").status, ControlStatus::Fail);
}
