//! Compliance frameworks as data. Each framework version is one file under
//! `data/compliance/`: its controls, their level and assessment, and the
//! checks that decide each one (a check maps to controls per version, since
//! versions renumber them). A scan's check outcomes become a control status:
//! pass, fail, not evaluated (some deciding check could not run or had a
//! gap), or manual (no tool can decide it).

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use crate::evaluate::{CheckStatus, ScanReport};

/// A compliance framework version, e.g. CIS AWS Foundations 3.0.0.
#[derive(Debug, Clone, Serialize)]
pub struct Framework {
    /// What `--compliance` takes: `cis-3.0`.
    pub id: &'static str,
    pub name: &'static str,
    pub version: &'static str,
    pub controls: Vec<Control>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Control {
    /// The control's number in this version.
    pub id: String,
    pub level: u8,
    pub assessment: Assessment,
    /// The checks that decide it; empty for a manual control.
    pub checks: Vec<String>,
    pub title: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Assessment {
    Automated,
    Manual,
}

impl Control {
    /// The deciding checks, each with the one aspect that decides the
    /// control, if only one does.
    pub fn check_refs(&self) -> Vec<(&str, Option<&str>)> {
        self.checks.iter().map(|r| split_reference(r)).collect()
    }
}

impl Framework {
    /// How findings cite a control: `CIS AWS Foundations 3.0.0 1.4`.
    pub fn reference(&self, control: &str) -> String {
        format!("{} {} {control}", self.name, self.version)
    }
}

/// The shipped frameworks, their ids and files.
const SHIPPED: [(&str, &str, &str, &str); 3] = [
    (
        "cis-3.0",
        "CIS AWS Foundations",
        "3.0.0",
        include_str!("../data/compliance/cis-aws-3.0.tsv"),
    ),
    (
        "cis-5.0",
        "CIS AWS Foundations",
        "5.0.0",
        include_str!("../data/compliance/cis-aws-5.0.tsv"),
    ),
    (
        "cis-7.0",
        "CIS AWS Foundations",
        "7.0.0",
        include_str!("../data/compliance/cis-aws-7.0.tsv"),
    ),
];

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FrameworkError {
    #[error("line {line}: expected 5 tab-separated columns (id, level, assessment, checks, title), found {found}")]
    Columns { line: usize, found: usize },
    #[error("line {line}: expected level 1 or 2, found {found:?}")]
    Level { line: usize, found: String },
    #[error("line {line}: expected assessment automated or manual, found {found:?}")]
    Assessment { line: usize, found: String },
    #[error("line {line}: control {id} is manual but names checks: a manual control is decided by people")]
    ManualWithChecks { line: usize, id: String },
    #[error("unknown compliance framework {found:?}: expected one of {expected}")]
    Unknown { found: String, expected: String },
}

/// Parse one framework file: `#` comments, then one control a line.
pub fn parse_controls(text: &str) -> Result<Vec<Control>, FrameworkError> {
    let mut controls = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line_no = i + 1;
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let cells: Vec<&str> = line.split('\t').collect();
        let [id, level, assessment, checks, title] = cells[..] else {
            return Err(FrameworkError::Columns {
                line: line_no,
                found: cells.len(),
            });
        };
        let level = match level {
            "1" => 1,
            "2" => 2,
            other => {
                return Err(FrameworkError::Level {
                    line: line_no,
                    found: other.to_owned(),
                })
            }
        };
        let assessment = match assessment {
            "automated" => Assessment::Automated,
            "manual" => Assessment::Manual,
            other => {
                return Err(FrameworkError::Assessment {
                    line: line_no,
                    found: other.to_owned(),
                })
            }
        };
        let checks: Vec<String> = match checks {
            "-" => Vec::new(),
            list => list.split(',').map(str::to_owned).collect(),
        };
        if assessment == Assessment::Manual && !checks.is_empty() {
            return Err(FrameworkError::ManualWithChecks {
                line: line_no,
                id: id.to_owned(),
            });
        }
        controls.push(Control {
            id: id.to_owned(),
            level,
            assessment,
            checks,
            title: title.to_owned(),
        });
    }
    Ok(controls)
}

/// Every shipped framework, in a stable order.
pub fn frameworks() -> &'static [Framework] {
    static ALL: OnceLock<Vec<Framework>> = OnceLock::new();
    ALL.get_or_init(|| {
        SHIPPED
            .iter()
            .map(|(id, name, version, text)| Framework {
                id,
                name,
                version,
                // The shipped files are proven to parse by the tests below.
                controls: parse_controls(text).unwrap_or_default(),
            })
            .collect()
    })
}

