//! `sightline demo`: scan the account the current credentials reach (in
//! `make demo`, the seeded emulator), store it in PostgreSQL, and show the
//! findings and what the database now holds. Uses `DATABASE_URL` when set;
//! otherwise a private PostgreSQL under `.sightline/postgres`, stopped on
//! exit and reused next time (so a second run shows the diff).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Args;
use sightline_aws::{AwsSession, ConnectOptions, ScanOptions, ScanRecorder, Service};
use sightline_core::report::{render, Format};
use sightline_store::accounts::NewAccount;
use sightline_store::embedded::EmbeddedPostgres;
use sightline_store::{Store, StoreError};

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Regions to scan, comma-separated (default: every enabled region).
    #[arg(long, value_delimiter = ',')]
    regions: Option<Vec<String>>,
    /// PostgreSQL URL; without it a private server runs under --data-dir.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
    #[arg(long, default_value = ".sightline/postgres")]
    data_dir: PathBuf,
    /// After the scan, serve the web UI here (on loopback) until Ctrl-C, with
    /// a one-time password for the demo owner.
    #[arg(long)]
    serve: Option<std::net::SocketAddr>,
}

pub fn run(args: DemoArgs) -> Result<ExitCode> {
    // Started outside the async runtime so it stops (Drop) after everything else.
    let embedded = match &args.database_url {
        Some(_) => None,
        None => Some(
            EmbeddedPostgres::start(&args.data_dir).context("starting the private PostgreSQL")?,
        ),
    };
    let url = args
        .database_url
        .clone()
        .or_else(|| embedded.as_ref().map(EmbeddedPostgres::url))
        .unwrap_or_default();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let kek_file = args
        .data_dir
        .parent()
        .unwrap_or(std::path::Path::new("."))
        .join("demo-kek");
    let result = runtime.block_on(async {
        let code = demo(&url, args.regions).await?;
        match args.serve {
            Some(addr) => serve_ui(&url, addr, &kek_file).await,
            None => Ok(code),
        }
    });
    drop(runtime);
    drop(embedded);
    result
}

async fn demo(url: &str, regions: Option<Vec<String>>) -> Result<ExitCode> {
    let store = Store::connect(url).await?;
    store.migrate().await?;
    let session = AwsSession::connect(&ConnectOptions::default()).await?;
    let workspace = match store.workspace_by_name("demo").await {
        Ok(ws) => ws,
        Err(StoreError::NotFound { .. }) => {
            store.create_workspace("demo", "sightline-demo").await?
        }
        Err(e) => return Err(e.into()),
    };
    let account = match store
        .accounts(workspace.id)
        .await?
        .into_iter()
        .find(|a| a.aws_account_id == session.account_id)
    {
        Some(a) => a,
        None => {
            let new = NewAccount {
                aws_account_id: session.account_id.clone(),
                name: Some("demo".into()),
                regions: regions.clone().unwrap_or_default(),
                ..NewAccount::default()
            };
            store.add_account(&workspace, &new).await?
        }
    };

    let options = ScanOptions {
        regions,
        services: Service::ALL.to_vec(),
        concurrency: 8,
    };
    let checks = sightline_core::catalog();
    let recorder = ScanRecorder::new();
    let scan_id = store.begin_scan(&account, None).await?;
    let (inventory, mut report) =
        sightline_aws::scan_and_evaluate(&session, &options, &recorder, &checks).await?;
    report.compliance = sightline_core::compliance::assess_all(&report);
    let diff = store
        .save_scan(scan_id, &account, None, &inventory, &report)
        .await?;
    // Every framework is stored; the terminal shows the first.
    report.compliance.truncate(1);

    print!("{}", render(&report, &checks, Format::Table));
    let summary = store.account_summary(account.id).await?;
    println!(
        "\nStored in PostgreSQL: {} resources, {} open findings, {} scan(s) of account {}. This scan: {} new, {} still open, {} resolved, {} regressed.",
        summary.resources, summary.open_findings, summary.scans, account.aws_account_id, diff.new, diff.still_open, diff.resolved, diff.regressed
    );
    Ok(ExitCode::SUCCESS)
}

/// `url` with another role, no password: the demo's private server trusts
/// loopback; with DATABASE_URL, set SIGHTLINE_DATABASE_URL and
/// SIGHTLINE_CONSOLE_DATABASE_URL when the roles need passwords.
fn as_role(url: &str, role: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let host = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
            format!("{scheme}://{role}@{host}")
        }
        None => url.to_owned(),
    }
}

/// The demo's key-encryption key, made once and kept beside its database.
fn demo_kek(path: &std::path::Path) -> Result<sightline_crypto::KeyEncryptionKey> {
    if !path.exists() {
        let bytes = sightline_web::auth::tokens::random_bytes::<32>()
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(path, hex)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
        }
    }
    let hex =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    sightline_crypto::KeyEncryptionKey::from_hex("demo-kek", hex.trim())
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

/// Serve the UI over the demo workspace, with a fresh one-time password for
/// its owner, until Ctrl-C.
async fn serve_ui(
    url: &str,
    addr: std::net::SocketAddr,
    kek_file: &std::path::Path,
) -> Result<ExitCode> {
    const OWNER: &str = "demo@sightline.local";
    let store = Store::connect(url).await?;
    let workspace = store.workspace_by_name("demo").await?;
    let password = sightline_web::auth::password::one_time().map_err(|e| anyhow::anyhow!("{e}"))?;
    let hash =
        sightline_web::auth::password::hash(&password).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut tx = store.begin_workspace_tx(workspace.id).await?;
    let existing = sightline_store::identity::users(&mut tx)
        .await?
        .into_iter()
        .find(|u| u.email == OWNER);
    match existing {
        Some(user) => {
            sightline_store::identity::reset_to_one_time_password(&mut tx, user.id, &hash).await?;
            tx.audit(
                "system:demo",
                "user.password_reset",
                &format!("user:{OWNER}"),
                serde_json::json!({}),
            )
            .await?;
        }
        None => {
            sightline_store::identity::create_user(&mut tx, OWNER, "owner", Some(&hash), true)
                .await?;
            tx.audit(
                "system:demo",
                "user.added",
                &format!("user:{OWNER}"),
                serde_json::json!({"role": "owner"}),
            )
            .await?;
        }
    }
    tx.commit().await?;
    drop(store);

    let app_url =
        std::env::var("SIGHTLINE_DATABASE_URL").unwrap_or_else(|_| as_role(url, "sightline_app"));
    let console_url = std::env::var("SIGHTLINE_CONSOLE_DATABASE_URL")
        .unwrap_or_else(|_| as_role(url, "sightline_console"));
    let app = Store::connect(&app_url).await?;
    let config = sightline_web::Config {
        kek: demo_kek(kek_file)?,
        oidc: None,
        oidc_workspace: None,
        allowed_origins: vec![],
        trust_forwarded_for: false,
        trusted_proxies: vec![],
        limits: sightline_web::Limits::default(),
        console: Some(sightline_store::console::ConsolePool::connect_lazy(
            &console_url,
        )?),
        ask: None,
        reader: None,
    };
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}: is another demo still running?"))?;
    println!();
    println!("Sightline UI: http://{}", listener.local_addr()?);
    println!("Sign in as {OWNER} with the one-time password {password}");
    println!("(you choose your own password at the first sign-in). Ctrl-C stops the demo.");
    sightline_web::serve(
        listener,
        sightline_web::AppState::new(app, config),
        crate::serve_cmd::shutdown_signal(),
    )
    .await?;
    Ok(ExitCode::SUCCESS)
}
