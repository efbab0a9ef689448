//! `sightline setup`: what a deployment runs before its workers start (the
//! init container of the worker task in `cloudformation/sightline.yaml`).
//! Idempotent and safe to run from several tasks at once; each run:
//!
//! 1. connects as the database's owner (Aurora's managed master secret),
//!    takes the setup lock and applies the migrations;
//! 2. gives each login role (`sightline_app`, `sightline_worker`,
//!    `sightline_console`) the password in its own secret, sent as a SCRAM
//!    verifier so the password never reaches the server;
//! 3. as `sightline_worker` (FORCEd row-level security filters the owner,
//!    which on Aurora is not a superuser), makes sure the deployment's
//!    workspace exists with the stack's ExternalId and registers the stack's
//!    own account with its monitoring role when asked to;
//! 4. as `sightline_app`, the only role that may touch people and their
//!    credentials, gives the workspace its first owner with the one-time
//!    password from a secret when it has no user yet.
//!
//! Each step prints one line; no secret value is ever printed.

use std::process::ExitCode;

use anyhow::{anyhow, bail, Context, Result};
use clap::Args;
use sightline_store::accounts::NewAccount;
use sightline_store::logins::LOGIN_ROLES;
use sightline_store::Store;
use uuid::Uuid;

use crate::store_cmd::{Database, Endpoint};

#[derive(Debug, Args)]
pub struct SetupArgs {
    /// The database owner's connection (in AWS: the cluster's managed master secret).
    #[command(flatten)]
    db: Database,
    /// `role=secret-id` for each login role whose password is in a secret
    /// (`{"username": role, "password": ...}`); sightline_worker and
    /// sightline_app are required.
    #[arg(long = "login", env = "SIGHTLINE_LOGIN_SECRETS", value_delimiter = ',', value_parser = parse_login)]
    logins: Vec<(String, String)>,
    /// The deployment's workspace id (the stack's id, so the web tasks know it too).
    #[arg(long, env = "SIGHTLINE_WORKSPACE_ID")]
    workspace_id: Uuid,
    #[arg(long, env = "SIGHTLINE_WORKSPACE_NAME", default_value = "default")]
    workspace_name: String,
    /// The ExternalId the workspace's monitoring roles require.
    #[arg(long, env = "SIGHTLINE_EXTERNAL_ID", hide_env_values = true)]
    external_id: String,
    /// The monitoring role's name in every account (the stack's
    /// MonitoringRoleName); Organizations discovery registers members with it.
    #[arg(
        long,
        env = "SIGHTLINE_MEMBER_ROLE_NAME",
        default_value = "SightlineMonitoring"
    )]
    member_role_name: String,
    /// The first owner, created only while the workspace has no user.
    #[arg(long, env = "SIGHTLINE_OWNER_EMAIL")]
    owner_email: String,
    /// Secret holding the first owner's one-time password (changed at first sign-in).
    #[arg(long, env = "SIGHTLINE_OWNER_PASSWORD_SECRET_ID")]
    owner_password_secret_id: String,
    /// Register this AWS account (the deployment's own) if it is not yet registered.
    #[arg(long, env = "SIGHTLINE_ACCOUNT_ID", requires = "account_role_arn")]
    account_id: Option<String>,
    /// The monitoring role to assume in that account.
    #[arg(long, env = "SIGHTLINE_ACCOUNT_ROLE_ARN", requires = "account_id")]
    account_role_arn: Option<String>,
    /// Its scan schedule as an interval, e.g. "6 hours".
    #[arg(long, env = "SIGHTLINE_SCAN_SCHEDULE")]
    schedule: Option<String>,
    /// Its regions (default: every enabled region).
    #[arg(long, env = "SIGHTLINE_SCAN_REGIONS", value_delimiter = ',')]
    regions: Vec<String>,
}

fn parse_login(s: &str) -> Result<(String, String), String> {
    let (role, secret) = s
        .split_once('=')
        .ok_or_else(|| format!("expected role=secret-id, found {s:?}"))?;
    if !LOGIN_ROLES.contains(&role) {
        return Err(format!(
            "expected one of {}, found {role:?}",
            LOGIN_ROLES.join(", ")
        ));
    }
    if secret.is_empty() {
        return Err(format!("{role}: expected a secret id after '='"));
    }
    Ok((role.to_owned(), secret.to_owned()))
}