/// The framework `--compliance` names.
pub fn framework(id: &str) -> Result<&'static Framework, FrameworkError> {
    frameworks()
        .iter()
        .find(|f| f.id.eq_ignore_ascii_case(id.trim()))
        .ok_or_else(|| FrameworkError::Unknown {
            found: id.to_owned(),
            expected: frameworks()
                .iter()
                .map(|f| f.id)
                .collect::<Vec<_>>()
                .join(", "),
        })
}

/// Every control of every framework that `check_id` decides, as findings
/// cite them.
pub fn references(check_id: &str) -> Vec<String> {
    frameworks()
        .iter()
        .flat_map(|f| {
            f.controls
                .iter()
                .filter(|c| c.checks.iter().any(|r| split_reference(r).0 == check_id))
                .map(|c| f.reference(&c.id))
        })
        .collect()
}

/// The controls one finding of `check_id` bears on, given its evidence:
/// those of [`references`] whose aspect (if any) the finding names.
pub fn references_for(check_id: &str, evidence: &crate::finding::Evidence) -> Vec<String> {
    frameworks()
        .iter()
        .flat_map(|f| {
            f.controls
                .iter()
                .filter(|c| {
                    c.checks.iter().any(|r| {
                        let (check, aspect) = split_reference(r);
                        check == check_id && bears_on(evidence, aspect)
                    })
                })
                .map(|c| f.reference(&c.id))
        })
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ControlStatus {
    Pass,
    Fail,
    NotEvaluated,
    Manual,
}

impl ControlStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ControlStatus::Pass => "pass",
            ControlStatus::Fail => "fail",
            ControlStatus::NotEvaluated => "not_evaluated",
            ControlStatus::Manual => "manual",
        }
    }
}

/// One deciding check and what it came to in the scan (`None`: not run,
/// because its service was not scanned or it was not selected).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ControlCheck {
    pub check_id: String,
    /// The one aspect of the check that decides the control, when the check
    /// covers more than the control asks (a password policy's length, not
    /// its reuse): only findings that name it in their evidence count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aspect: Option<String>,
    pub status: Option<CheckStatus>,
}

/// A control's reference to a check: `check` or `check#aspect`.
fn split_reference(reference: &str) -> (&str, Option<&str>) {
    match reference.split_once('#') {
        Some((check, aspect)) => (check, Some(aspect)),
        None => (reference, None),
    }
}

/// Whether a finding bears on `aspect`: it does when it names the aspect in
/// its `aspects` evidence, and when it names none at all (a finding that
/// can't say which part it breaks counts against every part).
fn bears_on(evidence: &crate::finding::Evidence, aspect: Option<&str>) -> bool {
    let Some(aspect) = aspect else {
        return true;
    };
    match evidence.get("aspects").and_then(|a| a.as_array()) {
        Some(named) => named.iter().any(|a| a.as_str() == Some(aspect)),
        None => true,
    }
}

/// The aspects a stored finding's evidence names (`None`: it names none, so
/// it bears on every aspect of its check). Parsed only from evidence whose
/// text mentions them: an assessment asks this of every finding, once per
/// framework.
fn named_aspects(evidence: &crate::finding::EvidenceJson) -> Option<Vec<String>> {
    if !evidence.as_str().contains("\"aspects\"") {
        return None;
    }
    let fields = evidence.fields();
    let named = fields.get("aspects")?.as_array()?;
    Some(
        named
            .iter()
            .filter_map(|a| a.as_str().map(str::to_owned))
            .collect(),
    )
}

