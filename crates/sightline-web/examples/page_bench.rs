//! Page benchmark (run by `make bench`): seeds one workspace with
//! 1,000,000 resources and 200,000 findings (in SQL, on a database of its own
//! on the server `DATABASE_URL` names, dropped afterwards), then times the
//! explorer search, the findings inbox and the overview through the real
//! router in-process, connected as the application role under row-level
//! security. Prints p50 and p99 server time per page, then the plan of every
//! statement each page runs (`EXPLAIN ANALYZE` by `auto_explain`, as the
//! application role). Reports; never fails on a figure.
//!
//!     cargo run --release -p sightline-web --example page_bench -- 1000000 200000

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{header, Request, StatusCode};
use sightline_store::{identity, Store};
use sightline_web::auth::{password, tokens};
use sightline_web::{app, AppState, Config, Limits};
use sqlx::Connection;
use tower::ServiceExt;

const SAMPLES: usize = 30;

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

async fn seed(url: &str, resources: i64, findings: i64) -> anyhow_like::Result<uuid::Uuid> {
    let store = Store::connect(url).await?;
    store.migrate().await?;
    let ws = store.create_workspace("bench", "bench-external-id").await?;
    let mut conn = sqlx::PgConnection::connect(url).await?;
    let started = Instant::now();
    // Ten accounts, thirty scans each a few hours apart (the trend), then the inventory.
    sqlx::query(
        "INSERT INTO accounts (workspace_id, aws_account_id, name)
         SELECT $1, lpad((100000000000 + g)::text, 12, '0'), 'account ' || g FROM generate_series(1, 10) g",
    )
    .bind(ws.id)
    .execute(&mut conn)
    .await?;
    sqlx::query(
        "INSERT INTO scans (workspace_id, account_id, status, started_at, finished_at, regions, api_calls, resources, gaps,
                            findings_open, findings_new, monthly_savings)
         SELECT $1, a.id, 'succeeded', now() - (s * interval '6 hours') - interval '5 minutes', now() - (s * interval '6 hours'),
                '{us-east-1,eu-west-1}', 70000, $2 / 10, 0, $3 / 10 + s, 5, 12000 + s * 10
         FROM accounts a, generate_series(0, 29) s",
    )
    .bind(ws.id)
    .bind(resources as i32)
    .bind(findings as i32)
    .execute(&mut conn)
    .await?;
    let types = "ARRAY['ec2.instance','ec2.volume','ec2.snapshot','ec2.security_group','s3.bucket','iam.role','rds.instance','lambda.function','elb.load_balancer','ec2.elastic_ip']";
    let states = "ARRAY['running','stopped','available','in-use','pending']";
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO resources (workspace_id, account_id, arn, resource_type, resource_id, region, name, tags, attributes,
                                content_md5, first_seen, last_seen, last_scan_id)
         SELECT $1, a.id, 'arn:aws:' || split_part(t.type, '.', 1) || ':' || r.region || ':' || a.aws_account_id || ':' || t.type || '/res-' || g,
                t.type, 'res-' || g, r.region, 'bench-' || g,
                jsonb_build_object('env', (ARRAY['prod','staging','dev'])[1 + g % 3], 'team', 'team-' || (g % 40)),
                jsonb_build_object('state', ({states})[1 + (g / 10) % 5], 'size_gib', g % 500),
                md5(g::text), now() - interval '30 days', now(), s.id
         FROM generate_series(1, $2) g
         CROSS JOIN LATERAL (SELECT ({types})[1 + g % 10] AS type) t
         CROSS JOIN LATERAL (SELECT (ARRAY['us-east-1','eu-west-1','us-west-2','ap-southeast-2'])[1 + (g / 7) % 4] AS region) r
         JOIN LATERAL (SELECT id, aws_account_id FROM accounts WHERE workspace_id = $1 ORDER BY aws_account_id OFFSET g % 10 LIMIT 1) a ON true
         JOIN LATERAL (SELECT id FROM scans WHERE account_id = a.id ORDER BY started_at DESC LIMIT 1) s ON true"
    )))
    .bind(ws.id)
    .bind(resources)
    .execute(&mut conn)
    .await?;
    sqlx::query(
        "INSERT INTO findings (workspace_id, account_id, check_id, resource_arn, resource_type, resource_id, region, severity, category,
                               title, message, evidence, evidence_sha256, remediation, rollback, monthly_savings, savings_formula,
                               status, first_seen, last_seen, last_scan_id)
         SELECT r.workspace_id, r.account_id, 'bench.check_' || (g % 40), r.arn, r.resource_type, r.resource_id, r.region,
                (ARRAY['critical','high','medium','low','info'])[1 + g % 5], (ARRAY['cost','security','reliability'])[1 + g % 3],
                'Bench check ' || (g % 40), 'bench finding ' || g, jsonb_build_object('n', g), md5(g::text) || md5(g::text),
                '[\"aws ec2 describe-volumes\"]', '[]', CASE WHEN g % 3 = 0 THEN (g % 90) + 0.5 END, NULL,
                CASE WHEN g % 10 = 0 THEN 'resolved' ELSE 'open' END, now() - interval '20 days', now() - (g % 1000) * interval '1 minute', r.last_scan_id
         FROM (SELECT row_number() OVER () AS g, * FROM resources WHERE workspace_id = $1 LIMIT $2) r",
    )
    .bind(ws.id)
    .bind(findings)
    .execute(&mut conn)
    .await?;
    // The latest two scans of each account saw every finding: the diff reads them.
    sqlx::query(
        "WITH latest AS (
             SELECT id, account_id, row_number() OVER (PARTITION BY account_id ORDER BY started_at DESC) AS n
             FROM scans WHERE workspace_id = $1
         )
         INSERT INTO scan_finding_changes (workspace_id, scan_id, finding_id, change)
         SELECT f.workspace_id, l.id, f.id,
                CASE WHEN l.n = 1 AND f.status = 'resolved' THEN 'resolved'
                     WHEN l.n = 1 AND abs(hashtext(f.id::text)) % 50 = 0 THEN 'new'
                     ELSE 'still_open' END
         FROM latest l JOIN findings f ON f.account_id = l.account_id WHERE l.n <= 2",
    )
    .bind(ws.id)
    .execute(&mut conn)
    .await?;
    // The counts a saved scan records with its changes (the diff's counts
    // between adjacent scans).
    sqlx::query(
        "UPDATE scans s SET findings_new = c.new, findings_resolved = c.resolved, findings_regressed = c.regressed
         FROM (SELECT scan_id, count(*) FILTER (WHERE change = 'new')::int AS new,
                      count(*) FILTER (WHERE change = 'resolved')::int AS resolved,
                      count(*) FILTER (WHERE change = 'regressed')::int AS regressed
               FROM scan_finding_changes WHERE workspace_id = $1 GROUP BY scan_id) c
         WHERE s.id = c.scan_id",
    )
    .bind(ws.id)
    .execute(&mut conn)
    .await?;
    // What `save_scan` writes with every scan: the facet counts and the
    // open findings of each account's latest scan.
    sqlx::query(
        "SELECT refresh_resource_facets(a.id), record_scan_open_counts(l.id)
         FROM accounts a JOIN LATERAL (
             SELECT id FROM scans WHERE account_id = a.id ORDER BY finished_at DESC LIMIT 1
         ) l ON true WHERE a.workspace_id = $1",
    )
    .bind(ws.id)
    .execute(&mut conn)
    .await?;
    // Another workspace, a tenth the size, so that every page filters a
    // neighbour's rows as it would in a shared deployment.
    let other = store
        .create_workspace("neighbour", "neighbour-external-id")
        .await?;
    sqlx::query(
        "INSERT INTO accounts (workspace_id, aws_account_id, name) VALUES ($1, '999999999999', 'neighbour')",
    )
    .bind(other.id)
    .execute(&mut conn)
    .await?;
    sqlx::query(
        "INSERT INTO scans (workspace_id, account_id, status, started_at, finished_at)
         SELECT $1, id, 'succeeded', now(), now() FROM accounts WHERE workspace_id = $1",
    )
    .bind(other.id)
    .execute(&mut conn)
    .await?;
    sqlx::query(
        "INSERT INTO resources (workspace_id, account_id, arn, resource_type, resource_id, region, name, tags, attributes,
                                content_md5, first_seen, last_seen, last_scan_id)
         SELECT $1, a.id, 'arn:aws:ec2:us-east-1:999999999999:volume/vol-' || g, 'ec2.volume', 'vol-' || g, 'us-east-1',
                'bench-' || g, jsonb_build_object('env', 'prod'), jsonb_build_object('state', 'available'), md5(g::text),
                now(), now(), s.id
         FROM accounts a JOIN scans s ON s.account_id = a.id, generate_series(1, $2) g WHERE a.workspace_id = $1",
    )
    .bind(other.id)
    .bind(resources / 10)
    .execute(&mut conn)
    .await?;
    sqlx::query("SELECT refresh_resource_facets(id) FROM accounts WHERE workspace_id = $1")
        .bind(other.id)
        .execute(&mut conn)
        .await?;
    // A database in service has been vacuumed and checkpointed since its
    // rows were written; a freshly loaded one has not: its first reads set
    // the hint bits of a million new rows and the checkpoint of the load's
    // WAL runs under the timings (random samples of 100 to 260 ms measured).
    sqlx::raw_sql("VACUUM (ANALYZE)").execute(&mut conn).await?;
    if let Err(e) = sqlx::raw_sql("CHECKPOINT").execute(&mut conn).await {
        println!("no checkpoint after the seed (the timings may include one): {e}");
    }
    println!(
        "seeded {resources} resources and {findings} findings in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(ws.id)
}

