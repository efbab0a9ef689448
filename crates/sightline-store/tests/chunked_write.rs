//! A scan larger than one write chunk (issue 16: the write streams in
//! chunks inside its one transaction) against a real PostgreSQL: the diff,
//! the gone resources, the history and "the last record of an ARN wins"
//! are exactly what they are for a scan written in one statement, whichever
//! chunk each resource and finding falls in.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{TimeZone, Utc};
use sightline_core::evaluate::{evaluate, ScanReport, ScanStats};
use sightline_core::inventory::ec2::Volume;
use sightline_core::{catalog, CheckContext, Inventory, ResourceMeta};
use sightline_store::accounts::{Account, NewAccount};
use sightline_store::scans::WRITE_CHUNK;
use sightline_store::{Store, MIGRATOR};
use sqlx::PgPool;
use uuid::Uuid;

const ACCOUNT: &str = "111111111111";

fn arn(n: usize) -> String {
    format!("arn:aws:ec2:us-east-1:{ACCOUNT}:volume/vol-{n}")
}

/// Volume `n`: unattached when `n` is even (a finding), gp2 or gp3 as told.
fn volume(n: usize, gp2: bool) -> Volume {
    let id = format!("vol-{n}");
    Volume {
        meta: ResourceMeta::new("ec2.volume", &id, &arn(n), "us-east-1"),
        volume_type: if gp2 { "gp2" } else { "gp3" }.into(),
        size_gib: 100,
        iops: None,
        throughput: None,
        encrypted: true,
        state: if n.is_multiple_of(2) {
            "available"
        } else {
            "in-use"
        }
        .into(),
        attached_instance_ids: if n.is_multiple_of(2) {
            vec![]
        } else {
            vec!["i-1".into()]
        },
        availability_zone: None,
        create_time: None,
    }
}

fn scan_of(volumes: Vec<Volume>, day: u32) -> (Inventory, ScanReport) {
    let mut inv = Inventory::new(ACCOUNT);
    inv.regions = vec!["us-east-1".into()];
    inv.services = vec!["ec2".into()];
    inv.ec2.volumes = volumes;
    let checks: Vec<_> = catalog()
        .into_iter()
        .filter(|c| c.id.starts_with("ebs."))
        .collect();
    let now = Utc.with_ymd_and_hms(2026, 11, day, 12, 0, 0).unwrap();
    let report = evaluate(&inv, &checks, &CheckContext::new(now), ScanStats::default());
    (inv, report)
}

fn finding_keys(report: &ScanReport) -> BTreeSet<(String, String)> {
    report
        .findings
        .iter()
        .map(|f| (f.check_id.to_string(), f.resource_arn.clone()))
        .collect()
}

/// The one account these tests scan, in a workspace of its own.
async fn account(store: &Store) -> Account {
    let ws = store.create_workspace("acme", "acme-x").await.unwrap();
    store
        .add_account(
            &ws,
            &NewAccount {
                aws_account_id: ACCOUNT.into(),
                ..NewAccount::default()
            },
        )
        .await
        .unwrap()
}

async fn record(store: &Store, account: &Account, scan: &(Inventory, ScanReport)) -> Uuid {
    let id = store.begin_scan(account, None).await.unwrap();
    store
        .save_scan(id, account, None, &scan.0, &scan.1)
        .await
        .unwrap();
    id
}

/// The scan's changes as written: (check, ARN) → change.
async fn changes(store: &Store, scan: Uuid) -> BTreeMap<(String, String), String> {
    store
        .scan_changes(scan)
        .await
        .unwrap()
        .into_iter()
        .map(|c| ((c.check_id, c.resource_arn), c.change))
        .collect()
}

/// The scan's history rows, (ARN, change), each row once.
async fn history(store: &Store, scan: Uuid) -> Vec<(String, String)> {
    sqlx::query_as::<_, (String, String)>(
        "SELECT arn, change FROM resource_history WHERE scan_id = $1 ORDER BY arn, change",
    )
    .bind(scan)
    .fetch_all(&store.pool)
    .await
    .unwrap()
}

