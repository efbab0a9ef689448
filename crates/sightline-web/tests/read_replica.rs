//! Read scaling (issue 16): the pages that only read go to a second
//! database URL, Aurora's reader endpoint, and a client that has just
//! written reads the primary, which has its write.
//!
//! The replica here is the same local PostgreSQL server under a second URL,
//! naming a database that lags: migrated, but without any of the primary's
//! rows (a replica that has not caught up). A read served by it finds
//! nothing; a read served by the primary finds the workspace's finding.
//! Every other test server also has a replica (the same database, read-only
//! transactions), so a read page that wrote would fail there.

mod support;

use axum::http::{Method, StatusCode};
use serde_json::json;
use sightline_core::roles::Role;
use sightline_store::{Store, MIGRATOR};
use sqlx::{Connection, PgPool};
use support::{config, server, Auth, Call};
use uuid::Uuid;

/// A database on the same server, migrated and empty, and the app role's URL for it.
async fn lagging_replica(admin: &PgPool) -> (String, String) {
    let name = format!("sightline_replica_{}", Uuid::new_v4().simple());
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(admin)
        .await
        .unwrap();
    let base = std::env::var("DATABASE_URL").expect("DATABASE_URL is set by make test");
    let root = base.rsplit_once('/').unwrap().0;
    let mut conn = sqlx::PgConnection::connect(&format!("{root}/{name}"))
        .await
        .unwrap();
    MIGRATOR.run(&mut conn).await.unwrap();
    conn.close().await.unwrap();
    let app = support::url_as(admin, "sightline_app").await;
    let app_root = app.rsplit_once('/').unwrap().0;
    let url = format!("{app_root}/{name}");
    (name, url)
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn reads_go_to_the_replica_and_a_writer_reads_its_write(admin: PgPool) {
    let (replica, replica_url) = lagging_replica(&admin).await;
    let mut cfg = config();
    cfg.reader = Some(Store::connect_reader(&replica_url).unwrap());
    let server = server(admin.clone(), cfg).await;
    let ws = server.workspace("alpha").await;
    let operator = ws.session(Role::Operator);
    let finding = format!("/api/v1/findings/{}", ws.finding_id);
    let page = format!("/findings/{}", ws.finding_id);
    let get = |uri: &str| Call::new(Method::GET, uri.to_owned(), Auth::Session(operator));

    // A read with nothing to say: the replica serves it, and has no rows yet.
    for uri in [&finding, &page] {
        assert_eq!(
            server.send(get(uri)).await.status,
            StatusCode::NOT_FOUND,
            "{uri} read the replica"
        );
    }
    let listed = server.send(get("/api/v1/findings")).await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.text);
    assert_eq!(listed.json(), json!([]), "{}", listed.text);
    // Any client may ask for the primary.
    let fresh = server
        .send(get(&finding).header("cache-control", "no-cache"))
        .await;
    assert_eq!(fresh.status, StatusCode::OK, "{}", fresh.text);

    // A write goes to the primary, and marks its client for a few seconds.
    let wrote = server
        .send(
            Call::new(
                Method::POST,
                format!("{finding}/dismiss"),
                Auth::Session(operator),
            )
            .body(json!({ "reason": "accepted risk" })),
        )
        .await;
    assert_eq!(wrote.status, StatusCode::CREATED, "{}", wrote.text);
    let cookie = wrote
        .headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("__Host-sl_wrote="))
        .expect("a write marks its client")
        .to_owned();
    assert!(
        cookie.contains("Max-Age=10") && cookie.contains("Secure") && cookie.contains("Path=/"),
        "{cookie}"
    );

    // The writer's next reads see its write: the primary serves them.
    let after = server
        .send(get(&finding).header("cookie", "__Host-sl_wrote=1"))
        .await;
    assert_eq!(after.status, StatusCode::OK, "{}", after.text);
    assert_eq!(after.json()["id"], json!(ws.finding_id), "{}", after.text);
    let page_after = server
        .send(get(&page).header("cookie", "__Host-sl_wrote=1"))
        .await;
    assert_eq!(page_after.status, StatusCode::OK);
    assert!(
        page_after.text.contains("accepted risk"),
        "{}",
        page_after.text
    );
    // Another browser, which wrote nothing, still reads the replica; a read
    // marks no one.
    let viewer = ws.session(Role::Viewer);
    let other = server
        .send(Call::new(
            Method::GET,
            finding.clone(),
            Auth::Session(viewer),
        ))
        .await;
    assert_eq!(other.status, StatusCode::NOT_FOUND, "{}", other.text);
    assert!(
        !other
            .headers
            .get_all("set-cookie")
            .iter()
            .any(|c| c.to_str().unwrap().starts_with("__Host-sl_wrote=")),
        "a read marked its client"
    );
    // An API key (a script, which keeps no cookie) reads the primary.
    let key = ws
        .keys
        .iter()
        .find(|(r, _)| *r == Role::Viewer)
        .map(|(_, k)| k.as_str())
        .unwrap();
    let script = server
        .send(Call::new(Method::GET, finding.clone(), Auth::Key(key)))
        .await;
    assert_eq!(script.status, StatusCode::OK, "{}", script.text);

    drop(server);
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {replica} WITH (FORCE)"
    )))
    .execute(&admin)
    .await
    .unwrap();
}

/// A replica that cannot be reached (nothing listens on its port) costs no
/// page: the read goes to the primary.
#[sqlx::test(migrator = "MIGRATOR")]
async fn a_replica_that_is_down_sends_reads_to_the_primary(admin: PgPool) {
    let app = support::url_as(&admin, "sightline_app").await;
    let database = app.rsplit_once('/').unwrap().1;
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let mut cfg = config();
    cfg.reader = Some(
        Store::connect_reader(&format!(
            "postgres://sightline_app@127.0.0.1:{port}/{database}"
        ))
        .unwrap(),
    );
    let server = server(admin.clone(), cfg).await;
    let ws = server.workspace("alpha").await;
    let viewer = ws.session(Role::Viewer);
    for uri in [
        format!("/api/v1/findings/{}", ws.finding_id),
        format!("/findings/{}", ws.finding_id),
        "/resources".to_owned(),
        "/".to_owned(),
    ] {
        let reply = server
            .send(Call::new(Method::GET, uri.clone(), Auth::Session(viewer)))
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{uri}: {}", reply.text);
    }
}