/// GET `uri` as the signed-in operator, through the whole router, reading
/// the body to its last byte.
async fn get(router: &axum::Router, uri: &str, token: &str) -> anyhow_like::Result<StatusCode> {
    let mut request = Request::builder()
        .uri(uri)
        .header(
            header::COOKIE,
            format!("{}={token}", sightline_web::auth::SESSION_COOKIE),
        )
        .body(Body::empty())?;
    request
        .extensions_mut()
        .insert(ConnectInfo(std::net::SocketAddr::from((
            [127, 0, 0, 1],
            40000,
        ))));
    let response = router.clone().oneshot(request).await?;
    let status = response.status();
    let _ = axum::body::to_bytes(response.into_body(), usize::MAX).await?;
    Ok(status)
}

/// The server's configuration, as `sightline serve` would have it, without
/// rate limits (the bench is one client asking as fast as it can).
fn bench_config(console_url: &str) -> anyhow_like::Result<Config> {
    Ok(Config {
        kek: sightline_crypto::KeyEncryptionKey::from_hex("bench", &"ab".repeat(32))?,
        oidc: None,
        oidc_workspace: None,
        allowed_origins: vec![],
        trust_forwarded_for: false,
        trusted_proxies: vec![],
        limits: Limits {
            per_ip_per_minute: u32::MAX,
            per_principal_per_minute: u32::MAX,
            ..Limits::default()
        },
        console: Some(sightline_store::console::ConsolePool::connect_lazy(
            console_url,
        )?),
        ask: None,
        reader: None,
    })
}