fn labelled(
    keys: impl IntoIterator<Item = (String, String)>,
    change: &str,
) -> BTreeMap<(String, String), String> {
    keys.into_iter().map(|k| (k, change.to_owned())).collect()
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_scan_of_several_chunks_diffs_as_one(pool: PgPool) {
    let store = Store { pool };
    let account = account(&store).await;
    // Two and a half chunks of volumes, every fourth one gp2. The volume at
    // the first chunk's last position appears again at the very end, as
    // gp2: the last record wins, although it falls in another chunk.
    let size = WRITE_CHUNK * 5 / 2;
    let twin = WRITE_CHUNK - 1;
    let mut first: Vec<Volume> = (0..size).map(|n| volume(n, n.is_multiple_of(4))).collect();
    first.push(volume(twin, true));
    let scan1 = scan_of(first, 1);
    let id1 = record(&store, &account, &scan1).await;

    let keys1 = finding_keys(&scan1.1);
    assert!(keys1.contains(&("ebs.volume_gp2".into(), arn(twin))));
    assert_eq!(changes(&store, id1).await, labelled(keys1.clone(), "new"));
    let appeared: BTreeMap<String, String> =
        (0..size).map(|n| (arn(n), "appeared".into())).collect();
    assert_eq!(
        history(&store, id1).await,
        appeared.into_iter().collect::<Vec<_>>()
    );
    let (volume_type,): (String,) =
        sqlx::query_as("SELECT attributes->>'volume_type' FROM resources WHERE arn = $1")
            .bind(arn(twin))
            .fetch_one(&store.pool)
            .await
            .unwrap();
    assert_eq!(volume_type, "gp2", "the last record of an ARN wins");

    // The rescan: the first chunk's worth of volumes gone, half a chunk new,
    // and the gp2 volumes of the second chunk moved to gp3.
    let moved = |n: usize| (WRITE_CHUNK..2 * WRITE_CHUNK).contains(&n);
    let second: Vec<Volume> = (WRITE_CHUNK..size + WRITE_CHUNK / 2)
        .map(|n| volume(n, n.is_multiple_of(4) && !moved(n)))
        .collect();
    let scan2 = scan_of(second, 2);
    let id2 = record(&store, &account, &scan2).await;
    let keys2 = finding_keys(&scan2.1);
    let mut expected = labelled(keys2.difference(&keys1).cloned(), "new");
    expected.extend(labelled(keys2.intersection(&keys1).cloned(), "still_open"));
    expected.extend(labelled(keys1.difference(&keys2).cloned(), "resolved"));
    assert!(expected.values().any(|c| c == "new"));
    assert!(expected.values().any(|c| c == "resolved"));
    assert_eq!(changes(&store, id2).await, expected);
    let mut moves: BTreeMap<String, String> =
        (0..WRITE_CHUNK).map(|n| (arn(n), "gone".into())).collect();
    moves.extend((size..size + WRITE_CHUNK / 2).map(|n| (arn(n), "appeared".into())));
    moves.extend(
        (WRITE_CHUNK..2 * WRITE_CHUNK)
            .filter(|n| n.is_multiple_of(4))
            .map(|n| (arn(n), "changed".into())),
    );
    assert_eq!(
        history(&store, id2).await,
        moves.into_iter().collect::<Vec<_>>()
    );

    // Back to the first estate: what the rescan resolved regresses, what it
    // added resolves, and the gone volumes return.
    let again: Vec<Volume> = (0..size).map(|n| volume(n, n.is_multiple_of(4))).collect();
    let scan3 = scan_of(again, 3);
    let id3 = record(&store, &account, &scan3).await;
    let keys3 = finding_keys(&scan3.1);
    let mut moves: BTreeMap<String, String> = (0..WRITE_CHUNK)
        .map(|n| (arn(n), "returned".into()))
        .collect();
    moves.extend((size..size + WRITE_CHUNK / 2).map(|n| (arn(n), "gone".into())));
    moves.extend(
        (WRITE_CHUNK..2 * WRITE_CHUNK)
            .filter(|n| n.is_multiple_of(4))
            .map(|n| (arn(n), "changed".into())),
    );
    assert_eq!(
        history(&store, id3).await,
        moves.into_iter().collect::<Vec<_>>()
    );
    let mut expected = labelled(keys3.difference(&keys2).cloned(), "regressed");
    expected.extend(labelled(keys3.intersection(&keys2).cloned(), "still_open"));
    expected.extend(labelled(keys2.difference(&keys3).cloned(), "resolved"));
    // Findings of the gone volumes were resolved by the rescan (their
    // checks ran in their region), so they too come back as regressions.
    assert_eq!(changes(&store, id3).await, expected);
    let diff: (i32, i32, i32, i32) = sqlx::query_as(
        "SELECT findings_new, findings_resolved, findings_regressed, findings_open FROM scans WHERE id = $1",
    )
    .bind(id3)
    .fetch_one(&store.pool)
    .await
    .unwrap();
    let count = |c: &str| expected.values().filter(|v| *v == c).count() as i32;
    assert_eq!(
        diff,
        (0, count("resolved"), count("regressed"), keys3.len() as i32)
    );
}

/// Two findings of one check on one resource (a collector that listed the
/// resource twice): one row, the last finding's, as for resources.
#[sqlx::test(migrator = "MIGRATOR")]
async fn the_last_finding_of_a_check_on_a_resource_wins(pool: PgPool) {
    let store = Store { pool };
    let account = account(&store).await;
    let scan = scan_of(vec![volume(0, false), volume(2, false), volume(0, true)], 1);
    let unattached = |arn: &str| -> Vec<String> {
        scan.1
            .findings
            .iter()
            .filter(|f| f.check_id == "ebs.volume_unattached" && f.resource_arn == arn)
            .map(|f| f.message.clone())
            .collect()
    };
    // The first (gp3) cedes its saving to the larger second (gp2).
    let twice = unattached(&arn(0));
    assert_eq!(twice.len(), 2);
    assert!(twice[0].starts_with("100 GiB gp3 volume is not attached (saving counted under"));
    assert_eq!(twice[1], "100 GiB gp2 volume is not attached");
    record(&store, &account, &scan).await;
    let stored: Vec<(String, String)> = sqlx::query_as(
        "SELECT resource_arn, message FROM findings WHERE check_id = 'ebs.volume_unattached' ORDER BY resource_arn",
    )
    .fetch_all(&store.pool)
    .await
    .unwrap();
    assert_eq!(
        stored,
        [
            (arn(0), "100 GiB gp2 volume is not attached".to_string()),
            (arn(2), "100 GiB gp3 volume is not attached".to_string()),
        ]
    );
}

/// A statement that fails in the middle of a scan's write (here the second
/// of three chunks of resources, after the first has run) leaves the
/// account as the scan before left it: no resource, finding, history row or
/// change of the failed scan, and the scan still running. The same
/// connection (the pool has one) then writes the next scan.
#[sqlx::test(migrator = "MIGRATOR")]
async fn a_write_that_fails_midway_leaves_nothing_and_the_next_one_succeeds(pool: PgPool) {
    let options = (*pool.connect_options()).clone();
    let store = Store {
        pool: sqlx::postgres::PgPoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await
            .unwrap(),
    };
    let account = account(&store).await;
    let size = WRITE_CHUNK * 2 + 10;
    let first = scan_of((0..size).map(|n| volume(n, false)).collect(), 1);
    let first_id = record(&store, &account, &first).await;

    type Rows = (
        Vec<(String, Uuid)>,
        Vec<(String, String, String, Uuid)>,
        i64,
        i64,
    );
    let rows = || async {
        let resources = sqlx::query_as("SELECT arn, last_scan_id FROM resources ORDER BY arn")
            .fetch_all(&store.pool)
            .await
            .unwrap();
        let findings = sqlx::query_as(
            "SELECT check_id, resource_arn, status, last_scan_id FROM findings ORDER BY 1, 2",
        )
        .fetch_all(&store.pool)
        .await
        .unwrap();
        let history: i64 = sqlx::query_scalar("SELECT count(*) FROM resource_history")
            .fetch_one(&store.pool)
            .await
            .unwrap();
        let changes: i64 = sqlx::query_scalar("SELECT count(*) FROM scan_finding_changes")
            .fetch_one(&store.pool)
            .await
            .unwrap();
        (resources, findings, history, changes) as Rows
    };
    let before = rows().await;
    assert_eq!(before.0.len(), size);

    // Every volume gp2 now (a finding each), and one in the second chunk
    // named with a NUL, which PostgreSQL's text refuses.
    let mut volumes: Vec<Volume> = (0..size).map(|n| volume(n, true)).collect();
    volumes[WRITE_CHUNK + 5].meta.name = Some("bad\0name".into());
    let failing = scan_of(volumes, 2);
    let failing_id = store.begin_scan(&account, None).await.unwrap();
    // Sequences are not rolled back: the first chunk's 2,000 history rows
    // ("changed": gp3 became gp2) show it ran before the second failed.
    let history_ids = || async {
        sqlx::query_scalar::<_, i64>("SELECT last_value FROM resource_history_id_seq")
            .fetch_one(&store.pool)
            .await
            .unwrap()
    };
    let history_id_before = history_ids().await;
    let err = store
        .save_scan(failing_id, &account, None, &failing.0, &failing.1)
        .await
        .expect_err("a NUL in a name must fail the write");
    assert!(err.to_string().contains("0x00"), "{err}");
    assert_eq!(
        history_ids().await - history_id_before,
        WRITE_CHUNK as i64,
        "the first chunk did not run"
    );
    assert_eq!(rows().await, before, "the failed scan left rows behind");
    assert_eq!(store.scan(failing_id).await.unwrap().status, "running");

    // The same connection writes the next scan, whole.
    let next = scan_of((0..size).map(|n| volume(n, true)).collect(), 3);
    let next_id = record(&store, &account, &next).await;
    let (resources, findings, _, _) = rows().await;
    assert!(
        resources.iter().all(|(_, scan)| *scan == next_id),
        "a resource kept an older scan"
    );
    let gp2: BTreeSet<String> = findings
        .iter()
        .filter(|f| f.0 == "ebs.volume_gp2")
        .map(|f| f.1.clone())
        .collect();
    assert_eq!(gp2, (0..size).map(arn).collect::<BTreeSet<_>>());
    assert_ne!(first_id, next_id);
}

/// The milliseconds since the epoch a version-7 UUID carries in its first
/// 48 bits.
fn unix_millis(id: Uuid) -> i64 {
    let bytes = id.as_bytes();
    bytes[..6].iter().fold(0, |ms, b| ms << 8 | i64::from(*b))
}

/// The rows a scan writes by the hundred thousand take time-ordered ids
/// (UUID version 7, RFC 9562) rather than random ones: each insert lands at
/// the right edge of the primary key and of every index ending in the id,
/// instead of on a random page of each (issue 16's bulk write).
#[sqlx::test(migrator = "MIGRATOR")]
async fn a_scan_writes_its_resources_and_findings_with_time_ordered_ids(pool: PgPool) {
    let store = Store { pool };
    let account = account(&store).await;
    let scan = scan_of((0..WRITE_CHUNK + 10).map(|n| volume(n, true)).collect(), 1);
    let clock = || -> i64 { Utc::now().timestamp_millis() };
    let before = clock();
    record(&store, &account, &scan).await;
    let after = clock();

    for table in ["resources", "findings"] {
        let ids: Vec<Uuid> =
            sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT id FROM {table}")))
                .fetch_all(&store.pool)
                .await
                .unwrap();
        assert!(ids.len() > WRITE_CHUNK, "{table}: {} rows", ids.len());
        for id in &ids {
            assert_eq!(id.get_version_num(), 7, "{table}: {id} is not version 7");
            assert_eq!(
                id.as_bytes()[8] >> 6,
                0b10,
                "{table}: {id} is not of RFC 9562's variant"
            );
            let ms = unix_millis(*id);
            assert!(
                (before - 1..=after + 1).contains(&ms),
                "{table}: {id} says {ms} ms, written between {before} and {after}"
            );
        }
        // Distinct even when thousands share a millisecond.
        let distinct: BTreeSet<&Uuid> = ids.iter().collect();
        assert_eq!(distinct.len(), ids.len(), "{table}: repeated ids");
    }
}

/// The ids' function runs for the worker, which writes scans, and for no
/// other role; and what it calls was bound when it was created: an operator
/// that a schema on the caller's search_path offers (here an exact
/// `*(float8, int4)`, which pg_catalog lacks) is never run.
#[sqlx::test(migrator = "MIGRATOR")]
async fn the_id_function_is_the_workers_and_ignores_the_search_path(pool: PgPool) {
    for (role, can) in [
        ("sightline_worker", true),
        ("sightline_app", false),
        ("sightline_console", false),
    ] {
        let granted: bool =
            sqlx::query_scalar("SELECT has_function_privilege($1, 'uuid_v7()', 'EXECUTE')")
                .bind(role)
                .fetch_one(&pool)
                .await
                .unwrap();
        assert_eq!(granted, can, "{role} may run uuid_v7(): {granted}");
    }

    let mut tx = pool.begin().await.unwrap();
    sqlx::raw_sql(
        "CREATE SCHEMA hijack;
         CREATE FUNCTION hijack.times(float8, int) RETURNS float8 LANGUAGE sql AS 'SELECT 0::float8';
         CREATE OPERATOR hijack.* (LEFTARG = float8, RIGHTARG = int, FUNCTION = hijack.times);
         SET LOCAL search_path = hijack, public;",
    )
    .execute(&mut *tx)
    .await
    .unwrap();
    // The control: the operator is the one an unbound `* 1000` meets.
    let hijacked: f64 = sqlx::query_scalar("SELECT 2::float8 * 1000")
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    assert_eq!(hijacked, 0.0, "the hijacking operator is not in the way");
    let before = Utc::now().timestamp_millis();
    let id: Uuid = sqlx::query_scalar("SELECT uuid_v7()")
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    let after = Utc::now().timestamp_millis();
    assert!(
        (before - 1..=after + 1).contains(&unix_millis(id)),
        "{id} says {} ms, made between {before} and {after}",
        unix_millis(id)
    );
    tx.rollback().await.unwrap();
}
