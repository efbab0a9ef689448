//! `sightline serve`: the web server. Configuration comes from flags or
//! environment variables and, in AWS, from Secrets Manager (database
//! credentials as the RDS JSON secret, the key-encryption key).
//!
//! `sightline user bootstrap`: the first owner, with a one-time password
//! printed once or stored in Secrets Manager.

use std::net::SocketAddr;
use std::process::ExitCode;

use anyhow::{anyhow, bail, Context, Result};
use clap::{Args, Subcommand};
use sightline_store::Store;
use sightline_web::auth::oidc::{OidcConfig, OidcVerifier};
use sightline_web::{AppState, Config, Limits};

use crate::store_cmd::Endpoint;
use uuid::Uuid;

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "SIGHTLINE_LISTEN", default_value = "0.0.0.0:8080")]
    listen: SocketAddr,
    /// PostgreSQL URL of the application role (`sightline_app`, which owns nothing).
    #[arg(
        long,
        env = "SIGHTLINE_DATABASE_URL",
        hide_env_values = true,
        conflicts_with = "database_secret_id"
    )]
    database_url: Option<String>,
    /// Secrets Manager id of the application role's RDS JSON secret
    /// (username, password, and host, port, dbname unless given below).
    #[arg(long, env = "SIGHTLINE_DATABASE_SECRET_ID")]
    database_secret_id: Option<String>,
    #[command(flatten)]
    endpoint: Endpoint,
    /// PostgreSQL URL of a read replica (Aurora's reader endpoint), as the
    /// application role: the pages that only read go there, except a
    /// client's reads just after its own write.
    #[arg(
        long,
        env = "SIGHTLINE_DATABASE_READER_URL",
        hide_env_values = true,
        conflicts_with = "database_secret_id"
    )]
    database_reader_url: Option<String>,
    /// With the credentials from a secret: the read replica's host (Aurora's
    /// reader endpoint), where the read-only pages connect.
    #[arg(long, env = "SIGHTLINE_DATABASE_READER_HOST")]
    database_reader_host: Option<String>,
    /// PostgreSQL URL of the SQL console's role (`sightline_console`: SELECT on the
    /// inventory views only); without it (or its secret) the console is off.
    #[arg(
        long,
        env = "SIGHTLINE_CONSOLE_DATABASE_URL",
        hide_env_values = true,
        conflicts_with = "console_database_secret_id"
    )]
    console_database_url: Option<String>,
    /// Secrets Manager id of the console role's RDS JSON secret, at the same endpoint.
    #[arg(long, env = "SIGHTLINE_CONSOLE_DATABASE_SECRET_ID")]
    console_database_secret_id: Option<String>,
    #[command(flatten)]
    kek: crate::keys_cmd::KekArgs,
    /// ALB OIDC: the ARN of the load balancer that signs `x-amzn-oidc-data`.
    #[arg(long, env = "SIGHTLINE_OIDC_ALB_ARN", requires_all = ["oidc_region", "oidc_workspace_id", "oidc_issuer", "oidc_client_id"])]
    oidc_alb_arn: Option<String>,
    /// ALB OIDC: the identity provider's issuer, as configured on the listener rule.
    #[arg(long, env = "SIGHTLINE_OIDC_ISSUER")]
    oidc_issuer: Option<String>,
    /// ALB OIDC: the OIDC client id configured on the listener rule.
    #[arg(long, env = "SIGHTLINE_OIDC_CLIENT_ID")]
    oidc_client_id: Option<String>,
    /// ALB OIDC: the region of the load balancer, whose key endpoint is used.
    #[arg(long, env = "SIGHTLINE_OIDC_REGION")]
    oidc_region: Option<String>,
    #[arg(long, env = "SIGHTLINE_OIDC_KEY_ENDPOINT", default_value = OidcConfig::AWS_KEY_ENDPOINT)]
    oidc_key_endpoint: String,
    /// ALB OIDC: the workspace the IdP's users belong to.
    #[arg(long, env = "SIGHTLINE_OIDC_WORKSPACE_ID")]
    oidc_workspace_id: Option<Uuid>,
    /// Origins allowed cross-origin access (comma-separated); none by default.
    #[arg(long, env = "SIGHTLINE_ALLOWED_ORIGINS", value_delimiter = ',')]
    allowed_origins: Vec<String>,
    /// Take the client address from X-Forwarded-For (set behind the ALB): the
    /// right-most entry that is not a trusted proxy.
    #[arg(long, env = "SIGHTLINE_TRUST_FORWARDED_FOR")]
    trust_forwarded_for: bool,
    /// Networks of proxies in front of the ALB (a CDN), comma-separated CIDRs,
    /// whose X-Forwarded-For entries are skipped.
    #[arg(
        long,
        env = "SIGHTLINE_TRUSTED_PROXIES",
        value_delimiter = ',',
        requires = "trust_forwarded_for"
    )]
    trusted_proxies: Vec<sightline_web::IpNet>,
    #[arg(long, env = "SIGHTLINE_RATE_PER_IP", default_value_t = Limits::default().per_ip_per_minute)]
    rate_per_ip: u32,
    #[arg(long, env = "SIGHTLINE_RATE_PER_PRINCIPAL", default_value_t = Limits::default().per_principal_per_minute)]
    rate_per_principal: u32,
    #[arg(long, env = "SIGHTLINE_RATE_LOGINS_PER_IP", default_value_t = Limits::default().logins_per_ip_per_minute)]
    rate_logins_per_ip: u32,
    #[command(flatten)]
    ask: crate::ask_model::AskModelArgs,
}

