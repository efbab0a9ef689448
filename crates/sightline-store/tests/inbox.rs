//! The explorer, the inbox and decisions against a real PostgreSQL, fed by
//! real scans (`save_scan`): search terms select exact resources, keyset
//! pages meet, approvals bind to the evidence and link to the scan that
//! sees the fix, snoozes run out, regressions reopen, history records
//! changes, and the diff between scans names each finding.

use chrono::{Duration, TimeZone, Utc};
use sightline_core::evaluate::{evaluate, ScanReport, ScanStats};
use sightline_core::inventory::ec2::Volume;
use sightline_core::search;
use sightline_core::{catalog, CheckContext, Inventory, ResourceMeta};
use sightline_store::accounts::{Account, NewAccount};
use sightline_store::explorer;
use sightline_store::inbox::{self, DecisionKind, InboxFilter};
use sightline_store::overview;
use sightline_store::{Store, StoreError, MIGRATOR};
use sqlx::PgPool;
use uuid::Uuid;

fn volume(id: &str, attached: bool, env: Option<&str>) -> Volume {
    let mut meta = ResourceMeta::new(
        "ec2.volume",
        id,
        &format!("arn:aws:ec2:us-east-1:123456789012:volume/{id}"),
        "us-east-1",
    );
    if let Some(env) = env {
        meta.tags.insert("env".into(), env.into());
    }
    Volume {
        meta,
        volume_type: "gp3".into(),
        size_gib: 100,
        iops: None,
        throughput: None,
        encrypted: true,
        state: if attached { "in-use" } else { "available" }.into(),
        attached_instance_ids: if attached { vec!["i-1".into()] } else { vec![] },
        availability_zone: None,
        create_time: None,
    }
}