/// A tiny `anyhow` so the example needs no new dependency.
mod anyhow_like {
    pub type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;
}

#[tokio::main]
async fn main() -> anyhow_like::Result<()> {
    use tracing_subscriber::layer::SubscriberExt;
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(Notices))?;
    let args: Vec<i64> = std::env::args()
        .skip(1)
        .map(|a| a.parse())
        .collect::<Result<_, _>>()?;
    let (resources, findings) = (
        args.first().copied().unwrap_or(1_000_000),
        args.get(1).copied().unwrap_or(200_000),
    );
    let admin = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres:postgres@127.0.0.1:5432/postgres".into());
    let base = admin
        .rsplit_once('/')
        .map(|(b, _)| b)
        .unwrap_or(&admin)
        .to_owned();
    // Time the pages again on a database an earlier run kept, without seeding.
    if let Some(kept) = std::env::var("SIGHTLINE_BENCH_DB")
        .ok()
        .filter(|n| !n.is_empty())
    {
        // Only a database this bench made: the name goes into SQL as is.
        let hex = kept
            .strip_prefix("sightline_pagebench_")
            .unwrap_or_default();
        if hex.len() != 32 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(format!(
                "SIGHTLINE_BENCH_DB: expected a database this bench kept (sightline_pagebench_ and 32 hex digits), found {kept:?}"
            )
            .into());
        }
        // An interrupted run may have left its plan settings on.
        let mut conn = sqlx::PgConnection::connect(&admin).await?;
        reset_settings(&mut conn, &kept).await?;
        // Timed as the code now is: the migrations added since it was kept.
        let url = format!("{base}/{kept}");
        Store::connect(&url).await?.migrate().await?;
        return run(&url, resources, findings, false).await;
    }
    let name = format!("sightline_pagebench_{}", uuid::Uuid::new_v4().simple());
    let mut conn = sqlx::PgConnection::connect(&admin).await?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await?;
    let url = format!("{base}/{name}");
    let result = run(&url, resources, findings, true).await;
    // Kept only when seeded and timed: a failed run's half-seeded database
    // is dropped, never left for the next bench to read.
    if result.is_ok() && std::env::var_os("SIGHTLINE_BENCH_KEEP_DB").is_some() {
        println!("kept database {name} (SIGHTLINE_BENCH_KEEP_DB; SIGHTLINE_BENCH_DB={name} times it again)");
    } else {
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
        )))
        .execute(&mut conn)
        .await?;
    }
    result
}

