//! Every route × every role, against the permission table: a role at or
//! above the route's least role gets through, any other gets 403, and no
//! credentials get 401. The router is built from the same table, so a
//! route cannot exist without being walked here.

mod support;

use axum::http::{Method, StatusCode};
use sightline_core::roles::Role;
use sightline_web::routes::{Access, ROUTES};
use support::{body_for, concrete, config, server, Auth, Call};

#[sqlx::test(migrator = "sightline_store::MIGRATOR")]
async fn every_route_allows_exactly_the_roles_of_the_table(admin: sqlx::PgPool) {
    let server = server(admin, config()).await;
    let ws = server.workspace("alpha").await;
    let mut checked = 0;
    // Weakest role first, so that destructive calls by stronger roles come last.
    for route in ROUTES {
        for role in Role::ALL {
            if route.method == "DELETE" && route.path == "/api/v1/session" {
                // Signing out would end the session the rest of the walk uses.
                continue;
            }
            let session = ws.session(role);
            let method: Method = route.method.parse().unwrap();
            let mut call = Call::new(method, concrete(route.path, &ws), Auth::Session(session));
            if let Some(body) = body_for(route.method, route.path) {
                call = call.body(body);
            }
            let reply = server.send(call).await;
            let allowed = match route.access {
                Access::Public => true,
                Access::Role(least) => role >= least,
            };
            if allowed {
                assert!(
                    reply.status != StatusCode::FORBIDDEN
                        && reply.status != StatusCode::UNAUTHORIZED,
                    "{} {} as {role}: expected to be allowed, got {} {}",
                    route.method,
                    route.path,
                    reply.status,
                    reply.text
                );
                assert!(
                    !reply.status.is_server_error(),
                    "{} {} as {role}: {}",
                    route.method,
                    route.path,
                    reply.text
                );
            } else {
                assert_eq!(
                    (reply.status, reply.error().as_str()),
                    (StatusCode::FORBIDDEN, "forbidden"),
                    "{} {} as {role}: expected 403, got {}",
                    route.method,
                    route.path,
                    reply.text
                );
            }
            checked += 1;
        }
    }
    assert_eq!(checked, (ROUTES.len() - 1) * Role::ALL.len());
}

#[sqlx::test(migrator = "sightline_store::MIGRATOR")]
async fn every_non_public_route_refuses_a_caller_without_credentials(admin: sqlx::PgPool) {
    let server = server(admin, config()).await;
    let ws = server.workspace("alpha").await;
    for route in ROUTES {
        let method: Method = route.method.parse().unwrap();
        let mut call = Call::new(method, concrete(route.path, &ws), Auth::None);
        if let Some(body) = body_for(route.method, route.path) {
            call = call.body(body);
        }
        let reply = server.send(call).await;
        match route.access {
            Access::Public => assert_ne!(
                reply.status,
                StatusCode::FORBIDDEN,
                "{} {}",
                route.method,
                route.path
            ),
            Access::Role(_) => assert_eq!(
                (reply.status, reply.error().as_str()),
                (StatusCode::UNAUTHORIZED, "unauthenticated"),
                "{} {}: {}",
                route.method,
                route.path,
                reply.text
            ),
        }
    }
}

#[test]
fn the_table_has_one_entry_per_route_and_the_openapi_document_lists_each() {
    let doc = sightline_web::openapi::document();
    let mut seen = std::collections::BTreeSet::new();
    for route in ROUTES {
        assert!(
            seen.insert((route.method, route.path)),
            "{} {} twice",
            route.method,
            route.path
        );
        assert!(
            doc["paths"][route.path][route.method.to_lowercase()].is_object(),
            "{} {} missing from the OpenAPI document",
            route.method,
            route.path
        );
    }
    let documented: usize = doc["paths"]
        .as_object()
        .unwrap()
        .values()
        .map(|p| p.as_object().unwrap().len())
        .sum();
    assert_eq!(documented, ROUTES.len());
}
