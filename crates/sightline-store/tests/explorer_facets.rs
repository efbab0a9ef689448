//! The summaries a saved scan writes (issue 16) against a real PostgreSQL:
//! the explorer's facets, whichever way they are made (per-scan counts, GIN
//! candidates, the walk), equal counting every match by hand, or say they
//! are lower bounds and are; and the overview's open counts, read from the
//! per-scan summaries, equal counting the findings, after decisions too.

use std::collections::BTreeMap;

use chrono::{Duration, TimeZone, Utc};
use sightline_core::evaluate::{evaluate, ScanReport, ScanStats};
use sightline_core::inventory::ec2::Volume;
use sightline_core::search;
use sightline_core::{catalog, CheckContext, Inventory, ResourceMeta};
use sightline_store::accounts::{Account, NewAccount};
use sightline_store::explorer::{self, FacetBasis, FacetCount, Facets};
use sightline_store::inbox::{self, DecisionKind};
use sightline_store::{overview, Store, MIGRATOR};
use sqlx::PgPool;
use uuid::Uuid;

/// Volume `n` of an account: its region, state and tags vary with `n`; the
/// `Name` tag (the resource's name) is unique per volume (more than 100 values: no pair counts).
fn volume(account: &str, n: usize, env_of: &dyn Fn(usize) -> Option<&'static str>) -> Volume {
    let region = if n.is_multiple_of(3) {
        "eu-west-1"
    } else {
        "us-east-1"
    };
    let id = format!("vol-{n}");
    let mut tags = BTreeMap::new();
    if let Some(env) = env_of(n) {
        tags.insert("env".to_owned(), env.to_owned());
    }
    tags.insert("team".to_owned(), format!("t{}", n % 3));
    tags.insert("Name".to_owned(), format!("{id}-data"));
    let meta = ResourceMeta::new(
        "ec2.volume",
        &id,
        &format!("arn:aws:ec2:{region}:{account}:volume/{id}"),
        region,
    )
    .with_tags(tags);
    let attached = n.is_multiple_of(4);
    Volume {
        meta,
        volume_type: if n.is_multiple_of(2) { "gp2" } else { "gp3" }.into(),
        size_gib: 100,
        iops: None,
        throughput: None,
        encrypted: !n.is_multiple_of(5),
        state: if attached { "in-use" } else { "available" }.into(),
        attached_instance_ids: if attached { vec!["i-1".into()] } else { vec![] },
        availability_zone: None,
        create_time: None,
    }
}

fn env_a(n: usize) -> Option<&'static str> {
    match n % 4 {
        0 => Some("prod"),
        1 => Some("dev"),
        2 => Some("staging"),
        _ => None,
    }
}

fn scan_of(
    account: &str,
    volumes: impl Iterator<Item = usize>,
    env_of: &dyn Fn(usize) -> Option<&'static str>,
    day: u32,
) -> (Inventory, ScanReport) {
    let mut inv = Inventory::new(account);
    inv.regions = vec!["us-east-1".into(), "eu-west-1".into()];
    inv.services = vec!["ec2".into()];
    inv.ec2.volumes = volumes.map(|n| volume(account, n, env_of)).collect();
    let checks: Vec<_> = catalog()
        .into_iter()
        .filter(|c| c.id.starts_with("ebs."))
        .collect();
    let now = Utc.with_ymd_and_hms(2026, 11, day, 12, 0, 0).unwrap();
    let report = evaluate(&inv, &checks, &CheckContext::new(now), ScanStats::default());
    (inv, report)
}

async fn record(store: &Store, account: &Account, scan: (Inventory, ScanReport)) -> Uuid {
    let id = store.begin_scan(account, None).await.unwrap();
    store
        .save_scan(id, account, None, &scan.0, &scan.1)
        .await
        .unwrap();
    id
}

async fn setup(pool: PgPool, accounts: &[&str]) -> (Store, Vec<Account>) {
    let store = Store { pool };
    let ws = store
        .create_workspace("acme", "acme-external")
        .await
        .unwrap();
    let mut out = vec![];
    for a in accounts {
        out.push(
            store
                .add_account(
                    &ws,
                    &NewAccount {
                        aws_account_id: (*a).into(),
                        ..NewAccount::default()
                    },
                )
                .await
                .unwrap(),
        );
    }
    (store, out)
}

fn pairs(counts: &[FacetCount]) -> Vec<(String, i64)> {
    counts.iter().map(|c| (c.value.clone(), c.count)).collect()
}

/// Every match of `q`, counted by hand from the rows themselves.
async fn by_hand(store: &Store, workspace: Uuid, q: &str) -> Facets {
    let mut tx = store.begin_workspace_tx(workspace).await.unwrap();
    let all = explorer::search(&mut tx, &search::parse(q).unwrap(), None, 100_000)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    Facets::from_rows(&all.rows)
}