async fn run(url: &str, resources: i64, findings: i64, fresh: bool) -> anyhow_like::Result<()> {
    let workspace = if fresh {
        seed(url, resources, findings).await?
    } else {
        let mut conn = sqlx::PgConnection::connect(url).await?;
        sqlx::query_scalar("SELECT id FROM workspaces WHERE name = 'bench'")
            .fetch_one(&mut conn)
            .await?
    };
    let (scheme, rest) = url.split_once("://").unwrap();
    let host = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
    let app_url = format!("{scheme}://sightline_app@{host}");
    let console_url = format!("{scheme}://sightline_console@{host}");
    let store = Store::connect(&app_url).await?;
    // A signed-in operator, as the UI has one.
    let hash = password::hash("bench password, long enough")?;
    let mut tx = store.begin_workspace_tx(workspace).await?;
    let user = identity::create_user(
        &mut tx,
        &format!("bench-{}@example.com", uuid::Uuid::new_v4().simple()),
        "operator",
        Some(&hash),
        false,
    )
    .await?;
    let token = tokens::random_token(32)?;
    sightline_store::credentials::create_session(
        &mut tx,
        user.id,
        &tokens::sha256_hex(&token),
        &Default::default(),
    )
    .await?;
    tx.commit().await?;
    let router = app(AppState::new(store, bench_config(&console_url)?));
    let pages: &[(&str, &[&str])] = &[
        ("explorer: first page", &["/resources"]),
        (
            "explorer: type + state",
            &["/resources?q=type%3Aec2.volume+state%3Aavailable"],
        ),
        (
            "explorer: tag + region",
            &["/resources?q=tag%3Aenv%3Dprod+region%3Aeu-west-1"],
        ),
        // Four terms in turn (111, 112, 2 and 111 names). The trigrams of
        // bench-1000 and bench-100000 are all in every account id here
        // (1000000000NN), bench-9999's 999 in the neighbouring workspace's
        // (999999999999): one index over name, id and ARN together took
        // those accounts' resources as candidates.
        (
            "explorer: free text",
            &[
                "/resources?q=type%3Aec2.*+%22bench-4242%22",
                "/resources?q=type%3Aec2.*+%22bench-1000%22",
                "/resources?q=type%3Aec2.*+%22bench-100000%22",
                "/resources?q=type%3Aec2.*+%22bench-9999%22",
            ],
        ),
        ("explorer: deep page", &["/resources?after=NEXT"]),
        ("inbox: open", &["/findings?state=open"]),
        (
            "inbox: filtered",
            &[
                "/findings?state=open&severity=high&category=security",
                "/findings?check_id=bench.check_7",
            ],
        ),
        ("overview", &["/"]),
        ("scan diff", &["/scans/diff?from=FROM&to=TO"]),
        ("resource + history", &["/resources/RESOURCE"]),
        // Beyond the issue's shapes, reported so that nobody is surprised:
        // free text matching every resource reads the trigram index's
        // longest posting lists.
        ("explorer: broad text", &["/resources?q=bench"]),
        // A resource id whose every trigram is in every ARN here (res, 100,
        // 000): the ARN's index gives every resource as a candidate.
        (
            "explorer: id in every ARN",
            &["/resources?q=%22res-1000%22"],
        ),
    ];
    // A cursor from deep in the keyset (the 500,000th resource), for "deep page".
    // (With a type condition the cursor must fall inside that type: a cursor
    // past the type's last row walks the whole type to find nothing.)
    let next_cursor = {
        let mut conn = sqlx::PgConnection::connect(url).await?;
        let (resource_type, arn, account_id): (String, String, uuid::Uuid) = sqlx::query_as(
            "SELECT resource_type, arn, account_id FROM resources WHERE workspace_id = $1 ORDER BY resource_type, arn, account_id OFFSET $2 LIMIT 1",
        )
        .bind(workspace)
        .bind(resources / 2)
        .fetch_one(&mut conn)
        .await?;
        sightline_store::explorer::ResourceCursor {
            resource_type,
            arn,
            account_id,
        }
        .encode()
    };
    let (diff_from, diff_to, resource): (uuid::Uuid, uuid::Uuid, uuid::Uuid) = {
        let mut conn = sqlx::PgConnection::connect(url).await?;
        sqlx::query_as(
            "SELECT (SELECT id FROM scans WHERE account_id = a.id ORDER BY started_at DESC OFFSET 1 LIMIT 1),
                    (SELECT id FROM scans WHERE account_id = a.id ORDER BY started_at DESC LIMIT 1),
                    (SELECT r.id FROM resources r JOIN findings f ON f.account_id = r.account_id AND f.resource_arn = r.arn
                     WHERE r.account_id = a.id LIMIT 1)
             FROM accounts a WHERE a.workspace_id = $1 ORDER BY a.aws_account_id LIMIT 1",
        )
        .bind(workspace)
        .fetch_one(&mut conn)
        .await?
    };
    println!(
        "{:<24} {:>8} {:>9} {:>9} {:>8}",
        "page", "samples", "p50 ms", "p99 ms", "slowest"
    );
    let concrete = |uri: &str| {
        uri.replace("NEXT", &next_cursor)
            .replace("FROM", &diff_from.to_string())
            .replace("TO", &diff_to.to_string())
            .replace("RESOURCE", &resource.to_string())
    };
    for (label, uris) in pages {
        let mut times = Vec::with_capacity(SAMPLES);
        for i in 0..SAMPLES + 2 {
            let uri = concrete(uris[i % uris.len()]);
            let started = Instant::now();
            let status = get(&router, &uri, &token).await?;
            let elapsed = started.elapsed();
            if status != StatusCode::OK {
                return Err(format!("{uri}: {status}").into());
            }
            if i >= 2 {
                times.push(elapsed); // the first two warm the caches
            }
        }
        // Which sample was the slowest: a one-off (a cold cache, a
        // background task) shows as one index, a pattern as a repeated one.
        let slowest = (0..times.len()).max_by_key(|&i| times[i]).unwrap_or(0) + 1;
        times.sort();
        println!(
            "{label:<24} {:>8} {:>9.1} {:>9.1} {:>8}",
            times.len(),
            percentile(&times, 0.5),
            percentile(&times, 0.99),
            slowest
        );
    }
    println!(
        "(cargo run --release -p sightline-web --example page_bench -- {resources} {findings})"
    );
    let shapes: Vec<(&str, Vec<String>)> = pages
        .iter()
        .map(|(label, uris)| (*label, uris.iter().map(|u| concrete(u)).collect()))
        .collect();
    plans(url, &app_url, &console_url, &token, &shapes).await
}

