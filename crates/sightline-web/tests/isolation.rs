//! Tenant isolation. Workspace A's owner drives every route at workspace
//! B's ids and never sees or changes B's data; and underneath the routes,
//! the database itself (row-level security, forced, for a role that owns
//! nothing) refuses what the application might get wrong.

mod support;

use axum::http::StatusCode;
use sightline_core::roles::Role;
use sightline_web::routes::{Access, ROUTES};
use sqlx::Row;
use support::{call_for, concrete, config, ends_session, server, Auth};

/// B's rows as the admin sees them, to compare before and after.
async fn snapshot(admin: &sqlx::PgPool, workspace: uuid::Uuid) -> String {
    let mut out = String::new();
    for table in [
        "accounts",
        "users",
        "api_keys",
        "integrations",
        "findings",
        "scans",
        "jobs",
        "sessions",
        "resources",
        "decisions",
        "saved_queries",
        "ask_sessions",
        "ask_questions",
        "ask_settings",
        "ask_usage",
        "resource_facets",
        "scan_open_counts",
        "recovery_codes",
        "data_keys",
    ] {
        let rows: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT t::text FROM {table} t WHERE workspace_id = $1 ORDER BY 1"
        )))
        .bind(workspace)
        .fetch_all(admin)
        .await
        .unwrap();
        out.push_str(&format!("{table}: {rows:?}\n"));
    }
    out
}

#[sqlx::test(migrator = "sightline_store::MIGRATOR")]
async fn workspace_a_never_sees_or_changes_workspace_b(admin: sqlx::PgPool) {
    let server = server(admin.clone(), config()).await;
    let a = server.workspace("alpha").await;
    let b = server.workspace("bravo").await;
    let before = snapshot(&admin, b.id).await;
    let b_ids: Vec<String> = [
        b.account_id,
        b.scan_id,
        b.finding_id,
        b.api_key_id,
        b.target_user_id,
        b.id,
        b.resource_id,
        b.decision_id,
        b.saved_query_id,
        b.target_session_id,
        b.ask_session_id,
    ]
    .iter()
    .map(|id| id.to_string())
    .chain([
        "222222222222".to_owned(),
        "bravo".to_owned(),
        "xoxb-bravo".to_owned(),
        "vol-bravo".to_owned(),
        "ask-question-of-bravo".to_owned(),
        "ask-session-of-bravo".to_owned(),
    ])
    .collect();

    let owner = a.session(Role::Owner);
    for route in ROUTES {
        // Routes that end the session (sign-out, password change) name no object.
        if route.access == Access::Public || ends_session(route) {
            continue;
        }
        // Paths and forms that name an object name B's.
        let targets_b = route.path.contains('{')
            || route.path.ends_with("/scans/diff")
            || (route.method, route.path) == ("POST", "/findings/bulk");
        let uri = if targets_b {
            concrete(route.path, &b)
        } else {
            concrete(route.path, &a)
        };
        let call = call_for(route, uri.clone(), Auth::Session(owner), &b);
        let asked = format!("{uri}&{}", call.form.clone().unwrap_or_default());
        let reply = server.send(call).await;
        // A 404 may echo the id it was asked for (in the path, query or form);
        // nothing else of B's may appear.
        let shown = asked
            .split(['/', '?', '&', '='])
            .fold(reply.text.clone(), |text, segment| {
                if segment.len() == 36 {
                    text.replace(segment, "")
                } else {
                    text
                }
            });
        for id in &b_ids {
            assert!(
                !shown.contains(id.as_str()),
                "{} {} showed workspace B's {id}: {}",
                route.method,
                route.path,
                reply.text
            );
        }
        // An integration's name is the workspace's own namespace: A's "slack" is A's.
        if targets_b && !route.path.contains("{name}") {
            assert_eq!(
                reply.status,
                StatusCode::NOT_FOUND,
                "{} {} on B's id: {}",
                route.method,
                route.path,
                reply.text
            );
        }
    }
    assert_eq!(snapshot(&admin, b.id).await, before, "workspace B changed");
}