/// A scan on `day` of the volumes (id, attached).
fn scan_of(day: u32, volumes: &[(&str, bool)]) -> (Inventory, ScanReport) {
    let mut inv = Inventory::new("123456789012");
    inv.regions = vec!["us-east-1".into()];
    inv.services = vec!["ec2".into()];
    inv.ec2.volumes = volumes
        .iter()
        .map(|(v, attached)| volume(v, *attached, (*v == "vol-a").then_some("prod")))
        .collect();
    let checks: Vec<_> = catalog()
        .into_iter()
        .filter(|c| c.id == "ebs.volume_unattached")
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

async fn setup(pool: PgPool) -> (Store, Account) {
    let store = Store { pool };
    let ws = store
        .create_workspace("acme", "acme-external")
        .await
        .unwrap();
    let account = store
        .add_account(
            &ws,
            &NewAccount {
                aws_account_id: "123456789012".into(),
                ..NewAccount::default()
            },
        )
        .await
        .unwrap();
    (store, account)
}

fn ids<T>(rows: &[T], id: impl Fn(&T) -> &str) -> Vec<String> {
    rows.iter()
        .map(|r| id(r).rsplit('/').next().unwrap().to_owned())
        .collect()
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn search_terms_select_exact_resources_and_pages_meet(pool: PgPool) {
    let (store, account) = setup(pool).await;
    record(
        &store,
        &account,
        scan_of(
            1,
            &[
                ("vol-a", false),
                ("vol-b", false),
                ("vol-c", false),
                ("vol-d", true),
            ],
        ),
    )
    .await;
    let mut tx = store
        .begin_workspace_tx(account.workspace_id)
        .await
        .unwrap();
    let cases = [
        ("", vec!["vol-a", "vol-b", "vol-c", "vol-d"]),
        (
            "type:ec2.volume state:available",
            vec!["vol-a", "vol-b", "vol-c"],
        ),
        ("state:in-use", vec!["vol-d"]),
        ("tag:env=prod", vec!["vol-a"]),
        ("tag:env", vec!["vol-a"]),
        ("tag:env=dev", vec![]),
        ("\"vol-b\"", vec!["vol-b"]),
        (
            "type:ec2.* region:us-east-1 account:123456789012 vol-c",
            vec!["vol-c"],
        ),
        ("region:eu-west-1", vec![]),
        (
            "region:eu-west-1 region:us-east-1 state:in-use",
            vec!["vol-d"],
        ),
        ("vol_", vec![]),
    ];
    for (q, expected) in cases {
        let query = search::parse(q).unwrap();
        let page = explorer::search(&mut tx, &query, None, 50).await.unwrap();
        assert_eq!(ids(&page.rows, |r| &r.arn), expected, "{q}");
        assert!(page.next.is_none());
    }
    // Keyset pages of two: the second starts after the first, and they cover all.
    let all = search::parse("").unwrap();
    let first = explorer::search(&mut tx, &all, None, 2).await.unwrap();
    let cursor = explorer::ResourceCursor::decode(first.next.as_deref().unwrap()).unwrap();
    let second = explorer::search(&mut tx, &all, Some(&cursor), 2)
        .await
        .unwrap();
    assert_eq!(ids(&first.rows, |r| &r.arn), ["vol-a", "vol-b"]);
    assert_eq!(ids(&second.rows, |r| &r.arn), ["vol-c", "vol-d"]);
    assert!(second.next.is_none());
    // Open findings per row, and facets over the matching set.
    assert_eq!(first.rows[0].open_findings, 1);
    let facets = explorer::explore(
        &mut tx,
        &search::parse("state:available").unwrap(),
        None,
        50,
    )
    .await
    .unwrap()
    .facets;
    assert_eq!(
        facets
            .types
            .iter()
            .map(|f| (f.value.as_str(), f.count))
            .collect::<Vec<_>>(),
        [("ec2.volume", 3)]
    );
    assert_eq!(
        facets
            .tag_keys
            .iter()
            .map(|f| (f.value.as_str(), f.count))
            .collect::<Vec<_>>(),
        [("env", 1)]
    );
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn decisions_bind_to_evidence_and_follow_the_scans(pool: PgPool) {
    let (store, account) = setup(pool).await;
    let s1 = record(
        &store,
        &account,
        scan_of(1, &[("vol-a", false), ("vol-b", false), ("vol-c", false)]),
    )
    .await;
    let ws = account.workspace_id;
    let open = InboxFilter {
        state: Some("open".into()),
        ..InboxFilter::default()
    };
    let mut tx = store.begin_workspace_tx(ws).await.unwrap();
    let page = inbox::page(&mut tx, &open, None, 50).await.unwrap();
    let finding = |name: &str| {
        page.rows
            .iter()
            .find(|r| r.resource_arn.ends_with(name))
            .unwrap()
            .clone()
    };
    let (a, b, c) = (finding("vol-a"), finding("vol-b"), finding("vol-c"));

    // Approval: refused on evidence that is not the current one; bound to it otherwise.
    let stale = "0".repeat(64);
    let refused = inbox::approve(&mut tx, a.id, &stale, "user:ops", |_| unreachable!()).await;
    assert!(
        matches!(refused, Err(StoreError::EvidenceChanged { .. })),
        "{refused:?}"
    );
    let approval = inbox::approve(&mut tx, a.id, &a.evidence_sha256, "user:ops", |brief| {
        brief.remediation.join("\n")
    })
    .await
    .unwrap();
    assert_eq!(approval.evidence_sha256, a.evidence_sha256);
    let plan = inbox::plan(&mut tx, approval.id).await.unwrap();
    assert!(
        plan.plan
            .contains("aws ec2 delete-volume --region us-east-1 --volume-id vol-a"),
        "{}",
        plan.plan
    );
    assert_eq!(
        plan.plan_sha256,
        sightline_core::plan::sha256_hex(&plan.plan)
    );

    // Dismissal needs a reason; snooze needs a future date.
    let no_reason = inbox::decide(
        &mut tx,
        &[b.id],
        DecisionKind::Dismiss { reason: " ".into() },
        "user:ops",
    )
    .await;
    assert!(
        matches!(
            no_reason,
            Err(StoreError::InvalidInput {
                field: "reason",
                ..
            })
        ),
        "{no_reason:?}"
    );
    let past = inbox::decide(
        &mut tx,
        &[c.id],
        DecisionKind::Snooze {
            until: Utc::now() - Duration::days(1),
            reason: None,
        },
        "user:ops",
    )
    .await;
    assert!(
        matches!(past, Err(StoreError::InvalidInput { field: "until", .. })),
        "{past:?}"
    );
    inbox::decide(
        &mut tx,
        &[b.id],
        DecisionKind::Dismiss {
            reason: "test volume, kept on purpose".into(),
        },
        "user:ops",
    )
    .await
    .unwrap();
    inbox::decide(
        &mut tx,
        &[c.id],
        DecisionKind::Snooze {
            until: Utc::now() + Duration::days(3),
            reason: None,
        },
        "user:ops",
    )
    .await
    .unwrap();
    let unknown = inbox::decide(
        &mut tx,
        &[Uuid::new_v4()],
        DecisionKind::Dismiss { reason: "x".into() },
        "user:ops",
    )
    .await;
    assert!(
        matches!(unknown, Err(StoreError::NotFound { .. })),
        "{unknown:?}"
    );
    tx.commit().await.unwrap();

    let states = |store: Store| async move {
        let mut tx = store.begin_workspace_tx(ws).await.unwrap();
        let mut rows: Vec<(String, String)> =
            inbox::page(&mut tx, &InboxFilter::default(), None, 50)
                .await
                .unwrap()
                .rows
                .into_iter()
                .map(|r| {
                    (
                        r.resource_arn.rsplit('/').next().unwrap().to_owned(),
                        r.state,
                    )
                })
                .collect();
        rows.sort();
        rows
    };
    let pair = |a: &str, b: &str| (a.to_owned(), b.to_owned());
    assert_eq!(
        states(store.clone()).await,
        [
            pair("vol-a", "approved"),
            pair("vol-b", "dismissed"),
            pair("vol-c", "snoozed")
        ]
    );

    // A snooze that has run out is open again, with nobody touching the finding.
    sqlx::query("UPDATE findings SET snoozed_until = now() - interval '1 minute' WHERE id = $1")
        .bind(c.id)
        .execute(&store.pool)
        .await
        .unwrap();
    assert_eq!(states(store.clone()).await[2], pair("vol-c", "open"));

    // The next scan sees vol-a fixed: resolved, and linked to the approval.
    let s2 = record(
        &store,
        &account,
        scan_of(2, &[("vol-a", true), ("vol-b", false), ("vol-c", false)]),
    )
    .await;
    assert_eq!(
        states(store.clone()).await,
        [
            pair("vol-a", "resolved"),
            pair("vol-b", "dismissed"),
            pair("vol-c", "open")
        ]
    );
    let mut tx = store.begin_workspace_tx(ws).await.unwrap();
    let brief = inbox::brief(&mut tx, a.id).await.unwrap();
    assert_eq!(brief.decisions[0].resolved_scan_id, Some(s2));
    assert_eq!(brief.resolved_scan_id, Some(s2));
    let resolved_again = inbox::approve(&mut tx, a.id, &a.evidence_sha256, "user:ops", |_| {
        String::new()
    })
    .await;
    assert!(
        matches!(resolved_again, Err(StoreError::Conflict { .. })),
        "{resolved_again:?}"
    );
    tx.rollback().await.unwrap();

    // vol-a detached again: a regression is a new occurrence, open, undecided.
    let s3 = record(
        &store,
        &account,
        scan_of(3, &[("vol-a", false), ("vol-b", false), ("vol-c", false)]),
    )
    .await;
    assert_eq!(states(store.clone()).await[0], pair("vol-a", "open"));

    let mut tx = store.begin_workspace_tx(ws).await.unwrap();
    // The diffs name the finding and how it changed.
    let diff = |d: Vec<overview::DiffEntry>| -> Vec<(String, String)> {
        d.into_iter()
            .map(|e| {
                (
                    e.change,
                    e.resource_arn.rsplit('/').next().unwrap().to_owned(),
                )
            })
            .collect()
    };
    assert_eq!(
        diff(overview::diff(&mut tx, s1, s2).await.unwrap()),
        [pair("resolved", "vol-a")]
    );
    assert_eq!(
        diff(overview::diff(&mut tx, s2, s3).await.unwrap()),
        [pair("regressed", "vol-a")]
    );
    // Resolved, then back again: no net change from s1 to s3.
    assert!(diff(overview::diff(&mut tx, s1, s3).await.unwrap()).is_empty());

    // History: vol-a appeared, then changed twice (attached, detached); vol-b never changed.
    let entries = explorer::history(
        &mut tx,
        account.id,
        "arn:aws:ec2:us-east-1:123456789012:volume/vol-a",
    )
    .await
    .unwrap();
    let changes: Vec<(&str, Uuid, Option<&str>)> = entries
        .iter()
        .map(|h| {
            (
                h.change.as_str(),
                h.scan_id,
                h.attributes.as_ref().and_then(|a| a["state"].as_str()),
            )
        })
        .collect();
    assert_eq!(
        changes,
        [
            ("changed", s3, Some("available")),
            ("changed", s2, Some("in-use")),
            ("appeared", s1, Some("available")),
        ]
    );
    let b_history = explorer::history(
        &mut tx,
        account.id,
        "arn:aws:ec2:us-east-1:123456789012:volume/vol-b",
    )
    .await
    .unwrap();
    assert_eq!(b_history.len(), 1);

    // The trend has a point per finished scan.
    let trend = overview::trend(&mut tx, 60).await.unwrap();
    assert_eq!(
        trend.iter().map(|p| p.open_findings).collect::<Vec<_>>(),
        [3, 2, 3]
    );
}

/// A diff is read in pages of one kind of change, with exact counts: between
/// adjacent scans from the later scan's own changes and counts, across
/// several from the window. Every page, walked one and two entries at a
/// time, and every count, agree with the whole diff; in either direction.
#[sqlx::test(migrator = "MIGRATOR")]
async fn diff_pages_and_counts_agree_with_the_whole_diff(pool: PgPool) {
    use overview::{DiffChange, DiffCounts};
    let (store, account) = setup(pool).await;
    let unattached = |names: &[&'static str]| -> Vec<(&'static str, bool)> {
        names.iter().map(|n| (*n, false)).collect()
    };
    let with = |open: &[&'static str], fixed: &[&'static str]| {
        let mut v = unattached(open);
        v.extend(fixed.iter().map(|n| (*n, true)));
        v
    };
    // s1: six open. s2: two fixed, two more open. s3: one of the fixed
    // back (regressed), another fixed, one more open.
    let s1 = record(
        &store,
        &account,
        scan_of(
            1,
            &unattached(&["vol-0", "vol-1", "vol-2", "vol-3", "vol-4", "vol-5"]),
        ),
    )
    .await;
    let s2 = record(
        &store,
        &account,
        scan_of(
            2,
            &with(
                &["vol-2", "vol-3", "vol-4", "vol-5", "vol-6", "vol-7"],
                &["vol-0", "vol-1"],
            ),
        ),
    )
    .await;
    let s3 = record(
        &store,
        &account,
        scan_of(
            3,
            &with(
                &[
                    "vol-0", "vol-3", "vol-4", "vol-5", "vol-6", "vol-7", "vol-8",
                ],
                &["vol-1", "vol-2"],
            ),
        ),
    )
    .await;

    let mut tx = store
        .begin_workspace_tx(account.workspace_id)
        .await
        .unwrap();
    let names = |d: &[overview::DiffEntry]| -> Vec<String> {
        d.iter()
            .map(|e| {
                format!(
                    "{} {}",
                    e.change,
                    e.resource_arn.rsplit('/').next().unwrap()
                )
            })
            .collect()
    };
    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };
    // The whole diffs, as the existing semantics have them.
    let s1_s2 = overview::diff(&mut tx, s1, s2).await.unwrap();
    assert_eq!(
        sorted(names(&s1_s2)),
        ["new vol-6", "new vol-7", "resolved vol-0", "resolved vol-1"]
    );
    let s2_s3 = overview::diff(&mut tx, s2, s3).await.unwrap();
    assert_eq!(
        sorted(names(&s2_s3)),
        ["new vol-8", "regressed vol-0", "resolved vol-2"]
    );
    // Across both: vol-0 went and came back (no net change).
    let s1_s3 = overview::diff(&mut tx, s1, s3).await.unwrap();
    assert_eq!(
        sorted(names(&s1_s3)),
        [
            "new vol-6",
            "new vol-7",
            "new vol-8",
            "resolved vol-1",
            "resolved vol-2"
        ]
    );

    for (from, to, whole) in [
        (s1, s2, &s1_s2),
        (s2, s1, &s1_s2),
        (s2, s3, &s2_s3),
        (s1, s3, &s1_s3),
        (s3, s1, &s1_s3),
    ] {
        let count = |c: &str| whole.iter().filter(|e| e.change == c).count() as i64;
        assert_eq!(
            overview::diff_counts(&mut tx, from, to).await.unwrap(),
            DiffCounts {
                new: count("new"),
                resolved: count("resolved"),
                regressed: count("regressed"),
            }
        );
        for change in DiffChange::ALL {
            let mut expected: Vec<_> = whole
                .iter()
                .filter(|e| e.change == change.as_str())
                .map(|e| e.finding_id)
                .collect();
            expected.sort();
            for limit in [1, 2, 100] {
                let mut walked = Vec::new();
                let mut after = None;
                loop {
                    let page = overview::diff_page(&mut tx, from, to, change, after, limit)
                        .await
                        .unwrap();
                    assert!(page.len() as i64 <= limit);
                    assert!(page.iter().all(|e| e.change == change.as_str()));
                    walked.extend(page.iter().map(|e| e.finding_id));
                    if (page.len() as i64) < limit {
                        break;
                    }
                    after = page.last().map(|e| e.finding_id);
                }
                assert_eq!(walked, expected, "{change:?} by {limit}");
            }
        }
    }
    // Between adjacent scans the counts are the ones the later scan recorded
    // (one row read, not its changes counted): a sentinel shows that path is
    // the one taken.
    sqlx::query("UPDATE scans SET findings_new = 99 WHERE id = $1")
        .bind(s2)
        .execute(&store.pool)
        .await
        .unwrap();
    assert_eq!(
        overview::diff_counts(&mut tx, s1, s2).await.unwrap().new,
        99
    );
    // A scan in between that recorded nothing (still running) widens the
    // window: counted from the changes, as a diff across scans is.
    sqlx::query(
        "INSERT INTO scans (workspace_id, account_id, status, started_at)
         SELECT workspace_id, account_id, 'running', started_at + interval '1 microsecond' FROM scans WHERE id = $1",
    )
    .bind(s2)
    .execute(&store.pool)
    .await
    .unwrap();
    assert_eq!(
        overview::diff_counts(&mut tx, s2, s3).await.unwrap(),
        DiffCounts {
            new: 1,
            resolved: 1,
            regressed: 1
        }
    );
    assert_eq!(
        names(
            &overview::diff_page(&mut tx, s2, s3, DiffChange::Regressed, None, 10)
                .await
                .unwrap()
        ),
        ["regressed vol-0"]
    );

    // A scan against itself changes nothing.
    assert_eq!(
        overview::diff_counts(&mut tx, s2, s2).await.unwrap(),
        DiffCounts::default()
    );
    assert!(
        overview::diff_page(&mut tx, s2, s2, DiffChange::New, None, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

/// The inbox's state filter selects exactly the findings `finding_state()`
/// puts in that state, for every state and every way to reach it (a snooze
/// that has run out is open again; one without an end stays snoozed; a
/// resolved finding is resolved whatever its decision). The filter is
/// written on the columns themselves, so that the planner can estimate it
/// (`page_bench`'s filtered inbox); this holds it to the function.
#[sqlx::test(migrator = "MIGRATOR")]
async fn the_state_filter_selects_what_finding_state_says(pool: PgPool) {
    let (store, account) = setup(pool).await;
    let volumes: Vec<(String, bool)> = (0..9).map(|i| (format!("vol-{i}"), false)).collect();
    let volumes: Vec<(&str, bool)> = volumes.iter().map(|(v, a)| (v.as_str(), *a)).collect();
    record(&store, &account, scan_of(1, &volumes)).await;
    // vol-0 stays open without a decision.
    for (volume, set) in [
        ("vol-1", "status = 'resolved'"),
        ("vol-2", "status = 'resolved', decision = 'dismissed'"),
        (
            "vol-3",
            "decision = 'snoozed', snoozed_until = now() + interval '1 day'",
        ),
        (
            "vol-4",
            "decision = 'snoozed', snoozed_until = now() - interval '1 minute'",
        ),
        ("vol-5", "decision = 'snoozed', snoozed_until = NULL"),
        ("vol-6", "decision = 'dismissed'"),
        ("vol-7", "decision = 'approved'"),
        (
            "vol-8",
            "status = 'resolved', decision = 'snoozed', snoozed_until = now() - interval '1 day'",
        ),
    ] {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE findings SET {set} WHERE resource_id = '{volume}'"
        )))
        .execute(&store.pool)
        .await
        .unwrap();
    }
    let expected = |state: &'static str| {
        let pool = store.pool.clone();
        async move {
            let mut ids: Vec<String> = sqlx::query_scalar(
                "SELECT resource_id FROM findings WHERE finding_state(status, decision, snoozed_until) = $1",
            )
            .bind(state)
            .fetch_all(&pool)
            .await
            .unwrap();
            ids.sort();
            ids
        }
    };
    let mut tx = store
        .begin_workspace_tx(account.workspace_id)
        .await
        .unwrap();
    let mut seen = 0;
    for state in inbox::STATES {
        let filter = InboxFilter {
            state: Some(state.into()),
            ..Default::default()
        };
        let page = inbox::page(&mut tx, &filter, None, 50).await.unwrap();
        let mut got: Vec<String> = page
            .rows
            .iter()
            .map(|r| r.resource_arn.rsplit('/').next().unwrap().to_owned())
            .collect();
        got.sort();
        let want = expected(state).await;
        assert_eq!(got, want, "{state}");
        assert!(page.rows.iter().all(|r| r.state == state), "{state}");
        seen += got.len();
    }
    assert_eq!(seen, 9, "every finding is in exactly one state");
    assert_eq!(
        expected("open").await,
        ["vol-0", "vol-4"],
        "the fixture covers an expired snooze"
    );
    assert_eq!(expected("snoozed").await, ["vol-3", "vol-5"]);
    assert_eq!(expected("resolved").await, ["vol-1", "vol-2", "vol-8"]);
}
