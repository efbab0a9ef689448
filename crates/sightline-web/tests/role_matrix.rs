//! Every route × every role × every kind of principal (a local session, an
//! API key, an ALB user), against the permission table: a role at or above
//! the route's least role gets through when the route serves that kind of
//! principal, any other gets 403, and no credentials get 401. The router is
//! built from the same table, so a route cannot exist without being walked
//! here.

mod support;

use axum::http::{Method, StatusCode};
use sightline_core::roles::Role;
use sightline_web::routes::{Access, Needs, Route, ROUTES};
use support::{alb, call_for, concrete, config, ends_session, server, Auth, Call};

/// Whether `kind` of principal with `role` may call `route`, by the table.
fn allowed(route: &Route, role: Role, kind: Kind) -> bool {
    match route.access {
        Access::Public => true,
        Access::Role(least) => {
            role >= least
                && match route.needs {
                    Needs::Any => true,
                    Needs::LocalUser => kind == Kind::Session,
                    Needs::Person => kind != Kind::ApiKey,
                }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Session,
    ApiKey,
    Alb,
}

/// Assert one reply against the table.
fn judge(route: &Route, role: Role, kind: Kind, reply: &support::Reply) {
    let who = format!("{} {} as {role} ({kind:?})", route.method, route.path);
    if allowed(route, role, kind) {
        assert!(
            reply.status != StatusCode::FORBIDDEN && reply.status != StatusCode::UNAUTHORIZED,
            "{who}: expected to be allowed, got {} {}",
            reply.status,
            reply.text
        );
        assert!(!reply.status.is_server_error(), "{who}: {}", reply.text);
    } else if sightline_web::routes::is_page(route.path) {
        assert_eq!(
            reply.status,
            StatusCode::FORBIDDEN,
            "{who}: expected 403, got {}",
            reply.text
        );
        let said = if role < least(route) {
            "role or above"
        } else {
            "signed-in user"
        };
        let also = "identity provider";
        assert!(
            reply.text.contains(said) || reply.text.contains(also),
            "{who}: {}",
            reply.text
        );
    } else {
        assert_eq!(
            (reply.status, reply.error().as_str()),
            (StatusCode::FORBIDDEN, "forbidden"),
            "{who}: expected 403, got {}",
            reply.text
        );
    }
}

fn least(route: &Route) -> Role {
    match route.access {
        Access::Public => Role::Viewer,
        Access::Role(r) => r,
    }
}

#[sqlx::test(migrator = "sightline_store::MIGRATOR")]
async fn every_route_allows_exactly_the_roles_of_the_table(admin: sqlx::PgPool) {
    let server = server(admin, config()).await;
    let ws = server.workspace("alpha").await;
    let mut checked = 0;
    // Routes that end the user's sessions (a password change ends all of
    // them) come last; weakest role first, so that destructive calls by
    // stronger roles come after.
    let (ending, others): (Vec<&Route>, Vec<&Route>) = ROUTES.iter().partition(|r| ends_session(r));
    for route in others.into_iter().chain(ending) {
        for role in Role::ALL {
            // A route that ends its session runs in a fresh one of the same user.
            let fresh;
            let session = if ends_session(route) {
                fresh = server.fresh_session(ws.id, ws.session(role)).await;
                &fresh
            } else {
                ws.session(role)
            };
            let call = call_for(
                route,
                concrete(route.path, &ws),
                Auth::Session(session),
                &ws,
            );
            let reply = server.send(call).await;
            judge(route, role, Kind::Session, &reply);
            checked += 1;
        }
    }
    assert_eq!(checked, ROUTES.len() * Role::ALL.len());
}

#[sqlx::test(migrator = "sightline_store::MIGRATOR")]
async fn every_route_allows_exactly_the_api_keys_the_table_allows(admin: sqlx::PgPool) {
    let server = server(admin, config()).await;
    let ws = server.workspace("alpha").await;
    for route in ROUTES {
        for role in Role::ALL {
            let key = ws.key(role).to_owned();
            let call = call_for(route, concrete(route.path, &ws), Auth::Key(&key), &ws);
            let reply = server.send(call).await;
            judge(route, role, Kind::ApiKey, &reply);
        }
    }
}

#[sqlx::test(migrator = "sightline_store::MIGRATOR")]
async fn every_route_allows_exactly_the_alb_users_the_table_allows(admin: sqlx::PgPool) {
    let signing = alb::key();
    let keys = alb::key_server(std::collections::HashMap::from([(
        ("us-east-1".to_owned(), alb::KID.to_owned()),
        alb::pem(&signing),
    )]))
    .await;
    let probe = server(admin.clone(), config()).await;
    let ws = probe.workspace("alpha").await;
    let mut cfg = config();
    cfg.oidc = Some(alb::verifier(&keys));
    cfg.oidc_workspace = Some(ws.id);
    let server = server(admin, cfg).await;
    let mut principals = vec![];
    for role in Role::ALL {
        let email = ws.session(role).email.clone();
        let token = alb::token(&signing, &format!("idp-{role}"), &email);
        let me = server
            .send(Call::new(
                Method::GET,
                "/api/v1/me",
                Auth::Alb {
                    token: &token,
                    csrf: None,
                },
            ))
            .await;
        assert_eq!(me.status, StatusCode::OK, "{role}: {}", me.text);
        let csrf = me.json()["csrf_token"].as_str().unwrap().to_owned();
        principals.push((role, token, csrf));
    }
    for route in ROUTES {
        // Local sign-in is off behind the ALB (its own test says so).
        if matches!(route.path, "/login" | "/api/v1/session") && route.method == "POST" {
            continue;
        }
        for (role, token, csrf) in &principals {
            let call = call_for(
                route,
                concrete(route.path, &ws),
                Auth::Alb {
                    token,
                    csrf: Some(csrf),
                },
                &ws,
            );
            let reply = server.send(call).await;
            judge(route, *role, Kind::Alb, &reply);
        }
    }
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
