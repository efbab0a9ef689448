//! The secrets a deployment's setup, web and worker read, as the stack
//! creates them, in the emulator's Secrets Manager (setup.rs, container.rs).

use super::webdriver::{http, HttpReply};
use super::Emulator;

pub const OWNER_DB: &str = "master-password-managed-by-rds";
pub const APP: &str = "app-password-from-its-secret";
pub const WORKER: &str = "worker-password-from-its-secret";
pub const CONSOLE: &str = "console-password-from-its-secret";
pub const ONE_TIME: &str = "first-owner-one-time-password-4821";
pub const KEK: &str = "8f0e1d2c3b4a59687766554433221100ffeeddccbbaa99887766554433221100";
/// `SIGHTLINE_LOGIN_SECRETS` for those secrets.
pub const LOGINS: &str =
    "sightline_app=sightline/app,sightline_worker=sightline/worker,sightline_console=sightline/console";

/// `sightline/master`, `/app`, `/worker`, `/console`, `/owner` and `/kek`.
pub fn seed_secrets(emulator: &Emulator) {
    emulator.aws(&format!(
        "sm = c('secretsmanager')\n\
         sm.create_secret(Name='sightline/master', SecretString=json.dumps({{'username': 'postgres', 'password': '{OWNER_DB}'}}))\n\
         sm.create_secret(Name='sightline/app', SecretString=json.dumps({{'username': 'sightline_app', 'password': '{APP}'}}))\n\
         sm.create_secret(Name='sightline/worker', SecretString=json.dumps({{'username': 'sightline_worker', 'password': '{WORKER}'}}))\n\
         sm.create_secret(Name='sightline/console', SecretString=json.dumps({{'username': 'sightline_console', 'password': '{CONSOLE}'}}))\n\
         sm.create_secret(Name='sightline/owner', SecretString='{ONE_TIME}')\n\
         sm.create_secret(Name='sightline/kek', SecretString='{KEK}')\n"
    ));
}

/// The first owner's first sign-in, with the one-time password from its secret.
pub fn owner_first_sign_in(web_port: u16) -> HttpReply {
    http(
        web_port,
        "POST",
        "/api/v1/session",
        &[("content-type", "application/json")],
        &format!("{{\"email\":\"owner@acme.example\",\"password\":\"{ONE_TIME}\"}}"),
    )
    .expect("the web server answers")
}
