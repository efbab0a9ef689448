//! Sign-in and sessions under attack: the lockout cannot be raced and ends
//! when it expires; a password change ends every other session and counts
//! wrong current passwords; cookies are `__Host-` and slide within an
//! absolute lifetime; Argon2 runs off the async threads; a recovery code
//! works once however many use it at the same time; second-factor changes
//! need the password; two-factor can be required of owners and admins; and
//! failures that belong to no workspace reach the platform's sign-in log.
//! Concurrency is real: parallel requests on a real listener.

mod support;

use std::sync::Arc;

use axum::http::{Method, StatusCode};
use serde_json::json;
use sightline_core::roles::Role;
use sightline_web::auth::totp;
use support::live::{self, Answer};
use support::{config, server, session_from, Auth, Call, Server, PASSWORD};
use uuid::Uuid;

/// Failed sign-ins before an account locks (`routes::sign_in::LOCKOUT_AFTER`).
const LOCKOUT_AFTER: i32 = 10;

async fn actions(server: &Server, workspace: Uuid, action: &str) -> usize {
    let n: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_log WHERE workspace_id = $1 AND action = $2",
    )
    .bind(workspace)
    .bind(action)
    .fetch_one(&server.admin)
    .await
    .unwrap();
    n as usize
}

async fn auth_events(server: &Server, event: &str, email: &str) -> usize {
    let n: i64 =
        sqlx::query_scalar("SELECT count(*) FROM auth_events WHERE event = $1 AND email = $2")
            .bind(event)
            .bind(email)
            .fetch_one(&server.admin)
            .await
            .unwrap();
    n as usize
}

fn set_cookies(answer: &Answer) -> Vec<String> {
    answer
        .header("set-cookie")
        .iter()
        .map(|s| s.to_string())
        .collect()
}

#[sqlx::test(migrator = "sightline_store::MIGRATOR")]
async fn concurrent_wrong_passwords_lock_after_ten_checks_and_the_right_one_is_refused(
    admin: sqlx::PgPool,
) {
    let server = server(admin.clone(), config()).await;
    let ws = server.workspace("alpha").await;
    let email = ws.session(Role::Viewer).email.clone();
    let live = Arc::new(live::serve(&admin, config(), 2).await);

    let attempts: Vec<_> = (0..20)
        .map(|i| {
            let (live, email) = (live.clone(), email.clone());
            tokio::spawn(async move {
                live.sign_in(&email, &format!("wrong password {i}"), json!({}))
                    .await
            })
        })
        .collect();
    let mut statuses = vec![];
    for a in attempts {
        statuses.push(a.await.unwrap().status);
    }
    assert!(
        statuses.iter().all(|s| *s == 401 || *s == 403),
        "{statuses:?}"
    );
    // Exactly ten passwords were checked; every later attempt met the lock.
    assert_eq!(actions(&server, ws.id, "auth.sign_in_failed").await, 10);
    assert_eq!(actions(&server, ws.id, "auth.sign_in_refused").await, 10);
    assert_eq!(
        statuses.iter().filter(|s| **s == 403).count(),
        10,
        "{statuses:?}"
    );

    let sessions_before: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM sessions s JOIN users u ON u.id = s.user_id WHERE u.email = $1",
    )
    .bind(&email)
    .fetch_one(&admin)
    .await
    .unwrap();
    let right = live.sign_in(&email, PASSWORD, json!({})).await;
    assert_eq!(right.status, 403, "{}", right.body);
    assert_eq!(right.json()["error"], "account_locked");
    assert!(
        set_cookies(&right).is_empty(),
        "a locked account got cookies"
    );
    let sessions: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM sessions s JOIN users u ON u.id = s.user_id WHERE u.email = $1",
    )
    .bind(&email)
    .fetch_one(&admin)
    .await
    .unwrap();
    assert_eq!(sessions, sessions_before, "a session was opened");
    // The lock is in the platform's sign-in log too.
    assert_eq!(auth_events(&server, "locked", &email).await, 1);
    assert!(auth_events(&server, "refused_locked", &email).await >= 10);
}

