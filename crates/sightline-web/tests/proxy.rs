//! The production proxy mode: behind the ALB the client address comes from
//! `X-Forwarded-For`, read from every instance of the header, right-most
//! untrusted entry first, so a client's own entries never choose its rate
//! limit bucket; IPv6 clients share a bucket per /64.

mod support;

use axum::http::{Method, StatusCode};
use serde_json::json;
use sightline_web::Limits;
use support::{config, server, Auth, Call};

fn sign_in() -> Call<'static> {
    Call::new(Method::POST, "/api/v1/session", Auth::None)
        .body(json!({ "email": "nobody@example.com", "password": "whatever it is" }))
}

#[sqlx::test(migrator = "sightline_store::MIGRATOR")]
async fn behind_the_alb_a_client_cannot_choose_its_address(admin: sqlx::PgPool) {
    let mut cfg = config();
    cfg.trust_forwarded_for = true;
    cfg.limits = Limits {
        logins_per_ip_per_minute: 3,
        ..support::generous_limits()
    };
    let server = server(admin, cfg).await;
    // The ALB (the peer) appends the address it saw; a client adds its own
    // entries, in the same header or in one of its own, and changes them at will.
    for i in 0..3 {
        let reply = server
            .send(
                sign_in()
                    .header("x-forwarded-for", format!("10.9.9.{i}"))
                    .header("x-forwarded-for", format!("198.51.100.{i}, 203.0.113.7")),
            )
            .await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{}", reply.text);
    }
    let reply = server
        .send(
            sign_in()
                .header("x-forwarded-for", "10.9.9.200")
                .header("x-forwarded-for", "198.51.100.200, 203.0.113.7"),
        )
        .await;
    assert_eq!(
        (reply.status, reply.error().as_str()),
        (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
        "{}",
        reply.text
    );
    // Another client, as the ALB saw it, has its own bucket.
    let reply = server
        .send(sign_in().header("x-forwarded-for", "10.9.9.1, 203.0.113.8"))
        .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{}", reply.text);
    // IPv6 clients are one bucket per /64, however many addresses they use.
    for i in 0..3 {
        let reply = server
            .send(sign_in().header("x-forwarded-for", format!("2001:db8:7:7::{i:x}")))
            .await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{}", reply.text);
    }
    let reply = server
        .send(sign_in().header("x-forwarded-for", "2001:db8:7:7:ffff::1"))
        .await;
    assert_eq!(
        reply.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        reply.text
    );
    // An entry that is not an address gives no address: refused, not guessed.
    let reply = server
        .send(sign_in().header("x-forwarded-for", "10.0.0.1, not-an-address"))
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.text);
}

#[sqlx::test(migrator = "sightline_store::MIGRATOR")]
async fn proxies_in_front_of_the_alb_are_skipped_when_trusted(admin: sqlx::PgPool) {
    let mut cfg = config();
    cfg.trust_forwarded_for = true;
    cfg.trusted_proxies = vec!["192.0.2.0/24".parse().unwrap()];
    cfg.limits = Limits {
        logins_per_ip_per_minute: 1,
        ..support::generous_limits()
    };
    let server = server(admin, cfg).await;
    // A CDN edge (trusted) in front of the ALB: the client is the entry before it.
    let via =
        |client: &str, edge: &str| sign_in().header("x-forwarded-for", format!("{client}, {edge}"));
    let first = server.send(via("203.0.113.50", "192.0.2.10")).await;
    assert_eq!(first.status, StatusCode::UNAUTHORIZED, "{}", first.text);
    // Through another edge, the same client is the same bucket.
    let again = server.send(via("203.0.113.50", "192.0.2.11")).await;
    assert_eq!(
        again.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        again.text
    );
    // Another client through the same edge is not.
    let other = server.send(via("203.0.113.51", "192.0.2.10")).await;
    assert_eq!(other.status, StatusCode::UNAUTHORIZED, "{}", other.text);
}
