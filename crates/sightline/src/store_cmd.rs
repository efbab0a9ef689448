//! `sightline migrate`, `workspace add`, `account add|list` and `enqueue`:
//! the state in PostgreSQL, from the command line.

use std::process::ExitCode;

use anyhow::{anyhow, bail, Context, Result};
use clap::{Args, Subcommand};
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use serde::Deserialize;
use sightline_store::accounts::{DiscoveryDefaults, NewAccount};
use sightline_store::audit::PublishedHead;
use sightline_store::{Store, StoreError};

#[derive(Debug, Args)]
pub struct Database {
    /// PostgreSQL URL.
    #[arg(
        long,
        env = "DATABASE_URL",
        hide_env_values = true,
        required_unless_present = "database_secret_id",
        conflicts_with = "database_secret_id"
    )]
    pub database_url: Option<String>,
    /// Secrets Manager id of the RDS JSON secret holding the credentials
    /// (username, password, and host, port, dbname unless given below).
    #[arg(long, env = "SIGHTLINE_DATABASE_SECRET_ID")]
    pub database_secret_id: Option<String>,
    #[command(flatten)]
    pub endpoint: Endpoint,
}

impl Database {
    /// The URL given, or the one built from the secret.
    pub async fn url(&self) -> Result<String> {
        match (&self.database_url, &self.database_secret_id) {
            (Some(url), _) => Ok(url.clone()),
            (None, Some(id)) => self.endpoint.url_from_secret(id).await,
            (None, None) => {
                bail!("no database: expected DATABASE_URL or SIGHTLINE_DATABASE_SECRET_ID")
            }
        }
    }

    /// Connect and refuse a database that is not at this build's migration.
    pub async fn current(&self) -> Result<Store> {
        let store = Store::connect(&self.url().await?).await?;
        store.ensure_current().await?;
        Ok(store)
    }
}

/// Where the database is when the credentials come from a secret, and how
/// to verify it. In AWS: the cluster endpoint, `verify-full`, and the RDS CA
/// bundle shipped in the image.
#[derive(Debug, Clone, Args)]
pub struct Endpoint {
    #[arg(long, env = "SIGHTLINE_DATABASE_HOST")]
    pub database_host: Option<String>,
    #[arg(long, env = "SIGHTLINE_DATABASE_PORT")]
    pub database_port: Option<u16>,
    #[arg(long, env = "SIGHTLINE_DATABASE_NAME")]
    pub database_name: Option<String>,
    /// libpq sslmode for a database built from a secret; `verify-full` in AWS.
    #[arg(long, env = "SIGHTLINE_DATABASE_SSLMODE", default_value = "prefer")]
    pub database_sslmode: String,
    /// CA certificates that sign the server's certificate (PEM), for `verify-full`.
    #[arg(long, env = "SIGHTLINE_DATABASE_SSLROOTCERT")]
    pub database_sslrootcert: Option<String>,
}

/// The RDS JSON secret; host, port and dbname are present in secrets RDS
/// attaches to an instance and absent from a managed master secret.
#[derive(Deserialize)]
pub struct RdsSecret {
    pub username: String,
    pub password: String,
    host: Option<String>,
    port: Option<u16>,
    dbname: Option<String>,
}

fn encode(s: &str) -> String {
    utf8_percent_encode(s, NON_ALPHANUMERIC).to_string()
}

impl Endpoint {
    /// Read and parse the RDS JSON secret `id`; errors name the secret, never its value.
    pub async fn read_secret(id: &str) -> Result<RdsSecret> {
        let session =
            sightline_aws::AwsSession::connect(&sightline_aws::ConnectOptions::default()).await?;
        let raw = sightline_aws::secrets::secret_string(&session, id).await?;
        serde_json::from_str(&raw).map_err(|e| {
            anyhow!("secret {id}: expected the RDS JSON secret {{\"username\", \"password\", ...}}: {e}")
        })
    }

    pub async fn url_from_secret(&self, id: &str) -> Result<String> {
        self.url_for(&Self::read_secret(id).await?, id)
    }

