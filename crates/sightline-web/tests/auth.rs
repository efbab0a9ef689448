//! Local accounts, sessions, CSRF, API keys, field encryption and the audit
//! events they leave, each case against the real router and PostgreSQL.

mod support;

use axum::http::{Method, StatusCode};
use serde_json::json;
use sightline_core::roles::Role;
use sightline_crypto::KeyEncryptionKey;
use sightline_store::{keyring, Store};
use sightline_web::auth::totp;
use sightline_web::Limits;
use support::{config, server, Auth, Call, Server, PASSWORD};
use uuid::Uuid;

async fn actions(server: &Server, workspace: Uuid) -> Vec<String> {
    sqlx::query_scalar("SELECT action FROM audit_log WHERE workspace_id = $1 ORDER BY sequence")
        .bind(workspace)
        .fetch_all(&server.admin)
        .await
        .unwrap()
}

#[sqlx::test(migrator = "sightline_store::MIGRATOR")]
async fn ten_failed_sign_ins_lock_the_account_for_an_hour(admin: sqlx::PgPool) {
    let server = server(admin, config()).await;
    let ws = server.workspace("alpha").await;
    let email = &ws.session(Role::Viewer).email;
    for attempt in 1..=10 {
        let reply = server
            .sign_in(email, "wrong password", json!({}))
            .await
            .unwrap_err();
        assert_eq!(
            (reply.status, reply.error().as_str()),
            (StatusCode::UNAUTHORIZED, "invalid_credentials"),
            "attempt {attempt}"
        );
    }
    // Now even the right password is refused, and says until when.
    let reply = server
        .sign_in(email, PASSWORD, json!({}))
        .await
        .unwrap_err();
    assert_eq!(
        (reply.status, reply.error().as_str()),
        (StatusCode::FORBIDDEN, "account_locked")
    );
    let until: chrono::DateTime<chrono::Utc> =
        sqlx::query_scalar("SELECT locked_until FROM users WHERE email = $1")
            .bind(email)
            .fetch_one(&server.admin)
            .await
            .unwrap();
    let hour = until - chrono::Utc::now();
    assert!(
        hour > chrono::Duration::minutes(59) && hour <= chrono::Duration::hours(1),
        "{hour}"
    );
    let audit = actions(&server, ws.id).await;
    assert_eq!(
        audit.iter().filter(|a| *a == "auth.sign_in_failed").count(),
        10
    );
    assert_eq!(audit.last().unwrap(), "auth.sign_in_refused");

    // An hour later the right password works again and the counter resets.
    sqlx::query("UPDATE users SET locked_until = now() - interval '1 second' WHERE email = $1")
        .bind(email)
        .execute(&server.admin)
        .await
        .unwrap();
    server.sign_in(email, PASSWORD, json!({})).await.unwrap();
    let failures: i32 = sqlx::query_scalar("SELECT failed_logins FROM users WHERE email = $1")
        .bind(email)
        .fetch_one(&server.admin)
        .await
        .unwrap();
    assert_eq!(failures, 0);
}

/// The whole seconds a refusal asks the client to wait.
fn retry_after(reply: &support::Reply) -> u32 {
    let value = reply
        .headers
        .get("retry-after")
        .expect("a 429 says when to retry")
        .to_str()
        .unwrap();
    value
        .parse()
        .unwrap_or_else(|_| panic!("Retry-After: expected whole seconds, found {value:?}"))
}

