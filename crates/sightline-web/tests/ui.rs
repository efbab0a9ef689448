//! The web UI through the real router against a real PostgreSQL: forms
//! carry their CSRF token as a field, search errors point at their
//! position, an approval on changed evidence is refused with the new brief,
//! and exports come out in every format, audited.

mod support;

use axum::http::{Method, StatusCode};
use sightline_core::roles::Role;
use support::{config, server, Auth, Call};

#[sqlx::test(migrator = "sightline_store::MIGRATOR")]
async fn forms_carry_the_csrf_token_as_a_field(admin: sqlx::PgPool) {
    let server = server(admin, config()).await;
    let ws = server.workspace("alpha").await;
    let s = ws.session(Role::Operator);
    let uri = format!("/findings/{}/dismiss", ws.finding_id);
    let post =
        |form: String| Call::new(Method::POST, uri.clone(), Auth::SessionCsrf(s, None)).form(form);
    let missing = server.send(post("reason=ok".into())).await;
    assert_eq!(missing.status, StatusCode::FORBIDDEN, "{}", missing.text);
    assert!(missing.text.contains("x-csrf-token"), "{}", missing.text);
    let forged = server
        .send(post("reason=ok&csrf_token=forged.token".into()))
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert!(forged.text.contains("does not match"), "{}", forged.text);
    let ok = server
        .send(post(format!(
            "reason=kept+on+purpose&csrf_token={}",
            s.csrf
        )))
        .await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.text);
    let brief = server
        .send(Call::new(
            Method::GET,
            format!("/findings/{}", ws.finding_id),
            Auth::Session(s),
        ))
        .await;
    assert!(
        brief
            .text
            .contains(r#"id="finding-state" class="state-dismissed">dismissed"#),
        "{}",
        brief.text
    );
    assert!(brief.text.contains("kept on purpose"));
    // A form from another site is refused even with a good token.
    for (name, value) in [
        ("sec-fetch-site", "cross-site"),
        ("origin", "https://attacker.example"),
    ] {
        let reply = server
            .send(
                post(format!("reason=ok&csrf_token={}", s.csrf))
                    .header("host", "sightline.example.com")
                    .header(name, value),
            )
            .await;
        assert_eq!(
            reply.status,
            StatusCode::FORBIDDEN,
            "{name}: {}",
            reply.text
        );
        assert!(reply.text.contains("another site"), "{}", reply.text);
    }
    let same = server
        .send(
            post(format!("reason=same+site&csrf_token={}", s.csrf))
                .header("host", "sightline.example.com")
                .header("origin", "https://sightline.example.com")
                .header("sec-fetch-site", "same-origin"),
        )
        .await;
    assert_eq!(same.status, StatusCode::SEE_OTHER, "{}", same.text);
    // An unknown form field is named, and nothing is written.
    let unknown = server
        .send(post(format!("reason=x&colour=red&csrf_token={}", s.csrf)))
        .await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST);
    assert!(unknown.text.contains("colour"), "{}", unknown.text);
}