async fn aws() -> Result<sightline_aws::AwsSession> {
    Ok(sightline_aws::AwsSession::connect(&sightline_aws::ConnectOptions::default()).await?)
}

async fn database_url(args: &ServeArgs) -> Result<String> {
    match (&args.database_url, &args.database_secret_id) {
        (Some(url), _) => Ok(url.clone()),
        (None, Some(id)) => args.endpoint.url_from_secret(id).await,
        (None, None) => {
            bail!("no database: expected SIGHTLINE_DATABASE_URL or SIGHTLINE_DATABASE_SECRET_ID")
        }
    }
}

/// The endpoint of the read replica, when credentials come from secrets
/// and a reader host is given; the primary's otherwise.
fn reader_endpoint(args: &ServeArgs) -> Endpoint {
    let mut endpoint = args.endpoint.clone();
    if let Some(host) = &args.database_reader_host {
        endpoint.database_host = Some(host.clone());
    }
    endpoint
}

async fn reader_url(args: &ServeArgs) -> Result<Option<String>> {
    match (
        &args.database_reader_url,
        &args.database_secret_id,
        &args.database_reader_host,
    ) {
        (Some(url), _, _) => Ok(Some(url.clone())),
        (None, Some(id), Some(_)) => Ok(Some(reader_endpoint(args).url_from_secret(id).await?)),
        (None, None, Some(_)) => {
            bail!("SIGHTLINE_DATABASE_READER_HOST needs the credentials of SIGHTLINE_DATABASE_SECRET_ID; with URLs, set SIGHTLINE_DATABASE_READER_URL")
        }
        _ => Ok(None),
    }
}

/// The console stays on the writer even with a replica: its statements run
/// on a connection the application role binds to the asker's workspace
/// (by backend pid, on the writer), and `console::run` refuses a standby.
async fn console_url(args: &ServeArgs) -> Result<Option<String>> {
    match (&args.console_database_url, &args.console_database_secret_id) {
        (Some(url), _) => Ok(Some(url.clone())),
        (None, Some(id)) => Ok(Some(args.endpoint.url_from_secret(id).await?)),
        (None, None) => Ok(None),
    }
}