#[sqlx::test(migrator = "sightline_store::MIGRATOR")]
async fn a_principal_over_its_rate_is_refused_and_told_when_to_retry(admin: sqlx::PgPool) {
    let mut cfg = config();
    cfg.limits = Limits {
        per_principal_per_minute: 3,
        ..support::generous_limits()
    };
    let server = server(admin, cfg).await;
    let ws = server.workspace("alpha").await;
    let key = ws.key(Role::Viewer).to_owned();
    let started = std::time::Instant::now();
    for n in 1..=3 {
        let reply = server
            .send(Call::new(Method::GET, "/api/v1/scans", Auth::Key(&key)))
            .await;
        assert_eq!(reply.status, StatusCode::OK, "request {n}: {}", reply.text);
        assert!(reply.headers.get("retry-after").is_none());
    }
    let reply = server
        .send(Call::new(Method::GET, "/api/v1/scans", Auth::Key(&key)))
        .await;
    assert_eq!(
        (reply.status, reply.error().as_str()),
        (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
        "{}",
        reply.text
    );
    assert!(
        reply.text.contains("at most 3 requests a minute"),
        "{}",
        reply.text
    );
    // A token comes back every twenty seconds and none is left: twenty,
    // less what the four requests took (a second of it, 0.05 of a token).
    let took = started.elapsed().as_secs_f64().ceil() as u32;
    let wait = retry_after(&reply);
    assert!(
        (20u32.saturating_sub(took).max(1)..=20).contains(&wait),
        "Retry-After {wait} after {took} s"
    );
    // Another principal, from the same address, has its own budget.
    let reply = server
        .send(Call::new(
            Method::GET,
            "/api/v1/scans",
            Auth::Session(ws.session(Role::Viewer)),
        ))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
}

#[sqlx::test(migrator = "sightline_store::MIGRATOR")]
async fn sign_ins_are_rate_limited_per_address(admin: sqlx::PgPool) {
    let mut cfg = config();
    cfg.limits = Limits {
        logins_per_ip_per_minute: 3,
        ..support::generous_limits()
    };
    let server = server(admin, cfg).await;
    let body = json!({ "email": "nobody@example.com", "password": "whatever it is" });
    let started = std::time::Instant::now();
    for _ in 0..3 {
        let reply = server
            .send(
                Call::new(Method::POST, "/api/v1/session", Auth::None)
                    .body(body.clone())
                    .ip([10, 0, 0, 1]),
            )
            .await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    }
    let reply = server
        .send(
            Call::new(Method::POST, "/api/v1/session", Auth::None)
                .body(body.clone())
                .ip([10, 0, 0, 1]),
        )
        .await;
    assert_eq!(
        (reply.status, reply.error().as_str()),
        (StatusCode::TOO_MANY_REQUESTS, "rate_limited")
    );
    // Three a minute: the next one comes back in twenty seconds, less what
    // the sign-ins took.
    let took = started.elapsed().as_secs_f64().ceil() as u32;
    let wait = retry_after(&reply);
    assert!(
        (20u32.saturating_sub(took).max(1)..=20).contains(&wait),
        "Retry-After {wait} after {took} s"
    );
    // The sign-in page says the same to a browser.
    let page = server
        .send(
            Call::new(Method::POST, "/login", Auth::None)
                .form("email=nobody%40example.com&password=whatever&workspace=alpha")
                .ip([10, 0, 0, 1]),
        )
        .await;
    assert_eq!(page.status, StatusCode::TOO_MANY_REQUESTS, "{}", page.text);
    assert!(page.text.contains("at most 3"), "{}", page.text);
    assert!((1..=20).contains(&retry_after(&page)), "{:?}", page.headers);
    // Another address is not affected.
    let reply = server
        .send(
            Call::new(Method::POST, "/api/v1/session", Auth::None)
                .body(body)
                .ip([10, 0, 0, 2]),
        )
        .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
}

#[sqlx::test(migrator = "sightline_store::MIGRATOR")]
async fn totp_codes_work_once_and_recovery_codes_once_each(admin: sqlx::PgPool) {
    let server = server(admin, config()).await;
    let ws = server.workspace("alpha").await;
    let me = ws.session(Role::Operator);

    let begun = server
        .send(
            Call::new(Method::POST, "/api/v1/me/totp", Auth::Session(me))
                .body(json!({ "current_password": PASSWORD })),
        )
        .await;
    assert_eq!(begun.status, StatusCode::OK, "{}", begun.text);
    let secret = base32_decode(begun.json()["secret"].as_str().unwrap());
    // Begin early in a step, so that the steps named below stay the
    // server's current and previous ones while the test runs (late in a
    // step, "previous" became two steps back mid-test and was refused).
    let mut now = chrono::Utc::now().timestamp();
    let into_step = now.rem_euclid(totp::STEP_SECONDS);
    if into_step > totp::STEP_SECONDS - 10 {
        let wait = u64::try_from(totp::STEP_SECONDS - into_step).unwrap_or(0);
        tokio::time::sleep(std::time::Duration::from_secs(wait)).await;
        now = chrono::Utc::now().timestamp();
    }
    let step = totp::step_of(now);
    let confirm = server
        .send(
            Call::new(Method::POST, "/api/v1/me/totp/confirm", Auth::Session(me))
                .body(json!({ "code": totp::code_at(&secret, step - 1) })),
        )
        .await;
    assert_eq!(confirm.status, StatusCode::OK, "{}", confirm.text);
    let codes: Vec<String> =
        serde_json::from_value(confirm.json()["recovery_codes"].clone()).unwrap();
    assert_eq!(codes.len(), 10);

    // Stored sealed and hashed: neither the secret nor a code is in the database.
    let (sealed, hashes): (Vec<u8>, Vec<String>) = sqlx::query_as(
        "SELECT u.totp_secret, array_agg(r.code_sha256) FROM users u JOIN recovery_codes r ON r.user_id = u.id WHERE u.email = $1 GROUP BY 1",
    )
    .bind(&me.email)
    .fetch_one(&server.admin)
    .await
    .unwrap();
    assert!(!sealed.windows(secret.len()).any(|w| w == secret.as_slice()));
    assert!(codes.iter().all(|c| !hashes.contains(c)));

    // A password alone is no longer enough.
    let reply = server
        .sign_in(&me.email, PASSWORD, json!({}))
        .await
        .unwrap_err();
    assert_eq!(reply.error(), "totp_required");
    // The current code works once; the same step again is a replay.
    let code = totp::code_at(&secret, step);
    server
        .sign_in(&me.email, PASSWORD, json!({ "totp_code": code }))
        .await
        .unwrap();
    let replay = server
        .sign_in(&me.email, PASSWORD, json!({ "totp_code": code }))
        .await
        .unwrap_err();
    assert_eq!(
        (replay.status, replay.error().as_str()),
        (StatusCode::UNAUTHORIZED, "totp_replay")
    );
    // An earlier step than the last accepted one is refused too.
    let older = server
        .sign_in(
            &me.email,
            PASSWORD,
            json!({ "totp_code": totp::code_at(&secret, step - 1) }),
        )
        .await
        .unwrap_err();
    assert_eq!(older.error(), "totp_replay");

    server
        .sign_in(&me.email, PASSWORD, json!({ "recovery_code": codes[3] }))
        .await
        .unwrap();
    let reused = server
        .sign_in(&me.email, PASSWORD, json!({ "recovery_code": codes[3] }))
        .await
        .unwrap_err();
    assert_eq!(reused.error(), "invalid_second_factor");
    server
        .sign_in(&me.email, PASSWORD, json!({ "recovery_code": codes[4] }))
        .await
        .unwrap();

    let audit = actions(&server, ws.id).await;
    assert!(audit.contains(&"user.totp_enabled".to_owned()));
    assert!(audit.contains(&"auth.sign_in_failed".to_owned()));
}

fn base32_decode(s: &str) -> Vec<u8> {
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let (mut buffer, mut bits, mut out) = (0u32, 0u32, vec![]);
    for c in s.bytes() {
        buffer = (buffer << 5) | alphabet.iter().position(|&a| a == c).unwrap() as u32;
        bits += 5;
        if bits >= 8 {
            out.push((buffer >> (bits - 8)) as u8);
            bits -= 8;
        }
    }
    out
}

#[sqlx::test(migrator = "sightline_store::MIGRATOR")]
async fn state_changing_requests_need_the_session_csrf_token(admin: sqlx::PgPool) {
    let server = server(admin, config()).await;
    let ws = server.workspace("alpha").await;
    let me = ws.session(Role::Admin);
    let other = ws.session(Role::Owner);
    let body = json!({
        "aws_account_id": "555555555555",
        "role_arn": "arn:aws:iam::555555555555:role/SightlineMonitoring",
    });
    let post = |auth| Call::new(Method::POST, "/api/v1/accounts", auth).body(body.clone());

    let missing = server.send(post(Auth::SessionCsrf(me, None))).await;
    assert_eq!(
        (missing.status, missing.error().as_str()),
        (StatusCode::FORBIDDEN, "csrf_missing")
    );
    let mismatch = server
        .send(post(Auth::SessionCsrf(me, Some("forged.token"))))
        .await;
    assert_eq!(
        (mismatch.status, mismatch.error().as_str()),
        (StatusCode::FORBIDDEN, "csrf_mismatch")
    );
    // Another session's valid token, sent as both cookie and header, is still refused.
    let mut borrowed = me.clone();
    borrowed.csrf = other.csrf.clone();
    let stolen = server.send(post(Auth::Session(&borrowed))).await;
    assert_eq!(
        (stolen.status, stolen.error().as_str()),
        (StatusCode::FORBIDDEN, "csrf_mismatch")
    );
    // Reads need no token; the real token is accepted.
    assert_eq!(
        server
            .send(Call::new(
                Method::GET,
                "/api/v1/accounts",
                Auth::SessionCsrf(me, None)
            ))
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        server.send(post(Auth::Session(me))).await.status,
        StatusCode::CREATED
    );
}

#[sqlx::test(migrator = "sightline_store::MIGRATOR")]
async fn sessions_expire_after_seven_idle_days_and_sign_out_revokes_at_once(admin: sqlx::PgPool) {
    let server = server(admin, config()).await;
    let ws = server.workspace("alpha").await;
    let viewer = ws.session(Role::Viewer);
    let me = |s| Call::new(Method::GET, "/api/v1/me", Auth::Session(s));

    // Six idle days: still valid, and the use slides the window.
    sqlx::query("UPDATE sessions SET last_seen_at = now() - interval '6 days' WHERE user_id = $1")
        .bind(viewer.user_id)
        .execute(&server.admin)
        .await
        .unwrap();
    assert_eq!(server.send(me(viewer)).await.status, StatusCode::OK);
    let slid: bool = sqlx::query_scalar(
        "SELECT last_seen_at > now() - interval '1 minute' FROM sessions WHERE user_id = $1",
    )
    .bind(viewer.user_id)
    .fetch_one(&server.admin)
    .await
    .unwrap();
    assert!(slid);
    // Seven idle days: expired.
    sqlx::query(
        "UPDATE sessions SET last_seen_at = now() - interval '7 days 1 minute' WHERE user_id = $1",
    )
    .bind(viewer.user_id)
    .execute(&server.admin)
    .await
    .unwrap();
    let expired = server.send(me(viewer)).await;
    assert_eq!(
        (expired.status, expired.error().as_str()),
        (StatusCode::UNAUTHORIZED, "session_expired")
    );

    // Sign-out: the very next request with the same cookie is refused.
    let fresh = server
        .sign_in(&viewer.email, PASSWORD, json!({}))
        .await
        .unwrap();
    assert_eq!(server.send(me(&fresh)).await.status, StatusCode::OK);
    let out = server
        .send(Call::new(
            Method::DELETE,
            "/api/v1/session",
            Auth::Session(&fresh),
        ))
        .await;
    assert_eq!(out.status, StatusCode::OK, "{}", out.text);
    let cookies: Vec<_> = out
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    assert!(
        cookies.iter().all(|c| c.contains("Max-Age=0")),
        "{cookies:?}"
    );
    let after = server.send(me(&fresh)).await;
    assert_eq!(
        (after.status, after.error().as_str()),
        (StatusCode::UNAUTHORIZED, "session_revoked")
    );
    let audit = actions(&server, ws.id).await;
    assert!(
        audit.ends_with(&["auth.sign_in".to_owned(), "auth.sign_out".to_owned()]),
        "{audit:?}"
    );
}

#[sqlx::test(migrator = "sightline_store::MIGRATOR")]
async fn api_keys_are_shown_once_scoped_recorded_and_revocable(admin: sqlx::PgPool) {
    let server = server(admin, config()).await;
    let ws = server.workspace("alpha").await;
    let owner = ws.session(Role::Owner);
    let issued = server
        .send(
            Call::new(Method::POST, "/api/v1/api-keys", Auth::Session(owner))
                .body(json!({ "name": "ci", "role": "operator" })),
        )
        .await;
    assert_eq!(issued.status, StatusCode::CREATED, "{}", issued.text);
    let key = issued.json()["key"].as_str().unwrap().to_owned();
    let id = issued.json()["id"].as_str().unwrap().to_owned();
    assert!(key.starts_with("slk_") && key.len() > 40, "{key}");

    // Listed without the secret; stored only as SHA-256.
    let listed = server
        .send(Call::new(
            Method::GET,
            "/api/v1/api-keys",
            Auth::Session(owner),
        ))
        .await;
    assert!(!listed.text.contains(&key) && listed.text.contains(&key[..12]));
    let stored: String = sqlx::query_scalar("SELECT key_sha256 FROM api_keys WHERE id = $1::uuid")
        .bind(&id)
        .fetch_one(&server.admin)
        .await
        .unwrap();
    assert_eq!(stored, sightline_web::auth::tokens::sha256_hex(&key));

    // Scoped to operator: may queue a scan, may not add an account. No CSRF token needed.
    let scan = server
        .send(Call::new(
            Method::POST,
            format!("/api/v1/accounts/{}/scans", ws.account_id),
            Auth::Key(&key),
        ))
        .await;
    assert_eq!(scan.status, StatusCode::ACCEPTED, "{}", scan.text);
    let add = server
        .send(
            Call::new(Method::POST, "/api/v1/accounts", Auth::Key(&key))
                .body(json!({ "aws_account_id": "666666666666" })),
        )
        .await;
    assert_eq!(add.status, StatusCode::FORBIDDEN);
    let used: Option<chrono::DateTime<chrono::Utc>> =
        sqlx::query_scalar("SELECT last_used_at FROM api_keys WHERE id = $1::uuid")
            .bind(&id)
            .fetch_one(&server.admin)
            .await
            .unwrap();
    assert!(used.is_some(), "last use not recorded");

    // Only owners issue keys.
    let by_admin = server
        .send(
            Call::new(
                Method::POST,
                "/api/v1/api-keys",
                Auth::Session(ws.session(Role::Admin)),
            )
            .body(json!({ "name": "x", "role": "viewer" })),
        )
        .await;
    assert_eq!(by_admin.status, StatusCode::FORBIDDEN);

    // A key cannot revoke itself (schemathesis found that by walking the API with its own key).
    let owner_key = server
        .send(
            Call::new(Method::POST, "/api/v1/api-keys", Auth::Session(owner))
                .body(json!({ "name": "admin tool", "role": "owner" })),
        )
        .await
        .json();
    let self_revoke = server
        .send(Call::new(
            Method::DELETE,
            format!("/api/v1/api-keys/{}", owner_key["id"].as_str().unwrap()),
            Auth::Key(owner_key["key"].as_str().unwrap()),
        ))
        .await;
    assert_eq!(
        self_revoke.status,
        StatusCode::CONFLICT,
        "{}",
        self_revoke.text
    );
    let revoked = server
        .send(Call::new(
            Method::DELETE,
            format!("/api/v1/api-keys/{id}"),
            Auth::Session(owner),
        ))
        .await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT);
    let after = server
        .send(Call::new(Method::GET, "/api/v1/accounts", Auth::Key(&key)))
        .await;
    assert_eq!(
        (after.status, after.error().as_str()),
        (StatusCode::UNAUTHORIZED, "api_key_revoked")
    );
    let unknown = server
        .send(Call::new(
            Method::GET,
            "/api/v1/accounts",
            Auth::Key("slk_not_a_key"),
        ))
        .await;
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);

    let audit = actions(&server, ws.id).await;
    for action in ["api_key.issued", "scan.queued", "api_key.revoked"] {
        assert!(
            audit.contains(&action.to_owned()),
            "{action} not audited: {audit:?}"
        );
    }
}