pub fn run(args: SetupArgs) -> Result<ExitCode> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(setup(args))
}

async fn setup(args: SetupArgs) -> Result<ExitCode> {
    let Some((_, worker_secret)) = args.logins.iter().find(|(r, _)| r == "sightline_worker") else {
        bail!("--login: expected sightline_worker=<secret-id> (setup continues as that role)");
    };
    let Some((_, app_secret)) = args.logins.iter().find(|(r, _)| r == "sightline_app") else {
        bail!("--login: expected sightline_app=<secret-id> (setup creates the first owner as that role)");
    };
    let owner_url = args.db.url().await?;
    let owner = Store::connect(&owner_url).await?;
    let lock = owner.setup_lock().await?;
    owner.migrate().await?;
    println!("database at migration {}", Store::expected_version());

    let mut worker_password = None;
    let mut app_password = None;
    for (role, secret_id) in &args.logins {
        let secret = Endpoint::read_secret(secret_id).await?;
        if &secret.username != role {
            bail!(
                "secret {secret_id}: expected username {role:?}, found {:?}",
                secret.username
            );
        }
        owner
            .set_login_password(role, &secret.password)
            .await
            .with_context(|| format!("secret {secret_id}"))?;
        println!("{role}: password set from secret {secret_id}");
        if secret_id == worker_secret {
            worker_password = Some(secret.password.clone());
        }
        if secret_id == app_secret {
            app_password = Some(secret.password);
        }
    }
    let worker_password = worker_password.expect("the worker's secret was read above");
    let app_password = app_password.expect("the app's secret was read above");
    let store = Store::connect_as(&owner_url, "sightline_worker", &worker_password).await?;
    store.ensure_current().await?;
    let repaired = store.repair_content_digests().await?;
    if repaired > 0 {
        println!("filled the content digest of {repaired} resource(s)");
    }

    let ws = store
        .ensure_workspace(
            args.workspace_id,
            &args.workspace_name,
            &args.external_id,
            &args.member_role_name,
        )
        .await?;
    println!("workspace {} ({})", ws.name, ws.id);

    let app = Store::connect_as(&owner_url, "sightline_app", &app_password).await?;
    let mut tx = app.begin_workspace_tx(ws.id).await?;
    if sightline_store::identity::users(&mut tx).await?.is_empty() {
        let session =
            sightline_aws::AwsSession::connect(&sightline_aws::ConnectOptions::default()).await?;
        let password =
            sightline_aws::secrets::secret_string(&session, &args.owner_password_secret_id).await?;
        let password = password.trim();
        let n = password.chars().count();
        if !(sightline_web::auth::password::MIN_LENGTH..=sightline_web::auth::password::MAX_LENGTH)
            .contains(&n)
        {
            bail!(
                "secret {}: expected a password of {} to {} characters, found {n}",
                args.owner_password_secret_id,
                sightline_web::auth::password::MIN_LENGTH,
                sightline_web::auth::password::MAX_LENGTH
            );
        }
        let hash = sightline_web::auth::password::hash(password).map_err(|e| anyhow!("{e}"))?;
        let email = args.owner_email.trim().to_lowercase();
        sightline_store::identity::create_user(&mut tx, &email, "owner", Some(&hash), true).await?;
        tx.audit(
            "system:setup",
            "user.added",
            &format!("user:{email}"),
            serde_json::json!({"role": "owner"}),
        )
        .await?;
        tx.commit().await?;
        println!(
            "owner {email} created; the one-time password is in secret {}",
            args.owner_password_secret_id
        );
    } else {
        tx.commit().await?;
        println!("workspace has users: no owner created");
    }

    if let (Some(account_id), Some(role_arn)) = (&args.account_id, &args.account_role_arn) {
        let known = store.accounts(ws.id).await?;
        match known.iter().find(|a| &a.aws_account_id == account_id) {
            Some(a) => println!("account {account_id} already registered ({})", a.id),
            None => {
                let new = NewAccount {
                    aws_account_id: account_id.clone(),
                    name: Some("this account".into()),
                    role_arn: Some(role_arn.clone()),
                    regions: args.regions.clone(),
                    schedule: args.schedule.clone(),
                };
                let added = store.add_account(&ws, &new).await?;
                println!("account {account_id} registered ({})", added.id);
            }
        }
    }
    lock.release().await?;
    Ok(ExitCode::SUCCESS)
}
