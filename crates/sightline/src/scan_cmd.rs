//! `sightline scan`: check the flags, connect (assuming the role if asked),
//! scan, evaluate the checks, write the reports, and exit 0 (clean), 3
//! (failing findings), 4 (nothing failed but some checks were not evaluated)
//! or 1 (could not scan at all).

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Args;
use sightline_aws::{AwsSession, ConnectOptions, RoleArn, ScanOptions, ScanRecorder, Service};
use sightline_core::compliance::Framework;
use sightline_core::evaluate::CheckStatus;
use sightline_core::report::{render, render_compliance, Format};
use sightline_core::{catalog, Check};

use crate::progress::ProgressDisplay;
use crate::{EXIT_FINDINGS, EXIT_INCOMPLETE};

#[derive(Debug, Args)]
pub struct ScanArgs {
    /// Named profile from the AWS config files (default: ambient credentials).
    #[arg(long)]
    profile: Option<String>,
    /// Monitoring role to assume with STS before scanning.
    #[arg(long)]
    role_arn: Option<String>,
    /// ExternalId the role's trust policy requires.
    #[arg(long, requires = "role_arn")]
    external_id: Option<String>,
    /// Lifetime of the scan's own assumed-role session, in seconds (900–43200);
    /// each collector's session lasts 15 minutes and is renewed as needed.
    #[arg(long, requires = "role_arn")]
    session_duration: Option<u64>,
    /// Regions to scan, comma-separated (default: every enabled region).
    #[arg(long, value_delimiter = ',')]
    regions: Option<Vec<String>>,
    /// Services to scan, comma-separated: ec2, s3, iam, rds, elb, lambda, cloudtrail, security, kms, efs (default: all).
    #[arg(long, value_delimiter = ',')]
    services: Option<Vec<String>>,
    /// Checks to run, comma-separated ids or `service.*` (default: all; see `sightline checks`).
    #[arg(long, value_delimiter = ',')]
    checks: Option<Vec<String>>,
    /// Directory to write one file per format into (created if missing).
    #[arg(long)]
    output_dir: Option<PathBuf>,
    /// Report format, repeatable: table, json, csv, ocsf, sarif (default: table on a terminal, json otherwise).
    #[arg(long = "format")]
    formats: Vec<String>,
    /// Add a compliance report, repeatable: cis-3.0, cis-5.0, cis-7.0 (see `sightline compliance list`).
    #[arg(long = "compliance")]
    compliance: Vec<String>,
    /// Collectors (region × service) running at once.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Timeout for one attempt of one API call, in seconds.
    #[arg(long, default_value_t = 20)]
    call_timeout: u64,
}

/// Everything the flags say, checked before any AWS call is made.
struct ScanPlan {
    connect: ConnectOptions,
    options: ScanOptions,
    checks: Vec<&'static Check>,
    formats: Vec<Format>,
    compliance: Vec<&'static Framework>,
    output_dir: Option<PathBuf>,
}

fn select_checks(wanted: Option<&[String]>) -> Result<Vec<&'static Check>> {
    let all = catalog();
    let Some(wanted) = wanted else { return Ok(all) };
    let mut selected: Vec<&'static Check> = Vec::new();
    for item in wanted.iter().map(|s| s.trim()).filter(|s| !s.is_empty()) {
        let matches: Vec<&'static Check> = match item.strip_suffix(".*") {
            Some(prefix) => all
                .iter()
                .copied()
                .filter(|c| c.id.starts_with(&format!("{prefix}.")))
                .collect(),
            None => all.iter().copied().filter(|c| c.id == item).collect(),
        };
        if matches.is_empty() {
            bail!("unknown check id {item:?}: expected an id from `sightline checks` (e.g. ebs.volume_unattached) or a prefix like s3.*");
        }
        for check in matches {
            if !selected.iter().any(|c| c.id == check.id) {
                selected.push(check);
            }
        }
    }
    Ok(selected)
}