#[sqlx::test(migrator = "sightline_store::MIGRATOR")]
async fn a_one_time_password_must_be_replaced_before_anything_else(admin: sqlx::PgPool) {
    let server = server(admin, config()).await;
    let ws = server.workspace("alpha").await;
    let created = server
        .send(
            Call::new(
                Method::POST,
                "/api/v1/users",
                Auth::Session(ws.session(Role::Admin)),
            )
            .body(json!({ "email": "New.Person@Example.com", "role": "operator" })),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let one_time = created.json()["one_time_password"]
        .as_str()
        .unwrap()
        .to_owned();
    // Admins may not create owners or admins.
    let escalate = server
        .send(
            Call::new(
                Method::POST,
                "/api/v1/users",
                Auth::Session(ws.session(Role::Admin)),
            )
            .body(json!({ "email": "boss@example.com", "role": "owner" })),
        )
        .await;
    assert_eq!(escalate.status, StatusCode::FORBIDDEN);

    let session = server
        .sign_in("new.person@example.com", &one_time, json!({}))
        .await
        .unwrap();
    let blocked = server
        .send(Call::new(
            Method::GET,
            "/api/v1/accounts",
            Auth::Session(&session),
        ))
        .await;
    assert_eq!(
        (blocked.status, blocked.error().as_str()),
        (StatusCode::FORBIDDEN, "password_change_required")
    );
    let short = server
        .send(
            Call::new(Method::POST, "/api/v1/me/password", Auth::Session(&session))
                .body(json!({ "current_password": one_time, "new_password": "short" })),
        )
        .await;
    assert_eq!(short.status, StatusCode::BAD_REQUEST);
    assert!(short.text.contains("new_password"), "{}", short.text);
    let changed = server
        .send(
            Call::new(Method::POST, "/api/v1/me/password", Auth::Session(&session)).body(
                json!({ "current_password": one_time, "new_password": "a much longer passphrase" }),
            ),
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.text);
    // The session the change ran in is replaced by a new one.
    let session = support::session_from(&changed, "new.person@example.com");
    assert_eq!(
        server
            .send(Call::new(
                Method::GET,
                "/api/v1/accounts",
                Auth::Session(&session)
            ))
            .await
            .status,
        StatusCode::OK
    );
}

#[sqlx::test(migrator = "sightline_store::MIGRATOR")]
async fn role_changes_are_owner_only_audited_and_end_the_users_sessions(admin: sqlx::PgPool) {
    let server = server(admin, config()).await;
    let ws = server.workspace("alpha").await;
    let target = ws.session(Role::Operator);
    let reply = server
        .send(
            Call::new(
                Method::PUT,
                format!("/api/v1/users/{}/role", target.user_id),
                Auth::Session(ws.session(Role::Owner)),
            )
            .body(json!({ "role": "viewer" })),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.json()["role"], "viewer");
    let after = server
        .send(Call::new(Method::GET, "/api/v1/me", Auth::Session(target)))
        .await;
    assert_eq!(after.error(), "session_revoked");
    let (details,): (serde_json::Value,) =
        sqlx::query_as("SELECT details FROM audit_log WHERE action = 'user.role_changed'")
            .fetch_one(&server.admin)
            .await
            .unwrap();
    assert_eq!(
        details,
        json!({ "from": "operator", "to": "viewer", "api_keys_rescoped": [] })
    );
    // The last owner cannot demote themself.
    let owner = ws.session(Role::Owner);
    let last = server
        .send(
            Call::new(
                Method::PUT,
                format!("/api/v1/users/{}/role", owner.user_id),
                Auth::Session(owner),
            )
            .body(json!({ "role": "admin" })),
        )
        .await;
    assert_eq!(last.status, StatusCode::CONFLICT, "{}", last.text);
}

#[sqlx::test(migrator = "sightline_store::MIGRATOR")]
async fn integration_credentials_are_sealed_to_their_row_and_never_returned(admin: sqlx::PgPool) {
    let server = server(admin, config()).await;
    let ws = server.workspace("alpha").await;
    let admin_session = ws.session(Role::Admin);
    let put = server
        .send(
            Call::new(
                Method::PUT,
                "/api/v1/integrations/jira",
                Auth::Session(admin_session),
            )
            .body(json!({ "credential": "jira-token-123" })),
        )
        .await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.text);
    assert!(!put.text.contains("jira-token-123"));
    let listed = server
        .send(Call::new(
            Method::GET,
            "/api/v1/integrations",
            Auth::Session(admin_session),
        ))
        .await;
    assert!(
        listed.text.contains("\"jira\"")
            && !listed.text.contains("jira-token-123")
            && !listed.text.contains("xoxb-alpha")
    );

    let rows: Vec<(Uuid, String, Vec<u8>)> = sqlx::query_as(
        "SELECT id, name, credential FROM integrations WHERE workspace_id = $1 ORDER BY name",
    )
    .bind(ws.id)
    .fetch_all(&server.admin)
    .await
    .unwrap();
    let (jira, slack) = (&rows[0], &rows[1]);
    assert_eq!((jira.1.as_str(), slack.1.as_str()), ("jira", "slack"));
    // Layout: key id (4) || nonce (12) || ciphertext || tag (16); no plaintext.
    assert_eq!(jira.2.len(), 4 + 12 + "jira-token-123".len() + 16);
    assert!(!jira.2.windows(14).any(|w| w == b"jira-token-123"));

    let store = server.store();
    let mut tx = store.begin_workspace_tx(ws.id).await.unwrap();
    assert_eq!(
        keyring::integration_credential(&mut tx, &support::kek(), "jira")
            .await
            .unwrap(),
        "jira-token-123"
    );
    tx.rollback().await.unwrap();

    // Copy jira's ciphertext into slack's row: it no longer decrypts.
    sqlx::query("UPDATE integrations SET credential = $1 WHERE id = $2")
        .bind(&jira.2)
        .bind(slack.0)
        .execute(&server.admin)
        .await
        .unwrap();
    let mut tx = store.begin_workspace_tx(ws.id).await.unwrap();
    let err = keyring::integration_credential(&mut tx, &support::kek(), "slack")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("decryption failed"), "{err}");
    tx.rollback().await.unwrap();

    // Rotating the key-encryption key re-wraps data keys and leaves rows as they are.
    let new_kek = KeyEncryptionKey::from_hex(
        "kek-2",
        "ff0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
    )
    .unwrap();
    let before: Vec<u8> = sqlx::query_scalar("SELECT credential FROM integrations WHERE id = $1")
        .bind(jira.0)
        .fetch_one(&server.admin)
        .await
        .unwrap();
    let rewrapped = Store {
        pool: server.admin.clone(),
    }
    .rotate_kek(&support::kek(), &new_kek, "system:test")
    .await
    .unwrap();
    assert_eq!(rewrapped.rewrapped, vec![(ws.id, 1)]);
    let after: Vec<u8> = sqlx::query_scalar("SELECT credential FROM integrations WHERE id = $1")
        .bind(jira.0)
        .fetch_one(&server.admin)
        .await
        .unwrap();
    assert_eq!(before, after);
    let mut tx = store.begin_workspace_tx(ws.id).await.unwrap();
    assert_eq!(
        keyring::integration_credential(&mut tx, &new_kek, "jira")
            .await
            .unwrap(),
        "jira-token-123"
    );
    assert!(
        keyring::integration_credential(&mut tx, &support::kek(), "jira")
            .await
            .is_err()
    );
    tx.rollback().await.unwrap();
}