#[sqlx::test(migrator = "sightline_store::MIGRATOR")]
async fn row_level_security_holds_even_for_hand_written_sql(admin: sqlx::PgPool) {
    let server = server(admin.clone(), config()).await;
    let a = server.workspace("alpha").await;
    let b = server.workspace("bravo").await;
    let app = sqlx::PgPool::connect(&server.app_url).await.unwrap();

    // No workspace set: nothing is visible.
    for table in [
        "accounts",
        "findings",
        "users",
        "audit_log",
        "integrations",
        "workspaces",
    ] {
        let n: i64 =
            sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {table}")))
                .fetch_one(&app)
                .await
                .unwrap();
        assert_eq!(n, 0, "{table} visible without a workspace");
    }

    // Bound to A: only A's rows, and no write into B.
    let mut tx = app.begin().await.unwrap();
    sqlx::query("SELECT set_config('app.workspace_id', $1, true)")
        .bind(a.id.to_string())
        .execute(&mut *tx)
        .await
        .unwrap();
    let accounts: Vec<uuid::Uuid> = sqlx::query_scalar("SELECT id FROM accounts")
        .fetch_all(&mut *tx)
        .await
        .unwrap();
    assert_eq!(accounts, vec![a.account_id]);
    let updated = sqlx::query("UPDATE users SET role = 'owner' WHERE id = $1")
        .bind(b.target_user_id)
        .execute(&mut *tx)
        .await
        .unwrap();
    assert_eq!(updated.rows_affected(), 0);
    let err = sqlx::query(
        "INSERT INTO accounts (workspace_id, aws_account_id) VALUES ($1, '444444444444')",
    )
    .bind(b.id)
    .execute(&mut *tx)
    .await
    .unwrap_err();
    assert!(err.to_string().contains("row-level security"), "{err}");
    tx.rollback().await.unwrap();

    // The application role owns nothing, and every workspace table forces RLS.
    let owned: Vec<String> = sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner WHERE r.rolname = 'sightline_app'",
    )
    .fetch_all(&admin)
    .await
    .unwrap();
    assert!(owned.is_empty(), "sightline_app owns {owned:?}");
    let unforced: Vec<String> = sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid
         WHERE a.attname = 'workspace_id' AND c.relkind = 'r' AND c.relnamespace = 'public'::regnamespace
           AND NOT (c.relrowsecurity AND c.relforcerowsecurity) ORDER BY 1",
    )
    .fetch_all(&admin)
    .await
    .unwrap();
    assert!(
        unforced.is_empty(),
        "workspace tables without forced RLS: {unforced:?}"
    );

    // The audit log: the application may append but never rewrite or delete.
    for sql in ["UPDATE audit_log SET actor = 'x'", "DELETE FROM audit_log"] {
        let err = sqlx::query(sql).execute(&app).await.unwrap_err();
        assert!(
            err.to_string().contains("permission denied"),
            "{sql}: {err}"
        );
    }
    let row =
        sqlx::query("SELECT has_table_privilege('sightline_app', 'audit_log', 'INSERT') AS i")
            .fetch_one(&admin)
            .await
            .unwrap();
    assert!(row.get::<bool, _>("i"));
}

/// Search inputs an attacker would try: LIKE metacharacters, escapes,
/// Unicode, and far more than the search syntax allows.
fn hostile_searches() -> Vec<String> {
    vec![
        "%".into(),
        "_".into(),
        "%%".into(),
        "\\".into(),
        "\\%".into(),
        "%\\".into(),
        "bravo".into(),
        "vol-bravo".into(),
        // B's name only, B's ARN only: the two fields free text matches
        // (quoted, the ARN's is free text; bare, a field named "").
        "bravo-data".into(),
        ":volume/vol-bravo".into(),
        "\":volume/vol-bravo\"".into(),
        "\":VOLUME/VOL-BRAVO\"".into(),
        "\"%bravo%\"".into(),
        "tag:env=bravo".into(),
        "tag:env=%".into(),
        "tag:env".into(),
        "name:%".into(),
        "name:bravo*".into(),
        "type:% region:%".into(),
        // B's account id and B's ARN up to its resource: found through
        // the ARN prefixes' table (20261207000012), which holds B's too.
        "222222222222".into(),
        "\"east-1:222222222222:volume/vol-bravo\"".into(),
        "arn:aws:ec2:us-east-1:222222222222:".into(),
        // More than nine places where an ARN's prefix could end, or no
        // trigram: read through the walk instead.
        ":".repeat(5_000),
        "a:b:c:d:e:f:g:h:i:j".into(),
        "ü🦀\u{202e}\u{0}".into(),
        "😀".repeat(2_500),
        "x".repeat(10_000),
        "%".repeat(10_000),
    ]
}