#[sqlx::test(migrator = "sightline_store::MIGRATOR")]
async fn pages_show_the_workspace_and_search_errors_point_at_their_position(admin: sqlx::PgPool) {
    let server = server(admin, config()).await;
    let ws = server.workspace("alpha").await;
    let viewer = ws.session(Role::Viewer);
    let get = |uri: &str| {
        server.send(Call::new(
            Method::GET,
            uri.to_owned(),
            Auth::Session(viewer),
        ))
    };

    let found = get("/resources?q=tag%3Aenv%3Dalpha+state%3Aavailable").await;
    assert_eq!(found.status, StatusCode::OK);
    assert!(
        found
            .text
            .contains(&format!("/resources/{}", ws.resource_id)),
        "{}",
        found.text
    );
    // The facets of a one-page result are counted from its rows.
    assert!(
        found
            .text
            .contains(r#">ec2.volume</a> <span class="muted">1</span>"#),
        "{}",
        found.text
    );
    let none = get("/resources?q=tag%3Aenv%3Dbravo").await;
    assert!(none.text.contains("No resource matches."), "{}", none.text);

    let bad = get("/resources?q=type%3Aec2.volume+colour%3Ared").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(
        bad.text.contains("at character 17: unknown filter"),
        "{}",
        bad.text
    );
    assert!(
        bad.text.contains("type:ec2.volume <mark>colour:red</mark>"),
        "{}",
        bad.text
    );

    let resource = get(&format!("/resources/{}", ws.resource_id)).await;
    assert!(resource.text.contains("vol-alpha") && resource.text.contains("Unattached volume"));

    let overview = get("/").await;
    assert!(
        overview
            .text
            .contains(r#"<svg class="chart" id="trend-chart""#),
        "{}",
        overview.text
    );
    // The viewer sees no console link and gets a 403 page there.
    assert!(!overview.text.contains(r#"href="/console""#));
    assert_eq!(get("/console").await.status, StatusCode::FORBIDDEN);

    // Every page comes with the strict CSP and no inline script.
    for uri in [
        "/",
        "/resources",
        "/findings",
        "/scans",
        "/accounts",
        "/login",
    ] {
        let page = get(uri).await;
        assert!(page.headers["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("script-src 'self'"));
        assert!(
            !page.text.contains("<script>") && !page.text.contains(" style="),
            "{uri}"
        );
    }
}

#[sqlx::test(migrator = "sightline_store::MIGRATOR")]
async fn an_approval_on_changed_evidence_is_refused_with_the_new_brief(admin: sqlx::PgPool) {
    let server = server(admin.clone(), config()).await;
    let ws = server.workspace("alpha").await;
    let operator = ws.session(Role::Operator);
    // The brief was shown with evidence a…a; a scan has since changed it.
    sqlx::query("UPDATE findings SET evidence = '{\"size_gib\": 200}', evidence_sha256 = repeat('b', 64) WHERE id = $1")
        .bind(ws.finding_id)
        .execute(&admin)
        .await
        .unwrap();
    let shown = "a".repeat(64);
    let page = server
        .send(
            Call::new(
                Method::POST,
                format!("/findings/{}/approve", ws.finding_id),
                Auth::Session(operator),
            )
            .form(format!("evidence_sha256={shown}")),
        )
        .await;
    assert_eq!(page.status, StatusCode::CONFLICT);
    assert!(
        page.text.contains("Approval refused: the evidence changed"),
        "{}",
        page.text
    );
    assert!(page.text.contains(&"b".repeat(64)) && page.text.contains("size_gib"));
    let api = server
        .send(
            Call::new(
                Method::POST,
                format!("/api/v1/findings/{}/approve", ws.finding_id),
                Auth::Session(operator),
            )
            .body(serde_json::json!({ "evidence_sha256": shown })),
        )
        .await;
    assert_eq!(
        (api.status, api.error().as_str()),
        (StatusCode::CONFLICT, "evidence_changed")
    );
    let approved = server
        .send(
            Call::new(
                Method::POST,
                format!("/api/v1/findings/{}/approve", ws.finding_id),
                Auth::Session(operator),
            )
            .body(serde_json::json!({ "evidence_sha256": "b".repeat(64) })),
        )
        .await;
    assert_eq!(approved.status, StatusCode::CREATED, "{}", approved.text);
    let decision = approved.json();
    let plan = server
        .send(Call::new(
            Method::GET,
            format!(
                "/api/v1/decisions/{}/plan",
                decision["id"].as_str().unwrap()
            ),
            Auth::Session(operator),
        ))
        .await;
    assert_eq!(plan.status, StatusCode::OK);
    assert_eq!(
        plan.headers["x-plan-sha256"].to_str().unwrap(),
        sightline_core::plan::sha256_hex(&plan.text)
    );
    assert_eq!(
        decision["plan_sha256"],
        plan.headers["x-plan-sha256"].to_str().unwrap()
    );
    assert!(
        plan.text
            .contains(&format!("# evidence sha256  {}", "b".repeat(64))),
        "{}",
        plan.text
    );
    // Refusals and approvals are both in the audit trail.
    let actions: Vec<String> =
        sqlx::query_scalar("SELECT action FROM audit_log WHERE target = $1 ORDER BY sequence")
            .bind(ws.finding_id.to_string())
            .fetch_all(&admin)
            .await
            .unwrap();
    assert_eq!(
        actions,
        [
            "finding.approval_refused",
            "finding.approval_refused",
            "finding.approved",
            "plan.downloaded"
        ]
    );
}

#[sqlx::test(migrator = "sightline_store::MIGRATOR")]
async fn findings_export_in_every_format_and_each_export_is_audited(admin: sqlx::PgPool) {
    let server = server(admin.clone(), config()).await;
    let ws = server.workspace("alpha").await;
    let key_holder = ws.session(Role::Viewer);
    let export = |format: &str| {
        server.send(Call::new(
            Method::GET,
            format!("/api/v1/findings/export?format={format}&state=approved"),
            Auth::Session(key_holder),
        ))
    };
    let csv = export("csv").await;
    assert_eq!(csv.status, StatusCode::OK);
    let lines: Vec<&str> = csv.text.lines().collect();
    assert!(
        lines[0].starts_with("check_id,title,category,severity,account_id"),
        "{}",
        lines[0]
    );
    assert_eq!(lines.len(), 2, "{}", csv.text);
    assert!(lines[1].contains("arn:aws:ec2:us-east-1:111111111111:volume/vol-alpha"));
    let json = export("json").await.json();
    assert_eq!(json[0]["state"], "approved");
    assert_eq!(
        json[0]["resource_arn"],
        "arn:aws:ec2:us-east-1:111111111111:volume/vol-alpha"
    );
    let sarif = export("sarif").await.json();
    assert_eq!(sarif["version"], "2.1.0");
    assert_eq!(sarif["runs"][0]["results"].as_array().unwrap().len(), 1);
    let ocsf = export("ocsf").await.json();
    assert_eq!(ocsf.as_array().unwrap().len(), 1, "{ocsf}");
    let none = server
        .send(Call::new(
            Method::GET,
            "/api/v1/findings/export?format=csv&state=dismissed",
            Auth::Session(key_holder),
        ))
        .await;
    assert_eq!(none.text.lines().count(), 1);
    let bad = export("table").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(
        bad.text.contains("expected csv, json, ocsf or sarif"),
        "{}",
        bad.text
    );
    let audited: i64 =
        sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE action = 'findings.exported'")
            .fetch_one(&admin)
            .await
            .unwrap();
    assert_eq!(audited, 5);
}

#[sqlx::test(migrator = "sightline_store::MIGRATOR")]
async fn a_value_postgresql_cannot_take_is_a_clear_400(admin: sqlx::PgPool) {
    let server = server(admin, config()).await;
    let ws = server.workspace("alpha").await;
    let viewer = ws.session(Role::Viewer);
    for uri in [
        "/api/v1/resources?q=%00",
        "/api/v1/findings/export?format=csv&check_id=%00",
        "/resources?q=name%3A%00",
    ] {
        let reply = server
            .send(Call::new(Method::GET, uri, Auth::Session(viewer)))
            .await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{uri}: {}",
            reply.text
        );
        assert!(
            reply.text.contains("a value cannot be stored or compared"),
            "{uri}: {}",
            reply.text
        );
    }
}
