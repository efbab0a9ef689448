//! API keys follow the people who issued them: a demotion brings their keys
//! down to the new role, a removal revokes them; keys may expire; the last
//! owner cannot be demoted or removed even by two owners at once; members
//! and integrations are managed from their pages with the API's own rules;
//! an owner demoted while issuing a key gets none.

mod support;

use std::sync::Arc;

use axum::http::{Method, StatusCode};
use serde_json::json;
use sightline_core::roles::Role;
use support::live;
use support::{config, server, Auth, Call, Server, Workspace, PASSWORD};
use uuid::Uuid;

async fn user_id(server: &Server, ws: &Workspace, role: Role) -> Uuid {
    sqlx::query_scalar("SELECT id FROM users WHERE email = $1 AND workspace_id = $2")
        .bind(&ws.session(role).email)
        .bind(ws.id)
        .fetch_one(&server.admin)
        .await
        .unwrap()
}

/// Issue a key as `by` (an owner) with `role` and maybe an expiry; its secret and id.
async fn issue(
    server: &Server,
    by: &support::Session,
    role: &str,
    days: Option<i64>,
) -> (String, Uuid) {
    let mut body = json!({ "name": format!("{role} key"), "role": role });
    if let Some(d) = days {
        body["expires_in_days"] = json!(d);
    }
    let reply = server
        .send(Call::new(Method::POST, "/api/v1/api-keys", Auth::Session(by)).body(body))
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    (
        reply.json()["key"].as_str().unwrap().to_owned(),
        reply.json()["id"].as_str().unwrap().parse().unwrap(),
    )
}

async fn me_with(server: &Server, key: &str) -> support::Reply {
    server
        .send(Call::new(Method::GET, "/api/v1/me", Auth::Key(key)))
        .await
}

#[sqlx::test(migrator = "sightline_store::MIGRATOR")]
async fn keys_come_down_with_a_demotion_and_go_with_a_removal(admin: sqlx::PgPool) {
    let server = server(admin.clone(), config()).await;
    let ws = server.workspace("alpha").await;
    // A second owner issues an owner key and an admin key, then is demoted to operator.
    let second = server
        .user_with_session(ws.id, "second-owner@alpha.example.com", Role::Owner)
        .await;
    let (owner_key, _) = issue(&server, &second, "owner", None).await;
    let (viewer_key, _) = issue(&server, &second, "viewer", None).await;
    let second_id: Uuid = sqlx::query_scalar("SELECT id FROM users WHERE email = $1")
        .bind(&second.email)
        .fetch_one(&admin)
        .await
        .unwrap();
    let reply = server
        .send(
            Call::new(
                Method::PUT,
                format!("/api/v1/users/{second_id}/role"),
                Auth::Session(ws.session(Role::Owner)),
            )
            .body(json!({ "role": "operator" })),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    // The owner key now acts as an operator; the viewer key is unchanged.
    assert_eq!(
        me_with(&server, &owner_key).await.json()["role"],
        "operator"
    );
    assert_eq!(me_with(&server, &viewer_key).await.json()["role"], "viewer");
    let users = server
        .send(Call::new(
            Method::GET,
            "/api/v1/users",
            Auth::Key(&owner_key),
        ))
        .await;
    assert_eq!(users.status, StatusCode::FORBIDDEN, "{}", users.text);

    // Removed: every key they issued stops working at once.
    let reply = server
        .send(Call::new(
            Method::DELETE,
            format!("/api/v1/users/{second_id}"),
            Auth::Session(ws.session(Role::Owner)),
        ))
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.text);
    for key in [&owner_key, &viewer_key] {
        let reply = me_with(&server, key).await;
        assert_eq!(
            (reply.status, reply.error().as_str()),
            (StatusCode::UNAUTHORIZED, "api_key_revoked"),
            "{}",
            reply.text
        );
    }
    let (details,): (serde_json::Value,) = sqlx::query_as(
        "SELECT details FROM audit_log WHERE action = 'user.removed' ORDER BY sequence DESC LIMIT 1",
    )
    .fetch_one(&admin)
    .await
    .unwrap();
    assert_eq!(
        details["api_keys_revoked"].as_array().unwrap().len(),
        2,
        "{details}"
    );
}