#[sqlx::test(migrator = "sightline_store::MIGRATOR")]
async fn an_expired_lock_starts_a_fresh_count_and_admins_unlock(admin: sqlx::PgPool) {
    let server = server(admin.clone(), config()).await;
    let ws = server.workspace("alpha").await;
    let email = ws.session(Role::Viewer).email.clone();
    sqlx::query(
        "UPDATE users SET failed_logins = 10, locked_until = now() - interval '1 second' WHERE email = $1",
    )
    .bind(&email)
    .execute(&admin)
    .await
    .unwrap();
    // One failure after the lock ran out does not lock again.
    let reply = server
        .sign_in(&email, "wrong password", json!({}))
        .await
        .unwrap_err();
    assert_eq!(reply.error(), "invalid_credentials", "{}", reply.text);
    let (failed, locked): (i32, Option<chrono::DateTime<chrono::Utc>>) =
        sqlx::query_as("SELECT failed_logins, locked_until FROM users WHERE email = $1")
            .bind(&email)
            .fetch_one(&admin)
            .await
            .unwrap();
    assert_eq!((failed, locked), (1, None));
    server.sign_in(&email, PASSWORD, json!({})).await.unwrap();

    // Locked again; an admin unlocks (audited), and the user signs in at once.
    let operator = ws.session(Role::Operator).email.clone();
    for _ in 0..10 {
        let _ = server.sign_in(&operator, "wrong password", json!({})).await;
    }
    assert_eq!(
        server
            .sign_in(&operator, PASSWORD, json!({}))
            .await
            .unwrap_err()
            .error(),
        "account_locked"
    );
    let operator_id: Uuid = sqlx::query_scalar("SELECT id FROM users WHERE email = $1")
        .bind(&operator)
        .fetch_one(&admin)
        .await
        .unwrap();
    let unlock = format!("/api/v1/users/{operator_id}/unlock");
    let reply = server
        .send(Call::new(
            Method::POST,
            unlock.clone(),
            Auth::Session(ws.session(Role::Admin)),
        ))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert!(reply.json()["locked_until"].is_null(), "{}", reply.text);
    server
        .sign_in(&operator, PASSWORD, json!({}))
        .await
        .unwrap();
    assert_eq!(actions(&server, ws.id, "user.unlocked").await, 1);

    // Admins unlock operators and viewers; only owners unlock owners and admins.
    let owner = ws.session(Role::Owner).email.clone();
    let owner_id: Uuid = sqlx::query_scalar("SELECT id FROM users WHERE email = $1")
        .bind(&owner)
        .fetch_one(&admin)
        .await
        .unwrap();
    let reply = server
        .send(Call::new(
            Method::POST,
            format!("/api/v1/users/{owner_id}/unlock"),
            Auth::Session(ws.session(Role::Admin)),
        ))
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN, "{}", reply.text);
    assert!(
        reply.text.contains("only owners may unlock"),
        "{}",
        reply.text
    );
}

