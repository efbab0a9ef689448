//! The one Sightline binary. Each subcommand parses its flags, calls the
//! libraries and reports; business logic lives in the crates it calls.

mod ask_cmd;
mod ask_model;
mod compliance_cmd;
mod demo_cmd;
mod health_cmd;
mod iam_cmd;
mod keys_cmd;
mod metrics;
mod progress;
mod scan_cmd;
mod serve_cmd;
mod setup_cmd;
mod store_cmd;
mod worker_cmd;

use std::process::ExitCode;

/// A scan holds millions of small strings (every resource's and finding's
/// fields): mimalloc keeps them without glibc's per-allocation header and
/// frees them without its consolidation walks (`docs/benchmarks.md`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "sightline",
    version,
    about = "Read-only infrastructure intelligence for AWS"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Scan an AWS account read-only and report findings.
    Scan(scan_cmd::ScanArgs),
    /// List the check catalog.
    Checks,
    /// Ask about a workspace's inventory in plain words (profile none: the question library).
    Ask(Box<ask_cmd::AskArgs>),
    /// Compliance frameworks and the checks that decide their controls.
    #[command(subcommand)]
    Compliance(compliance_cmd::ComplianceCommand),
    /// IAM policies and which checks each supports.
    #[command(subcommand)]
    Iam(iam_cmd::IamCommand),
    /// Apply the database migrations (idempotent).
    Migrate(store_cmd::Database),
    /// A deployment's start-up: migrations, login-role passwords, its workspace,
    /// first owner and own account (idempotent; see cloudformation/sightline.yaml).
    Setup(Box<setup_cmd::SetupArgs>),
    /// Workspaces.
    #[command(subcommand)]
    Workspace(store_cmd::WorkspaceCommand),
    /// AWS accounts a workspace scans.
    #[command(subcommand)]
    Account(store_cmd::AccountCommand),
    /// Queue a scan of every account in a workspace.
    Enqueue {
        #[arg(long)]
        workspace: String,
        /// Attempts before a job fails for good.
        #[arg(long, default_value_t = 3)]
        max_attempts: i32,
        #[command(flatten)]
        db: store_cmd::Database,
    },
    /// The key-encryption key: rotate it.
    #[command(subcommand)]
    Keys(keys_cmd::KeysCommand),
    /// The audit trail.
    #[command(subcommand)]
    Audit(store_cmd::AuditCommand),
    /// Claim and run scan jobs from the database until stopped.
    Worker(worker_cmd::WorkerArgs),
    /// Serve the web UI and JSON API.
    Serve(Box<serve_cmd::ServeArgs>),
    /// Users of a workspace.
    #[command(subcommand)]
    User(serve_cmd::UserCommand),
    /// Scan the reachable account into PostgreSQL (private server unless DATABASE_URL is set).
    Demo(demo_cmd::DemoArgs),
    /// The container's health check: GET a loopback URL, exit 0 on 200.
    Healthcheck {
        #[arg(long, default_value = "http://127.0.0.1:8080/healthz")]
        url: String,
    },
}

/// Exit statuses: 0 clean, 3 failing findings, 4 no failing finding but some
/// checks not evaluated (never a clean pass over unread data), 1 could not run at all.
pub const EXIT_FINDINGS: u8 = 3;
pub const EXIT_INCOMPLETE: u8 = 4;
pub const EXIT_ERROR: u8 = 1;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            let _ = err.print();
            // Help and version are not errors; bad input always exits 1.
            return if err.use_stderr() {
                ExitCode::from(EXIT_ERROR)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    init_logging();
    let result = match cli.command {
        Command::Scan(args) => scan_cmd::run(args),
        Command::Checks => {
            for check in sightline_core::catalog() {
                println!(
                    "{:<40} {:<12} {:<9} {}",
                    check.id,
                    check.category.as_str(),
                    check.severity.as_str(),
                    check.title
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Ask(args) => ask_cmd::run(*args),
        Command::Compliance(command) => compliance_cmd::run(command),
        Command::Iam(command) => iam_cmd::run(command),
        Command::Migrate(db) => store_cmd::migrate(db),
        Command::Setup(args) => setup_cmd::run(*args),
        Command::Workspace(command) => store_cmd::workspace(command),
        Command::Account(command) => store_cmd::account(command),
        Command::Enqueue {
            workspace,
            max_attempts,
            db,
        } => store_cmd::enqueue(workspace, max_attempts, db),
        Command::Audit(command) => store_cmd::audit(command),
        Command::Keys(command) => keys_cmd::run(command),
        Command::Worker(args) => worker_cmd::run(args),
        Command::Demo(args) => demo_cmd::run(args),
        Command::Serve(args) => serve_cmd::run(*args),
        Command::User(command) => serve_cmd::user(command),
        Command::Healthcheck { url } => health_cmd::run(&url),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("sightline: {err:#}");
            ExitCode::from(EXIT_ERROR)
        }
    }
}

/// Logs go to stderr; `SIGHTLINE_LOG` sets the filter (default: warnings,
/// without the SDK's own retries and refusals).
fn init_logging() {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::Layer;

    let filter =
        tracing_subscriber::EnvFilter::try_from_env("SIGHTLINE_LOG").unwrap_or_else(|_| {
            tracing_subscriber::EnvFilter::new("warn,aws_config=error,aws_smithy_runtime=error")
        });
    // The SDK and HTTP crates log raw request and response bodies at trace
    // level, and bodies hold tag values and other fields Sightline redacts
    // later: their trace events are dropped whatever the filter says.
    let no_wire_bodies = tracing_subscriber::filter::filter_fn(|meta| {
        let wire = ["aws_smithy", "aws_sdk", "hyper", "h2", "rustls"]
            .iter()
            .any(|t| meta.target().starts_with(t));
        !(wire && *meta.level() == tracing::Level::TRACE)
    });
    let json = std::env::var("SIGHTLINE_LOG_FORMAT").as_deref() == Ok("json");
    let layer = if json {
        tracing_subscriber::fmt::layer()
            .json()
            .with_writer(std::io::stderr)
            .boxed()
    } else {
        tracing_subscriber::fmt::layer()
            .compact()
            .with_writer(std::io::stderr)
            .boxed()
    };
    tracing_subscriber::registry()
        .with(layer.with_filter(filter).with_filter(no_wire_bodies))
        .init();
}