pub fn run(args: ServeArgs) -> Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let allowed_origins = args
            .allowed_origins
            .iter()
            .filter(|o| !o.is_empty())
            .map(|o| {
                if o == "*" {
                    bail!("allowed origins: \"*\" is refused; list each origin");
                }
                o.parse().with_context(|| format!("allowed origin {o:?}"))
            })
            .collect::<Result<Vec<_>>>()?;
        let url = database_url(&args).await?;
        let store = Store::connect(&url).await?;
        store.ensure_current().await?;
        let oidc = match &args.oidc_alb_arn {
            Some(arn) => Some(
                OidcVerifier::new(OidcConfig {
                    alb_arn: arn.clone(),
                    region: args.oidc_region.clone().unwrap_or_default(),
                    key_endpoint: args.oidc_key_endpoint.clone(),
                    issuer: args.oidc_issuer.clone().unwrap_or_default(),
                    client_id: args.oidc_client_id.clone().unwrap_or_default(),
                    key_ttl: sightline_web::auth::oidc::KEY_TTL,
                    miss_ttl: sightline_web::auth::oidc::MISS_TTL,
                })
                .map_err(|e| anyhow!(e))?,
            ),
            None => None,
        };
        let kek = args.kek.load().await?;
        if let Some(current) = store.current_kek_id().await?.filter(|c| c != kek.id()) {
            bail!(
                "{}",
                sightline_store::StoreError::StaleKek {
                    running: kek.id().to_owned(),
                    current,
                }
            );
        }
        let config = Config {
            kek,
            oidc,
            oidc_workspace: args.oidc_workspace_id,
            allowed_origins,
            trust_forwarded_for: args.trust_forwarded_for,
            trusted_proxies: args.trusted_proxies.clone(),
            limits: Limits {
                per_ip_per_minute: args.rate_per_ip,
                per_principal_per_minute: args.rate_per_principal,
                logins_per_ip_per_minute: args.rate_logins_per_ip,
                ..Limits::default()
            },
            console: console_url(&args)
                .await?
                .as_deref()
                .map(sightline_store::console::ConsolePool::connect_lazy)
                .transpose()?,
            ask: args.ask.build().await?,
            reader: match reader_url(&args).await? {
                Some(url) => Some(Store::connect_reader(&url)?),
                None => None,
            },
        };
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("cannot listen on {}", args.listen))?;
        tracing::info!(address = %listener.local_addr()?, "serving");
        println!("sightline: serving on http://{}", listener.local_addr()?);
        sightline_web::serve(listener, AppState::new(store, config), shutdown_signal()).await?;
        tracing::info!("stopped");
        Ok(ExitCode::SUCCESS)
    })
}

/// SIGTERM (ECS stopping the task) or Ctrl-C: stop accepting, finish what is in flight.
pub(crate) async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down: finishing requests in flight");
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a workspace's first owner with a one-time password, printed
    /// once or stored in Secrets Manager. Refused once the workspace has users.
    Bootstrap {
        #[arg(long)]
        workspace: String,
        #[arg(long)]
        email: String,
        /// Store the password in this secret instead of printing it.
        #[arg(long)]
        secret_id: Option<String>,
        #[command(flatten)]
        db: crate::store_cmd::Database,
    },
}

pub fn user(command: UserCommand) -> Result<ExitCode> {
    let UserCommand::Bootstrap {
        workspace,
        email,
        secret_id,
        db,
    } = command;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let store = db.current().await?;
        let workspace = store.workspace_by_name(&workspace).await?;
        let email = email.trim().to_lowercase();
        let password = sightline_web::auth::password::one_time().map_err(|e| anyhow!("{e}"))?;
        let hash = sightline_web::auth::password::hash(&password).map_err(|e| anyhow!("{e}"))?;
        let mut tx = store.begin_workspace_tx(workspace.id).await?;
        if !sightline_store::identity::users(&mut tx).await?.is_empty() {
            bail!("workspace {} already has users: bootstrap runs once; owners add users in the UI", workspace.name);
        }
        sightline_store::identity::create_user(&mut tx, &email, "owner", Some(&hash), true).await?;
        tx.audit("system:bootstrap", "user.added", &format!("user:{email}"), serde_json::json!({"role": "owner"}))
            .await?;
        if let Some(id) = &secret_id {
            sightline_aws::secrets::put_secret_string(&aws().await?, id, &password).await?;
            tx.commit().await?;
            println!("owner {email} created; the one-time password is in secret {id}");
        } else {
            tx.commit().await?;
            println!("owner {email} created; one-time password (shown once, change it at first sign-in): {password}");
        }
        Ok(ExitCode::SUCCESS)
    })
}