/// What sqlx reports of the server's notices: `auto_explain`'s plans.
static NOTICES: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
const NOTICE_TARGET: &str = "sqlx::postgres::notice";

/// Collects the notices sqlx logs, and nothing else (no other event is even built).
struct Notices;

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Notices {
    fn register_callsite(
        &self,
        metadata: &'static tracing::Metadata<'static>,
    ) -> tracing::subscriber::Interest {
        if metadata.target() == NOTICE_TARGET {
            tracing::subscriber::Interest::always()
        } else {
            tracing::subscriber::Interest::never()
        }
    }

    fn enabled(
        &self,
        metadata: &tracing::Metadata<'_>,
        _: tracing_subscriber::layer::Context<'_, S>,
    ) -> bool {
        metadata.target() == NOTICE_TARGET
    }

    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        struct Message(String);
        impl tracing::field::Visit for Message {
            fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
                if field.name() == "message" {
                    self.0 = value.to_owned();
                }
            }
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                if field.name() == "message" && self.0.is_empty() {
                    self.0 = format!("{value:?}");
                }
            }
        }
        let mut message = Message(String::new());
        event.record(&mut message);
        NOTICES.lock().unwrap().push(message.0);
    }
}

/// Tables whose statements a page's plan is about (the session and audit
/// bookkeeping every request does is left out).
const PAGE_TABLES: &[&str] = &[
    "resources",
    "findings",
    "resource_facets",
    "scan_open_counts",
    "scan_finding_changes",
    "explorer_candidates",
    "scans",
];