#[sqlx::test(migrator = "sightline_store::MIGRATOR")]
async fn no_key_is_issued_by_an_owner_demoted_while_it_is_issued(admin: sqlx::PgPool) {
    let server = server(admin.clone(), config()).await;
    let ws = server.workspace("alpha").await;
    let owner = ws.session(Role::Owner);
    // Another owner's demotion of this one is under way (not yet committed)
    // when the owner, still an owner when signed in, asks for an owner key.
    let mut demotion = admin.begin().await.unwrap();
    sqlx::query("UPDATE users SET role = 'admin' WHERE id = $1")
        .bind(owner.user_id)
        .execute(&mut *demotion)
        .await
        .unwrap();
    let issuing = server.send(
        Call::new(Method::POST, "/api/v1/api-keys", Auth::Session(owner))
            .body(json!({ "name": "late key", "role": "owner" })),
    );
    let demoted = async {
        // The demotion commits once the issuing request waits for it (or
        // after a while, if it never does).
        for _ in 0..100 {
            let waiting: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
                 WHERE NOT l.granted AND a.datname = current_database()",
            )
            .fetch_one(&admin)
            .await
            .unwrap();
            if waiting > 0 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        demotion.commit().await.unwrap();
    };
    let (reply, ()) = tokio::join!(issuing, demoted);
    assert_eq!(reply.status, StatusCode::FORBIDDEN, "{}", reply.text);
    let keys: i64 = sqlx::query_scalar("SELECT count(*) FROM api_keys WHERE name = 'late key'")
        .fetch_one(&admin)
        .await
        .unwrap();
    assert_eq!(keys, 0);
}

#[sqlx::test(migrator = "sightline_store::MIGRATOR")]
async fn keys_expire_when_they_say(admin: sqlx::PgPool) {
    let server = server(admin.clone(), config()).await;
    let ws = server.workspace("alpha").await;
    let owner = ws.session(Role::Owner);
    let (key, id) = issue(&server, owner, "viewer", Some(30)).await;
    assert_eq!(me_with(&server, &key).await.status, StatusCode::OK);
    let listed = server
        .send(Call::new(
            Method::GET,
            "/api/v1/api-keys",
            Auth::Session(owner),
        ))
        .await;
    let row = listed
        .json()
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == id.to_string())
        .cloned()
        .unwrap();
    let expires: chrono::DateTime<chrono::Utc> =
        row["expires_at"].as_str().unwrap().parse().unwrap();
    let days = (expires - chrono::Utc::now()).num_hours();
    assert!((29 * 24..=30 * 24).contains(&days), "{days} hours");
    sqlx::query("UPDATE api_keys SET expires_at = now() - interval '1 second' WHERE id = $1")
        .bind(id)
        .execute(&admin)
        .await
        .unwrap();
    let reply = me_with(&server, &key).await;
    assert_eq!(
        (reply.status, reply.error().as_str()),
        (StatusCode::UNAUTHORIZED, "api_key_expired"),
        "{}",
        reply.text
    );
    for bad in [0, 366, -1] {
        let reply = server
            .send(
                Call::new(Method::POST, "/api/v1/api-keys", Auth::Session(owner))
                    .body(json!({ "name": "bad", "role": "viewer", "expires_in_days": bad })),
            )
            .await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{bad}: {}",
            reply.text
        );
        assert!(reply.text.contains("expected 1 to 365"), "{}", reply.text);
    }
}

#[sqlx::test(migrator = "sightline_store::MIGRATOR")]
async fn two_owners_demoting_each_other_at_once_leave_one_owner(admin: sqlx::PgPool) {
    let server = server(admin.clone(), config()).await;
    let ws = server.workspace("alpha").await;
    let live = Arc::new(live::serve(&admin, config(), 2).await);
    let a = ws.session(Role::Owner).email.clone();
    let b = "second-owner@alpha.example.com";
    server.user_with_session(ws.id, b, Role::Owner).await;
    // Both owners sign in on the real listener, then each demotes the other at once.
    let mut sessions = vec![];
    for email in [a.as_str(), b] {
        let reply = live.sign_in(email, PASSWORD, json!({})).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        let cookie = |name: &str| {
            reply
                .header("set-cookie")
                .iter()
                .find_map(|c| c.strip_prefix(&format!("{name}=")))
                .map(|c| c.split(';').next().unwrap().to_owned())
                .unwrap()
        };
        sessions.push((cookie("__Host-sl_session"), cookie("__Host-sl_csrf")));
    }
    let ids: Vec<Uuid> = {
        let mut ids = vec![];
        for email in [a.as_str(), b] {
            ids.push(
                sqlx::query_scalar("SELECT id FROM users WHERE email = $1")
                    .bind(email)
                    .fetch_one(&admin)
                    .await
                    .unwrap(),
            );
        }
        ids
    };
    for round in 0..5 {
        let demote = |by: usize, target: Uuid| {
            let live = live.clone();
            let (token, csrf) = sessions[by].clone();
            tokio::spawn(async move {
                let cookie = format!("__Host-sl_session={token}; __Host-sl_csrf={csrf}");
                live.send(
                    "PUT",
                    &format!("/api/v1/users/{target}/role"),
                    &[
                        ("content-type", "application/json"),
                        ("cookie", &cookie),
                        ("x-csrf-token", &csrf),
                    ],
                    r#"{"role":"admin"}"#,
                )
                .await
                .status
            })
        };
        let (first, second) = (demote(0, ids[1]), demote(1, ids[0]));
        let statuses = [first.await.unwrap(), second.await.unwrap()];
        let owners: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM users WHERE workspace_id = $1 AND role = 'owner'",
        )
        .bind(ws.id)
        .fetch_one(&admin)
        .await
        .unwrap();
        // One demotion went through; the other was refused (409), or found
        // its own session ended by the first (401): never two.
        assert_eq!(owners, 1, "round {round}: {statuses:?}");
        assert_eq!(
            statuses.iter().filter(|s| **s == 200).count(),
            1,
            "round {round}: {statuses:?}"
        );
        // Put both back as owners (with fresh sessions) for the next round.
        sqlx::query("UPDATE users SET role = 'owner' WHERE id = ANY($1)")
            .bind(&ids)
            .execute(&admin)
            .await
            .unwrap();
        sessions.clear();
        for email in [a.as_str(), b] {
            let reply = live.sign_in(email, PASSWORD, json!({})).await;
            let cookie = |name: &str| {
                reply
                    .header("set-cookie")
                    .iter()
                    .find_map(|c| c.strip_prefix(&format!("{name}=")))
                    .map(|c| c.split(';').next().unwrap().to_owned())
                    .unwrap()
            };
            sessions.push((cookie("__Host-sl_session"), cookie("__Host-sl_csrf")));
        }
    }
}