async fn assert_exact(store: &Store, workspace: Uuid, q: &str, tag_keys_omitted: bool) {
    let expected = by_hand(store, workspace, q).await;
    let mut tx = store.begin_workspace_tx(workspace).await.unwrap();
    let query = search::parse(q).unwrap();
    let got = explorer::explore(&mut tx, &query, None, explorer::PAGE_SIZE)
        .await
        .unwrap();
    let first = explorer::search(&mut tx, &query, None, explorer::PAGE_SIZE)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let facets = got.facets;
    assert_eq!(facets.basis, FacetBasis::Exact, "{q}");
    assert_eq!(facets.total, expected.total, "{q}: total");
    assert!(
        expected.total.unwrap() > 0 || q.contains("nothing"),
        "{q} matched nothing"
    );
    assert_eq!(pairs(&facets.types), pairs(&expected.types), "{q}: types");
    assert_eq!(
        pairs(&facets.accounts),
        pairs(&expected.accounts),
        "{q}: accounts"
    );
    assert_eq!(
        pairs(&facets.regions),
        pairs(&expected.regions),
        "{q}: regions"
    );
    assert_eq!(
        facets.tag_keys_omitted, tag_keys_omitted,
        "{q}: tag keys omitted"
    );
    if !tag_keys_omitted {
        assert_eq!(
            pairs(&facets.tag_keys),
            pairs(&expected.tag_keys),
            "{q}: tag keys"
        );
    }
    let arns =
        |rows: &[explorer::ResourceRow]| rows.iter().map(|r| r.arn.clone()).collect::<Vec<_>>();
    assert_eq!(arns(&got.page.rows), arns(&first.rows), "{q}: page");
    assert_eq!(got.page.next, first.next, "{q}: cursor");
}

/// Every request shape, every path, before and after a rescan that changes
/// tags and loses a volume (gone resources stay in the explorer, and in its
/// counts).
#[sqlx::test(migrator = "MIGRATOR")]
async fn facets_equal_counting_every_match(pool: PgPool) {
    let (store, accounts) = setup(pool, &["111111111111", "222222222222"]).await;
    let ws = accounts[0].workspace_id;
    record(
        &store,
        &accounts[0],
        scan_of("111111111111", 0..150, &env_a, 1),
    )
    .await;
    record(
        &store,
        &accounts[1],
        scan_of("222222222222", 0..40, &|_| Some("prod"), 1),
    )
    .await;
    let shapes: &[(&str, bool)] = &[
        // The per-scan counts.
        ("", false),
        ("region:eu-west-1", false),
        ("state:available account:111111111111", false),
        ("type:ec2.* state:in-use", false),
        ("region:eu-west-1 region:us-east-1 state:avail*", false),
        ("tag:env", true),
        ("tag:env=prod region:us-east-1", true),
        ("tag:team=t1 account:222222222222", true),
        // The GIN candidates: free text, a tag with too many values, two tags.
        ("\"vol-1\"", false),
        ("vol-1 region:eu-west-1", false),
        ("tag:Name=vol-7-data", false),
        ("tag:env=prod tag:team=t1", false),
        ("tag:env=prod vol-2", false),
        // The walk.
        ("name:vol-3*", false),
        ("name:VOL-3-DATA", false),
    ];
    for (q, omitted) in shapes {
        assert_exact(&store, ws, q, *omitted).await;
    }
    // Rescan: volumes 0..20 change env, 140..150 are gone, 150..160 appear.
    record(
        &store,
        &accounts[0],
        scan_of(
            "111111111111",
            (0..140).chain(150..160),
            &|n| if n < 20 { Some("prod") } else { env_a(n) },
            2,
        ),
    )
    .await;
    for (q, omitted) in shapes {
        assert_exact(&store, ws, q, *omitted).await;
    }
    // Gone volumes are still counted, as the explorer still lists them.
    let mut tx = store.begin_workspace_tx(ws).await.unwrap();
    let total = explorer::explore(&mut tx, &search::parse("").unwrap(), None, 50)
        .await
        .unwrap()
        .facets
        .total;
    tx.commit().await.unwrap();
    assert_eq!(total, Some(160 + 40));
}

