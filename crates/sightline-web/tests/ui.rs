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

/// Ask with the `none` profile: a question in plain words is matched to the
/// library and answered from the asker's workspace only, through the JSON
/// API and the page alike; a question nothing matches is a clear 400; every
/// question is audited; what the asker typed comes back escaped.
#[sqlx::test(migrator = "sightline_store::MIGRATOR")]
async fn ask_answers_from_the_library_for_the_askers_workspace_only(admin: sqlx::PgPool) {
    let server = server(admin.clone(), config()).await;
    let alpha = server.workspace("alpha").await;
    let _bravo = server.workspace("bravo").await;
    let operator = alpha.session(Role::Operator);
    let ask = |body: serde_json::Value| {
        server.send(Call::new(Method::POST, "/api/v1/ask", Auth::Session(operator)).body(body))
    };
    let answer = ask(serde_json::json!({ "question": "which resources have no owner tag?" })).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let a = answer.json();
    assert_eq!(a["entry_id"], "no-owner-tag");
    let rows = a["result"]["rows"].as_array().unwrap();
    assert!(!rows.is_empty(), "{a}");
    let text = a["result"].to_string();
    assert!(text.contains("111111111111"), "{text}");
    assert!(
        !text.contains("222222222222"),
        "another workspace's rows: {text}"
    );

    // Parameters come from the words, checked.
    let region = ask(serde_json::json!({ "question": "what is wrong in eu-west-1?" }))
        .await
        .json();
    assert_eq!(region["entry_id"], "findings-in-region");
    assert_eq!(region["params"]["region"], "eu-west-1");
    // A library entry by id; a default it used is said.
    let by_id = ask(serde_json::json!({ "id": "accounts" })).await.json();
    assert_eq!(by_id["result"]["rows"][0][0], "111111111111");
    let old = ask(serde_json::json!({ "id": "critical-old" }))
        .await
        .json();
    assert_eq!(
        old["answered"],
        "Which critical findings are older than 30 days?"
    );
    assert_eq!(old["defaulted"], serde_json::json!(["days"]));
    let both = ask(serde_json::json!({ "id": "accounts", "question": "accounts" })).await;
    assert_eq!(both.status, StatusCode::BAD_REQUEST);
    assert!(both.text.contains("found both"), "{}", both.text);
    // A question the library would answer wrongly is refused, naming what fits.
    let wrong = ask(serde_json::json!({ "question": "which buckets are not public?" })).await;
    assert_eq!(wrong.status, StatusCode::BAD_REQUEST);
    assert!(wrong.text.contains("turned around"), "{}", wrong.text);

    let nothing = ask(serde_json::json!({ "question": "zzz qqq" })).await;
    assert_eq!(nothing.status, StatusCode::BAD_REQUEST);
    assert!(
        nothing.text.contains("no library question matches"),
        "{}",
        nothing.text
    );
    let empty = ask(serde_json::json!({})).await;
    assert_eq!(empty.status, StatusCode::BAD_REQUEST);
    assert!(empty.text.contains("expected a question"), "{}", empty.text);
    let long = ask(serde_json::json!({ "question": "x".repeat(501) })).await;
    assert_eq!(long.status, StatusCode::BAD_REQUEST);
    // Audited by hash and length, never by text (the trail is append-only);
    // input refused for its shape (empty, too long, both) is not written at all.
    let audited: Vec<serde_json::Value> = sqlx::query_scalar(
        "SELECT details FROM audit_log WHERE action = 'ask.question' ORDER BY sequence",
    )
    .fetch_all(&admin)
    .await
    .unwrap();
    assert_eq!(audited.len(), 6, "{audited:?}");
    let everything = serde_json::Value::Array(audited.clone()).to_string();
    assert!(
        !everything.contains("zzz") && !everything.contains("owner tag"),
        "{everything}"
    );
    let zzz = audited
        .iter()
        .find(|d| d["refused"] == "no library question matches")
        .unwrap();
    assert_eq!(
        zzz["question_sha256"],
        "cc7eabbb1b5da7a03b1e6a3f7420233714790d75bbed46e985b118ef49f1d983"
    );
    assert_eq!(zzz["question_chars"], 7);

    // Viewers read the library but may not run queries.
    let viewer = alpha.session(Role::Viewer);
    let library = server
        .send(Call::new(
            Method::GET,
            "/api/v1/ask/library",
            Auth::Session(viewer),
        ))
        .await;
    assert_eq!(library.status, StatusCode::OK);
    assert!(library.json().as_array().unwrap().len() >= 30);
    let refused = server
        .send(
            Call::new(Method::POST, "/api/v1/ask", Auth::Session(viewer))
                .body(serde_json::json!({ "question": "accounts" })),
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);

    // The page: the answer card, with what was typed escaped.
    let page = server
        .send(
            Call::new(Method::POST, "/ask", Auth::SessionCsrf(operator, None)).form(format!(
                "question=which+accounts+are+monitored%3F+%3Cscript%3Ealert(1)%3C%2Fscript%3E&csrf_token={}",
                operator.csrf
            )),
        )
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text);
    assert!(
        page.text
            .contains(r#"id="answer-entry">Which accounts are monitored?"#),
        "{}",
        page.text
    );
    assert!(!page.text.contains("<script>alert(1)"), "{}", page.text);
    assert!(
        page.text.contains("&#60;script&#62;alert(1)"),
        "{}",
        page.text
    );
    assert!(page.text.contains(r#"id="save-as-query""#));
}

/// The section of `html` from the table `id` to its end.
fn table<'h>(html: &'h str, id: &str) -> &'h str {
    let start = html
        .find(&format!(r#"<table class="grid" id="{id}">"#))
        .unwrap_or_else(|| panic!("no table {id}: {html}"));
    let len = html[start..].find("</table>").unwrap();
    &html[start..start + len]
}

/// Finding ids linked from a fragment of a page, in order.
fn finding_links(fragment: &str) -> Vec<uuid::Uuid> {
    fragment
        .split(r#"<a href="/findings/"#)
        .skip(1)
        .map(|s| s[..36].parse().unwrap())
        .collect()
}

/// The fixture's next scan, as the worker would save it: 205 new findings,
/// the fixture's one resolved, and the counts it records with them. The
/// scan, and the new findings' ids in order.
async fn later_scan_of_205_new_and_one_resolved(
    admin: &sqlx::PgPool,
    ws: &support::Workspace,
) -> (uuid::Uuid, Vec<uuid::Uuid>) {
    let later: uuid::Uuid = sqlx::query_scalar(
        "INSERT INTO scans (workspace_id, account_id, status, started_at, finished_at, findings_new, findings_resolved)
         VALUES ($1, $2, 'succeeded', now() + interval '1 hour', now() + interval '1 hour', 205, 1) RETURNING id",
    )
    .bind(ws.id)
    .bind(ws.account_id)
    .fetch_one(admin)
    .await
    .unwrap();
    let new: Vec<uuid::Uuid> = sqlx::query_scalar(
        "WITH f AS (
             INSERT INTO findings (workspace_id, account_id, check_id, resource_arn, resource_type, resource_id, region, severity,
                                   category, title, message, evidence, evidence_sha256, status, first_seen, last_seen, last_scan_id)
             SELECT $1, $2, 'ec2.unattached_volume', 'arn:aws:ec2:us-east-1:111111111111:volume/vol-new-' || g, 'ec2.volume',
                    'vol-new-' || g, 'us-east-1', 'low', 'cost', 'Unattached volume', 'unattached', '{}', repeat('b', 64),
                    'open', now(), now(), $3
             FROM generate_series(1, 205) g RETURNING id
         ),
         c AS (
             INSERT INTO scan_finding_changes (workspace_id, scan_id, finding_id, change)
             SELECT $1, $3, id, 'new' FROM f UNION ALL SELECT $1, $3, $4, 'resolved' RETURNING finding_id
         )
         SELECT id FROM f ORDER BY id",
    )
    .bind(ws.id)
    .bind(ws.account_id)
    .bind(later)
    .bind(ws.finding_id)
    .fetch_all(admin)
    .await
    .unwrap();
    (later, new)
}

/// Follow an API's `Link: rel="next"` headers from `first` to the end,
/// each page holding at most the `limit` it asked for: what `entry` makes
/// of every entry listed, and how many pages.
async fn walk_api<T>(
    server: &support::Server,
    viewer: &support::Session,
    first: String,
    entry: impl Fn(&serde_json::Value) -> T,
) -> (Vec<T>, usize) {
    let (mut uri, mut walked, mut pages) = (Some(first), Vec::new(), 0);
    while let Some(at) = uri.take() {
        assert!(pages < 20, "the links do not end: {at}");
        let page = server
            .send(Call::new(Method::GET, at.clone(), Auth::Session(viewer)))
            .await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.text);
        pages += 1;
        let entries = page.json();
        let entries = entries.as_array().unwrap();
        let limit = at
            .split("limit=")
            .nth(1)
            .unwrap()
            .split('&')
            .next()
            .unwrap();
        let limit: usize = limit.parse().unwrap();
        assert!(entries.len() <= limit, "{} for {at}", entries.len());
        walked.extend(entries.iter().map(&entry));
        uri = page.headers.get("link").map(|link| {
            let (target, rel) = link.to_str().unwrap().split_once("; ").unwrap();
            assert_eq!(rel, r#"rel="next""#);
            target
                .trim_start_matches('<')
                .trim_end_matches('>')
                .to_owned()
        });
    }
    (walked, pages)
}

/// The diff API's walk: every entry listed (finding id, change).
async fn walk_diff_api(
    server: &support::Server,
    viewer: &support::Session,
    first: String,
) -> (Vec<(uuid::Uuid, String)>, usize) {
    walk_api(server, viewer, first, |e| {
        let id: uuid::Uuid = e["finding_id"].as_str().unwrap().parse().unwrap();
        (id, e["change"].as_str().unwrap().to_owned())
    })
    .await
}

/// The findings API lists a page at a time, most recently found first
/// (ties by id), and names the next page in a `Link` header that keeps the
/// filters: following it walks every finding of the workspace once, and
/// never another workspace's. A cursor that is not one, or a page larger
/// than 1,000, is refused, saying what was expected.
#[sqlx::test(migrator = "sightline_store::MIGRATOR")]
async fn the_findings_api_lists_a_page_at_a_time_and_links_the_next(admin: sqlx::PgPool) {
    let server = server(admin.clone(), config()).await;
    let ws = server.workspace("alpha").await;
    let other = server.workspace("beta").await;
    let viewer = ws.session(Role::Viewer);
    // 205 findings first seen at one instant, the workspace's own before.
    later_scan_of_205_new_and_one_resolved(&admin, &ws).await;
    later_scan_of_205_new_and_one_resolved(&admin, &other).await;
    let in_order = |condition: &'static str| {
        let admin = admin.clone();
        async move {
            sqlx::query_scalar::<_, uuid::Uuid>(sqlx::AssertSqlSafe(format!(
                "SELECT id FROM findings WHERE workspace_id = $1 {condition} ORDER BY first_seen DESC, id DESC"
            )))
            .bind(ws.id)
            .fetch_all(&admin)
            .await
            .unwrap()
        }
    };
    let id = |e: &serde_json::Value| -> uuid::Uuid { e["id"].as_str().unwrap().parse().unwrap() };

    let every = in_order("").await;
    assert!(every.len() > 205, "{}", every.len());
    let (walked, pages) = walk_api(&server, viewer, "/api/v1/findings?limit=100".into(), id).await;
    assert_eq!(
        walked, every,
        "every finding once, most recently found first"
    );
    assert_eq!(pages, every.len().div_ceil(100));

    // The filters travel with the link.
    let unattached =
        in_order("AND status = 'open' AND check_id = 'ec2.unattached_volume' AND severity = 'low'")
            .await;
    // The 205, and the workspace's own finding of the same check.
    assert_eq!(unattached.len(), 206);
    let first = "/api/v1/findings?status=open&check_id=ec2.unattached_volume&severity=low&limit=60";
    let (walked, pages) = walk_api(&server, viewer, first.into(), id).await;
    assert_eq!((pages, walked), (4, unattached.clone()));
    let page = server
        .send(Call::new(Method::GET, first, Auth::Session(viewer)))
        .await;
    let link = page.headers.get("link").unwrap().to_str().unwrap();
    for kept in [
        "status=open",
        "check_id=ec2.unattached_volume",
        "severity=low",
        "limit=60",
    ] {
        assert!(link.contains(kept), "{kept} in {link}");
    }
    // A filter's text is percent-encoded into the link, never raw: a check
    // id holding `&after=` stays one value.
    sqlx::query("UPDATE findings SET check_id = 'odd id&after=x' WHERE id = ANY($1)")
        .bind(&unattached[..3])
        .execute(&admin)
        .await
        .unwrap();
    let first = "/api/v1/findings?check_id=odd%20id%26after%3Dx&limit=2";
    let page = server
        .send(Call::new(Method::GET, first, Auth::Session(viewer)))
        .await;
    let link = page.headers.get("link").unwrap().to_str().unwrap();
    assert!(
        link.contains("check_id=odd+id%26after%3Dx&after="),
        "{link}"
    );
    let (walked, _) = walk_api(&server, viewer, first.into(), id).await;
    assert_eq!(walked, unattached[..3]);

    // A page that ends the list exactly links nowhere.
    let whole = server
        .send(Call::new(
            Method::GET,
            format!("/api/v1/findings?limit={}", every.len()),
            Auth::Session(viewer),
        ))
        .await;
    assert_eq!(whole.json().as_array().unwrap().len(), every.len());
    assert!(whole.headers.get("link").is_none());

    for (query, says) in [
        ("after=zz", "after: expected a cursor from a previous page"),
        (
            "after=7c7c",
            "after: expected a cursor from a previous page",
        ),
        ("limit=1001", "limit: expected 1 to 1000, found 1001"),
        ("limit=0", "limit: expected 1 to 1000, found 0"),
    ] {
        let bad = server
            .send(Call::new(
                Method::GET,
                format!("/api/v1/findings?{query}"),
                Auth::Session(viewer),
            ))
            .await;
        assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{query}");
        assert!(bad.text.contains(says), "{query}: {}", bad.text);
    }
}

/// The API lists a diff a page at a time, in finding order, and names the
/// next page in a `Link` header while there is one: following the links
/// walks every entry once, of every kind or of the one asked for. A page
/// larger than 1,000 is refused, saying what is allowed.
#[sqlx::test(migrator = "sightline_store::MIGRATOR")]
async fn the_diff_api_lists_a_page_at_a_time_and_links_the_next(admin: sqlx::PgPool) {
    let server = server(admin.clone(), config()).await;
    let ws = server.workspace("alpha").await;
    let viewer = ws.session(Role::Viewer);
    let (later, new) = later_scan_of_205_new_and_one_resolved(&admin, &ws).await;
    let get = |uri: String| server.send(Call::new(Method::GET, uri, Auth::Session(viewer)));
    let mut every: Vec<(uuid::Uuid, String)> = new.iter().map(|id| (*id, "new".into())).collect();
    every.push((ws.finding_id, "resolved".into()));
    every.sort();
    let (walked, pages) = walk_diff_api(
        &server,
        viewer,
        format!(
            "/api/v1/scans/diff?from={}&to={later}&limit=100",
            ws.scan_id
        ),
    )
    .await;
    assert_eq!(pages, 3);
    assert_eq!(walked, every, "every entry once, in finding order");

    let (walked, pages) = walk_diff_api(
        &server,
        viewer,
        format!(
            "/api/v1/scans/diff?from={}&to={later}&change=new&limit=100",
            ws.scan_id
        ),
    )
    .await;
    assert_eq!(pages, 3);
    let only_new: Vec<(uuid::Uuid, String)> =
        every.iter().filter(|e| e.1 == "new").cloned().collect();
    assert_eq!(walked, only_new);

    // A page that ends the diff exactly links nowhere.
    for (query, pages_then, listed) in [
        ("limit=103", 2, &every),
        ("change=new&limit=205", 1, &only_new),
    ] {
        let (walked, pages) = walk_diff_api(
            &server,
            viewer,
            format!("/api/v1/scans/diff?from={}&to={later}&{query}", ws.scan_id),
        )
        .await;
        assert_eq!((pages, &walked), (pages_then, listed), "{query}");
    }

    // Across two scans (the window's changes computed, not read from the
    // later scan's): a scan after `later` that changed nothing.
    let last: uuid::Uuid = sqlx::query_scalar(
        "INSERT INTO scans (workspace_id, account_id, status, started_at, finished_at)
         VALUES ($1, $2, 'succeeded', now() + interval '2 hours', now() + interval '2 hours') RETURNING id",
    )
    .bind(ws.id)
    .bind(ws.account_id)
    .fetch_one(&admin)
    .await
    .unwrap();
    for (query, pages_then, listed) in [
        ("limit=100", 3, every.clone()),
        (
            "change=resolved&limit=100",
            1,
            vec![(ws.finding_id, "resolved".to_string())],
        ),
    ] {
        let (walked, pages) = walk_diff_api(
            &server,
            viewer,
            format!("/api/v1/scans/diff?from={}&to={last}&{query}", ws.scan_id),
        )
        .await;
        assert_eq!((pages, walked), (pages_then, listed), "{query}");
    }

    // Unless told, a page holds up to 1,000: this diff in one answer, no link.
    let whole = get(format!("/api/v1/scans/diff?from={}&to={later}", ws.scan_id)).await;
    assert_eq!(whole.status, StatusCode::OK);
    assert_eq!(whole.json().as_array().unwrap().len(), 206);
    assert!(whole.headers.get("link").is_none());

    for limit in ["0", "1001", "-1"] {
        let bad = get(format!(
            "/api/v1/scans/diff?from={}&to={later}&limit={limit}",
            ws.scan_id
        ))
        .await;
        assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{limit}");
        assert!(bad.text.contains("expected 1 to 1000"), "{}", bad.text);
    }
}

/// A diff of 205 new findings and one resolution shows exact counts and
/// lists 100 of a kind at a time; each kind pages on by its own link, which
/// walks every entry once, in order, while the other kinds stay on their
/// first page. The scan's own page lists the first page of each kind and
/// links to the whole diff.
#[sqlx::test(migrator = "sightline_store::MIGRATOR")]
async fn a_large_diff_is_read_in_pages_with_exact_counts(admin: sqlx::PgPool) {
    let server = server(admin.clone(), config()).await;
    let ws = server.workspace("alpha").await;
    let viewer = ws.session(Role::Viewer);
    let (later, new) = later_scan_of_205_new_and_one_resolved(&admin, &ws).await;
    let get = |uri: String| server.send(Call::new(Method::GET, uri, Auth::Session(viewer)));

    let mut uri = format!("/scans/diff?from={}&to={later}", ws.scan_id);
    let mut walked = vec![];
    let mut pages = 0;
    loop {
        let page = get(uri.clone()).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.text);
        pages += 1;
        for heading in ["New (205)", "Resolved (1)", "Regressed (0)"] {
            assert!(page.text.contains(heading), "{heading}: {}", page.text);
        }
        assert_eq!(
            finding_links(table(&page.text, "diff-resolved")),
            [ws.finding_id]
        );
        let listed = finding_links(table(&page.text, "diff-new"));
        assert!(listed.len() <= 100, "{}", listed.len());
        walked.extend(listed);
        match page.text.split(r#"<p><a href=""#).nth(1) {
            Some(rest) => {
                // The link, unescaped (askama writes `&` as `&#38;`).
                let href = rest[..rest.find('"').unwrap()].replace("&#38;", "&");
                let last = walked.last().unwrap();
                assert_eq!(
                    href,
                    format!(
                        "/scans/diff?from={}&to={later}&change=new&after={last}#diff-new",
                        ws.scan_id
                    )
                );
                uri = href;
            }
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(walked, new, "every new finding once, in order");

    // A kind of change that is not one is refused, naming the ones there are.
    let bad = get(format!(
        "/scans/diff?from={}&to={later}&change=moved",
        ws.scan_id
    ))
    .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(
        bad.text.contains("new") && bad.text.contains("regressed"),
        "{}",
        bad.text
    );

    // A busy fleet: a thousand newer scans of another account do not hide
    // this account's previous scan from the scan's page.
    sqlx::query(
        "WITH other AS (
             INSERT INTO accounts (workspace_id, aws_account_id, name) VALUES ($1, '333333333333', 'busy') RETURNING id
         )
         INSERT INTO scans (workspace_id, account_id, status, started_at, finished_at)
         SELECT $1, other.id, 'succeeded', now() + interval '2 hours' + g * interval '1 second', now() + interval '2 hours'
         FROM other, generate_series(1, 1001) g",
    )
    .bind(ws.id)
    .execute(&admin)
    .await
    .unwrap();
    let scan = get(format!("/scans/{later}")).await;
    assert_eq!(scan.status, StatusCode::OK, "{}", scan.text);
    let changes = finding_links(table(&scan.text, "changes"));
    assert_eq!(changes.len(), 101);
    assert_eq!(changes[..100], new[..100]);
    assert_eq!(changes[100], ws.finding_id);
    assert!(
        scan.text
            .contains("101 of 206 changes (205 new, 1 resolved, 0 regressed)"),
        "{}",
        scan.text
    );
}
