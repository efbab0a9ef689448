//! Every route × every role, against the permission table: a role at or
//! above the route's least role gets through, any other gets 403, and no
//! credentials get 401. The router is built from the same table, so a
//! route cannot exist without being walked here.

mod support;

use axum::http::StatusCode;
use sightline_core::roles::Role;
use sightline_web::routes::{Access, ROUTES};
use support::{call_for, concrete, config, server, Auth};

#[sqlx::test(migrator = "sightline_store::MIGRATOR")]
async fn every_route_allows_exactly_the_roles_of_the_table(admin: sqlx::PgPool) {
    let server = server(admin, config()).await;
    let ws = server.workspace("alpha").await;
    let mut checked = 0;
    // Weakest role first, so that destructive calls by stronger roles come last.
    for route in ROUTES {
        for role in Role::ALL {
            if signs_out(route) {
                // Signing out would end the session the rest of the walk uses.
                continue;
            }
            let session = ws.session(role);
            let call = call_for(
                route,
                concrete(route.path, &ws),
                Auth::Session(session),
                &ws,
            );
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
            } else if sightline_web::routes::is_page(route.path) {
                assert_eq!(
                    reply.status,
                    StatusCode::FORBIDDEN,
                    "{} {} as {role}: expected 403, got {}",
                    route.method,
                    route.path,
                    reply.text
                );
                assert!(reply.text.contains("role or above"), "{}", reply.text);
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
    assert_eq!(
        checked,
        (ROUTES.len() - ROUTES.iter().filter(|r| signs_out(r)).count()) * Role::ALL.len()
    );
}

fn signs_out(route: &sightline_web::routes::Route) -> bool {
    (route.method, route.path) == ("DELETE", "/api/v1/session")
        || (route.method, route.path) == ("POST", "/logout")
}

#[sqlx::test(migrator = "sightline_store::MIGRATOR")]
async fn every_non_public_route_refuses_a_caller_without_credentials(admin: sqlx::PgPool) {
    let server = server(admin, config()).await;
    let ws = server.workspace("alpha").await;
    for route in ROUTES {
        let call = call_for(route, concrete(route.path, &ws), Auth::None, &ws);
        let reply = server.send(call).await;
        match route.access {
            Access::Public => assert_ne!(
                reply.status,
                StatusCode::FORBIDDEN,
                "{} {}",
                route.method,
                route.path
            ),
            // Pages answer with an HTML page that offers the sign-in form.
            Access::Role(_) if sightline_web::routes::is_page(route.path) => {
                assert_eq!(
                    reply.status,
                    StatusCode::UNAUTHORIZED,
                    "{} {}",
                    route.method,
                    route.path
                );
                assert!(
                    reply.text.contains("href=\"/login\""),
                    "{} {}: {}",
                    route.method,
                    route.path,
                    reply.text
                );
            }
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
        if sightline_web::routes::is_page(route.path) {
            assert!(
                doc["paths"][route.path].is_null(),
                "page {} is in the API document",
                route.path
            );
            continue;
        }
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
    assert_eq!(
        documented,
        ROUTES
            .iter()
            .filter(|r| !sightline_web::routes::is_page(r.path))
            .count()
    );
}
