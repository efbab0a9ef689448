//! CSRF and where a request comes from, on every state-changing route of the
//! table, JSON and pages alike, bodies or none: a cookie principal needs its
//! CSRF token, and no principal but an API key may send a state change from
//! another site. (ALB principals: `oidc.rs`.)

mod support;

use axum::http::StatusCode;
use sightline_core::roles::Role;
use sightline_web::routes::{is_page, Access, Needs, ROUTES};
use support::{call_for, concrete, config, server, Auth};

fn refused(reply: &support::Reply, code: &str) -> bool {
    reply.status == StatusCode::FORBIDDEN
        && (reply.error() == code
            || (reply.text.contains("<html")
                && match code {
                    "csrf_missing" => reply.text.contains("needs the x-csrf-token header"),
                    _ => reply.text.contains("from another site is refused"),
                }))
}

#[sqlx::test(migrator = "sightline_store::MIGRATOR")]
async fn every_state_change_needs_the_token_and_this_site_unless_it_carries_an_api_key(
    admin: sqlx::PgPool,
) {
    let server = server(admin, config()).await;
    let ws = server.workspace("alpha").await;
    let owner = ws.session(Role::Owner);
    let changing: Vec<_> = ROUTES.iter().filter(|r| r.method != "GET").collect();
    assert!(changing.len() > 40, "{}", changing.len());
    for route in &changing {
        let who = format!("{} {}", route.method, route.path);
        let uri = concrete(route.path, &ws);
        let cross_site = [
            ("sec-fetch-site", "cross-site"),
            ("origin", "https://evil.example.com"),
        ];
        for (name, value) in cross_site {
            let call = call_for(route, uri.clone(), Auth::Session(owner), &ws).header(name, value);
            let reply = server.send(call).await;
            assert!(
                refused(&reply, "cross_site"),
                "{who} with {name}: {value}: {} {}",
                reply.status,
                reply.text
            );
        }
        if route.access == Access::Public {
            continue;
        }
        // No token: the form carries none and no header is sent.
        let mut call = call_for(route, uri.clone(), Auth::SessionCsrf(owner, None), &ws);
        if let Some(form) = call.form.take() {
            call.form = Some(
                form.split('&')
                    .filter(|p| !p.starts_with("csrf_token="))
                    .collect::<Vec<_>>()
                    .join("&"),
            );
        }
        let reply = server.send(call).await;
        assert!(
            refused(&reply, "csrf_missing"),
            "{who} without a token: {} {}",
            reply.status,
            reply.text
        );
        assert!(
            !is_page(route.path) || reply.text.contains("<html"),
            "{who}"
        );
    }
    // An API key is not sent by a browser on its own: no token, any origin.
    let key = ws.key(Role::Owner).to_owned();
    for route in &changing {
        if route.access == Access::Public || route.needs != Needs::Any {
            continue;
        }
        let call = call_for(route, concrete(route.path, &ws), Auth::Key(&key), &ws)
            .header("origin", "https://ci.example.com");
        let reply = server.send(call).await;
        assert!(
            reply.status != StatusCode::FORBIDDEN && reply.status != StatusCode::UNAUTHORIZED,
            "{} {} with an API key: {} {}",
            route.method,
            route.path,
            reply.status,
            reply.text
        );
    }
}