/// [`bears_on`] for the finding at `position`, over the aspects read by
/// [`named_aspects`] from those findings that name some (sorted by
/// position: few findings do, and a list per finding would be 24 bytes a
/// finding at a million).
fn names_aspect(named: &[(usize, Vec<String>)], position: usize, aspect: Option<&str>) -> bool {
    let Some(aspect) = aspect else {
        return true;
    };
    match named.binary_search_by_key(&position, |(at, _)| *at) {
        Ok(at) => named[at].1.iter().any(|a| a == aspect),
        Err(_) => true,
    }
}

/// A finding behind a failing control.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ControlFinding {
    pub check_id: String,
    pub region: String,
    pub resource_id: String,
    pub resource_arn: String,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ControlResult {
    pub id: String,
    pub title: String,
    pub level: u8,
    pub assessment: Assessment,
    pub status: ControlStatus,
    /// Why it is not evaluated, in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub checks: Vec<ControlCheck>,
    /// The findings it fails on (none listed by [`assess_counted`]).
    pub findings: Vec<ControlFinding>,
    /// How many findings it fails on, listed or not. Not serialised: a
    /// report's reader counts its list.
    #[serde(skip)]
    pub finding_count: usize,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComplianceSummary {
    pub pass: usize,
    pub fail: usize,
    pub not_evaluated: usize,
    pub manual: usize,
}

impl ComplianceSummary {
    /// Passed automated controls as a percentage of the automated ones,
    /// one decimal; `None` when there are none.
    pub fn pass_rate(&self) -> Option<f64> {
        let automated = self.pass + self.fail + self.not_evaluated;
        (automated > 0).then(|| (self.pass as f64 * 1000.0 / automated as f64).round() / 10.0)
    }
}

/// One framework assessed over one scan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ComplianceReport {
    pub framework: String,
    pub name: String,
    pub version: String,
    pub summary: ComplianceSummary,
    pub controls: Vec<ControlResult>,
}

/// Decide every control of `framework` from the outcomes in `report`. An
/// automated control fails if a deciding check failed; otherwise it passes
/// only if every deciding check ran and passed, and is not evaluated if
/// any could not (a gap, its service not scanned) or none decides it.
pub fn assess(framework: &Framework, report: &ScanReport) -> ComplianceReport {
    assess_with(framework, report, true)
}

/// [`assess`], each control's findings counted but not listed: what a
/// stored scan keeps (the pages list them from the findings table). Not
/// for a report to render: its lists are empty and its counts are not
/// serialised. A listed finding is five strings copied from the report,
/// held while the scan is written: by their sizes, about 12 MB at 100,000
/// resources and 116 MB at a million for the controls encrypted volumes
/// decide.
pub fn assess_counted(framework: &Framework, report: &ScanReport) -> ComplianceReport {
    assess_with(framework, report, false)
}

