//! The web UI in a real browser: headless Chromium (Debian's, through
//! chromedriver) driving the real `sightline serve` over a database that a
//! real worker filled by scanning the seeded emulator. One engineer's whole
//! path: sign in with the one-time password and replace it; filter the
//! explorer with the search syntax; open a resource; run a SQL query and
//! export it; open a finding, approve it and download the change plan;
//! dismiss another with a reason; snooze a third; see each in the audit
//! page. And every account-security feature from the pages: members with
//! one-time passwords, API keys issued and revoked, integrations
//! disconnected, two-factor enrolled from a QR code's secret, sign-in with a
//! code and with a recovery code, a lockout lifted by the owner.
//! Screenshots of each page go to `target/screenshots/`.

mod support;

#[path = "../../sightline-web/tests/support/llm_double.rs"]
mod llm_double;

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use support::db::TestDatabase;
use support::webdriver::{http, Browser};
use support::{repo_root, run, stderr, Emulator};

const KEK: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

fn as_role(url: &str, role: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap();
    let host = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
    format!("{scheme}://{role}@{host}")
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn serve(emulator: &Emulator, db: &TestDatabase) -> (Server, u16) {
    serve_with(emulator, db, &[])
}

fn serve_with(emulator: &Emulator, db: &TestDatabase, env: &[(&str, &str)]) -> (Server, u16) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = emulator
        .sightline()
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .env("SIGHTLINE_DATABASE_URL", as_role(&db.url, "sightline_app"))
        .env(
            "SIGHTLINE_CONSOLE_DATABASE_URL",
            as_role(&db.url, "sightline_console"),
        )
        .env("SIGHTLINE_KEK", KEK)
        .env_remove("DATABASE_URL")
        .env("SIGHTLINE_LOG", "warn")
        // Both tests sign in more often than a person would in a minute.
        .env("SIGHTLINE_RATE_LOGINS_PER_IP", "1000")
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let server = Server(child);
    let started = Instant::now();
    while http(port, "GET", "/readyz", &[], "").is_none_or(|r| r.status != 200) {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "serve did not become ready"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    (server, port)
}

#[test]
fn an_engineer_signs_in_explores_queries_and_decides_in_a_real_browser() {
    let emulator = Emulator::start("test");
    let db = TestDatabase::create();
    let cli = |args: &[&str]| emulator.succeed(&db.url, args);
    cli(&["migrate"]);
    cli(&[
        "workspace",
        "add",
        "acme",
        "--external-id",
        "acme-external-id",
    ]);
    cli(&[
        "account",
        "add",
        "--workspace",
        "acme",
        "--account-id",
        &emulator.account_id,
        "--regions",
        "us-east-1",
    ]);
    cli(&["enqueue", "--workspace", "acme"]);
    cli(&["worker", "--exit-when-idle", "--name", "ui-test"]);
    let out = run(emulator.sightline().env("DATABASE_URL", &db.url).args([
        "user",
        "bootstrap",
        "--workspace",
        "acme",
        "--email",
        "owner@acme.example",
    ]));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let printed = String::from_utf8_lossy(&out.stdout).into_owned();
    let one_time = printed.rsplit(": ").next().unwrap().trim().to_owned();

    let (_server, port) = serve(&emulator, &db);
    let base = format!("http://127.0.0.1:{port}");
    let shots = repo_root().join("target/screenshots");
    let browser = Browser::start();
    let shot = |name: &str| browser.screenshot(&shots.join(format!("{name}.png")));

    // Sign in with the one-time password; it must be replaced first.
    browser.goto(&format!("{base}/"));
    assert!(
        browser.text("#error-message").contains("not signed in"),
        "{}",
        browser.source()
    );
    browser.goto(&format!("{base}/login"));
    shot("login");
    browser.find("input[name=email]").fill("owner@acme.example");
    browser
        .find("input[name=password]")
        .fill("not the password");
    browser.find("#sign-in").click_to_load();
    assert_eq!(browser.text("#error-message"), "wrong e-mail or password");
    browser.find("input[name=password]").fill(&one_time);
    browser.find("#sign-in").click_to_load();
    assert!(browser.url().ends_with("/password"), "{}", browser.url());
    browser.find("input[name=current_password]").fill(&one_time);
    browser
        .find("input[name=new_password]")
        .fill("a long and new passphrase");
    browser.find("#change-password").click_to_load();
    assert!(
        browser.url().ends_with(&format!("{port}/")),
        "{}",
        browser.url()
    );

    // Overview: open findings, savings, the last scan, the trend chart.
    let open_total: i64 = browser.find("#open-total").text().parse().unwrap();
    assert!(open_total > 20, "{open_total}");
    assert!(browser.find("#savings-total").text().starts_with('$'));
    assert!(browser.text("#last-scans").contains(&emulator.account_id));
    browser.find("#trend-chart polyline.open");
    shot("overview");

    // Explorer: the search syntax, then a bad query shown at its position.
    browser.goto(&format!("{base}/resources"));
    browser
        .find("#search")
        .fill("type:ec2.volume state:available");
    browser.find("#search-go").click_to_load();
    let rows = browser.text("#resources tbody");
    assert!(rows.contains("unattached-gp3"), "{rows}");
    assert!(
        !rows.contains("gp2-data"),
        "an attached volume matched state:available: {rows}"
    );
    shot("resources");
    browser.find("#search").fill("type:ec2.volume colour:red");
    browser.find("#search-go").click_to_load();
    assert!(browser
        .text("#syntax-error")
        .contains("at character 17: unknown filter \"colour\""));
    browser.goto(&format!("{base}/resources?q=unattached-gp3"));
    browser.find("#resources tbody a").click_to_load();
    assert!(browser.text("#resource-summary").contains("unattached-gp3"));
    assert!(browser
        .text("#attributes")
        .contains("\"state\": \"available\""));
    assert!(browser
        .text("#resource-findings")
        .contains("ebs.volume_unattached"));
    assert!(browser.text("#history").contains("appeared"));
    shot("resource");

    // SQL console: a query, its table, its CSV; then a refused one.
    browser.goto(&format!("{base}/console"));
    browser
        .find("#sql")
        .fill("SELECT name, type FROM resources WHERE type = 'ec2.volume' AND attributes->>'state' = 'available' ORDER BY name");
    browser.find("#run").click_to_load();
    let result = browser.text("#console-result");
    assert!(result.contains("unattached-gp3"), "{result}");
    shot("console");
    browser.find("#export-query").click();
    let csv = std::fs::read_to_string(browser.downloaded("sightline-query.csv")).unwrap();
    assert!(
        csv.starts_with("name,type\n") && csv.contains("unattached-gp3,ec2.volume"),
        "{csv}"
    );
    browser
        .find("#sql")
        .fill("SELECT pg_read_file('/etc/passwd')");
    browser.find("#run").click_to_load();
    assert!(browser
        .text("#console-error")
        .contains("function pg_read_file is not allowed"));

    // Ask (profile none): a question in plain words, answered from the
    // library through the console's path, with its plan; then one the
    // library would answer wrongly, refused.
    browser.goto(&format!("{base}/ask"));
    browser
        .find("#question")
        .fill("which EBS volumes are unattached?");
    browser.find("#ask").click_to_load();
    assert_eq!(
        browser.text("#answer-entry"),
        "Which EBS volumes are unattached?"
    );
    let answer = browser.text("#ask-result");
    assert!(answer.contains(":volume/vol-"), "{answer}");
    assert!(browser.text("#plan").contains("Plan: 1 statement"));
    shot("ask");
    browser
        .find("#question")
        .fill("which buckets are not public?");
    browser.find("#ask").click_to_load();
    assert!(browser.text("#ask-error").contains("turned around"));

    // Ask with a model: the same database served with profile openai against
    // the provider double (the session cookie holds on this second port).
    let rt = tokio::runtime::Runtime::new().unwrap();
    let double = rt.block_on(llm_double::Double::start(
        llm_double::Wire::OpenAi,
        "gpt-test",
        "sk-browser-test",
    ));
    double.script(vec![
        llm_double::Scripted::sql(
            "SELECT arn, region FROM resources WHERE type = 'ec2.volume' ORDER BY arn",
        ),
        llm_double::Scripted::answer(
            "There are **volumes** in the table. <script>document.title='owned'</script>",
        ),
    ]);
    let (_model_server, model_port) = serve_with(
        &emulator,
        &db,
        &[
            ("SIGHTLINE_ASK_PROFILE", "openai"),
            ("SIGHTLINE_ASK_MODEL", "gpt-test"),
            ("SIGHTLINE_ASK_BASE_URL", &double.base_url),
            ("SIGHTLINE_ASK_KEY", "sk-browser-test"),
        ],
    );
    browser.goto(&format!("http://127.0.0.1:{model_port}/ask"));
    assert!(browser.text("#ask-profile").contains("openai"));
    browser.find("#question").fill("which volumes are there?");
    browser.find("#ask").click_to_load();
    assert!(browser
        .text("#model-answer-1")
        .contains("There are volumes in the table. <script>"));
    assert!(browser.text("#model-plan-1").contains("Plan: 1 tool call"));
    let table = browser.text(".ask-table");
    assert!(table.contains(":volume/vol-"), "{table}");
    assert!(browser
        .text("#ask-sessions")
        .contains("which volumes are there?"));
    let title = browser.script("return document.title;");
    assert!(
        !title.to_string().contains("owned"),
        "the model's script ran"
    );
    shot("ask-model");
    assert!(double.violations().is_empty(), "{:?}", double.violations());

    // Findings: approve one and download its change plan.
    browser.goto(&format!("{base}/findings?state=open"));
    shot("findings");
    browser.goto(&format!("{base}/findings?check_id=ebs.volume_unattached"));
    browser.find("#findings tbody a").click_to_load();
    assert!(browser
        .text("#remediation")
        .contains("aws ec2 delete-volume"));
    assert!(browser.text("#permissions").contains("ec2:DeleteVolume"));
    let evidence_sha = browser.find("#evidence-sha").text();
    shot("finding");
    browser.find("#approve").click_to_load();
    assert_eq!(browser.text("#finding-state"), "approved");
    let plan_sha = browser.find("#decisions .plan-sha").text();
    browser.find("#decisions a.plan").click();
    let plan_file = browser.downloaded(&format!("sightline-plan-{}.sh", &plan_sha[..12]));
    let plan = std::fs::read_to_string(plan_file).unwrap();
    assert_eq!(sightline_core::plan::sha256_hex(&plan), plan_sha);
    assert!(
        plan.contains(&format!("# evidence sha256  {evidence_sha}")),
        "{plan}"
    );
    assert!(
        plan.contains("\naws ec2 delete-volume --region us-east-1 --volume-id "),
        "{plan}"
    );
    shot("approved");

    // Dismiss another, with a reason.
    browser.goto(&format!("{base}/findings?check_id=ebs.volume_gp2"));
    browser.find("#findings tbody a").click_to_load();
    browser
        .find("#dismiss-reason")
        .fill("gp2 kept for a vendor appliance");
    browser.find("#dismiss").click_to_load();
    assert_eq!(browser.text("#finding-state"), "dismissed");
    assert!(browser
        .text("#decisions")
        .contains("gp2 kept for a vendor appliance"));

    // Snooze a third until a date.
    browser.goto(&format!("{base}/findings?check_id=ec2.eip_unassociated"));
    browser.find("#findings tbody a").click_to_load();
    browser.script("document.getElementById('snooze-until').value = '2099-12-31'");
    browser.find("#snooze").click_to_load();
    assert_eq!(browser.text("#finding-state"), "snoozed");
    assert!(browser.text(".state-line").contains("2099-12-31"));

    // The inbox filters by the new states.
    browser.goto(&format!("{base}/findings?state=dismissed"));
    let dismissed = browser.text("#findings tbody");
    assert!(
        dismissed.contains("ebs.volume_gp2") && !dismissed.contains("ebs.volume_unattached"),
        "{dismissed}"
    );

    // Each decision, the query and the export in the audit trail.
    browser.goto(&format!("{base}/audit"));
    let audit = browser.text("#audit tbody");
    for action in [
        "auth.sign_in_failed",
        "auth.sign_in",
        "user.password_changed",
        "console.query",
        "console.exported",
        "ask.question",
        "finding.approved",
        "plan.downloaded",
        "finding.dismissed",
        "finding.snoozed",
    ] {
        assert!(
            audit.contains(action),
            "{action} missing from the audit page:\n{audit}"
        );
    }
    shot("audit");
    browser.goto(&format!("{base}/scans"));
    shot("scans");

    // Compliance: each control's status from the latest scan, drilling down
    // to the findings of the checks that decide it; the pass rate over scans.
    browser.goto(&format!("{base}/compliance?framework=cis-3.0"));
    let s3 = browser.find(r#"[id="control-2.1.4"]"#);
    assert_eq!(s3.attribute("data-status"), "fail", "{}", s3.text());
    assert_eq!(
        browser
            .find(r#"[id="control-1.1"]"#)
            .attribute("data-status"),
        "manual"
    );
    browser.find("#pass-rate-chart circle.pass-rate");
    shot("compliance");
    browser
        .find(r#"[id="control-2.1.4"] a[href*="s3.bucket_no_public_access_block"]"#)
        .click_to_load();
    assert!(
        browser
            .text("#findings")
            .contains("s3.bucket_no_public_access_block"),
        "{}",
        browser.text("body")
    );
    browser.goto(&format!("{base}/compliance?framework=cis-9"));
    assert!(
        browser
            .text("body")
            .contains("expected one of cis-3.0, cis-5.0, cis-7.0"),
        "{}",
        browser.text("body")
    );
    browser.goto(&format!("{base}/scans"));

    // Signing out ends the session: the next page asks to sign in.
    browser.find("header form.who button").click_to_load();
    assert!(browser.url().ends_with("/login"), "{}", browser.url());
    browser.goto(&format!("{base}/findings"));
    assert!(
        browser.text("#error-message").contains("not signed in"),
        "{}",
        browser.text("body")
    );
}

fn base32_decode(s: &str) -> Vec<u8> {
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let (mut buffer, mut bits, mut out) = (0u32, 0u32, vec![]);
    for c in s.trim().bytes() {
        buffer = (buffer << 5) | alphabet.iter().position(|&a| a == c).unwrap() as u32;
        bits += 5;
        if bits >= 8 {
            out.push((buffer >> (bits - 8)) as u8);
            bits -= 8;
        }
    }
    out
}

/// Sign in through the page; `extra` fills more fields of the form first.
fn sign_in(browser: &Browser, base: &str, email: &str, password: &str, extra: &[(&str, &str)]) {
    browser.goto(&format!("{base}/login"));
    browser.find("input[name=email]").fill(email);
    browser.find("input[name=password]").fill(password);
    for (name, value) in extra {
        browser.script(&format!(
            "document.querySelector('input[name={name}]').value = {};",
            serde_json::json!(value)
        ));
    }
    browser.find("#sign-in").click_to_load();
}

fn sign_out(browser: &Browser) {
    browser.find("header form.who button").click_to_load();
}

#[test]
fn account_security_is_usable_from_the_browser() {
    let emulator = Emulator::start("empty");
    let db = TestDatabase::create();
    let cli = |args: &[&str]| emulator.succeed(&db.url, args);
    cli(&["migrate"]);
    cli(&[
        "workspace",
        "add",
        "acme",
        "--external-id",
        "acme-external-id",
    ]);
    let out = run(emulator.sightline().env("DATABASE_URL", &db.url).args([
        "user",
        "bootstrap",
        "--workspace",
        "acme",
        "--email",
        "owner@acme.example",
    ]));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let owner_once = String::from_utf8_lossy(&out.stdout)
        .rsplit(": ")
        .next()
        .unwrap()
        .trim()
        .to_owned();
    let (_server, port) = serve(&emulator, &db);
    let base = format!("http://127.0.0.1:{port}");
    let shots = repo_root().join("target/screenshots");
    let browser = Browser::start();
    let shot = |name: &str| browser.screenshot(&shots.join(format!("{name}.png")));
    let owner_password = "the owner's long passphrase";

    // The owner replaces the one-time password.
    sign_in(&browser, &base, "owner@acme.example", &owner_once, &[]);
    browser
        .find("input[name=current_password]")
        .fill(&owner_once);
    browser
        .find("input[name=new_password]")
        .fill(owner_password);
    browser.find("#change-password").click_to_load();

    // Members: add an operator; the one-time password is shown once.
    browser.goto(&format!("{base}/members"));
    browser
        .find("#add-member input[name=email]")
        .fill("new@acme.example");
    browser.script("document.querySelector('#add-member select[name=role]').value = 'operator';");
    browser.find("#add-member-button").click_to_load();
    let member_once = browser.find("#one-time-password").text();
    assert_eq!(member_once.len(), 20, "{}", browser.text("#added"));
    shot("members");

    // API keys: issue one with a scope and an expiry, use it, revoke it: 401.
    browser.goto(&format!("{base}/api-keys"));
    browser
        .find("#issue-key input[name=name]")
        .fill("ci pipeline");
    browser.script("document.querySelector('#issue-key select[name=role]').value = 'viewer';");
    browser
        .script("document.querySelector('#issue-key select[name=expires_in_days]').value = '30';");
    browser.find("#issue-key-button").click_to_load();
    let key = browser.find("#new-api-key").text();
    assert!(key.starts_with("slk_"), "{key}");
    assert!(
        browser.text("#issued").contains("expires"),
        "{}",
        browser.text("#issued")
    );
    shot("api-keys");
    let bearer = format!("Bearer {key}");
    let me = http(port, "GET", "/api/v1/me", &[("authorization", &bearer)], "").unwrap();
    assert_eq!(me.status, 200);
    browser
        .find(&format!(
            "#api-keys tr[data-prefix='{}'] button.revoke-key",
            &key[..12]
        ))
        .click_to_load();
    let me = http(port, "GET", "/api/v1/me", &[("authorization", &bearer)], "").unwrap();
    assert_eq!(me.status, 401, "a revoked key still works");

    // Integrations: a credential is stored, never shown, and disconnecting deletes it.
    browser.goto(&format!("{base}/integrations"));
    browser
        .find("#add-integration input[name=name]")
        .fill("jira");
    browser
        .find("#add-integration input[name=credential]")
        .fill("jira-token-never-shown");
    browser.find("#add-integration-button").click_to_load();
    assert!(browser.text("#integrations").contains("jira"));
    assert!(!browser.source().contains("jira-token-never-shown"));
    shot("integrations");
    browser
        .find("#integrations tr[data-name='jira'] button.disconnect")
        .click_to_load();
    assert!(browser.text("#integrations").contains("No integrations."));
    sign_out(&browser);

    // The new member signs in with the one-time password and sets their own.
    let member_password = "the member's long passphrase";
    sign_in(&browser, &base, "new@acme.example", &member_once, &[]);
    assert!(browser.url().ends_with("/password"), "{}", browser.url());
    browser
        .find("input[name=current_password]")
        .fill(&member_once);
    browser
        .find("input[name=new_password]")
        .fill(member_password);
    browser.find("#change-password").click_to_load();
    assert!(
        browser.url().ends_with(&format!("{port}/")),
        "{}",
        browser.url()
    );

    // Two-factor: the password again, then the QR code and the secret read from the page.
    browser.goto(&format!("{base}/settings/two-factor"));
    shot("two-factor-off");
    browser
        .find("#begin-form input[name=current_password]")
        .fill(member_password);
    browser.find("#begin-totp").click_to_load();
    browser.find("#totp-qr");
    let secret = base32_decode(&browser.find("#totp-secret").text());
    shot("two-factor-enrol");
    let step = sightline_web::auth::totp::step_of(chrono::Utc::now().timestamp());
    browser
        .find("#confirm-form input[name=code]")
        .fill(&sightline_web::auth::totp::code_at(&secret, step));
    browser.find("#confirm-totp").click_to_load();
    let codes: Vec<String> = browser
        .text("#recovery-codes")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    assert_eq!(codes.len(), 10, "{codes:?}");
    shot("recovery-codes");
    browser.goto(&format!("{base}/settings/sessions"));
    assert!(browser.text("#sessions").contains("this browser"));
    shot("sessions");
    sign_out(&browser);

    // Signing in now takes a code (the next one: each time step works once) ...
    let next = sightline_web::auth::totp::code_at(&secret, step + 1);
    sign_in(
        &browser,
        &base,
        "new@acme.example",
        member_password,
        &[("totp_code", &next)],
    );
    assert!(
        browser.url().ends_with(&format!("{port}/")),
        "{}",
        browser.text("body")
    );
    sign_out(&browser);
    // ... or, once, a recovery code.
    sign_in(
        &browser,
        &base,
        "new@acme.example",
        member_password,
        &[("recovery_code", &codes[0])],
    );
    assert!(
        browser.url().ends_with(&format!("{port}/")),
        "{}",
        browser.text("body")
    );
    sign_out(&browser);
    sign_in(
        &browser,
        &base,
        "new@acme.example",
        member_password,
        &[("recovery_code", &codes[0])],
    );
    assert_eq!(browser.text("#error-message"), "wrong two-factor code");

    // Locked out after ten failures; the owner unlocks them from the members page.
    for _ in 0..10 {
        let _ = http(
            port,
            "POST",
            "/api/v1/session",
            &[("content-type", "application/json")],
            r#"{"email":"new@acme.example","password":"not the password"}"#,
        );
    }
    sign_in(
        &browser,
        &base,
        "new@acme.example",
        member_password,
        &[("recovery_code", &codes[1])],
    );
    assert!(
        browser.text("#error-message").contains("locked"),
        "{}",
        browser.text("body")
    );
    sign_in(&browser, &base, "owner@acme.example", owner_password, &[]);
    browser.goto(&format!("{base}/members"));
    shot("members-locked");
    browser
        .find("#members tr[data-email='new@acme.example'] button.unlock")
        .click_to_load();
    assert!(!browser.text("#members").contains("Unlock"));
    browser.goto(&format!("{base}/audit"));
    let audit = browser.text("#audit tbody");
    for action in [
        "user.added",
        "api_key.issued",
        "api_key.revoked",
        "settings.integration_disconnected",
        "user.totp_enabled",
        "auth.locked",
        "user.unlocked",
    ] {
        assert!(
            audit.contains(action),
            "{action} missing from the audit page:\n{audit}"
        );
    }
    sign_out(&browser);
    sign_in(
        &browser,
        &base,
        "new@acme.example",
        member_password,
        &[("recovery_code", &codes[1])],
    );
    assert!(
        browser.url().ends_with(&format!("{port}/")),
        "{}",
        browser.text("body")
    );
}