#[sqlx::test(migrator = "sightline_store::MIGRATOR")]
async fn a_password_change_ends_every_other_session_rotates_this_one_and_counts_failures(
    admin: sqlx::PgPool,
) {
    let server = server(admin.clone(), config()).await;
    let ws = server.workspace("alpha").await;
    let email = ws.session(Role::Operator).email.clone();
    let laptop = server.sign_in(&email, PASSWORD, json!({})).await.unwrap();
    let phone = server.sign_in(&email, PASSWORD, json!({})).await.unwrap();
    let changed = server
        .send(
            Call::new(Method::POST, "/api/v1/me/password", Auth::Session(&laptop)).body(
                json!({ "current_password": PASSWORD, "new_password": "an entirely new passphrase" }),
            ),
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.text);
    let rotated = session_from(&changed, &email);
    assert_ne!(rotated.token, laptop.token);
    for (name, old) in [("this session", &laptop), ("another session", &phone)] {
        let reply = server
            .send(Call::new(Method::GET, "/api/v1/me", Auth::Session(old)))
            .await;
        assert_eq!(
            (reply.status, reply.error().as_str()),
            (StatusCode::UNAUTHORIZED, "session_revoked"),
            "{name}: {}",
            reply.text
        );
    }
    let reply = server
        .send(Call::new(
            Method::GET,
            "/api/v1/me",
            Auth::Session(&rotated),
        ))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);

    // Wrong current passwords count toward the lockout, which then ends this session too.
    for i in 0..10 {
        let reply = server
            .send(
                Call::new(Method::POST, "/api/v1/me/password", Auth::Session(&rotated)).body(
                    json!({ "current_password": format!("guess {i}"), "new_password": "yet another passphrase" }),
                ),
            )
            .await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{i}: {}", reply.text);
    }
    let reply = server
        .sign_in(&email, "an entirely new passphrase", json!({}))
        .await
        .unwrap_err();
    assert_eq!(reply.error(), "account_locked", "{}", reply.text);
    let reply = server
        .send(Call::new(
            Method::GET,
            "/api/v1/me",
            Auth::Session(&rotated),
        ))
        .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{}", reply.text);
}

#[sqlx::test(migrator = "sightline_store::MIGRATOR")]
async fn session_cookies_are_host_prefixed_and_slide_within_thirty_days(admin: sqlx::PgPool) {
    let server = server(admin.clone(), config()).await;
    let ws = server.workspace("alpha").await;
    let email = ws.session(Role::Viewer).email.clone();
    let reply = server
        .send(
            Call::new(Method::POST, "/api/v1/session", Auth::None)
                .body(json!({ "email": email, "password": PASSWORD })),
        )
        .await;
    let cookies: Vec<String> = reply
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    let session = cookies
        .iter()
        .find(|c| c.starts_with("__Host-sl_session="))
        .unwrap_or_else(|| panic!("{cookies:?}"));
    for attribute in [
        "HttpOnly",
        "Secure",
        "SameSite=Strict",
        "Path=/",
        "Max-Age=604800",
    ] {
        assert!(session.contains(attribute), "{session} lacks {attribute}");
    }
    assert!(!session.contains("Domain"), "{session}");
    let me = session_from(&reply, &email);

    // Each use slides the cookie's Max-Age.
    let reply = server
        .send(Call::new(Method::GET, "/api/v1/me", Auth::Session(&me)))
        .await;
    let slid: Vec<String> = reply
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    assert!(
        slid.iter().any(
            |c| c.starts_with(&format!("__Host-sl_session={};", me.token))
                && c.contains("Max-Age=604800")
        ),
        "{slid:?}"
    );
    // Near the end of the absolute lifetime the cookie lives only as long as the session may.
    let sha = sightline_web::auth::tokens::sha256_hex(&me.token);
    sqlx::query("UPDATE sessions SET created_at = now() - interval '29 days 23 hours' WHERE token_sha256 = $1")
        .bind(&sha)
        .execute(&admin)
        .await
        .unwrap();
    let reply = server
        .send(Call::new(Method::GET, "/api/v1/me", Auth::Session(&me)))
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    let max_age: i64 = reply
        .headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("__Host-sl_session="))
        .and_then(|c| c.split("Max-Age=").nth(1))
        .and_then(|v| v.split(';').next())
        .unwrap()
        .parse()
        .unwrap();
    assert!((3500..=3600).contains(&max_age), "{max_age}");
    // Past 30 days the session ends, however recently it was used.
    sqlx::query("UPDATE sessions SET created_at = now() - interval '30 days 1 minute' WHERE token_sha256 = $1")
        .bind(&sha)
        .execute(&admin)
        .await
        .unwrap();
    let reply = server
        .send(Call::new(Method::GET, "/api/v1/me", Auth::Session(&me)))
        .await;
    assert_eq!(
        (reply.status, reply.error().as_str()),
        (StatusCode::UNAUTHORIZED, "session_expired"),
        "{}",
        reply.text
    );
    assert!(reply.text.contains("30-day lifetime"), "{}", reply.text);
}