/// Fail now, not after the scan, if reports cannot be written.
fn prepare_output_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| {
        format!(
            "cannot create output directory {}: expected a writable directory",
            dir.display()
        )
    })?;
    let probe = dir.join(".sightline-write-test");
    std::fs::write(&probe, b"").with_context(|| {
        format!(
            "output directory {} is not writable: expected a writable directory",
            dir.display()
        )
    })?;
    let _ = std::fs::remove_file(probe);
    Ok(())
}

fn plan(args: ScanArgs) -> Result<ScanPlan> {
    let role_arn = args.role_arn.as_deref().map(RoleArn::parse).transpose()?;
    let mut formats = Vec::new();
    for f in &args.formats {
        let format: Format = f.parse()?;
        if !formats.contains(&format) {
            formats.push(format);
        }
    }
    if formats.is_empty() {
        formats.push(
            if std::io::stdout().is_terminal() || args.output_dir.is_some() {
                Format::Table
            } else {
                Format::Json
            },
        );
    }
    let mut compliance: Vec<&'static Framework> = Vec::new();
    for id in &args.compliance {
        let f = sightline_core::compliance::framework(id)?;
        if !compliance.iter().any(|c| c.id == f.id) {
            compliance.push(f);
        }
    }
    let checks = select_checks(args.checks.as_deref())?;
    let services: Vec<Service> = match &args.services {
        Some(names) => names
            .iter()
            .map(|n| n.trim().parse())
            .collect::<Result<_, _>>()?,
        // Only the services the selected checks read.
        None => Service::ALL
            .into_iter()
            .filter(|s| checks.iter().any(|c| c.service == s.name()))
            .collect(),
    };
    if args.concurrency == 0 {
        bail!("invalid --concurrency 0: expected at least 1");
    }
    if let Some(dir) = &args.output_dir {
        prepare_output_dir(dir)?;
    }
    Ok(ScanPlan {
        connect: ConnectOptions {
            profile: args.profile,
            role_arn,
            external_id: args.external_id,
            session_duration: args.session_duration.map(Duration::from_secs),
            call_timeout: Some(Duration::from_secs(args.call_timeout.max(1))),
        },
        options: ScanOptions {
            regions: args.regions,
            services,
            concurrency: args.concurrency,
        },
        checks,
        formats,
        compliance,
        output_dir: args.output_dir,
    })
}

pub fn run(args: ScanArgs) -> Result<ExitCode> {
    let plan = plan(args)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(execute(plan))
}

async fn execute(plan: ScanPlan) -> Result<ExitCode> {
    let session = AwsSession::connect(&plan.connect).await?;
    tracing::info!(account = %session.account_id, caller = %session.caller_arn, "connected");

    let recorder = Arc::new(ScanRecorder::new());
    let progress = ProgressDisplay::start(recorder.clone());
    let scanned =
        sightline_aws::scan_and_evaluate(&session, &plan.options, &recorder, &plan.checks).await;
    progress.finish();
    let (_, mut report) = scanned?;
    report.compliance = plan
        .compliance
        .iter()
        .map(|f| sightline_core::compliance::assess(f, &report))
        .collect();

    for format in &plan.formats {
        let main = (format.file_name(), render(&report, &plan.checks, *format));
        for (file_name, text) in std::iter::once(main).chain(render_compliance(&report, *format)) {
            match &plan.output_dir {
                Some(dir) => {
                    let path = dir.join(file_name);
                    std::fs::write(&path, text)
                        .with_context(|| format!("cannot write {}", path.display()))?;
                    eprintln!("wrote {}", path.display());
                }
                None => print!("{text}"),
            }
        }
    }
    let not_evaluated = report.count(CheckStatus::NotEvaluated);
    Ok(if !report.findings.is_empty() {
        ExitCode::from(EXIT_FINDINGS)
    } else if not_evaluated > 0 {
        eprintln!("sightline: no failing finding, but {not_evaluated} check(s) could not be evaluated (see the coverage gaps)");
        ExitCode::from(EXIT_INCOMPLETE)
    } else {
        ExitCode::SUCCESS
    })
}