/// `EXPLAIN ANALYZE` of the statements each request shape runs, as the
/// application role through the real router: `auto_explain` at NOTICE level
/// on fresh connections to this database (nested statements included, so a
/// `SECURITY DEFINER` function's own queries show), collected from sqlx's log.
async fn plans(
    admin_url: &str,
    app_url: &str,
    console_url: &str,
    token: &str,
    shapes: &[(&str, Vec<String>)],
) -> anyhow_like::Result<()> {
    let name = admin_url.rsplit('/').next().unwrap_or_default().to_owned();
    let mut admin = sqlx::PgConnection::connect(admin_url).await?;
    for setting in [
        "session_preload_libraries = 'auto_explain'",
        "auto_explain.log_min_duration = 0",
        "auto_explain.log_analyze = on",
        "auto_explain.log_nested_statements = on",
        "auto_explain.log_level = notice",
    ] {
        let set = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "ALTER DATABASE {name} SET {setting}"
        )))
        .execute(&mut admin)
        .await;
        if let Err(e) = set {
            println!("plans: unavailable, {setting} needs a superuser's DATABASE_URL ({e})");
            return reset_settings(&mut admin, &name).await;
        }
    }
    let result = async {
        let store = match Store::connect(app_url).await {
            Ok(store) => store,
            Err(e) => {
                println!("plans: unavailable, auto_explain could not be loaded ({e})");
                return Ok(());
            }
        };
        let router = app(AppState::new(store, bench_config(console_url)?));
        println!("\nplans (EXPLAIN ANALYZE by auto_explain, as sightline_app, one request of each shape):");
        for (label, uris) in shapes {
            for uri in uris {
                NOTICES.lock().unwrap().clear();
                get(&router, uri, token).await?;
                let notices = std::mem::take(&mut *NOTICES.lock().unwrap());
                println!("\n### {label}: GET {uri}");
                for notice in notices {
                    print_plan(&notice);
                }
            }
        }
        Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
    }
    .await;
    reset_settings(&mut admin, &name).await?;
    result
}

/// Take the plan settings off the database again, so that nothing timed on
/// it later runs under `auto_explain`.
async fn reset_settings(admin: &mut sqlx::PgConnection, name: &str) -> anyhow_like::Result<()> {
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "ALTER DATABASE {name} RESET ALL"
    )))
    .execute(admin)
    .await?;
    Ok(())
}

/// One `auto_explain` notice: the statement, on one line and cut short, then
/// its plan, if the statement reads a page's tables.
fn print_plan(notice: &str) {
    let lines: Vec<&str> = notice.lines().collect();
    // The plan's root is the first line with its actual figures.
    let Some(root) = lines.iter().position(|l| l.contains("(actual ")) else {
        return;
    };
    let text = lines[..root]
        .join(" ")
        .replace("Query Text:", "")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    let query = text.split_once("plan: ").map_or(text.as_str(), |(_, q)| q);
    let words: Vec<&str> = query
        .split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .collect();
    if !PAGE_TABLES.iter().any(|t| words.contains(t)) {
        return;
    }
    let cut: String = query.chars().take(160).collect();
    println!(
        "-- {cut}{}",
        if cut.len() < query.len() { " …" } else { "" }
    );
    for line in &lines[root..] {
        println!("   {line}");
    }
}