    /// The URL for these credentials; the endpoint's settings win over the secret's.
    pub fn url_for(&self, secret: &RdsSecret, id: &str) -> Result<String> {
        let host = self
            .database_host
            .clone()
            .or_else(|| secret.host.clone())
            .ok_or_else(|| anyhow!("secret {id} has no host: set SIGHTLINE_DATABASE_HOST"))?;
        let port = self.database_port.or(secret.port).unwrap_or(5432);
        let name = self
            .database_name
            .clone()
            .or_else(|| secret.dbname.clone())
            .unwrap_or_else(|| "sightline".into());
        let mut url = format!(
            "postgres://{}:{}@{host}:{port}/{name}?sslmode={}",
            encode(&secret.username),
            encode(&secret.password),
            encode(&self.database_sslmode)
        );
        if let Some(ca) = &self.database_sslrootcert {
            url.push_str(&format!("&sslrootcert={}", encode(ca)));
        }
        Ok(url)
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
        /// Succeed, changing nothing, when the workspace already exists with
        /// this ExternalId (a bootstrap that runs on every start).
        #[arg(long)]
        if_missing: bool,
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
        /// Monitoring role to assume, with the workspace's ExternalId
        /// (default: the worker's own credentials, for the deployment's own account).
        #[arg(long)]
        role_arn: Option<String>,
        #[arg(long, value_delimiter = ',')]
        regions: Vec<String>,
        /// Scan schedule as an interval, e.g. "6 hours".
        #[arg(long)]
        schedule: Option<String>,
        /// Succeed, changing nothing, when the account is already registered
        /// in the workspace (a bootstrap that runs on every start).
        #[arg(long)]
        if_missing: bool,
        #[command(flatten)]
        db: Database,
    },
    /// Register every active account of the AWS Organization the current
    /// credentials manage (management or delegated-administrator account).
    Discover {
        #[arg(long)]
        workspace: String,
        /// Regions to scan in each newly registered member (default: every
        /// region enabled in it).
        #[arg(long, value_delimiter = ',')]
        regions: Vec<String>,
        /// Scan schedule for newly registered members, e.g. "6 hours"; they
        /// are due at once, so the next scheduled round scans them.
        #[arg(long)]
        schedule: Option<String>,
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
    /// Check the audit trail: the hash chain, its end against the head row,
    /// and (with --log-group) against the head last published to CloudWatch
    /// Logs. Exit 1 at the first problem.
    Verify {
        /// The log group the workers publish the head to; compare with its newest head.
        #[arg(long, env = "SIGHTLINE_AUDIT_LOG_GROUP")]
        log_group: Option<String>,
        #[arg(long, env = "SIGHTLINE_AUDIT_LOG_STREAM", default_value = "audit-head")]
        log_stream: String,
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
    /// The platform-level sign-in log: unknown e-mails, second-factor
    /// failures and lockouts, oldest first.
    AuthLog {
        /// Only events at or after this time (RFC 3339).
        #[arg(long)]
        since: Option<chrono::DateTime<chrono::Utc>>,
        #[arg(long, default_value_t = 1000)]
        limit: i64,
        #[command(flatten)]
        db: Database,
    },
}

pub fn audit(command: AuditCommand) -> Result<ExitCode> {
    let (log_group, log_stream, db) = match command {
        AuditCommand::Verify {
            log_group,
            log_stream,
            db,
        } => (log_group, log_stream, db),
        AuditCommand::PublishHead {
            log_group,
            log_stream,
            db,
        } => return publish_head(&log_group, &log_stream, db),
        AuditCommand::AuthLog { since, limit, db } => return auth_log(since, limit, db),
    };
    runtime()?.block_on(async {
        let store = db.current().await?;
        let snapshot = store.audit_snapshot().await?;
        if let Err(broken) = &snapshot.chain {
            eprintln!("sightline: audit chain broken: {broken}");
            return Ok(ExitCode::from(crate::EXIT_ERROR));
        }
        let published = match &log_group {
            None => vec![],
            Some(group) => {
                let session = sightline_aws::AwsSession::connect(
                    &sightline_aws::ConnectOptions::default(),
                )
                .await?;
                let messages =
                    sightline_aws::telemetry::messages(&session, group, &log_stream).await?;
                if messages.is_empty() {
                    bail!("no head was ever published to {group}/{log_stream}");
                }
                messages
                    .iter()
                    .map(|m| {
                        PublishedHead::parse(m).with_context(|| {
                            format!("{group}/{log_stream}: expected \"sequence=N hash=H …\", found {m:?}")
                        })
                    })
                    .collect::<Result<Vec<_>>>()?
            }
        };
        if let Err(mismatch) = store.verify_audit_head(&snapshot, &published).await? {
            eprintln!("sightline: audit trail incomplete: {mismatch}");
            return Ok(ExitCode::from(crate::EXIT_ERROR));
        }
        let against = match (&log_group, published.iter().map(|p| p.sequence).max()) {
            (Some(group), Some(newest)) => format!(
                "; the {} head(s) published to {group} (newest sequence {newest}) are in it",
                published.len()
            ),
            _ => String::new(),
        };
        match snapshot.last {
            Some(head) => println!(
                "audit chain intact: {} record(s), head {}, matching the head row{against}",
                head.sequence, head.hash
            ),
            None => println!("audit chain empty{against}"),
        }
        Ok(ExitCode::SUCCESS)
    })
}

fn auth_log(
    since: Option<chrono::DateTime<chrono::Utc>>,
    limit: i64,
    db: Database,
) -> Result<ExitCode> {
    runtime()?.block_on(async {
        let store = db.current().await?;
        for e in store.auth_events(since, limit.clamp(1, 100_000)).await? {
            println!(
                "{}",
                serde_json::json!({
                    "occurred_at": e.occurred_at,
                    "event": e.event,
                    "email": e.email,
                    "ip": e.ip,
                    "detail": e.detail,
                })
            );
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// A head is only published for an intact chain: publishing a broken one would vouch for it.
fn publish_head(group: &str, stream: &str, db: Database) -> Result<ExitCode> {
    runtime()?.block_on(async {
        let store = db.current().await?;
        match publish_audit_head(&store, group, stream).await {
            Ok(message) => {
                println!("{message}");
                Ok(ExitCode::SUCCESS)
            }
            Err(e) => {
                eprintln!("sightline: {e:#}");
                Ok(ExitCode::from(crate::EXIT_ERROR))
            }
        }
    })
}

/// Verify the chain and append its head to `group`/`stream` in CloudWatch
/// Logs, outside the database; a broken chain is an error, not published.
pub async fn publish_audit_head(store: &Store, group: &str, stream: &str) -> Result<String> {
    let message = publish_audit_head_if_changed(store, group, stream, None).await?;
    Ok(message.expect("published when nothing was published before"))
}

/// As `publish_audit_head`, but publish nothing (and return `None`) when the
/// head is still `last`.
pub async fn publish_audit_head_if_changed(
    store: &Store,
    group: &str,
    stream: &str,
    last: Option<&str>,
) -> Result<Option<String>> {
    let snapshot = store.audit_snapshot().await?;
    if let Err(broken) = &snapshot.chain {
        bail!("audit chain broken, head not published: {broken}");
    }
    if let Err(mismatch) = store.verify_audit_head(&snapshot, &[]).await? {
        bail!("audit trail incomplete, head not published: {mismatch}");
    }
    let head = snapshot.last;
    let message = PublishedHead::message(head.as_ref());
    let before = last.and_then(PublishedHead::parse);
    let now = head.as_ref().map_or(0, |h| h.sequence);
    if let Some(before) = before.filter(|b| b.sequence > now) {
        bail!(
            "audit trail shrank, head not published: the chain ends at sequence {now} but sequence {} was published before",
            before.sequence
        );
    }
    if last == Some(message.as_str()) {
        return Ok(None);
    }
    let session =
        sightline_aws::AwsSession::connect(&sightline_aws::ConnectOptions::default()).await?;
    sightline_aws::telemetry::publish(&session, group, stream, &message).await?;
    Ok(Some(message))
}

pub fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

pub fn migrate(db: Database) -> Result<ExitCode> {
    runtime()?.block_on(async {
        let store = Store::connect(&db.url().await?).await?;
        store.migrate().await?;
        store.repair_content_digests().await?;
        eprintln!("database at migration {}", Store::expected_version());
        Ok(ExitCode::SUCCESS)
    })
}

pub fn workspace(command: WorkspaceCommand) -> Result<ExitCode> {
    let WorkspaceCommand::Add {
        name,
        external_id,
        if_missing,
        db,
    } = command;
    runtime()?.block_on(async {
        let store = db.current().await?;
        let ws = match store.create_workspace(&name, &external_id).await {
            Err(StoreError::DuplicateWorkspace { .. }) if if_missing => {
                let ws = store.workspace_by_name(&name).await?;
                // The ExternalId is what every monitoring role trusts: a
                // bootstrap must not quietly keep a different one.
                if ws.external_id != external_id {
                    bail!(
                        "workspace {name:?} already exists with a different ExternalId; \
                         expected the one given, found another (nothing was changed)"
                    );
                }
                ws
            }
            other => other?,
        };
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
                regions,
                schedule,
                if_missing,
                db,
            } => {
                let store = db.current().await?;
                let ws = store.workspace_by_name(&workspace).await?;
                let new = NewAccount {
                    aws_account_id: account_id,
                    name,
                    role_arn,
                    regions,
                    schedule,
                };
                let id =
                    match store.add_account(&ws, &new).await {
                        Ok(added) => added.id,
                        Err(StoreError::DuplicateAccount { .. }) if if_missing => {
                            let existing = store
                                .accounts(ws.id)
                                .await?
                                .into_iter()
                                .find(|a| a.aws_account_id == new.aws_account_id)
                                .ok_or_else(|| {
                                    anyhow!(
                                        "account {} vanished while it was being registered",
                                        new.aws_account_id
                                    )
                                })?;
                            // Already there is fine only if it is the same
                            // registration: never keep another trust role quietly.
                            let sorted = |r: &[String]| {
                                let mut r = r.to_vec();
                                r.sort();
                                r
                            };
                            if existing.role_arn != new.role_arn
                                || sorted(&existing.regions) != sorted(&new.regions)
                            {
                                bail!(
                                "account {} is already registered in {workspace:?} differently: \
                                 expected role {} and regions {:?}, found role {} and regions {:?} \
                                 (nothing was changed)",
                                new.aws_account_id,
                                new.role_arn.as_deref().unwrap_or("none (own credentials)"),
                                new.regions,
                                existing.role_arn.as_deref().unwrap_or("none (own credentials)"),
                                existing.regions,
                            );
                            }
                            existing.id
                        }
                        Err(e) => return Err(e.into()),
                    };
                println!("{id}");
            }
            AccountCommand::Discover {
                workspace,
                regions,
                schedule,
                db,
            } => {
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
                // The management account's partition is the organization's.
                let added = store
                    .add_discovered_accounts(
                        &ws,
                        &session.partition,
                        &members,
                        &DiscoveryDefaults { regions, schedule },
                    )
                    .await?;
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
