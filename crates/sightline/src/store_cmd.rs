//! `sightline migrate`, `workspace add`, `account add|list` and `enqueue`:
//! the state in PostgreSQL, from the command line.

use std::process::ExitCode;

use anyhow::Result;
use clap::{Args, Subcommand};
use sightline_store::accounts::NewAccount;
use sightline_store::Store;

#[derive(Debug, Args)]
pub struct Database {
    /// PostgreSQL URL.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: String,
}

impl Database {
    /// Connect and refuse a database that is not at this build's migration.
    pub async fn current(&self) -> Result<Store> {
        let store = Store::connect(&self.database_url).await?;
        store.ensure_current().await?;
        Ok(store)
    }
}

#[derive(Debug, Subcommand)]
pub enum WorkspaceCommand {
    /// Create a workspace.
    Add {
        name: String,
        /// ExternalId its monitoring roles require.
        #[arg(long)]
        external_id: String,
        #[command(flatten)]
        db: Database,
    },
}

#[derive(Debug, Subcommand)]
pub enum AccountCommand {
    /// Register an AWS account in a workspace.
    Add {
        #[arg(long)]
        workspace: String,
        /// 12-digit AWS account id.
        #[arg(long)]
        account_id: String,
        #[arg(long)]
        name: Option<String>,
        /// Monitoring role to assume (default: the worker's own credentials).
        #[arg(long)]
        role_arn: Option<String>,
        /// ExternalId for this account (default: the workspace's).
        #[arg(long)]
        external_id: Option<String>,
        #[arg(long, value_delimiter = ',')]
        regions: Vec<String>,
        /// Scan schedule as an interval, e.g. "6 hours".
        #[arg(long)]
        schedule: Option<String>,
        #[command(flatten)]
        db: Database,
    },
    /// Register every active account of the AWS Organization the current
    /// credentials manage (management or delegated-administrator account).
    Discover {
        #[arg(long)]
        workspace: String,
        #[command(flatten)]
        db: Database,
    },
    /// List a workspace's accounts.
    List {
        #[arg(long)]
        workspace: String,
        #[command(flatten)]
        db: Database,
    },
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check the audit trail's hash chain; exit 1 at the first broken link.
    Verify {
        #[command(flatten)]
        db: Database,
    },
    /// Verify the chain and write its head to CloudWatch Logs, outside the database.
    PublishHead {
        #[arg(long, default_value = "/sightline/audit")]
        log_group: String,
        #[arg(long, default_value = "chain-head")]
        log_stream: String,
        #[command(flatten)]
        db: Database,
    },
}

pub fn audit(command: AuditCommand) -> Result<ExitCode> {
    let db = match command {
        AuditCommand::Verify { db } => db,
        AuditCommand::PublishHead {
            log_group,
            log_stream,
            db,
        } => return publish_head(&log_group, &log_stream, db),
    };
    runtime()?.block_on(async {
        let (result, head) = db.current().await?.verify_audit().await?;
        match (result, head) {
            (Ok(()), Some(head)) => {
                println!(
                    "audit chain intact: {} record(s), head {}",
                    head.sequence, head.hash
                );
                Ok(ExitCode::SUCCESS)
            }
            (Ok(()), None) => {
                println!("audit chain empty");
                Ok(ExitCode::SUCCESS)
            }
            (Err(broken), _) => {
                eprintln!("sightline: audit chain broken: {broken}");
                Ok(ExitCode::from(crate::EXIT_ERROR))
            }
        }
    })
}

/// A head is only published for an intact chain: publishing a broken one would vouch for it.
fn publish_head(group: &str, stream: &str, db: Database) -> Result<ExitCode> {
    runtime()?.block_on(async {
        let (result, head) = db.current().await?.verify_audit().await?;
        if let Err(broken) = result {
            eprintln!("sightline: audit chain broken, head not published: {broken}");
            return Ok(ExitCode::from(crate::EXIT_ERROR));
        }
        let message = match head {
            Some(h) => format!(
                "sequence={} hash={} occurred_at={}",
                h.sequence,
                h.hash,
                h.occurred_at.to_rfc3339()
            ),
            None => "sequence=0 hash=empty".to_owned(),
        };
        let session =
            sightline_aws::AwsSession::connect(&sightline_aws::ConnectOptions::default()).await?;
        sightline_aws::telemetry::publish(&session, group, stream, &message).await?;
        println!("{message}");
        Ok(ExitCode::SUCCESS)
    })
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

pub fn migrate(db: Database) -> Result<ExitCode> {
    runtime()?.block_on(async {
        let store = Store::connect(&db.database_url).await?;
        store.migrate().await?;
        eprintln!("database at migration {}", Store::expected_version());
        Ok(ExitCode::SUCCESS)
    })
}

pub fn workspace(command: WorkspaceCommand) -> Result<ExitCode> {
    let WorkspaceCommand::Add {
        name,
        external_id,
        db,
    } = command;
    runtime()?.block_on(async {
        let ws = db
            .current()
            .await?
            .create_workspace(&name, &external_id)
            .await?;
        println!("{}", ws.id);
        Ok(ExitCode::SUCCESS)
    })
}

pub fn account(command: AccountCommand) -> Result<ExitCode> {
    runtime()?.block_on(async {
        match command {
            AccountCommand::Add {
                workspace,
                account_id,
                name,
                role_arn,
                external_id,
                regions,
                schedule,
                db,
            } => {
                let store = db.current().await?;
                let ws = store.workspace_by_name(&workspace).await?;
                let new = NewAccount {
                    aws_account_id: account_id,
                    name,
                    role_arn,
                    external_id,
                    regions,
                    schedule,
                };
                println!("{}", store.add_account(&ws, &new).await?.id);
            }
            AccountCommand::Discover { workspace, db } => {
                let store = db.current().await?;
                let ws = store.workspace_by_name(&workspace).await?;
                let session =
                    sightline_aws::AwsSession::connect(&sightline_aws::ConnectOptions::default())
                        .await?;
                let members: Vec<(String, Option<String>)> =
                    sightline_aws::organizations::member_accounts(&session)
                        .await?
                        .into_iter()
                        .filter(|m| m.status == "ACTIVE")
                        .map(|m| (m.account_id, m.name))
                        .collect();
                let added = store.add_discovered_accounts(&ws, &members).await?;
                eprintln!(
                    "{} active member account(s), {} newly registered",
                    members.len(),
                    added.len()
                );
                for id in added {
                    println!("{id}");
                }
            }
            AccountCommand::List { workspace, db } => {
                let store = db.current().await?;
                let ws = store.workspace_by_name(&workspace).await?;
                for a in store.accounts(ws.id).await? {
                    println!(
                        "{}  {}  {}",
                        a.aws_account_id,
                        a.role_arn.as_deref().unwrap_or("-"),
                        a.id
                    );
                }
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// Queue a scan of every account in the workspace.
pub fn enqueue(workspace: String, max_attempts: i32, db: Database) -> Result<ExitCode> {
    runtime()?.block_on(async {
        let store = db.current().await?;
        let ws = store.workspace_by_name(&workspace).await?;
        for a in store.accounts(ws.id).await? {
            println!("{}", store.enqueue_scan(a.id, max_attempts).await?);
        }
        Ok(ExitCode::SUCCESS)
    })
}