#[sqlx::test(migrator = "sightline_store::MIGRATOR")]
async fn a_flood_of_sign_ins_does_not_stall_the_health_check(admin: sqlx::PgPool) {
    // Every async task of this server runs on one thread: a password hash
    // there would hold every other request, the health check included.
    let live = Arc::new(live::serve(&admin, config(), 0).await);
    let async_thread = live.async_thread.unwrap();
    // What one hash costs here, in CPU time (not wall time: other work on
    // the machine does not change it).
    let me = live::this_thread();
    let hash = sightline_web::auth::password::hash("calibration password").unwrap();
    let before = live::thread_cpu_ticks(me);
    const CALIBRATION: u64 = 10;
    for _ in 0..CALIBRATION {
        assert!(!sightline_web::auth::password::verify("wrong", &hash));
    }
    let per_hash = (live::thread_cpu_ticks(me) - before).max(1) as f64 / CALIBRATION as f64;

    const FLOOD: usize = 40;
    let async_before = live::thread_cpu_ticks(async_thread);
    let flood: Vec<_> = (0..FLOOD)
        .map(|i| {
            let live = live.clone();
            tokio::spawn(async move {
                live.sign_in(
                    &format!("nobody-{i}@example.com"),
                    "wrong password",
                    json!({}),
                )
                .await
                .status
            })
        })
        .collect();
    // The health check answers during the flood...
    for _ in 0..5 {
        assert_eq!(live.send("GET", "/healthz", &[], "").await.status, 200);
    }
    for f in flood {
        let status = f.await.unwrap();
        assert!(status == 401 || status == 429, "{status}");
    }
    // ... because the forty hashes ran elsewhere: the async thread spent far
    // less CPU than they cost (parsing, routing and the database are all it did).
    let async_ticks = (live::thread_cpu_ticks(async_thread) - async_before) as f64;
    let hashes = per_hash * FLOOD as f64;
    assert!(
        async_ticks < hashes / 4.0,
        "the async thread used {async_ticks} CPU ticks; the {FLOOD} hashes cost about {hashes}"
    );
}