#[sqlx::test(migrator = "sightline_store::MIGRATOR")]
async fn every_response_carries_the_security_headers_and_cors_is_limited(admin: sqlx::PgPool) {
    let server = server(admin, config()).await;
    let ws = server.workspace("alpha").await;
    let replies = [
        server
            .send(Call::new(Method::GET, "/healthz", Auth::None))
            .await,
        server
            .send(Call::new(Method::GET, "/api/v1/accounts", Auth::None))
            .await,
        server
            .send(Call::new(
                Method::GET,
                "/api/v1/accounts",
                Auth::Session(ws.session(Role::Viewer)),
            ))
            .await,
        server
            .send(Call::new(Method::GET, "/no/such/page", Auth::None))
            .await,
    ];
    for reply in &replies {
        let h = |name: &str| {
            reply
                .headers
                .get(name)
                .map(|v| v.to_str().unwrap().to_owned())
                .unwrap_or_default()
        };
        assert!(
            h("strict-transport-security").starts_with("max-age="),
            "{reply:?}"
        );
        let csp = h("content-security-policy");
        assert!(
            csp.contains("script-src 'self'")
                && csp.contains("frame-ancestors 'none'")
                && !csp.contains("unsafe-inline"),
            "{csp}"
        );
        assert_eq!(h("x-frame-options"), "DENY");
        assert_eq!(h("x-content-type-options"), "nosniff");
        assert_eq!(h("referrer-policy"), "no-referrer");
    }
    assert_eq!(replies[3].status, StatusCode::NOT_FOUND);
    let trace = server
        .send(Call::new(
            Method::from_bytes(b"TRACE").unwrap(),
            "/api/v1/accounts",
            Auth::None,
        ))
        .await;
    assert_eq!(trace.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(trace.headers.get("allow").unwrap(), "GET, POST");

    let from = |origin: &'static str| {
        Call::new(Method::GET, "/healthz", Auth::None).header("origin", origin)
    };
    let allowed = server.send(from("https://sightline.example.com")).await;
    assert_eq!(
        allowed.headers.get("access-control-allow-origin").unwrap(),
        "https://sightline.example.com"
    );
    let exposed = allowed
        .headers
        .get("access-control-expose-headers")
        .unwrap();
    assert_eq!(exposed.to_str().unwrap().to_lowercase(), "link,retry-after");
    let other = server.send(from("https://evil.example.net")).await;
    assert!(other.headers.get("access-control-allow-origin").is_none());
}