/// `explorer_candidates` runs as its owner (so that the GIN indexes serve
/// free text and tag values under row-level security). It must read the
/// workspace only from the setting the tenant policy reads: nothing without
/// one, never another workspace's rows whatever the pattern, no parameter
/// that could name a workspace. The summaries the pages read are under the
/// tenant policy like every other table.
#[sqlx::test(migrator = "sightline_store::MIGRATOR")]
async fn explorer_candidates_and_summaries_stay_in_the_callers_workspace(admin: sqlx::PgPool) {
    let server = server(admin.clone(), config()).await;
    let a = server.workspace("alpha").await;
    let b = server.workspace("bravo").await;
    let app = sqlx::PgPool::connect(&server.app_url).await.unwrap();
    let a_ids: Vec<uuid::Uuid> =
        sqlx::query_scalar("SELECT id FROM resources WHERE workspace_id = $1")
            .bind(a.id)
            .fetch_all(&admin)
            .await
            .unwrap();
    assert_eq!(a_ids, vec![a.resource_id]);

    // The signature: tags, text, limit; no workspace.
    let args: String = sqlx::query_scalar(
        "SELECT pg_get_function_identity_arguments('explorer_candidates'::regproc)",
    )
    .fetch_one(&admin)
    .await
    .unwrap();
    assert_eq!(args, "p_tags jsonb, p_text text, p_limit integer");

    let mut texts: Vec<Option<String>> = vec![None];
    texts.extend(
        hostile_searches()
            .into_iter()
            .map(|s| Some(format!("%{s}%"))),
    );
    texts.extend(hostile_searches().into_iter().map(Some));
    let tags: Vec<Option<serde_json::Value>> = vec![
        None,
        Some(serde_json::json!({})),
        Some(serde_json::json!({ "env": "bravo" })),
        Some(serde_json::json!({ "env": "alpha" })),
        Some(serde_json::json!({ "env": "%" })),
    ];
    for limit in [i32::MAX, 20_001, 0, -5] {
        for t in &tags {
            for text in &texts {
                // No workspace set: nothing, whatever is asked.
                let none: Vec<uuid::Uuid> =
                    sqlx::query_scalar("SELECT explorer_candidates($1, $2, $3)")
                        .bind(t)
                        .bind(text)
                        .bind(limit)
                        .fetch_all(&app)
                        .await
                        .or_else(|e| {
                            // Text cannot hold a NUL: refused before the function runs.
                            assert!(e.to_string().contains("0x00"), "{t:?} {text:?}: {e}");
                            Ok::<_, sqlx::Error>(vec![])
                        })
                        .unwrap();
                assert!(
                    none.is_empty(),
                    "{t:?} {text:?}: {none:?} with no workspace"
                );
                // Bound to A: at most A's own resource, never B's.
                let mut tx = app.begin().await.unwrap();
                sqlx::query("SELECT set_config('app.workspace_id', $1, true)")
                    .bind(a.id.to_string())
                    .execute(&mut *tx)
                    .await
                    .unwrap();
                let found: Result<Vec<uuid::Uuid>, _> =
                    sqlx::query_scalar("SELECT explorer_candidates($1, $2, $3)")
                        .bind(t)
                        .bind(text)
                        .bind(limit)
                        .fetch_all(&mut *tx)
                        .await;
                match found {
                    Ok(ids) => {
                        assert!(
                            ids.iter().all(|id| a_ids.contains(id)),
                            "{t:?} {text:?} {limit}: {ids:?} outside workspace A"
                        );
                        if limit <= 0 {
                            assert!(ids.is_empty());
                        }
                    }
                    // A pattern ending in a lone escape is refused before any
                    // row is read (whose error would otherwise depend on
                    // another workspace's rows); a NUL, which text cannot
                    // hold, is refused before the function runs.
                    Err(e) => assert!(
                        e.to_string().contains("escape") || e.to_string().contains("0x00"),
                        "{t:?} {text:?}: unexpected error {e}"
                    ),
                }
                tx.rollback().await.unwrap();
            }
        }
    }
    // And it does find A's own resource, by text and by tag: an empty
    // answer is not what keeps B's rows out.
    let mut tx = app.begin().await.unwrap();
    sqlx::query("SELECT set_config('app.workspace_id', $1, true)")
        .bind(a.id.to_string())
        .execute(&mut *tx)
        .await
        .unwrap();
    for (t, text) in [
        (None, Some("%")),
        (None, Some("%vol-alpha%")),
        // Only in its name, only in its ARN: each field is searched.
        (None, Some("%alpha-data%")),
        (None, Some("%:volume/vol-alpha%")),
        // Only in its ARN's prefix (its account id), and across the prefix.
        (None, Some("%111111111111%")),
        (None, Some("%east-1:111111111111:volume/vol-alpha%")),
        (Some(serde_json::json!({ "env": "alpha" })), None),
    ] {
        let ids: Vec<uuid::Uuid> = sqlx::query_scalar("SELECT explorer_candidates($1, $2, 100)")
            .bind(&t)
            .bind(text)
            .fetch_all(&mut *tx)
            .await
            .unwrap();
        assert_eq!(ids, a_ids, "{t:?} {text:?}");
    }
    tx.rollback().await.unwrap();
    // Pointing the session at B after binding to A changes nothing the
    // caller can do that the tenant policy would not: the function reads
    // the setting, and the setting is the policy's.
    let mut tx = app.begin().await.unwrap();
    let refused = sqlx::query("SELECT explorer_candidates('[1]'::jsonb, NULL, 10)")
        .execute(&mut *tx)
        .await;
    // With no workspace it returns before looking at its arguments.
    assert!(refused.is_ok());
    sqlx::query("SELECT set_config('app.workspace_id', $1, true)")
        .bind(a.id.to_string())
        .execute(&mut *tx)
        .await
        .unwrap();
    let refused = sqlx::query("SELECT explorer_candidates('[1]'::jsonb, NULL, 10)")
        .execute(&mut *tx)
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("JSON object"), "{refused}");
    tx.rollback().await.unwrap();

    // The summaries: A's rows only, and none without a workspace.
    for table in ["resource_facets", "scan_open_counts"] {
        let total: i64 =
            sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {table}")))
                .fetch_one(&admin)
                .await
                .unwrap();
        assert!(total > 0, "{table} is empty: the fixture wrote no summary");
        let unbound: i64 =
            sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {table}")))
                .fetch_one(&app)
                .await
                .unwrap();
        assert_eq!(unbound, 0, "{table} visible without a workspace");
        let mut tx = app.begin().await.unwrap();
        sqlx::query("SELECT set_config('app.workspace_id', $1, true)")
            .bind(a.id.to_string())
            .execute(&mut *tx)
            .await
            .unwrap();
        let seen: Vec<uuid::Uuid> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT DISTINCT workspace_id FROM {table}"
        )))
        .fetch_all(&mut *tx)
        .await
        .unwrap();
        assert_eq!(seen, vec![a.id], "{table}");
        let err = sqlx::query(sqlx::AssertSqlSafe(format!("DELETE FROM {table}")))
            .execute(&mut *tx)
            .await
            .unwrap_err();
        assert!(
            err.to_string().contains("permission denied"),
            "{table}: {err}"
        );
        tx.rollback().await.unwrap();
    }
    // The summary writers are the worker's alone.
    for f in [
        "refresh_resource_facets(uuid)",
        "record_scan_open_counts(uuid)",
    ] {
        let can: bool = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT has_function_privilege('sightline_app', '{f}', 'EXECUTE')"
        )))
        .fetch_one(&admin)
        .await
        .unwrap();
        assert!(!can, "sightline_app may run {f}");
    }

    // Through the router, every explorer path (per-scan counts, candidates,
    // the walk) with the same inputs: A's owner never sees B's resource.
    let owner = a.session(Role::Owner);
    let search = |path: &str, q: &str| {
        let uri = format!(
            "{path}?q={}",
            form_urlencoded::byte_serialize(q.as_bytes()).collect::<String>()
        );
        let call = support::Call::new(axum::http::Method::GET, uri.clone(), Auth::Session(owner));
        let server = &server;
        async move { (uri, server.send(call).await) }
    };
    let before = snapshot(&admin, b.id).await;
    for q in hostile_searches() {
        for path in ["/resources", "/api/v1/resources"] {
            let (uri, reply) = search(path, &q).await;
            assert!(
                reply.status == StatusCode::OK || reply.status == StatusCode::BAD_REQUEST,
                "{uri}: {} {}",
                reply.status,
                reply.text
            );
            for secret in ["vol-bravo", "bravo-data", &b.resource_id.to_string()] {
                // The query echoed back, as is or as the page escapes it.
                let escaped = q
                    .replace('&', "&amp;")
                    .replace('<', "&lt;")
                    .replace('>', "&gt;")
                    .replace('"', "&#34;")
                    .replace('\'', "&#39;");
                let shown = reply.text.replace(&*q, "").replace(&escaped, "");
                assert!(
                    !shown.contains(secret),
                    "{uri} showed B's {secret}: {}",
                    reply.text
                );
            }
        }
    }
    // And the same paths find A's own resource by each field, whatever
    // the case: its name, and only its ARN.
    for q in ["\"ALPHA-DATA\"", "\":VOLUME/VOL-ALPHA\""] {
        let (uri, reply) = search("/api/v1/resources", q).await;
        assert_eq!(reply.status, StatusCode::OK, "{uri}: {}", reply.text);
        let ids: Vec<String> = reply.json()["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(ids, vec![a.resource_id.to_string()], "{uri}");
    }
    assert_eq!(snapshot(&admin, b.id).await, before, "workspace B changed");
}