#[sqlx::test(migrator = "sightline_store::MIGRATOR")]
async fn ten_concurrent_uses_of_one_recovery_code_sign_in_exactly_once(admin: sqlx::PgPool) {
    let server = server(admin.clone(), config()).await;
    let ws = server.workspace("alpha").await;
    let me = ws.session(Role::Operator);
    let codes = enrol(&server, me).await.1;
    let live = Arc::new(live::serve(&admin, config(), 2).await);
    let uses: Vec<_> = (0..10)
        .map(|_| {
            let (live, email, code) = (live.clone(), me.email.clone(), codes[0].clone());
            tokio::spawn(async move {
                live.sign_in(&email, PASSWORD, json!({ "recovery_code": code }))
                    .await
                    .status
            })
        })
        .collect();
    let mut statuses = vec![];
    for u in uses {
        statuses.push(u.await.unwrap());
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    let used: i64 =
        sqlx::query_scalar("SELECT count(*) FROM recovery_codes WHERE used_at IS NOT NULL")
            .fetch_one(&admin)
            .await
            .unwrap();
    assert_eq!(used, 1);
}

/// Enrol `me` in TOTP through the API; the secret and the recovery codes.
async fn enrol(server: &Server, me: &support::Session) -> (Vec<u8>, Vec<String>) {
    let begun = server
        .send(
            Call::new(Method::POST, "/api/v1/me/totp", Auth::Session(me))
                .body(json!({ "current_password": PASSWORD })),
        )
        .await;
    assert_eq!(begun.status, StatusCode::OK, "{}", begun.text);
    let secret = base32_decode(begun.json()["secret"].as_str().unwrap());
    // The code of the step before (the current one stays unused), sent well
    // inside a step: across a step's end the server's step is the next, and
    // the code two steps back is refused (CI failed so once).
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
    let codes = serde_json::from_value(confirm.json()["recovery_codes"].clone()).unwrap();
    (secret, codes)
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
async fn second_factor_changes_need_the_password_and_owners_can_require_it(admin: sqlx::PgPool) {
    let server = server(admin.clone(), config()).await;
    let ws = server.workspace("alpha").await;
    let me = ws.session(Role::Admin);

    // Enrolment without the password is malformed; with a wrong one, refused and counted.
    let reply = server
        .send(Call::new(
            Method::POST,
            "/api/v1/me/totp",
            Auth::Session(me),
        ))
        .await;
    assert_eq!(
        reply.status,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "{}",
        reply.text
    );
    let reply = server
        .send(
            Call::new(Method::POST, "/api/v1/me/totp", Auth::Session(me))
                .body(json!({ "current_password": "not it" })),
        )
        .await;
    assert_eq!(reply.error(), "invalid_credentials", "{}", reply.text);
    let failed: i32 = sqlx::query_scalar("SELECT failed_logins FROM users WHERE email = $1")
        .bind(&me.email)
        .fetch_one(&admin)
        .await
        .unwrap();
    assert_eq!(failed, 1);

    // Require two-factor of owners and admins: the owner's setting, audited.
    let reply = server
        .send(
            Call::new(Method::PUT, "/api/v1/settings/sign-in", Auth::Session(me))
                .body(json!({ "require_mfa_for_admins": true })),
        )
        .await;
    assert_eq!(
        reply.status,
        StatusCode::FORBIDDEN,
        "admins may not change it: {}",
        reply.text
    );
    let reply = server
        .send(
            Call::new(
                Method::PUT,
                "/api/v1/settings/sign-in",
                Auth::Session(ws.session(Role::Owner)),
            )
            .body(json!({ "require_mfa_for_admins": true })),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(actions(&server, ws.id, "settings.sign_in_changed").await, 1);
    // The admin without a second factor must enrol before anything else; a viewer need not.
    let reply = server
        .send(Call::new(
            Method::GET,
            "/api/v1/accounts",
            Auth::Session(me),
        ))
        .await;
    assert_eq!(reply.error(), "mfa_enrolment_required", "{}", reply.text);
    let reply = server
        .send(Call::new(Method::GET, "/accounts", Auth::Session(me)))
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert_eq!(reply.headers["location"], "/settings/two-factor");
    let reply = server
        .send(Call::new(
            Method::GET,
            "/api/v1/accounts",
            Auth::Session(ws.session(Role::Viewer)),
        ))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let (secret, codes) = enrol(&server, me).await;
    let reply = server
        .send(Call::new(
            Method::GET,
            "/api/v1/accounts",
            Auth::Session(me),
        ))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    // While required, it cannot be turned off.
    let step = totp::step_of(chrono::Utc::now().timestamp());
    let reply = server
        .send(
            Call::new(Method::DELETE, "/api/v1/me/totp", Auth::Session(me)).body(
                json!({ "current_password": PASSWORD, "code": totp::code_at(&secret, step) }),
            ),
        )
        .await;
    assert_eq!(reply.error(), "mfa_required", "{}", reply.text);

    // New recovery codes need the password and a second factor (a stolen
    // session and password alone cannot mint codes); the old ones stop working.
    let regenerate = |body: serde_json::Value| {
        Call::new(Method::POST, "/api/v1/me/recovery-codes", Auth::Session(me)).body(body)
    };
    let reply = server
        .send(regenerate(
            json!({ "current_password": "still not it", "code": codes[1] }),
        ))
        .await;
    assert_eq!(reply.error(), "invalid_credentials", "{}", reply.text);
    let reply = server
        .send(regenerate(json!({ "current_password": PASSWORD })))
        .await;
    assert_eq!(reply.status.as_u16() / 100, 4, "{}", reply.text);
    assert!(reply.text.contains("code"), "{}", reply.text);
    let reply = server
        .send(regenerate(
            json!({ "current_password": PASSWORD, "code": "000000" }),
        ))
        .await;
    assert_eq!(reply.error(), "invalid_second_factor", "{}", reply.text);
    let failed: i32 = sqlx::query_scalar("SELECT failed_logins FROM users WHERE email = $1")
        .bind(&me.email)
        .fetch_one(&admin)
        .await
        .unwrap();
    assert_eq!(failed, 2, "a wrong password and a wrong code each count");
    let reply = server
        .send(regenerate(
            json!({ "current_password": PASSWORD, "code": codes[1] }),
        ))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let fresh: Vec<String> =
        serde_json::from_value(reply.json()["recovery_codes"].clone()).unwrap();
    assert_eq!(fresh.len(), 10);
    let old = server
        .sign_in(&me.email, PASSWORD, json!({ "recovery_code": codes[0] }))
        .await
        .unwrap_err();
    assert_eq!(old.error(), "invalid_second_factor");

    // The owner is held to the requirement too: enrolled, then turns it off.
    let owner = ws.session(Role::Owner);
    let reply = server
        .send(Call::new(
            Method::GET,
            "/api/v1/accounts",
            Auth::Session(owner),
        ))
        .await;
    assert_eq!(reply.error(), "mfa_enrolment_required", "{}", reply.text);
    enrol(&server, owner).await;
    // Not required any more: off with the password and a code (a recovery
    // code will do); a wrong code is refused and counted.
    let reply = server
        .send(
            Call::new(
                Method::PUT,
                "/api/v1/settings/sign-in",
                Auth::Session(ws.session(Role::Owner)),
            )
            .body(json!({ "require_mfa_for_admins": false })),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    let reply = server
        .send(
            Call::new(Method::DELETE, "/api/v1/me/totp", Auth::Session(me))
                .body(json!({ "current_password": PASSWORD, "code": "000000" })),
        )
        .await;
    assert_eq!(reply.error(), "invalid_second_factor", "{}", reply.text);
    let reply = server
        .send(
            Call::new(Method::DELETE, "/api/v1/me/totp", Auth::Session(me))
                .body(json!({ "current_password": PASSWORD, "code": fresh[0] })),
        )
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.text);
    server
        .sign_in(&me.email, PASSWORD, json!({}))
        .await
        .unwrap();
    for (action, n) in [
        ("user.totp_enabled", 2),
        ("user.recovery_codes_regenerated", 1),
        ("user.totp_disabled", 1),
    ] {
        assert_eq!(actions(&server, ws.id, action).await, n, "{action}");
    }
}

#[sqlx::test(migrator = "sightline_store::MIGRATOR")]
async fn failures_without_a_workspace_reach_the_platform_sign_in_log(admin: sqlx::PgPool) {
    let server = server(admin.clone(), config()).await;
    let ws = server.workspace("alpha").await;
    let reply = server
        .sign_in("Nobody@Example.com", "whatever it is", json!({}))
        .await
        .unwrap_err();
    assert_eq!(reply.error(), "invalid_credentials");
    assert_eq!(
        auth_events(&server, "unknown_email", "nobody@example.com").await,
        1
    );
    // A second-factor failure, in the workspace's trail and the platform log.
    let me = ws.session(Role::Operator);
    enrol(&server, me).await;
    let reply = server
        .sign_in(&me.email, PASSWORD, json!({ "totp_code": "000000" }))
        .await
        .unwrap_err();
    assert_eq!(reply.error(), "invalid_second_factor");
    assert_eq!(
        auth_events(&server, "second_factor_failed", &me.email).await,
        1
    );
    // The server may append to the log, and do nothing else with it.
    let app = sqlx::PgPool::connect(&server.app_url).await.unwrap();
    for sql in [
        "SELECT * FROM auth_events",
        "UPDATE auth_events SET email = 'x'",
        "DELETE FROM auth_events",
    ] {
        let err = sqlx::query(sql).execute(&app).await.unwrap_err();
        assert!(
            err.to_string().contains("permission denied"),
            "{sql}: {err}"
        );
    }
    let err = sqlx::query("DELETE FROM auth_events")
        .execute(&admin)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("append-only"), "{err}");
}

#[sqlx::test(migrator = "sightline_store::MIGRATOR")]
async fn adding_a_user_does_not_reveal_another_workspaces_members(admin: sqlx::PgPool) {
    let server = server(admin.clone(), config()).await;
    let alpha = server.workspace("alpha").await;
    let bravo = server.workspace("bravo").await;
    let bravo_member = bravo.session(Role::Operator).email.clone();
    // Bravo's member, added by alpha's admin: added like anyone else, in alpha only.
    let added = server
        .send(
            Call::new(
                Method::POST,
                "/api/v1/users",
                Auth::Session(alpha.session(Role::Admin)),
            )
            .body(json!({ "email": bravo_member, "role": "viewer" })),
        )
        .await;
    assert_eq!(added.status, StatusCode::CREATED, "{}", added.text);
    let stranger = server
        .send(
            Call::new(
                Method::POST,
                "/api/v1/users",
                Auth::Session(alpha.session(Role::Admin)),
            )
            .body(json!({ "email": "stranger@example.com", "role": "viewer" })),
        )
        .await;
    assert_eq!(stranger.status, StatusCode::CREATED, "{}", stranger.text);
    let keys = |v: serde_json::Value| {
        let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    assert_eq!(keys(added.json()), keys(stranger.json()));
    // With two workspaces, a sign-in names its own: without one it is
    // refused for what it lacks, the same for any e-mail, known or not.
    let session =
        |body: serde_json::Value| Call::new(Method::POST, "/api/v1/session", Auth::None).body(body);
    for email in [bravo_member.as_str(), "nobody@example.com"] {
        let reply = server
            .send(session(json!({ "email": email, "password": PASSWORD })))
            .await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.text);
        assert!(
            reply.text.contains("name the one to sign in to"),
            "{}",
            reply.text
        );
    }
    // Each of the two users signs in to their own workspace with their own password.
    let one_time = added.json()["one_time_password"]
        .as_str()
        .unwrap()
        .to_owned();
    let reply = server
        .send(session(
            json!({ "workspace": "alpha", "email": bravo_member, "password": one_time }),
        ))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.json()["workspace_id"], alpha.id.to_string());
    let reply = server
        .send(session(
            json!({ "workspace": "bravo", "email": bravo_member, "password": PASSWORD }),
        ))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.json()["workspace_id"], bravo.id.to_string());
    // A password is checked against the named workspace's user alone:
    // bravo's password does not open alpha, and failures in alpha count
    // against alpha's user only, however many there are.
    for _ in 0..(LOCKOUT_AFTER + 2) {
        let reply = server
            .send(session(
                json!({ "workspace": "alpha", "email": bravo_member, "password": PASSWORD }),
            ))
            .await;
        assert_eq!(reply.status.as_u16() / 100, 4, "{}", reply.text);
    }
    let failed = |ws: Uuid| {
        sqlx::query_scalar::<_, i32>(
            "SELECT failed_logins FROM users WHERE email = $1 AND workspace_id = $2",
        )
        .bind(bravo_member.clone())
        .bind(ws)
        .fetch_one(&admin)
    };
    assert_eq!(failed(alpha.id).await.unwrap(), LOCKOUT_AFTER);
    assert_eq!(failed(bravo.id).await.unwrap(), 0);
    // Alpha's user is locked; bravo's, with the same e-mail, signs in as before,
    // and nothing in bravo's answer says alpha's is locked.
    let reply = server
        .send(session(
            json!({ "workspace": "bravo", "email": bravo_member, "password": PASSWORD }),
        ))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    // An unknown workspace is refused like a wrong password.
    let reply = server
        .send(session(
            json!({ "workspace": "charlie", "email": bravo_member, "password": PASSWORD }),
        ))
        .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{}", reply.text);
    assert_eq!(reply.error(), "invalid_credentials");
    // The same e-mail twice in one workspace is a conflict, said in that workspace's terms.
    let again = server
        .send(
            Call::new(
                Method::POST,
                "/api/v1/users",
                Auth::Session(alpha.session(Role::Admin)),
            )
            .body(json!({ "email": bravo_member, "role": "viewer" })),
        )
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.text);
    assert!(
        again.text.contains("already a member of this workspace"),
        "{}",
        again.text
    );
}