#[sqlx::test(migrator = "sightline_store::MIGRATOR")]
async fn bad_bodies_get_a_clear_4xx_naming_the_problem(admin: sqlx::PgPool) {
    let server = server(admin, config()).await;
    let ws = server.workspace("alpha").await;
    let admin_session = ws.session(Role::Admin);
    let unknown = server
        .send(
            Call::new(
                Method::POST,
                "/api/v1/accounts",
                Auth::Session(admin_session),
            )
            .body(json!({ "aws_account_id": "777777777777", "rolearn": "x" })),
        )
        .await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST);
    assert!(
        unknown.json()["message"]
            .as_str()
            .unwrap()
            .contains("unknown field `rolearn`"),
        "{}",
        unknown.text
    );
    let bad_id = server
        .send(
            Call::new(
                Method::POST,
                "/api/v1/accounts",
                Auth::Session(admin_session),
            )
            .body(json!({ "aws_account_id": "12345" })),
        )
        .await;
    assert_eq!(bad_id.status, StatusCode::BAD_REQUEST);
    assert!(
        bad_id.text.contains("expected 12 digits"),
        "{}",
        bad_id.text
    );
    let bad_query = server
        .send(Call::new(
            Method::GET,
            "/api/v1/findings?sevrity=high",
            Auth::Session(admin_session),
        ))
        .await;
    assert_eq!(bad_query.status, StatusCode::BAD_REQUEST);
    assert!(bad_query.text.contains("sevrity"), "{}", bad_query.text);
    let bad_path = server
        .send(Call::new(
            Method::GET,
            "/api/v1/accounts/not-a-uuid",
            Auth::Session(admin_session),
        ))
        .await;
    assert_eq!(bad_path.status, StatusCode::BAD_REQUEST);
    assert!(
        bad_path.text.contains("expected a UUID"),
        "{}",
        bad_path.text
    );

    let not_json = server
        .send(
            Call::new(
                Method::POST,
                "/api/v1/accounts",
                Auth::Session(admin_session),
            )
            .header("content-type", "text/plain"),
        )
        .await;
    assert_eq!(
        not_json.status,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "{}",
        not_json.text
    );
    let huge = "x".repeat(100 * 1024);
    let too_big = server
        .send(
            Call::new(
                Method::PUT,
                "/api/v1/integrations/jira",
                Auth::Session(admin_session),
            )
            .body(json!({ "credential": huge })),
        )
        .await;
    assert_eq!(too_big.status, StatusCode::PAYLOAD_TOO_LARGE);
    // Nothing was written by any of these.
    let accounts: i64 = sqlx::query_scalar("SELECT count(*) FROM accounts WHERE workspace_id = $1")
        .bind(ws.id)
        .fetch_one(&server.admin)
        .await
        .unwrap();
    assert_eq!(accounts, 1);
}

