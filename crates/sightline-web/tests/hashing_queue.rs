//! A sign-in that the password-hashing queue cannot take is refused before
//! it is counted: an attempt that counts toward the lockout is always
//! checked and audited, never refused afterwards with the lock left silent.
//! (Its own test binary: the queue is process-wide, and this test fills it.)

mod support;

use axum::http::{Method, StatusCode};
use serde_json::json;
use sightline_core::roles::Role;
use sightline_web::auth::password;
use support::{config, server, Auth, Call};

#[sqlx::test(migrator = "sightline_store::MIGRATOR")]
async fn a_full_hashing_queue_refuses_a_sign_in_before_counting_it(admin: sqlx::PgPool) {
    let server = server(admin.clone(), config()).await;
    let ws = server.workspace("alpha").await;
    let email = ws.session(Role::Viewer).email.clone();

    // Every hashing CPU taken, and the queue behind them full.
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut held = vec![];
    for _ in 0..cpus {
        held.push(password::slot().await.unwrap());
    }
    let waiting: Vec<_> = (0..cpus * 32)
        .map(|_| tokio::spawn(password::slot()))
        .collect();
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }

    for _ in 0..3 {
        let reply = server
            .send(
                Call::new(Method::POST, "/api/v1/session", Auth::None)
                    .body(json!({ "email": email, "password": "a wrong password" })),
            )
            .await;
        assert_eq!(
            reply.status,
            StatusCode::TOO_MANY_REQUESTS,
            "{}",
            reply.text
        );
    }
    let failed: i32 = sqlx::query_scalar("SELECT failed_logins FROM users WHERE email = $1")
        .bind(&email)
        .fetch_one(&admin)
        .await
        .unwrap();
    assert_eq!(failed, 0, "refused attempts were counted");

    // Once the queue drains, the same attempt is counted, checked and audited.
    drop(held);
    for w in waiting {
        drop(w.await.unwrap().unwrap());
    }
    let reply = server
        .send(
            Call::new(Method::POST, "/api/v1/session", Auth::None)
                .body(json!({ "email": email, "password": "a wrong password" })),
        )
        .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{}", reply.text);
    let failed: i32 = sqlx::query_scalar("SELECT failed_logins FROM users WHERE email = $1")
        .bind(&email)
        .fetch_one(&admin)
        .await
        .unwrap();
    assert_eq!(failed, 1);
    let audited: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_log WHERE action = 'auth.sign_in_failed' AND workspace_id = $1",
    )
    .bind(ws.id)
    .fetch_one(&admin)
    .await
    .unwrap();
    assert_eq!(audited, 1);
}