#[sqlx::test(migrator = "sightline_store::MIGRATOR")]
async fn members_and_integrations_pages_follow_the_apis_rules(admin: sqlx::PgPool) {
    let server = server(admin.clone(), config()).await;
    let ws = server.workspace("alpha").await;
    let admin_session = ws.session(Role::Admin);
    let form = |s: &str| s.to_owned();
    // An admin adds an operator; the one-time password is on the page, once.
    let reply = server
        .send(
            Call::new(Method::POST, "/members", Auth::Session(admin_session))
                .form(form("email=new.operator%40alpha.example.com&role=operator")),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert!(
        reply.text.contains("id=\"one-time-password\""),
        "{}",
        reply.text
    );
    // An admin may not add an owner, remove an admin, or change roles.
    let reply = server
        .send(
            Call::new(Method::POST, "/members", Auth::Session(admin_session))
                .form(form("email=boss%40alpha.example.com&role=owner")),
        )
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN, "{}", reply.text);
    assert!(reply.text.contains("only owners may add"), "{}", reply.text);
    let other_admin = server
        .user_with_session(ws.id, "admin2@alpha.example.com", Role::Admin)
        .await;
    let other_admin_id: Uuid = sqlx::query_scalar("SELECT id FROM users WHERE email = $1")
        .bind(&other_admin.email)
        .fetch_one(&admin)
        .await
        .unwrap();
    let reply = server
        .send(
            Call::new(
                Method::POST,
                format!("/members/{other_admin_id}/remove"),
                Auth::Session(admin_session),
            )
            .form(String::new()),
        )
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN, "{}", reply.text);
    assert!(
        reply.text.contains("only owners may remove"),
        "{}",
        reply.text
    );
    let operator_id = user_id(&server, &ws, Role::Operator).await;
    let reply = server
        .send(
            Call::new(
                Method::POST,
                format!("/members/{operator_id}/role"),
                Auth::Session(admin_session),
            )
            .form(form("role=admin")),
        )
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN, "{}", reply.text);
    // An admin removes an operator; an owner removes the other admin.
    let reply = server
        .send(
            Call::new(
                Method::POST,
                format!("/members/{operator_id}/remove"),
                Auth::Session(admin_session),
            )
            .form(String::new()),
        )
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.text);
    let reply = server
        .send(
            Call::new(
                Method::POST,
                format!("/members/{other_admin_id}/remove"),
                Auth::Session(ws.session(Role::Owner)),
            )
            .form(String::new()),
        )
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.text);

    // Integrations: disconnecting deletes the sealed credential, audited.
    let reply = server
        .send(
            Call::new(
                Method::POST,
                "/integrations/slack/disconnect",
                Auth::Session(admin_session),
            )
            .form(String::new()),
        )
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.text);
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM integrations WHERE workspace_id = $1")
        .bind(ws.id)
        .fetch_one(&admin)
        .await
        .unwrap();
    assert_eq!(left, 0);
    let page = server
        .send(Call::new(
            Method::GET,
            "/integrations",
            Auth::Session(admin_session),
        ))
        .await;
    assert!(!page.text.contains("xoxb-alpha-secret"));
    assert!(page.text.contains("No integrations."), "{}", page.text);
    let audited: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_log WHERE action = 'settings.integration_disconnected' AND target = 'slack'",
    )
    .fetch_one(&admin)
    .await
    .unwrap();
    assert_eq!(audited, 1);
}