fn assess_with(framework: &Framework, report: &ScanReport, list: bool) -> ComplianceReport {
    let outcomes: BTreeMap<&str, CheckStatus> = report
        .outcomes
        .iter()
        .map(|o| (o.check_id.as_str(), o.status))
        .collect();
    let incomplete: Vec<&str> = report
        .outcomes
        .iter()
        .filter(|o| o.incomplete)
        .map(|o| o.check_id.as_str())
        .collect();
    // The aspects of the findings that name some, read from their evidence
    // once per framework.
    let aspects: Vec<(usize, Vec<String>)> = report
        .findings
        .iter()
        .enumerate()
        .filter_map(|(at, f)| Some((at, named_aspects(&f.evidence)?)))
        .collect();
    let mut summary = ComplianceSummary::default();
    let controls: Vec<ControlResult> = framework
        .controls
        .iter()
        .map(|control| {
            let relevant = |&(at, f): &(usize, &crate::finding::Finding)| {
                control.checks.iter().any(|r| {
                    let (check, aspect) = split_reference(r);
                    f.check_id == check && names_aspect(&aspects, at, aspect)
                })
            };
            let checks: Vec<ControlCheck> = control
                .checks
                .iter()
                .map(|r| {
                    let (check, aspect) = split_reference(r);
                    let status = match outcomes.get(check).copied() {
                        // The check failed, but on other aspects only: this
                        // one passed, if the check saw everything.
                        Some(CheckStatus::Failed)
                            if aspect.is_some()
                                && !report.findings.iter().enumerate().any(|(at, f)| {
                                    f.check_id == check && names_aspect(&aspects, at, aspect)
                                }) =>
                        {
                            Some(if incomplete.contains(&check) {
                                CheckStatus::NotEvaluated
                            } else {
                                CheckStatus::Passed
                            })
                        }
                        status => status,
                    };
                    ControlCheck {
                        check_id: check.to_owned(),
                        aspect: aspect.map(str::to_owned),
                        status,
                    }
                })
                .collect();
            let failing = report.findings.iter().enumerate().filter(relevant);
            let (findings, finding_count): (Vec<ControlFinding>, usize) = if list {
                let listed: Vec<ControlFinding> = failing
                    .map(|(_, f)| ControlFinding {
                        check_id: f.check_id.to_string(),
                        region: f.region.clone(),
                        resource_id: f.resource_id.clone(),
                        resource_arn: f.resource_arn.clone(),
                        message: f.message.clone(),
                    })
                    .collect();
                let count = listed.len();
                (listed, count)
            } else {
                (Vec::new(), failing.count())
            };
            let (status, reason) = decide(control, &checks, report);
            match status {
                ControlStatus::Pass => summary.pass += 1,
                ControlStatus::Fail => summary.fail += 1,
                ControlStatus::NotEvaluated => summary.not_evaluated += 1,
                ControlStatus::Manual => summary.manual += 1,
            }
            ControlResult {
                id: control.id.clone(),
                title: control.title.clone(),
                level: control.level,
                assessment: control.assessment,
                status,
                reason,
                checks,
                findings,
                finding_count,
            }
        })
        .collect();
    ComplianceReport {
        framework: framework.id.to_owned(),
        name: framework.name.to_owned(),
        version: framework.version.to_owned(),
        summary,
        controls,
    }
}

/// Every shipped framework assessed over `report`.
pub fn assess_all(report: &ScanReport) -> Vec<ComplianceReport> {
    frameworks().iter().map(|f| assess(f, report)).collect()
}

/// Every shipped framework assessed over `report`, findings counted, not
/// listed: what a stored scan keeps.
pub fn assess_all_counted(report: &ScanReport) -> Vec<ComplianceReport> {
    frameworks()
        .iter()
        .map(|f| assess_counted(f, report))
        .collect()
}

/// Checks whose inventory is per region (IAM is global; S3's bucket list
/// covers every region's buckets).
fn regional(check_id: &str) -> bool {
    crate::catalog()
        .iter()
        .find(|c| c.id == check_id)
        .is_none_or(|c| !matches!(c.service, "iam" | "s3"))
}

fn decide(
    control: &Control,
    checks: &[ControlCheck],
    report: &ScanReport,
) -> (ControlStatus, Option<String>) {
    if control.assessment == Assessment::Manual {
        return (ControlStatus::Manual, None);
    }
    if checks.is_empty() {
        return (
            ControlStatus::NotEvaluated,
            Some("no Sightline check decides this control yet".to_owned()),
        );
    }
    if checks.iter().any(|c| c.status == Some(CheckStatus::Failed)) {
        return (ControlStatus::Fail, None);
    }
    let open: Vec<String> = checks
        .iter()
        .filter_map(|c| match c.status {
            Some(CheckStatus::Passed) => None,
            Some(CheckStatus::NotEvaluated) => Some(format!(
                "{} could not be evaluated (a coverage gap)",
                c.check_id
            )),
            _ => Some(format!(
                "{} did not run (its service was not scanned or it was not selected)",
                c.check_id
            )),
        })
        .collect();
    let regional: Vec<&str> = checks
        .iter()
        .filter(|c| regional(&c.check_id))
        .map(|c| c.check_id.as_str())
        .collect();
    if open.is_empty() && !report.all_regions_scanned && !regional.is_empty() {
        return (
            ControlStatus::NotEvaluated,
            Some(format!(
                "the scan covered only {}, not every enabled region, and {} read(s) each region",
                report.regions.join(", "),
                regional.join(", ")
            )),
        );
    }
    if open.is_empty() {
        (ControlStatus::Pass, None)
    } else {
        (ControlStatus::NotEvaluated, Some(open.join("; ")))
    }
}

#[cfg(test)]
mod tests;