#[sqlx::test(migrator = "sightline_store::MIGRATOR")]
async fn the_audit_trail_records_changes_and_exports_a_filtered_csv(admin: sqlx::PgPool) {
    let server = server(admin, config()).await;
    let ws = server.workspace("alpha").await;
    let admin_session = ws.session(Role::Admin);
    server
        .sign_in(&ws.session(Role::Viewer).email, "wrong password", json!({}))
        .await
        .unwrap_err();
    let added = server
        .send(
            Call::new(
                Method::POST,
                "/api/v1/accounts",
                Auth::Session(admin_session),
            )
            .body(json!({
                "aws_account_id": "888888888888",
                "role_arn": "arn:aws:iam::888888888888:role/SightlineMonitoring",
            })),
        )
        .await;
    let id = added.json()["id"].as_str().unwrap().to_owned();
    server
        .send(Call::new(
            Method::DELETE,
            format!("/api/v1/accounts/{id}"),
            Auth::Session(admin_session),
        ))
        .await;
    server
        .send(
            Call::new(
                Method::PUT,
                "/api/v1/integrations/jira",
                Auth::Session(admin_session),
            )
            .body(json!({ "credential": "t" })),
        )
        .await;

    // A record whose text a spreadsheet would run as a formula.
    Store {
        pool: server.admin.clone(),
    }
    .append_audit(
        ws.id,
        "=HYPERLINK(\"https://evil.example\")",
        "account.added",
        "@SUM(A1)",
        json!({}),
    )
    .await
    .unwrap();
    let csv = server
        .send(Call::new(
            Method::GET,
            "/api/v1/audit/export.csv?action=account.added",
            Auth::Session(admin_session),
        ))
        .await;
    assert_eq!(csv.status, StatusCode::OK);
    assert_eq!(
        csv.headers.get("content-type").unwrap(),
        "text/csv; charset=utf-8"
    );
    let lines: Vec<&str> = csv.text.lines().collect();
    assert_eq!(
        lines[0],
        "sequence,occurred_at,actor,action,target,details,previous_hash,hash"
    );
    assert_eq!(lines.len(), 3, "{}", csv.text);
    assert!(
        lines[1].contains(",user:admin@alpha.example.com,account.added,888888888888,"),
        "{}",
        lines[1]
    );
    // Formula-like cells are quoted: a spreadsheet shows them, never runs them.
    assert!(
        lines[2]
            .contains(",\"'=HYPERLINK(\"\"https://evil.example\"\")\",account.added,'@SUM(A1),"),
        "{}",
        lines[2]
    );

    let audit = actions(&server, ws.id).await;
    for action in [
        "auth.sign_in_failed",
        "account.added",
        "account.removed",
        "settings.integration_set",
        "audit.exported",
    ] {
        assert!(
            audit.contains(&action.to_owned()),
            "{action} missing from {audit:?}"
        );
    }
    // The chain the server appended verifies.
    let (result, head) = Store {
        pool: server.admin.clone(),
    }
    .verify_audit()
    .await
    .unwrap();
    assert_eq!(result, Ok(()));
    assert_eq!(head.unwrap().action, "audit.exported");
}