/// Above the candidate cap the facets say they are lower bounds, and are.
#[sqlx::test(migrator = "MIGRATOR")]
async fn broad_free_text_facets_are_lower_bounds(pool: PgPool) {
    let (store, accounts) = setup(pool, &["111111111111"]).await;
    let ws = accounts[0].workspace_id;
    let n = explorer::CANDIDATE_CAP as usize + 100;
    record(
        &store,
        &accounts[0],
        scan_of("111111111111", 0..n, &env_a, 1),
    )
    .await;
    let q = "vol-";
    let expected = by_hand(&store, ws, q).await;
    assert_eq!(expected.total, Some(n as i64));
    let mut tx = store.begin_workspace_tx(ws).await.unwrap();
    let got = explorer::explore(&mut tx, &search::parse(q).unwrap(), None, 50)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        got.facets.basis,
        FacetBasis::LowerBounds {
            counted: explorer::CANDIDATE_CAP
        }
    );
    assert_eq!(got.facets.total, None);
    for (shown, all) in [
        (&got.facets.regions, &expected.regions),
        (&got.facets.tag_keys, &expected.tag_keys),
    ] {
        for c in shown {
            let real = all.iter().find(|e| e.value == c.value).unwrap().count;
            assert!(c.count <= real, "{}: {} > {real}", c.value, c.count);
        }
    }
    assert_eq!(got.page.rows.len(), 50);
    assert!(got.page.next.is_some());
}

/// The overview reads per-scan summaries; the figures equal counting the
/// open, undecided findings, after a dismissal and a snooze, and again
/// when the snooze has run out.
#[sqlx::test(migrator = "MIGRATOR")]
async fn open_counts_from_summaries_equal_counting_findings(pool: PgPool) {
    let (store, accounts) = setup(pool, &["111111111111", "222222222222"]).await;
    let ws = accounts[0].workspace_id;
    record(
        &store,
        &accounts[0],
        scan_of("111111111111", 0..60, &env_a, 1),
    )
    .await;
    record(
        &store,
        &accounts[1],
        scan_of("222222222222", 0..30, &env_a, 1),
    )
    .await;
    // A second scan of the first account resolves some (volumes 0..20 gone).
    record(
        &store,
        &accounts[0],
        scan_of("111111111111", 20..60, &env_a, 2),
    )
    .await;

    async fn counted(store: &Store, ws: Uuid) -> Vec<(String, String, i64, String)> {
        sqlx::query_as(
            "SELECT severity, category, count(*), coalesce(sum(monthly_savings), 0)::numeric(14,2)::text FROM findings
             WHERE workspace_id = $1 AND finding_state(status, decision, snoozed_until) = 'open'
             GROUP BY 1, 2 ORDER BY 1, 2",
        )
        .bind(ws)
        .fetch_all(&store.pool)
        .await
        .unwrap()
    }
    async fn summarized(store: &Store, ws: Uuid) -> Vec<(String, String, i64, String)> {
        let mut tx = store.begin_workspace_tx(ws).await.unwrap();
        let rows = overview::open_counts(&mut tx).await.unwrap();
        tx.commit().await.unwrap();
        rows.into_iter()
            .map(|r| {
                (
                    r.severity,
                    r.category,
                    r.findings,
                    format!("{:.2}", r.monthly_savings),
                )
            })
            .collect()
    }
    let before = counted(&store, ws).await;
    assert!(before.iter().map(|r| r.2).sum::<i64>() > 20, "{before:?}");
    assert_eq!(summarized(&store, ws).await, before);

    let mut tx = store.begin_workspace_tx(ws).await.unwrap();
    let open_only = inbox::InboxFilter {
        state: Some("open".into()),
        ..Default::default()
    };
    let open = inbox::page(&mut tx, &open_only, None, 10).await.unwrap();
    inbox::decide(
        &mut tx,
        &[open.rows[0].id, open.rows[1].id],
        DecisionKind::Dismiss {
            reason: "accepted risk".into(),
        },
        "user:test",
    )
    .await
    .unwrap();
    inbox::decide(
        &mut tx,
        &[open.rows[2].id],
        DecisionKind::Snooze {
            until: Utc::now() + Duration::days(7),
            reason: None,
        },
        "user:test",
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let decided = counted(&store, ws).await;
    assert_eq!(
        decided.iter().map(|r| r.2).sum::<i64>() + 3,
        before.iter().map(|r| r.2).sum::<i64>()
    );
    assert_eq!(summarized(&store, ws).await, decided);
    // The snooze runs out: open again, with no one touching the row.
    sqlx::query("UPDATE findings SET snoozed_until = now() - interval '1 minute' WHERE id = $1")
        .bind(open.rows[2].id)
        .execute(&store.pool)
        .await
        .unwrap();
    let expired = counted(&store, ws).await;
    assert_eq!(
        expired.iter().map(|r| r.2).sum::<i64>() + 2,
        before.iter().map(|r| r.2).sum::<i64>()
    );
    assert_eq!(summarized(&store, ws).await, expired);
}
