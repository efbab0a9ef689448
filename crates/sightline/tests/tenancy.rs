//! One workspace cannot scan another's AWS account. Workspaces alpha and
//! bravo share a deployment (one task role); bravo's monitoring role trusts
//! that role with bravo's ExternalId. Alpha's admin, who knows bravo's
//! ExternalId and role ARN, tries through the real `sightline serve`:
//! an ExternalId of its own is an unknown field, an account without a role
//! is refused, and bravo's role registered in alpha is assumed with
//! alpha's ExternalId, which the emulator (enforcing IAM) refuses. The real
//! worker runs as `sightline_worker`, the role a deployment gives it, so the
//! test also proves its grants are enough for a scan. A role-less account
//! an operator did not register to be scanned as the worker is refused.

mod support;

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use support::db::{execute, sql, TestDatabase};
use support::webdriver::{http, HttpReply};
use support::{run, stderr, Emulator};

const KEK: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

fn as_role(url: &str, role: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap();
    let host = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
    format!("{scheme}://{role}@{host}")
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn cookie(reply: &HttpReply, name: &str) -> String {
    reply
        .headers
        .iter()
        .filter(|(k, _)| k == "set-cookie")
        .find_map(|(_, v)| {
            v.strip_prefix(&format!("{name}="))
                .map(|r| r.split(';').next().unwrap().to_owned())
        })
        .unwrap_or_else(|| panic!("no {name} cookie"))
}

fn body(reply: &HttpReply) -> String {
    String::from_utf8_lossy(&reply.body).into_owned()
}

#[test]
fn a_workspace_cannot_register_and_scan_another_workspaces_role() {
    let emulator = Emulator::start("test");
    let scanner = &emulator.seed["scanner"];
    let (key, secret) = (
        scanner["access_key_id"].as_str().unwrap().to_owned(),
        scanner["secret_access_key"].as_str().unwrap().to_owned(),
    );
    let account = emulator.account_id.clone();
    // Bravo's monitoring role: trusts the scanner (the deployment's task role) with bravo's ExternalId.
    let bravo_role = emulator
        .aws(&format!(
            "iam = c('iam')\n\
             trust = {{'Version': '2012-10-17', 'Statement': [{{'Effect': 'Allow', 'Action': 'sts:AssumeRole',\n\
                 'Principal': {{'AWS': 'arn:aws:iam::{account}:user/sightline-scanner'}},\n\
                 'Condition': {{'StringEquals': {{'sts:ExternalId': 'bravo-external-id'}}}}}}]}}\n\
             role = iam.create_role(RoleName='BravoMonitoring', AssumeRolePolicyDocument=json.dumps(trust))['Role']['Arn']\n\
             iam.put_role_policy(RoleName='BravoMonitoring', PolicyName='read', PolicyDocument=json.dumps({{'Version': '2012-10-17',\n\
                 'Statement': [{{'Effect': 'Allow', 'Action': ['ec2:Describe*', 'sts:GetCallerIdentity'], 'Resource': '*'}}]}}))\n\
             print(role, end='')\n"
        ))
        .trim()
        .to_owned();
    // From now on the emulator checks every request against IAM.
    emulator.post("/moto-api/reset-auth", "0");

    let db = TestDatabase::create();
    let cli = |args: &[&str]| emulator.succeed(&db.url, args);
    cli(&["migrate"]);
    cli(&[
        "workspace",
        "add",
        "alpha",
        "--external-id",
        "alpha-external-id",
    ]);
    cli(&[
        "workspace",
        "add",
        "bravo",
        "--external-id",
        "bravo-external-id",
    ]);
    let out = run(emulator.sightline().env("DATABASE_URL", &db.url).args([
        "user",
        "bootstrap",
        "--workspace",
        "alpha",
        "--email",
        "admin@alpha.example",
    ]));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let one_time = String::from_utf8_lossy(&out.stdout)
        .rsplit(": ")
        .next()
        .unwrap()
        .trim()
        .to_owned();

    let port = support::webdriver::free_port();
    let _server = Killed(
        emulator
            .sightline()
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .env("SIGHTLINE_DATABASE_URL", as_role(&db.url, "sightline_app"))
            .env("SIGHTLINE_KEK", KEK)
            .env_remove("DATABASE_URL")
            .env("SIGHTLINE_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let started = Instant::now();
    while http(port, "GET", "/readyz", &[], "").is_none_or(|r| r.status != 200) {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "serve did not start"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // Alpha's owner signs in and sets a password.
    let json = ("content-type", "application/json");
    let signed_in = http(
        port,
        "POST",
        "/api/v1/session",
        &[json],
        &format!(
            r#"{{"workspace":"alpha","email":"admin@alpha.example","password":"{one_time}"}}"#
        ),
    )
    .unwrap();
    assert_eq!(signed_in.status, 200, "{}", body(&signed_in));
    let (token, csrf) = (
        cookie(&signed_in, "__Host-sl_session"),
        cookie(&signed_in, "__Host-sl_csrf"),
    );
    let cookies = format!("__Host-sl_session={token}; __Host-sl_csrf={csrf}");
    let changed = http(
        port,
        "POST",
        "/api/v1/me/password",
        &[json, ("cookie", &cookies), ("x-csrf-token", &csrf)],
        &format!(r#"{{"current_password":"{one_time}","new_password":"alpha's own passphrase"}}"#),
    )
    .unwrap();
    assert_eq!(changed.status, 200, "{}", body(&changed));
    let csrf = cookie(&changed, "__Host-sl_csrf");
    let cookies = format!(
        "__Host-sl_session={}; __Host-sl_csrf={csrf}",
        cookie(&changed, "__Host-sl_session")
    );
    let add = |body_text: &str| {
        http(
            port,
            "POST",
            "/api/v1/accounts",
            &[json, ("cookie", &cookies), ("x-csrf-token", &csrf)],
            body_text,
        )
        .unwrap()
    };

    // 1. An ExternalId of its own: there is no such field.
    let reply = add(&format!(
        r#"{{"aws_account_id":"{account}","role_arn":"{bravo_role}","external_id":"bravo-external-id"}}"#
    ));
    assert_eq!(reply.status, 400, "{}", body(&reply));
    assert!(
        body(&reply).contains("unknown field `external_id`"),
        "{}",
        body(&reply)
    );
    // 2. No role: the worker's own credentials would scan it. Refused.
    let reply = add(&format!(r#"{{"aws_account_id":"{account}"}}"#));
    assert_eq!(reply.status, 400, "{}", body(&reply));
    assert!(
        body(&reply).contains("role_arn: expected the ARN"),
        "{}",
        body(&reply)
    );
    // 3. Bravo's role itself: registered, to be assumed with alpha's ExternalId.
    let reply = add(&format!(
        r#"{{"aws_account_id":"{account}","role_arn":"{bravo_role}"}}"#
    ));
    assert_eq!(reply.status, 201, "{}", body(&reply));
    // Bravo registers its own role (the operator's CLI).
    cli(&[
        "account",
        "add",
        "--workspace",
        "bravo",
        "--account-id",
        &account,
        "--role-arn",
        &bravo_role,
        "--regions",
        "us-east-1",
    ]);
    // 4. A role-less row from before this release (nobody can say an
    // operator registered it to be scanned as the worker).
    cli(&[
        "workspace",
        "add",
        "charlie",
        "--external-id",
        "charlie-external-id",
    ]);
    execute(
        &db.url,
        &format!(
            "INSERT INTO accounts (workspace_id, aws_account_id) \
             SELECT id, '{account}' FROM workspaces WHERE name = 'charlie'"
        ),
    );
    for ws in ["alpha", "bravo", "charlie"] {
        cli(&["enqueue", "--workspace", ws, "--max-attempts", "1"]);
    }

    // The worker, as its own database role, with the deployment's credentials.
    let worker = run(emulator
        .sightline()
        .env("DATABASE_URL", as_role(&db.url, "sightline_worker"))
        .env("AWS_ACCESS_KEY_ID", &key)
        .env("AWS_SECRET_ACCESS_KEY", &secret)
        .args(["worker", "--exit-when-idle", "--name", "tenancy-test"]));
    assert_eq!(worker.status.code(), Some(0), "{}", stderr(&worker));

    let per_workspace = |ws: &str, what: &str| {
        sql(
            &db.url,
            &format!(
                "SELECT {what} FROM jobs j JOIN workspaces w ON w.id = j.workspace_id WHERE w.name = '{ws}'"
            ),
        )
    };
    // Alpha's job failed at AssumeRole; alpha holds nothing of bravo's account.
    assert_eq!(per_workspace("alpha", "j.status"), "failed");
    let error = per_workspace("alpha", "j.last_error");
    assert!(
        error.contains("AssumeRole") || error.contains("assume"),
        "{error}"
    );
    assert_eq!(
        sql(
            &db.url,
            "SELECT count(*) FROM resources r JOIN workspaces w ON w.id = r.workspace_id WHERE w.name = 'alpha'"
        ),
        "0"
    );
    // Charlie's role-less row was refused before any AWS call, not scanned as the worker.
    assert_eq!(per_workspace("charlie", "j.status"), "failed");
    let error = per_workspace("charlie", "j.last_error");
    assert!(
        error.contains(&format!(
            "account {account} has no role and no such registration"
        )),
        "{error}"
    );
    assert_eq!(
        sql(
            &db.url,
            "SELECT count(*) FROM scans s JOIN workspaces w ON w.id = s.workspace_id WHERE w.name = 'charlie'"
        ),
        "0"
    );
    // Charlie's operator vouches for it by registering it again without a
    // role: the same row, now scanned with the worker's own credentials. An
    // account that is not such a row stays a duplicate.
    cli(&[
        "account",
        "add",
        "--workspace",
        "charlie",
        "--account-id",
        &account,
    ]);
    assert_eq!(
        sql(
            &db.url,
            "SELECT count(*) || ' ' || bool_and(own_credentials) FROM accounts a JOIN workspaces w ON w.id = a.workspace_id WHERE w.name = 'charlie'"
        ),
        "1 true"
    );
    let again = run(emulator.sightline().env("DATABASE_URL", &db.url).args([
        "account",
        "add",
        "--workspace",
        "bravo",
        "--account-id",
        &account,
    ]));
    assert_eq!(again.status.code(), Some(1), "{}", stderr(&again));
    assert!(stderr(&again).contains("already"), "{}", stderr(&again));
    // Bravo, with its own ExternalId, scanned the same role.
    assert_eq!(per_workspace("bravo", "j.status"), "succeeded");
    let bravo_resources: i64 = sql(
        &db.url,
        "SELECT count(*) FROM resources r JOIN workspaces w ON w.id = r.workspace_id WHERE w.name = 'bravo'",
    )
    .parse()
    .unwrap();
    assert!(
        bravo_resources > 0,
        "bravo scanned nothing: {}",
        stderr(&worker)
    );
    assert_eq!(
        sql(
            &db.url,
            "SELECT count(*) FROM accounts WHERE external_id IS NOT NULL"
        ),
        "0"
    );
}