#[sqlx::test(migrator = "sightline_store::MIGRATOR")]
async fn readiness_fails_while_the_database_is_unreachable(admin: sqlx::PgPool) {
    let server = server(admin, config()).await;
    assert_eq!(
        server
            .send(Call::new(Method::GET, "/readyz", Auth::None))
            .await
            .status,
        StatusCode::OK
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let pool = sqlx::postgres::PgPoolOptions::new()
        .acquire_timeout(std::time::Duration::from_secs(1))
        .connect_lazy(&format!("postgres://sightline_app@127.0.0.1:{port}/none"))
        .unwrap();
    let down = Server {
        router: sightline_web::app(sightline_web::AppState::new(Store { pool }, config())),
        state: server.state.clone(),
        admin: server.admin.clone(),
        app_url: String::new(),
    };
    let ready = down
        .send(Call::new(Method::GET, "/readyz", Auth::None))
        .await;
    assert_eq!(
        ready.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        ready.text
    );
    // The load balancer learns that the database does not answer, not why:
    // no host, port, role or driver text.
    assert_eq!(
        ready.json(),
        json!({ "status": "unavailable", "reason": "the database does not answer" })
    );
    for leak in [
        &port.to_string(),
        "127.0.0.1",
        "sightline_app",
        "connection",
        "refused",
    ] {
        assert!(
            !ready.text.contains(leak),
            "/readyz says {leak}: {}",
            ready.text
        );
    }
    assert_eq!(
        down.send(Call::new(Method::GET, "/healthz", Auth::None))
            .await
            .status,
        StatusCode::OK
    );
}

/// A signed-in read writes nothing on most requests: the session's
/// inactivity window (seven days) and a key's last use slide at most once a
/// minute, so a page view commits no write and waits on no WAL flush (each
/// one did, and a slow flush showed as a 100 ms page at random in the page
/// benchmark).
#[sqlx::test(migrator = "sightline_store::MIGRATOR")]
async fn reads_slide_a_session_or_mark_a_key_used_at_most_once_a_minute(admin: sqlx::PgPool) {
    let server = server(admin, config()).await;
    let ws = server.workspace("alpha").await;
    let viewer = ws.session(Role::Viewer);
    let key = ws.key(Role::Viewer).to_owned();
    let seen = |sql: &'static str, id: Uuid| {
        let admin = server.admin.clone();
        async move {
            sqlx::query_scalar::<_, Option<chrono::DateTime<chrono::Utc>>>(sql)
                .bind(id)
                .fetch_one(&admin)
                .await
                .unwrap()
        }
    };
    let set = |sql: &'static str, id: Uuid| {
        let admin = server.admin.clone();
        async move {
            sqlx::query(sql).bind(id).execute(&admin).await.unwrap();
        }
    };
    const SESSION: &str = "SELECT last_seen_at FROM sessions WHERE user_id = $1";
    const KEY: &str = "SELECT last_used_at FROM api_keys WHERE prefix = (SELECT prefix FROM api_keys WHERE name = 'viewer' AND workspace_id = $1)";

    set(
        "UPDATE sessions SET last_seen_at = now() - interval '30 seconds' WHERE user_id = $1",
        viewer.user_id,
    )
    .await;
    let before = seen(SESSION, viewer.user_id).await;
    let me = server
        .send(Call::new(Method::GET, "/api/v1/me", Auth::Session(viewer)))
        .await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(
        seen(SESSION, viewer.user_id).await,
        before,
        "slid again within a minute"
    );
    set(
        "UPDATE sessions SET last_seen_at = now() - interval '2 minutes' WHERE user_id = $1",
        viewer.user_id,
    )
    .await;
    let me = server
        .send(Call::new(Method::GET, "/api/v1/me", Auth::Session(viewer)))
        .await;
    assert_eq!(me.status, StatusCode::OK);
    let slid = seen(SESSION, viewer.user_id).await.unwrap();
    assert!(
        slid > chrono::Utc::now() - chrono::Duration::seconds(30),
        "{slid}"
    );

    // A key: its first use is recorded, a use within the minute is not.
    assert_eq!(seen(KEY, ws.id).await, None);
    let me = server
        .send(Call::new(Method::GET, "/api/v1/me", Auth::Key(&key)))
        .await;
    assert_eq!(me.status, StatusCode::OK);
    assert!(seen(KEY, ws.id).await.is_some(), "first use not recorded");
    set("UPDATE api_keys SET last_used_at = now() - interval '30 seconds' WHERE workspace_id = $1 AND name = 'viewer'", ws.id).await;
    let before = seen(KEY, ws.id).await;
    let me = server
        .send(Call::new(Method::GET, "/api/v1/me", Auth::Key(&key)))
        .await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(
        seen(KEY, ws.id).await,
        before,
        "marked used again within a minute"
    );
}
