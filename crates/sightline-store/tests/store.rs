//! The store against a real PostgreSQL (`DATABASE_URL`); `#[sqlx::test]`
//! gives each test its own database and drops it afterwards.

use std::time::Duration;

use chrono::{TimeZone, Utc};
use sightline_core::evaluate::{evaluate, ScanReport, ScanStats};
use sightline_core::inventory::ec2::{Address, Volume};
use sightline_core::{catalog, CheckContext, CoverageGap, Inventory, ResourceMeta};
use sightline_store::accounts::{Account, NewAccount};
use sightline_store::{Store, StoreError, MIGRATOR};
use sqlx::PgPool;

async fn account(store: &Store) -> Account {
    let ws = store
        .create_workspace("acme", "acme-external-id")
        .await
        .unwrap();
    store
        .add_account(
            &ws,
            &NewAccount {
                aws_account_id: "123456789012".into(),
                ..NewAccount::default()
            },
        )
        .await
        .unwrap()
}

fn address(id: &str) -> Address {
    Address {
        meta: ResourceMeta::new(
            "ec2.elastic_ip",
            id,
            &format!("arn:aws:ec2:us-east-1:123456789012:elastic-ip/{id}"),
            "us-east-1",
        ),
        public_ip: Some("198.51.100.9".into()),
        allocation_id: Some(id.into()),
        association_id: None,
        instance_id: None,
        network_interface_id: None,
    }
}

fn volume(id: &str, attached: bool) -> Volume {
    Volume {
        meta: ResourceMeta::new(
            "ec2.volume",
            id,
            &format!("arn:aws:ec2:us-east-1:123456789012:volume/{id}"),
            "us-east-1",
        ),
        volume_type: "gp3".into(),
        size_gib: 10,
        iops: None,
        throughput: None,
        encrypted: true,
        state: if attached { "in-use" } else { "available" }.into(),
        attached_instance_ids: if attached { vec!["i-1".into()] } else { vec![] },
        availability_zone: None,
        create_time: None,
    }
}

/// An EC2 inventory of `addresses` (unassociated: each a finding) and `volumes`.
fn scan_of(
    day: u32,
    addresses: &[&str],
    volumes: &[(&str, bool)],
    gaps: Vec<CoverageGap>,
) -> (Inventory, ScanReport) {
    let mut inv = Inventory::new("123456789012");
    inv.regions = vec!["us-east-1".into()];
    inv.services = vec!["ec2".into()];
    inv.ec2.addresses = addresses.iter().map(|a| address(a)).collect();
    inv.ec2.volumes = volumes
        .iter()
        .map(|(v, attached)| volume(v, *attached))
        .collect();
    inv.gaps = gaps;
    let checks: Vec<_> = catalog()
        .into_iter()
        .filter(|c| ["ec2.eip_unassociated", "ebs.volume_unattached"].contains(&c.id))
        .collect();
    let now = Utc.with_ymd_and_hms(2026, 11, day, 12, 0, 0).unwrap();
    let stats = ScanStats {
        api_calls: 3,
        resources: inv.resource_count(),
        duration_ms: 10,
        ..ScanStats::default()
    };
    let report = evaluate(&inv, &checks, &CheckContext::new(now), stats);
    (inv, report)
}

async fn record(
    store: &Store,
    account: &Account,
    scan: (Inventory, ScanReport),
) -> (uuid::Uuid, sightline_store::scans::ScanDiff) {
    let id = store.begin_scan(account, None).await.unwrap();
    let diff = store
        .save_scan(id, account, None, &scan.0, &scan.1)
        .await
        .unwrap();
    (id, diff)
}

async fn changes(store: &Store, scan: uuid::Uuid) -> Vec<(String, String)> {
    store
        .scan_changes(scan)
        .await
        .unwrap()
        .into_iter()
        .map(|c| {
            (
                c.change,
                c.resource_arn.rsplit('/').next().unwrap().to_owned(),
            )
        })
        .collect()
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn scans_are_diffed_new_still_open_resolved_regressed(pool: PgPool) {
    let store = Store { pool };
    let account = account(&store).await;

    let (s1, d1) = record(
        &store,
        &account,
        scan_of(1, &["eip-a", "eip-b"], &[("vol-x", false)], vec![]),
    )
    .await;
    assert_eq!(
        (d1.new, d1.still_open, d1.resolved, d1.regressed),
        (3, 0, 0, 0)
    );
    let mut c1 = changes(&store, s1).await;
    c1.sort();
    assert_eq!(
        c1,
        [
            ("new".into(), "eip-a".into()),
            ("new".into(), "eip-b".into()),
            ("new".into(), "vol-x".into())
        ]
    );

    // eip-a released (fixed), vol-x attached (fixed), eip-c allocated (new).
    let (s2, _) = record(
        &store,
        &account,
        scan_of(2, &["eip-b", "eip-c"], &[("vol-x", true)], vec![]),
    )
    .await;
    let mut c2 = changes(&store, s2).await;
    c2.sort();
    assert_eq!(
        c2,
        [
            ("new".into(), "eip-c".into()),
            ("resolved".into(), "eip-a".into()),
            ("resolved".into(), "vol-x".into()),
            ("still_open".into(), "eip-b".into()),
        ]
    );
    // eip-a is no longer in the account: its finding is resolved and the resource marked gone.
    let gone: Option<chrono::DateTime<Utc>> =
        sqlx::query_scalar("SELECT gone_at FROM resources WHERE resource_id = 'eip-a'")
            .fetch_one(&store.pool)
            .await
            .unwrap();
    assert!(
        gone.is_some(),
        "a resource absent from a complete scan is marked gone, not deleted"
    );

    // vol-x detached again: regressed, not new.
    let (s3, d3) = record(
        &store,
        &account,
        scan_of(3, &["eip-b", "eip-c"], &[("vol-x", false)], vec![]),
    )
    .await;
    assert_eq!(d3.regressed, 1);
    assert!(changes(&store, s3)
        .await
        .contains(&("regressed".into(), "vol-x".into())));
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_partial_scan_resolves_nothing_it_could_not_evaluate(pool: PgPool) {
    let store = Store { pool };
    let account = account(&store).await;
    record(
        &store,
        &account,
        scan_of(1, &["eip-a"], &[("vol-x", false)], vec![]),
    )
    .await;

    // DescribeAddresses was denied: no address was seen, but eip-a must stay open.
    let denied = CoverageGap {
        service: "ec2".into(),
        region: "us-east-1".into(),
        action: "ec2:DescribeAddresses".into(),
        kind: "AccessDenied".into(),
        error: "denied".into(),
    };
    let (s2, d2) = record(
        &store,
        &account,
        scan_of(2, &[], &[("vol-x", false)], vec![denied]),
    )
    .await;
    assert_eq!(d2.resolved, 0);
    assert_eq!(
        changes(&store, s2).await,
        [("still_open".into(), "vol-x".into())]
    );
    let open: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM findings WHERE resource_id = 'eip-a' AND status = 'open'",
    )
    .fetch_one(&store.pool)
    .await
    .unwrap();
    assert_eq!(open, 1);
    let gone: i64 = sqlx::query_scalar("SELECT count(*) FROM resources WHERE gone_at IS NOT NULL")
        .fetch_one(&store.pool)
        .await
        .unwrap();
    assert_eq!(gone, 0, "a partial scan marks nothing gone");
    assert_eq!(store.scan(s2).await.unwrap().status, "partial");
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn bad_accounts_are_refused_and_nothing_is_written(pool: PgPool) {
    let store = Store { pool };
    let ws = store.create_workspace("acme", "x-id").await.unwrap();
    let add = |id: &str, arn: Option<&str>, schedule: Option<&str>| NewAccount {
        aws_account_id: id.into(),
        role_arn: arn.map(Into::into),
        schedule: schedule.map(Into::into),
        ..NewAccount::default()
    };
    let err = store
        .add_account(&ws, &add("1234", None, None))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::InvalidAccountId { .. }), "{err}");
    let err = store
        .add_account(
            &ws,
            &add(
                "123456789012",
                Some("arn:aws:iam::123456789012:user/x"),
                None,
            ),
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("expected arn:aws:iam::"), "{err}");
    let mut bad_region = add("123456789012", None, None);
    bad_region.regions = vec!["us-east-1".into(), "mars".into()];
    let err = store.add_account(&ws, &bad_region).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid region \"mars\": expected a region name like us-east-1"
    );
    let err = store.create_workspace("", "x-id").await.unwrap_err();
    assert!(
        matches!(err, StoreError::InvalidWorkspace { what: "name", .. }),
        "{err}"
    );
    let err = store.create_workspace("other", "x").await.unwrap_err();
    assert!(
        err.to_string().contains("expected 2 to 1224 characters"),
        "{err}"
    );
    let err = store
        .add_account(&ws, &add("123456789012", None, Some("every tuesday")))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::InvalidSchedule { .. }), "{err}");
    let err = store
        .add_account(&ws, &add("123456789012", None, Some("1 minute")))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::InvalidSchedule { .. }), "{err}");
    store
        .add_account(&ws, &add("123456789012", None, Some("6 hours")))
        .await
        .unwrap();
    let err = store
        .add_account(&ws, &add("123456789012", None, None))
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "account 123456789012 is already registered in workspace acme"
    );
    assert_eq!(store.accounts(ws.id).await.unwrap().len(), 1);
}

#[sqlx::test(migrations = false)]
async fn a_database_behind_this_build_is_refused(pool: PgPool) {
    let store = Store { pool };
    let err = store.ensure_current().await.unwrap_err();
    assert!(
        matches!(err, StoreError::SchemaTooOld { found: 0, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("run `sightline migrate`"));
    store.migrate().await.unwrap();
    store
        .migrate()
        .await
        .expect("migrating twice changes nothing");
    store.ensure_current().await.unwrap();
}

/// Upgrade, then roll back: the previous build meets a schema one
/// expanding migration ahead of it, and must start (CloudFormation's
/// rollback runs setup and the services of the previous image). Once a
/// contracting migration raises the window past it, it is refused, clearly.
#[sqlx::test(migrator = "MIGRATOR")]
async fn a_rollback_runs_on_a_newer_schema_inside_its_window(pool: PgPool) {
    let store = Store { pool };
    let build = Store::expected_version();
    let next = build + 1;
    // A newer build's expanding migration, as sqlx records it.
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time)
         VALUES ($1, 'a newer build expands', true, '\\x00'::bytea, 0)",
    )
    .bind(next)
    .execute(&store.pool)
    .await
    .unwrap();
    store
        .ensure_current()
        .await
        .expect("the previous build runs on an expanded schema");
    store
        .migrate()
        .await
        .expect("setup of the previous build neither fails nor undoes the newer migration");

    // A contracting migration: builds before it are out (the DDL
    // `RUNS_ON_SCHEMA_FROM`'s documentation prescribes).
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "CREATE TABLE IF NOT EXISTS schema_window (
             singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
             compatible_from bigint NOT NULL);
         INSERT INTO schema_window (compatible_from) VALUES ({next})
             ON CONFLICT (singleton) DO UPDATE SET compatible_from = EXCLUDED.compatible_from;"
    )))
    .execute(&store.pool)
    .await
    .unwrap();
    for err in [
        store.ensure_current().await.unwrap_err(),
        store.migrate().await.unwrap_err(),
    ] {
        match &err {
            StoreError::SchemaTooNew {
                found,
                compatible_from,
                build: b,
            } => assert_eq!((*found, *compatible_from, *b), (next, next, build)),
            other => panic!("expected SchemaTooNew, found {other}"),
        }
        let text = err.to_string();
        assert!(
            text.contains(&format!("admits only builds of migration {next} or later"))
                && text.contains(&format!("this build knows up to {build}")),
            "{text}"
        );
    }
}

/// The other direction: this build on a schema older than it runs on (a new
/// image whose setup has not migrated yet) is refused until setup migrates.
#[sqlx::test(migrations = false)]
async fn a_build_refuses_a_schema_older_than_it_runs_on(pool: PgPool) {
    let store = Store { pool };
    let before: i64 = MIGRATOR
        .iter()
        .map(|m| m.version)
        .filter(|v| *v < sightline_store::RUNS_ON_SCHEMA_FROM)
        .max()
        .unwrap();
    MIGRATOR.run_to(before, &store.pool).await.unwrap();
    match store.ensure_current().await.unwrap_err() {
        StoreError::SchemaTooOld { found, needs } => {
            assert_eq!(
                (found, needs),
                (before, sightline_store::RUNS_ON_SCHEMA_FROM)
            )
        }
        other => panic!("expected SchemaTooOld, found {other}"),
    }
    store.migrate().await.unwrap();
    store.ensure_current().await.unwrap();
}

/// Migrations run as the tables' owner, which on Aurora is not a superuser,
/// so FORCE ROW LEVEL SECURITY applies to it. A data migration must still
/// reach every row: here the owner is a plain role, data is written between
/// migrations, and each backfill is checked. (20261124000001's content_md5
/// backfill reached none as such an owner; setup now fills it as the
/// worker, `repair_content_digests`.)
#[sqlx::test(migrations = false)]
async fn data_migrations_reach_every_row_as_a_non_superuser_owner(pool: PgPool) {
    let database: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(&pool)
        .await
        .unwrap();
    let owner = format!(
        "owner_{}",
        database.replace(|c: char| !c.is_ascii_alphanumeric(), "_")
    )
    .to_lowercase();
    for statement in [
        // Role names are cluster-wide and test databases' names repeat across runs.
        format!("DO $$ BEGIN CREATE ROLE {owner} LOGIN CREATEROLE NOSUPERUSER; EXCEPTION WHEN duplicate_object THEN NULL; END $$"),
        format!("ALTER DATABASE \"{database}\" OWNER TO {owner}"),
        format!("ALTER SCHEMA public OWNER TO {owner}"),
    ] {
        sqlx::query(sqlx::AssertSqlSafe(statement)).execute(&pool).await.unwrap();
    }
    let options = (*pool.connect_options()).clone().username(&owner);
    let as_owner = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await
        .unwrap();
    let superuser: bool =
        sqlx::query_scalar("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
            .fetch_one(&as_owner)
            .await
            .unwrap();
    assert!(!superuser, "the owner must not be a superuser");
    // Not a member of the application roles either (Aurora's master, which
    // creates them, gets neither INHERIT nor SET on them), so their policies
    // do not admit it: only what the migration itself lifts does.
    for role in ["sightline_app", "sightline_worker", "sightline_console"] {
        // (A role left from an earlier run may still hold a grant.)
        let _ = sqlx::query(sqlx::AssertSqlSafe(format!("REVOKE {role} FROM {owner}")))
            .execute(&pool)
            .await;
        let member: bool = sqlx::query_scalar("SELECT pg_has_role($1, $2, 'USAGE')")
            .bind(&owner)
            .bind(role)
            .fetch_one(&pool)
            .await
            .unwrap_or(false);
        assert!(!member, "the owner inherits {role}");
    }

    // Up to the migration before the content_md5 backfill, as the owner.
    let ui = 20261124000001;
    let before_ui = MIGRATOR
        .iter()
        .map(|m| m.version)
        .filter(|v| *v < ui)
        .max()
        .unwrap();
    MIGRATOR.run_to(before_ui, &as_owner).await.unwrap();
    // Rows a running deployment holds (written as a superuser, past RLS).
    sqlx::query(
        "WITH ws AS (INSERT INTO workspaces (name, external_id) VALUES ('acme', 'x-id-acme') RETURNING id),
              acct AS (INSERT INTO accounts (workspace_id, aws_account_id, schedule_interval, next_scan_at)
                       SELECT id, '123456789012', interval '6 hours', now() FROM ws RETURNING id, workspace_id),
              scan AS (INSERT INTO scans (workspace_id, account_id, status)
                       SELECT workspace_id, id, 'succeeded' FROM acct RETURNING id, account_id, workspace_id)
         INSERT INTO resources (workspace_id, account_id, arn, resource_type, resource_id, region, tags, attributes,
                                first_seen, last_seen, last_scan_id)
         SELECT workspace_id, account_id, 'arn:aws:ec2:us-east-1:123456789012:volume/vol-1', 'ec2.volume', 'vol-1',
                'us-east-1', '{\"team\": \"a\"}', '{\"size\": 8}', now(), now(), id FROM scan",
    )
    .execute(&pool)
    .await
    .unwrap();
    // And a finding, for the constraints later migrations add and validate.
    sqlx::query(
        "INSERT INTO findings (workspace_id, account_id, check_id, resource_arn, resource_type, resource_id, region, severity,
                               category, title, message, evidence, evidence_sha256, status, first_seen, last_seen, last_scan_id)
         SELECT workspace_id, account_id, 'ebs.volume_unattached', 'arn:aws:ec2:us-east-1:123456789012:volume/vol-1',
                'ec2.volume', 'vol-1', 'us-east-1', 'medium', 'cost', 'EBS volume not attached to any instance',
                '8 GiB volume is not attached', '{}', repeat('0123456789abcdef', 4), 'open', now(), now(), id FROM scans",
    )
    .execute(&pool)
    .await
    .unwrap();

    // The rest, as the owner, as `sightline setup` runs them on Aurora; then
    // setup's repair, as the worker.
    let store = Store { pool: as_owner };
    store.migrate().await.unwrap();
    let worker_options = (*pool.connect_options())
        .clone()
        .username("sightline_worker");
    let worker = Store {
        pool: sqlx::postgres::PgPoolOptions::new()
            .max_connections(1)
            .connect_with(worker_options)
            .await
            .unwrap(),
    };
    assert_eq!(worker.repair_content_digests().await.unwrap(), 1);
    assert_eq!(
        worker.repair_content_digests().await.unwrap(),
        0,
        "idempotent"
    );
    worker.pool.close().await;

    let (md5, expected): (Option<String>, String) =
        sqlx::query_as("SELECT content_md5, md5(tags::text || attributes::text) FROM resources")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(
        md5.as_deref(),
        Some(expected.as_str()),
        "content_md5 was not backfilled"
    );
    // The evidence digest's rule, added NOT VALID by 20261208000013, was
    // validated by 20261208000014, which ran and committed as this owner.
    let validated: Vec<bool> = sqlx::query_scalar(
        "SELECT convalidated FROM pg_constraint WHERE conname = 'findings_evidence_sha256_check'",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(validated, [true], "the digest's rule was left unvalidated");
    // The ARN prefixes free text finds through their own table (20261207000012).
    let prefixes: Vec<String> = sqlx::query_scalar("SELECT prefix FROM resource_arn_prefixes")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(
        prefixes,
        ["arn:aws:ec2:us-east-1:123456789012:"],
        "the prefixes were not backfilled"
    );
    // A later data migration that writes resources as this owner (with
    // FORCEd security lifted, as 20261206000002 does) writes their new
    // prefixes through the triggers, under the owner's own policies.
    let mut tx = store.pool.begin().await.unwrap();
    for statement in [
        "ALTER TABLE resources NO FORCE ROW LEVEL SECURITY",
        "UPDATE resources SET region = 'eu-west-1'",
    ] {
        sqlx::query(statement).execute(&mut *tx).await.unwrap();
    }
    let regions: Vec<String> =
        sqlx::query_scalar("SELECT region FROM resource_arn_prefixes ORDER BY region")
            .fetch_all(&mut *tx)
            .await
            .unwrap();
    assert_eq!(regions, ["eu-west-1", "us-east-1"]);
    tx.rollback().await.unwrap();
    let schedule: Option<String> =
        sqlx::query_scalar("SELECT schedule_interval::text FROM accounts")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(schedule, None, "a role-less account kept its schedule");

    // Deleting the account in the web UI (the application role) takes its
    // scan's rows: the cascade runs as this owner, which FORCEd row-level
    // security filters too (20261207000010 gives it its own policies).
    let (workspace, account): (uuid::Uuid, uuid::Uuid) =
        sqlx::query_as("SELECT workspace_id, id FROM accounts")
            .fetch_one(&pool)
            .await
            .unwrap();
    let app_options = (*pool.connect_options()).clone().username("sightline_app");
    let app = Store {
        pool: sqlx::postgres::PgPoolOptions::new()
            .max_connections(1)
            .connect_with(app_options)
            .await
            .unwrap(),
    };
    let mut tx = app.begin_workspace_tx(workspace).await.unwrap();
    sightline_store::views::delete_account(&mut tx, account)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM resources")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(left, 0, "the deleted account's resource stayed");
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM resource_arn_prefixes")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(left, 0, "the deleted account's ARN prefix stayed");
    app.pool.close().await;
    store.pool.close().await;
}

/// A stack's non-default MonitoringRoleName and its partition reach the
/// accounts Organizations discovery registers (they were hard-coded to
/// SightlineMonitoring in `aws`).
#[sqlx::test(migrator = "MIGRATOR")]
async fn discovered_accounts_use_the_workspace_role_name_and_partition(pool: PgPool) {
    let store = Store { pool };
    let id = uuid::Uuid::new_v4();
    let err = store
        .ensure_workspace(id, "gov", "x-id-gov", "no spaces allowed")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("member role name"), "{err}");
    let ws = store
        .ensure_workspace(id, "gov", "x-id-gov", "AcmeReadOnly")
        .await
        .unwrap();
    assert_eq!(ws.member_role_name, "AcmeReadOnly");
    let added = store
        .add_discovered_accounts(
            &ws,
            "aws-us-gov",
            &[("111111111111".into(), Some("prod".into()))],
            &Default::default(),
        )
        .await
        .unwrap();
    assert_eq!(added, ["111111111111"]);
    let role: Option<String> =
        sqlx::query_scalar("SELECT role_arn FROM accounts WHERE workspace_id = $1")
            .bind(ws.id)
            .fetch_one(&store.pool)
            .await
            .unwrap();
    assert_eq!(
        role.as_deref(),
        Some("arn:aws-us-gov:iam::111111111111:role/AcmeReadOnly")
    );
    assert!(store
        .add_discovered_accounts(
            &ws,
            "aws:evil",
            &[("222222222222".into(), None)],
            &Default::default()
        )
        .await
        .is_err());
}

/// Each account's (id, regions, schedule, due now).
async fn discovered_settings(pool: &PgPool) -> Vec<(String, Vec<String>, Option<String>, bool)> {
    sqlx::query_as(
        "SELECT aws_account_id, regions, schedule_interval::text, coalesce(next_scan_at <= now(), false)
         FROM accounts ORDER BY aws_account_id",
    )
    .fetch_all(pool)
    .await
    .unwrap()
}

/// An organization's members are registered with the regions and schedule
/// discovery was given, due at once, so the next scheduled round scans them;
/// a bad region or interval refuses the whole batch and writes nothing, and
/// accounts already registered keep their own settings.
#[sqlx::test(migrator = "MIGRATOR")]
async fn discovered_accounts_take_the_discovery_regions_and_schedule(pool: PgPool) {
    use sightline_store::accounts::DiscoveryDefaults;
    let store = Store { pool };
    let ws = store
        .ensure_workspace(
            uuid::Uuid::new_v4(),
            "org",
            "x-id-org",
            "SightlineMonitoring",
        )
        .await
        .unwrap();
    let members = |ids: &[&str]| -> Vec<(String, Option<String>)> {
        ids.iter().map(|id| (id.to_string(), None)).collect()
    };
    for (regions, schedule, expected) in [
        (
            vec!["us-east-1", "US-EAST-1"],
            None,
            "invalid region \"US-EAST-1\"",
        ),
        (vec!["../etc"], None, "invalid region"),
        (
            vec![],
            Some("every tuesday"),
            "invalid schedule \"every tuesday\"",
        ),
        (vec![], Some("1 minute"), "invalid schedule \"1 minute\""),
    ] {
        let bad = DiscoveryDefaults {
            regions: regions.into_iter().map(String::from).collect(),
            schedule: schedule.map(String::from),
        };
        let err = store
            .add_discovered_accounts(&ws, "aws", &members(&["111111111111"]), &bad)
            .await
            .unwrap_err();
        assert!(err.to_string().contains(expected), "{err}");
        assert_eq!(
            discovered_settings(&store.pool).await,
            [],
            "a refused batch wrote nothing"
        );
    }

    let defaults = DiscoveryDefaults {
        regions: vec!["us-east-1".into(), "eu-west-1".into()],
        schedule: Some("6 hours".into()),
    };
    let added = store
        .add_discovered_accounts(
            &ws,
            "aws",
            &members(&["111111111111", "222222222222"]),
            &defaults,
        )
        .await
        .unwrap();
    assert_eq!(added, ["111111111111", "222222222222"]);
    let scheduled = (
        vec!["us-east-1".to_string(), "eu-west-1".to_string()],
        Some("06:00:00".to_string()),
        true,
    );
    assert_eq!(
        discovered_settings(&store.pool).await,
        [
            (
                "111111111111".to_string(),
                scheduled.0.clone(),
                scheduled.1.clone(),
                true
            ),
            (
                "222222222222".to_string(),
                scheduled.0.clone(),
                scheduled.1.clone(),
                true
            ),
        ]
    );
    // The next scheduled round queues each of them once.
    assert_eq!(store.enqueue_due_scans().await.unwrap(), 2);
    assert_eq!(store.enqueue_due_scans().await.unwrap(), 0);

    // A bad schedule is refused even when every member is registered already.
    let err = store
        .add_discovered_accounts(
            &ws,
            "aws",
            &members(&["111111111111"]),
            &DiscoveryDefaults {
                regions: vec![],
                schedule: Some("1 minute".into()),
            },
        )
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("invalid schedule \"1 minute\""),
        "{err}"
    );

    // Discovering again, with other defaults, adds the new member only.
    let added = store
        .add_discovered_accounts(
            &ws,
            "aws",
            &members(&["111111111111", "333333333333"]),
            &DiscoveryDefaults::default(),
        )
        .await
        .unwrap();
    assert_eq!(added, ["333333333333"]);
    let after = discovered_settings(&store.pool).await;
    assert_eq!(
        after[0].1, scheduled.0,
        "an existing account kept its regions"
    );
    assert_eq!(
        after[0].2, scheduled.1,
        "an existing account kept its schedule"
    );
    assert_eq!(after[2], ("333333333333".to_string(), vec![], None, false));
}

#[tokio::test]
async fn an_unreachable_database_is_one_clear_error() {
    // Port 1 on loopback: nothing listens there.
    let err = Store::connect("postgres://app:secret-pw@127.0.0.1:1/sightline")
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("cannot reach the database at postgres://app:***@127.0.0.1:1/sightline"),
        "{text}"
    );
    assert!(!text.contains("secret-pw"));
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_job_completes_once_even_when_its_lease_expires(pool: PgPool) {
    let store = Store { pool };
    let account = account(&store).await;
    let job_id = store.enqueue_scan(account.id, 3).await.unwrap();
    let short = Duration::from_millis(200);

    let a = store
        .claim_job("worker-a", short)
        .await
        .unwrap()
        .expect("a claims");
    assert_eq!(a.id, job_id);
    assert!(
        store.claim_job("worker-b", short).await.unwrap().is_none(),
        "leased: nobody else gets it"
    );

    // worker-a stalls past its lease; worker-b takes the job over.
    tokio::time::sleep(Duration::from_millis(400)).await;
    let b = store
        .claim_job("worker-b", Duration::from_secs(30))
        .await
        .unwrap()
        .expect("expired lease is reclaimed");
    assert_eq!((b.id, b.attempts), (job_id, 2));
    assert!(matches!(
        store.renew_lease(&a, short).await,
        Err(StoreError::LeaseLost { .. })
    ));

    // worker-a wakes up and tries to save: refused, and nothing of its scan is written.
    let scan_a = store.begin_scan(&account, Some(&a)).await.unwrap();
    let (inv, report) = scan_of(1, &["eip-a"], &[], vec![]);
    let err = store
        .save_scan(scan_a, &account, Some(&a), &inv, &report)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::LeaseLost { .. }), "{err}");
    let findings: i64 = sqlx::query_scalar("SELECT count(*) FROM findings")
        .fetch_one(&store.pool)
        .await
        .unwrap();
    assert_eq!(findings, 0);

    let scan_b = store.begin_scan(&account, Some(&b)).await.unwrap();
    store
        .save_scan(scan_b, &account, Some(&b), &inv, &report)
        .await
        .unwrap();
    assert_eq!(store.job(job_id).await.unwrap().status, "succeeded");
    let finished: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM scans WHERE job_id = $1 AND status IN ('succeeded', 'partial')",
    )
    .bind(job_id)
    .fetch_one(&store.pool)
    .await
    .unwrap();
    assert_eq!(finished, 1);
}

/// Two workers with one name (every container's first process is PID 1, so
/// the old default name `worker-<pid>` was `worker-1` in every task): the
/// stalled one must not renew, fail or complete the lease its namesake took
/// over. The lease is the owner and the attempt, not the owner alone.
#[sqlx::test(migrator = "MIGRATOR")]
async fn a_namesake_cannot_touch_the_lease_that_replaced_its_own(pool: PgPool) {
    let store = Store { pool };
    let account = account(&store).await;
    let job_id = store.enqueue_scan(account.id, 5).await.unwrap();
    let short = Duration::from_millis(200);
    let stale = store
        .claim_job("worker-1", short)
        .await
        .unwrap()
        .expect("first claim");
    tokio::time::sleep(Duration::from_millis(400)).await;
    let current = store
        .claim_job("worker-1", Duration::from_secs(30))
        .await
        .unwrap()
        .expect("the expired lease is reclaimed by the namesake");
    assert_eq!((current.id, current.attempts), (job_id, 2));
    let lease_of = |store: &Store| {
        let pool = store.pool.clone();
        async move {
            sqlx::query_as::<_, (String, i32, Option<String>)>(
                "SELECT status, attempts, lease_owner FROM jobs WHERE id = $1",
            )
            .bind(job_id)
            .fetch_one(&pool)
            .await
            .unwrap()
        }
    };
    let before = lease_of(&store).await;

    assert!(
        matches!(
            store.renew_lease(&stale, short).await,
            Err(StoreError::LeaseLost { .. })
        ),
        "the stale lease was renewed"
    );
    assert_eq!(
        store
            .fail_job(&stale, "stale worker gave up", Duration::ZERO)
            .await
            .unwrap(),
        sightline_store::jobs::Failed::NotHeld
    );
    assert_eq!(
        lease_of(&store).await,
        before,
        "the stale worker's failure changed the current lease"
    );
    let scan = store.begin_scan(&account, Some(&stale)).await.unwrap();
    let (inv, report) = scan_of(1, &["eip-a"], &[], vec![]);
    let err = store
        .save_scan(scan, &account, Some(&stale), &inv, &report)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::LeaseLost { .. }), "{err}");
    assert_eq!(store.job(job_id).await.unwrap().status, "running");

    // The current holder still renews and completes.
    store.renew_lease(&current, short).await.unwrap();
    let scan = store.begin_scan(&account, Some(&current)).await.unwrap();
    store
        .save_scan(scan, &account, Some(&current), &inv, &report)
        .await
        .unwrap();
    assert_eq!(store.job(job_id).await.unwrap().status, "succeeded");
}

/// The scan's transaction marks the job succeeded while a renewal of the
/// same lease waits on the row: the renewal then finds the job done by this
/// very attempt, which is no lost lease (CI saw a worker log "lease lost" and
/// count a failed job for a scan it had just saved). Another attempt's
/// renewal still is one.
#[sqlx::test(migrator = "MIGRATOR")]
async fn a_renewal_that_meets_its_own_completion_is_not_a_lost_lease(pool: PgPool) {
    let store = Store { pool };
    let account = account(&store).await;
    let job_id = store.enqueue_scan(account.id, 3).await.unwrap();
    let short = Duration::from_millis(200);
    let stale = store
        .claim_job("worker-a", short)
        .await
        .unwrap()
        .expect("first claim");
    tokio::time::sleep(Duration::from_millis(400)).await;
    let job = store
        .claim_job("worker-b", Duration::from_secs(30))
        .await
        .unwrap()
        .expect("the expired lease is reclaimed");

    // The scan's write holds the row, as complete_in does inside save_scan.
    let mut scan_tx = store.pool.begin().await.unwrap();
    sqlx::query(
        "UPDATE jobs SET status = 'succeeded', finished_at = now(), lease_owner = NULL, lease_expires_at = NULL
         WHERE id = $1 AND lease_owner = $2 AND attempts = $3 AND status = 'running'",
    )
    .bind(job.id)
    .bind(&job.lease_owner)
    .bind(job.attempts)
    .execute(&mut *scan_tx)
    .await
    .unwrap();
    let renewal = tokio::spawn({
        let store = Store {
            pool: store.pool.clone(),
        };
        let job = job.clone();
        async move { store.renew_lease(&job, Duration::from_secs(30)).await }
    });
    // The race itself: the renewal's UPDATE waits on the row the scan holds.
    let mut waited = Duration::ZERO;
    loop {
        let waiting: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM pg_stat_activity
                            WHERE datname = current_database() AND wait_event_type = 'Lock'
                              AND query LIKE 'UPDATE jobs SET lease_expires_at%')",
        )
        .fetch_one(&store.pool)
        .await
        .unwrap();
        if waiting {
            break;
        }
        assert!(
            waited < Duration::from_secs(30),
            "the renewal never waited on the row"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
        waited += Duration::from_millis(20);
    }
    scan_tx.commit().await.unwrap();
    let renewed = renewal.await.unwrap();
    assert!(renewed.is_ok(), "{renewed:?}");
    let row: (String, Option<String>) =
        sqlx::query_as("SELECT status, lease_owner FROM jobs WHERE id = $1")
            .bind(job_id)
            .fetch_one(&store.pool)
            .await
            .unwrap();
    assert_eq!(
        row,
        ("succeeded".to_string(), None),
        "the renewal changed a finished job"
    );
    assert!(
        matches!(
            store.renew_lease(&stale, short).await,
            Err(StoreError::LeaseLost { .. })
        ),
        "another attempt's renewal of the finished job"
    );
}

/// pg_trgm's operator classes also serve `=`, so a trigram index with a
/// bare column as a key competes with that column's B-tree for equality
/// lookups, and the planner, which cannot estimate a trigram scan, may take
/// it: with one on `resources.arn`, the inbox's join `r.arn =
/// f.resource_arn` read it at 96 ms a row (4 s a page at 1,000,000
/// resources). So no index but a B-tree or hash one has a bare column key
/// whose operator class serves text `=`: trigram indexes are on expressions,
/// and those expressions are never what a query compares with `=`.
const BARE_EQUALITY_KEYS: &str = "SELECT DISTINCT i.indexrelid::regclass::text
     FROM pg_index i
     CROSS JOIN LATERAL unnest(i.indkey::int2[], i.indclass::oid[]) AS k(attnum, opclass)
     JOIN pg_opclass o ON o.oid = k.opclass
     JOIN pg_am am ON am.oid = o.opcmethod AND am.amname NOT IN ('btree', 'hash')
     JOIN pg_amop op ON op.amopfamily = o.opcfamily AND op.amopopr = '=(text,text)'::regoperator
     WHERE k.attnum <> 0
     ORDER BY 1";

#[sqlx::test(migrator = "MIGRATOR")]
async fn no_trigram_index_is_on_a_bare_column(pool: PgPool) {
    let found = |pool: PgPool| async move {
        sqlx::query_scalar::<_, String>(BARE_EQUALITY_KEYS)
            .fetch_all(&pool)
            .await
            .unwrap()
    };
    assert_eq!(
        found(pool.clone()).await,
        Vec::<String>::new(),
        "indexes that serve = on a bare column beside its B-tree"
    );
    // The query sees each shape there could be: GIN, GiST, and a bare
    // column beside an expression; not an expression alone.
    for ddl in [
        "CREATE INDEX scratch_gin ON resources USING gin (arn gin_trgm_ops)",
        "CREATE INDEX scratch_gist ON resources USING gist (arn gist_trgm_ops)",
        "CREATE INDEX scratch_mixed ON resources USING gin (lower(name) gin_trgm_ops, resource_id gin_trgm_ops)",
        "CREATE INDEX scratch_expression ON resources USING gin (upper(arn) gin_trgm_ops)",
    ] {
        sqlx::query(ddl).execute(&pool).await.unwrap();
    }
    assert_eq!(
        found(pool).await,
        vec!["scratch_gin", "scratch_gist", "scratch_mixed"]
    );
}

/// Deleting an account deletes its jobs, scans, findings and decisions,
/// and for each deleted row PostgreSQL looks up the rows that reference
/// it. Without an index that starts with the referencing column, that
/// lookup reads the whole table, every tenant's rows, once per deleted row:
/// an account with 200 scans and 2,000 findings took 50 s to delete beside
/// another account's 300,000 resources (`delete_bench`). So every foreign
/// key has a valid B-tree index whose first column is the one naming the
/// referenced row's `id` (a key without one is reported too); a partial
/// index counts only if its condition is that column being set. Keys to
/// `workspaces` are left out: a workspace is one row, never deleted in
/// production (its audit log refuses it), and its accounts are held here.
#[sqlx::test(migrator = "MIGRATOR")]
async fn every_reference_to_a_row_deleted_in_bulk_is_indexed(pool: PgPool) {
    async fn unindexed(pool: &PgPool) -> Vec<(String, String)> {
        sqlx::query_as(
            "WITH refs AS (
                 SELECT c.conrelid AS rel, c.conname::text AS name, ref.attnum, ref.attname
                 FROM pg_constraint c
                 LEFT JOIN LATERAL (
                     SELECT k.attnum, a.attname
                     FROM unnest(c.conkey, c.confkey) AS k(attnum, fattnum)
                     JOIN pg_attribute f ON f.attrelid = c.confrelid AND f.attnum = k.fattnum
                     JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum
                     WHERE f.attname = 'id'
                 ) ref ON true
                 WHERE c.contype = 'f' AND c.confrelid <> 'workspaces'::regclass
                 UNION
                 -- The references to scans and findings checked once per
                 -- statement (20261207000010-11): the trigger's arguments
                 -- name the old key and the referencing column.
                 SELECT t.tgrelid, args[1], a.attnum, a.attname
                 FROM pg_trigger t
                 CROSS JOIN LATERAL string_to_array(encode(t.tgargs, 'escape'), '\\000') AS args
                 LEFT JOIN pg_attribute a ON a.attrelid = t.tgrelid AND a.attname = args[2]
                 WHERE t.tgfoid IN ('check_scan_reference'::regproc, 'check_finding_reference'::regproc)
             )
             SELECT r.rel::regclass::text, r.name
             FROM refs r
             WHERE NOT EXISTS (
                 SELECT 1 FROM pg_index i
                 JOIN pg_class ix ON ix.oid = i.indexrelid
                 JOIN pg_am am ON am.oid = ix.relam
                 WHERE i.indrelid = r.rel AND i.indkey[0] = r.attnum
                   AND i.indisvalid AND am.amname = 'btree'
                   AND (i.indpred IS NULL
                        OR pg_get_expr(i.indpred, i.indrelid) = format('(%I IS NOT NULL)', r.attname))
             )
             ORDER BY 1, 2",
        )
        .fetch_all(pool)
        .await
        .unwrap()
    }
    assert_eq!(unindexed(&pool).await, Vec::<(String, String)>::new());

    // The check sees a missing index, and one that does not serve the key.
    sqlx::raw_sql(
        "DROP INDEX findings_last_scan;
         DROP INDEX scans_job; CREATE INDEX scans_job_brin ON scans USING brin (job_id);",
    )
    .execute(&pool)
    .await
    .unwrap();
    assert_eq!(
        unindexed(&pool).await,
        [
            (
                "findings".to_string(),
                "findings_last_scan_fkey".to_string()
            ),
            ("scans".to_string(), "scans_job_id_fkey".to_string()),
        ]
    );
}

/// Deleting an account deletes its scans, and every row a scan wrote goes
/// with the scan that last wrote it. A finding resolved by a later scan
/// names two of them: whichever the deletion reaches first, it must not
/// refuse (the newest first, as the index on the account's scans reads
/// them, is the order a large account's deletion takes).
#[sqlx::test(migrator = "MIGRATOR")]
async fn an_account_whose_findings_were_resolved_can_be_deleted(pool: PgPool) {
    let store = Store { pool };
    let account = account(&store).await;
    for (day, addresses) in [
        (1, &["eip-a", "eip-b"][..]),
        (2, &["eip-b"]),
        (3, &[]),
        (4, &["eip-a"]),
    ] {
        record(&store, &account, scan_of(day, addresses, &[], vec![])).await;
    }
    let resolved: i64 =
        sqlx::query_scalar("SELECT count(*) FROM findings WHERE resolved_scan_id IS NOT NULL")
            .fetch_one(&store.pool)
            .await
            .unwrap();
    assert_eq!(resolved, 1, "eip-b resolved by the third scan");
    let mut conn = store.pool.acquire().await.unwrap();
    // Read the account's scans through its index, newest first (a small
    // table is otherwise read in the order its rows were last written).
    sqlx::raw_sql("SET enable_seqscan = off; SET enable_bitmapscan = off")
        .execute(&mut *conn)
        .await
        .unwrap();
    sqlx::query("DELETE FROM accounts WHERE id = $1")
        .bind(account.id)
        .execute(&mut *conn)
        .await
        .expect("the account and everything its scans wrote are deleted");
    let left: (i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM scans), (SELECT count(*) FROM findings), (SELECT count(*) FROM resources)",
    )
    .fetch_one(&mut *conn)
    .await
    .unwrap();
    assert_eq!(left, (0, 0, 0));
}

/// Row-level security shows a row to the workspace its `workspace_id`
/// names, so a row must never pair one workspace's account (or scan) with
/// another workspace: the schema refuses it on every table a scan writes.
/// The evidence hash stays 64 lowercase hex digits. A deleted workspace
/// still takes all of its rows with it.
#[sqlx::test(migrator = "MIGRATOR")]
async fn a_row_cannot_pair_one_workspaces_account_with_another_workspace(pool: PgPool) {
    let store = Store { pool };
    let account = account(&store).await;
    let other = store.create_workspace("other", "other-xid").await.unwrap();
    let scan = store.begin_scan(&account, None).await.unwrap();
    let (inv, report) = scan_of(1, &["eip-a"], &[("vol-a", false)], vec![]);
    store
        .save_scan(scan, &account, None, &inv, &report)
        .await
        .unwrap();

    store.begin_scan(&account, None).await.unwrap();
    // Each statement copies one of the scan's own rows under the other workspace.
    let cross_tenant = [
        ("jobs_account_fkey",
         "INSERT INTO jobs (workspace_id, account_id) SELECT $1, id FROM accounts LIMIT 1"),
        ("scans_account_fkey",
         "INSERT INTO scans (workspace_id, account_id, status) SELECT $1, account_id, 'running' FROM scans LIMIT 1"),
        ("resources_last_scan_fkey",
         "INSERT INTO resources (workspace_id, account_id, arn, resource_type, resource_id, region, tags, attributes, first_seen, last_seen, last_scan_id)
          SELECT $1, account_id, arn || '-copy', resource_type, resource_id, region, tags, attributes, first_seen, last_seen, last_scan_id FROM resources LIMIT 1"),
        ("resource_history_scan_fkey",
         "INSERT INTO resource_history (workspace_id, account_id, arn, scan_id, observed_at, change)
          SELECT $1, account_id, arn, scan_id, observed_at, change FROM resource_history LIMIT 1"),
        ("findings_last_scan_fkey",
         "INSERT INTO findings (workspace_id, account_id, check_id, resource_arn, resource_type, resource_id, region, severity, category,
                                title, message, evidence, evidence_sha256, status, first_seen, last_seen, last_scan_id)
          SELECT $1, account_id, check_id, resource_arn || '-copy', resource_type, resource_id, region, severity, category,
                 title, message, evidence, evidence_sha256, status, first_seen, last_seen, last_scan_id FROM findings LIMIT 1"),
        ("resource_arn_prefixes_account_fkey",
         "INSERT INTO resource_arn_prefixes (workspace_id, account_id, resource_type, region, prefix)
          SELECT $1, account_id, resource_type, region || '-copy', prefix FROM resource_arn_prefixes LIMIT 1"),
        ("scan_finding_changes_scan_fkey",
         // Into the account's next scan, so that no key of the original conflicts.
         "INSERT INTO scan_finding_changes (workspace_id, scan_id, finding_id, change)
          SELECT $1, (SELECT id FROM scans WHERE status = 'running'), finding_id, change FROM scan_finding_changes LIMIT 1"),
    ];
    for (constraint, statement) in cross_tenant {
        let err = sqlx::query(statement)
            .bind(other.id)
            .execute(&store.pool)
            .await
            .expect_err(constraint);
        let db = err.as_database_error().expect("a database error");
        assert_eq!(db.constraint(), Some(constraint), "{db}");
    }

    // Nor name a scan of another account, in the same workspace: a scan's
    // resources, history and findings are its own account's.
    let workspace: sightline_store::accounts::Workspace = sqlx::query_as(
        "SELECT id, name, external_id, member_role_name FROM workspaces WHERE id = $1",
    )
    .bind(account.workspace_id)
    .fetch_one(&store.pool)
    .await
    .unwrap();
    let sibling = store
        .add_account(
            &workspace,
            &NewAccount {
                aws_account_id: "210987654321".into(),
                ..NewAccount::default()
            },
        )
        .await
        .unwrap();
    let sibling_scan = store.begin_scan(&sibling, None).await.unwrap();
    let other_accounts_scan = [
        ("resources_last_scan_fkey",
         "INSERT INTO resources (workspace_id, account_id, arn, resource_type, resource_id, region, tags, attributes, first_seen, last_seen, last_scan_id)
          SELECT workspace_id, account_id, arn || '-copy', resource_type, resource_id, region, tags, attributes, first_seen, last_seen, $1 FROM resources LIMIT 1"),
        ("resource_history_scan_fkey",
         "INSERT INTO resource_history (workspace_id, account_id, arn, scan_id, observed_at, change)
          SELECT workspace_id, account_id, arn, $1, observed_at, change FROM resource_history LIMIT 1"),
        ("findings_last_scan_fkey",
         "INSERT INTO findings (workspace_id, account_id, check_id, resource_arn, resource_type, resource_id, region, severity, category,
                                title, message, evidence, evidence_sha256, status, first_seen, last_seen, last_scan_id)
          SELECT workspace_id, account_id, check_id, resource_arn || '-copy', resource_type, resource_id, region, severity, category,
                 title, message, evidence, evidence_sha256, status, first_seen, last_seen, $1 FROM findings LIMIT 1"),
    ];
    for (constraint, statement) in other_accounts_scan {
        let err = sqlx::query(statement)
            .bind(sibling_scan)
            .execute(&store.pool)
            .await
            .expect_err(constraint);
        let db = err.as_database_error().expect("a database error");
        assert_eq!(db.constraint(), Some(constraint), "{db}");
    }

    let finding: uuid::Uuid = sqlx::query_scalar("SELECT id FROM findings LIMIT 1")
        .fetch_one(&store.pool)
        .await
        .unwrap();
    let set_hash = |hash: String| {
        let pool = store.pool.clone();
        async move {
            sqlx::query("UPDATE findings SET evidence_sha256 = $2 WHERE id = $1")
                .bind(finding)
                .bind(hash)
                .execute(&pool)
                .await
        }
    };
    for bad in [
        "A".repeat(64),
        "a".repeat(63),
        "a".repeat(65),
        format!("{}g", "a".repeat(63)),
        format!("{} ", "a".repeat(63)),
        // 64 bytes in 63 characters: the rule counts characters, as before.
        format!("{}é", "a".repeat(62)),
        String::new(),
    ] {
        let err = set_hash(bad.clone()).await.expect_err(&bad);
        assert_eq!(
            err.as_database_error().and_then(|e| e.constraint()),
            Some("findings_evidence_sha256_check"),
            "{bad:?}"
        );
    }
    set_hash("0123456789abcdef".repeat(4)).await.unwrap();

    // A deleted account takes its scans, and with them every row they wrote.
    let rows = || {
        sqlx::query_as::<_, (i64, i64, i64, i64, i64)>(
            "SELECT (SELECT count(*) FROM resources), (SELECT count(*) FROM resource_history),
                    (SELECT count(*) FROM findings), (SELECT count(*) FROM scan_finding_changes),
                    (SELECT count(*) FROM scans)",
        )
        .fetch_one(&store.pool)
    };
    let (resources, history, findings, changes, scans) = rows().await.unwrap();
    assert!(resources > 0 && history > 0 && findings > 0 && changes > 0 && scans == 3);
    sqlx::query("DELETE FROM accounts WHERE id = $1")
        .bind(account.id)
        .execute(&store.pool)
        .await
        .unwrap();
    assert_eq!(
        rows().await.unwrap(),
        (0, 0, 0, 0, 1),
        "a deleted account left rows behind (the sibling's one scan stays)"
    );

    sqlx::query("DELETE FROM workspaces WHERE id = $1")
        .bind(account.workspace_id)
        .execute(&store.pool)
        .await
        .unwrap();
    assert_eq!(
        rows().await.unwrap(),
        (0, 0, 0, 0, 0),
        "a deleted workspace left rows behind"
    );
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn attempts_are_counted_and_a_job_fails_for_good(pool: PgPool) {
    let store = Store { pool };
    let account = account(&store).await;
    let job_id = store.enqueue_scan(account.id, 2).await.unwrap();
    for attempt in 1..=2 {
        let job = store
            .claim_job("w", Duration::from_secs(30))
            .await
            .unwrap()
            .expect("claimable");
        assert_eq!(job.attempts, attempt);
        let recorded = store
            .fail_job(&job, "AccessDenied: sts:AssumeRole", Duration::ZERO)
            .await
            .unwrap();
        use sightline_store::jobs::Failed;
        assert_eq!(
            recorded,
            if attempt == 2 {
                Failed::ForGood
            } else {
                Failed::WillRetry
            }
        );
    }
    assert!(store
        .claim_job("w", Duration::from_secs(30))
        .await
        .unwrap()
        .is_none());
    let job = store.job(job_id).await.unwrap();
    assert_eq!(job.status, "failed");
    assert_eq!(
        job.last_error.as_deref(),
        Some("AccessDenied: sts:AssumeRole")
    );
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn two_workers_enqueue_a_scheduled_scan_once(pool: PgPool) {
    let store = Store { pool };
    let ws = store.create_workspace("acme", "x-id").await.unwrap();
    for id in ["111111111111", "222222222222"] {
        let new = NewAccount {
            aws_account_id: id.into(),
            schedule: Some("6 hours".into()),
            ..NewAccount::default()
        };
        store.add_account(&ws, &new).await.unwrap();
    }
    let (a, b) = tokio::join!(store.enqueue_due_scans(), store.enqueue_due_scans());
    assert_eq!(a.unwrap() + b.unwrap(), 2, "one job per account");
    assert_eq!(
        store.enqueue_due_scans().await.unwrap(),
        0,
        "not due again for 6 hours"
    );
    let jobs: i64 = sqlx::query_scalar("SELECT count(*) FROM jobs")
        .fetch_one(&store.pool)
        .await
        .unwrap();
    assert_eq!(jobs, 2);
}

async fn audit_chain(store: &Store) -> uuid::Uuid {
    let ws = store.create_workspace("audited", "x-id").await.unwrap();
    for (actor, action, target) in [
        ("alice", "sign_in", ""),
        ("alice", "role_change", "bob"),
        ("bob", "approve", "finding-1"),
        ("alice", "export", "findings.csv"),
    ] {
        store
            .append_audit(
                ws.id,
                actor,
                action,
                target,
                serde_json::json!({"ip": "127.0.0.1"}),
            )
            .await
            .unwrap();
    }
    ws.id
}

/// Tamper as the table owner would, with the append-only trigger switched off.
async fn tamper(store: &Store, statements: &str) {
    let sql = format!("ALTER TABLE audit_log DISABLE TRIGGER USER; {statements}; ALTER TABLE audit_log ENABLE TRIGGER USER;");
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
        .execute(&store.pool)
        .await
        .unwrap();
}

async fn broken(store: &Store) -> Option<sightline_crypto::chain::BrokenLink> {
    store.verify_audit().await.unwrap().0.err()
}

/// The chain and the head row are read as one snapshot: a verifier racing
/// appends never sees a chain that ends before its head row (which it would
/// report as deleted records: a false alarm that also stops the worker
/// publishing the head).
#[sqlx::test(migrator = "MIGRATOR")]
async fn verifying_while_records_are_appended_never_reports_a_cut_trail(pool: PgPool) {
    let store = Store { pool };
    let ws = audit_chain(&store).await;
    let appender = {
        let store = Store {
            pool: store.pool.clone(),
        };
        tokio::spawn(async move {
            for i in 0..300 {
                store
                    .append_audit(
                        ws,
                        "alice",
                        "sign_in",
                        &format!("n{i}"),
                        serde_json::json!({}),
                    )
                    .await
                    .unwrap();
            }
        })
    };
    let mut checks = 0;
    while !appender.is_finished() || checks == 0 {
        let snapshot = store.audit_snapshot().await.unwrap();
        assert_eq!(snapshot.chain, Ok(()));
        let head = store.verify_audit_head(&snapshot, &[]).await.unwrap();
        assert_eq!(head, Ok(()), "after {checks} clean checks");
        checks += 1;
    }
    appender.await.unwrap();
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn the_audit_log_is_append_only_and_verifies(pool: PgPool) {
    let store = Store { pool };
    audit_chain(&store).await;
    let (result, head) = store.verify_audit().await.unwrap();
    assert_eq!(result, Ok(()));
    assert_eq!(head.unwrap().sequence, 4);
    for statement in [
        "UPDATE audit_log SET actor = 'mallory'",
        "DELETE FROM audit_log WHERE sequence = 2",
        "TRUNCATE audit_log",
    ] {
        let err = sqlx::raw_sql(sqlx::AssertSqlSafe(statement))
            .execute(&store.pool)
            .await
            .unwrap_err();
        assert!(
            err.to_string().contains("audit_log is append-only"),
            "{statement}: {err}"
        );
    }
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn audit_verify_finds_an_edited_record(pool: PgPool) {
    let store = Store { pool };
    audit_chain(&store).await;
    tamper(
        &store,
        "UPDATE audit_log SET target = 'mallory' WHERE sequence = 2",
    )
    .await;
    assert_eq!(
        broken(&store).await,
        Some(sightline_crypto::chain::BrokenLink::Edited { sequence: 2 })
    );
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn audit_verify_finds_a_deleted_record(pool: PgPool) {
    let store = Store { pool };
    audit_chain(&store).await;
    tamper(&store, "DELETE FROM audit_log WHERE sequence = 3").await;
    assert_eq!(
        broken(&store).await,
        Some(sightline_crypto::chain::BrokenLink::Sequence {
            sequence: 4,
            expected: 3
        })
    );
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn audit_verify_finds_an_inserted_record(pool: PgPool) {
    let store = Store { pool };
    let ws = audit_chain(&store).await;
    // Make room after record 2 and forge a well-formed record there.
    tamper(&store, "UPDATE audit_log SET sequence = sequence + 100 WHERE sequence >= 3; UPDATE audit_log SET sequence = sequence - 99 WHERE sequence >= 103").await;
    let previous: String = sqlx::query_scalar("SELECT hash FROM audit_log WHERE sequence = 2")
        .fetch_one(&store.pool)
        .await
        .unwrap();
    let at = chrono::Utc
        .with_ymd_and_hms(2026, 11, 23, 12, 0, 0)
        .unwrap();
    let details = serde_json::json!({});
    let canonical =
        sightline_store::audit::canonical(3, ws, at, "mallory", "approve", "finding-9", &details);
    let hash = sightline_crypto::chain::link_hash(&previous, &canonical);
    sqlx::query("INSERT INTO audit_log (sequence, workspace_id, occurred_at, actor, action, target, details, previous_hash, hash) VALUES (3, $1, $2, 'mallory', 'approve', 'finding-9', $3, $4, $5)")
        .bind(ws)
        .bind(at)
        .bind(&details)
        .bind(&previous)
        .bind(&hash)
        .execute(&store.pool)
        .await
        .unwrap();
    assert_eq!(
        broken(&store).await,
        Some(sightline_crypto::chain::BrokenLink::Unlinked { sequence: 4 })
    );
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn audit_verify_finds_reordered_records(pool: PgPool) {
    let store = Store { pool };
    audit_chain(&store).await;
    tamper(&store, "UPDATE audit_log SET sequence = CASE sequence WHEN 2 THEN 1002 WHEN 3 THEN 1003 END WHERE sequence IN (2, 3); UPDATE audit_log SET sequence = CASE sequence WHEN 1002 THEN 3 WHEN 1003 THEN 2 END WHERE sequence IN (1002, 1003)").await;
    assert_eq!(
        broken(&store).await,
        Some(sightline_crypto::chain::BrokenLink::Unlinked { sequence: 2 })
    );
}

/// An EBS scan on `day` whose one volume is encrypted or not, assessed
/// against every framework as the worker does.
fn ebs_scan(day: u32, encrypted: bool) -> (Inventory, ScanReport) {
    let mut inv = Inventory::new("123456789012");
    inv.regions = vec!["us-east-1".into()];
    inv.services = vec!["ec2".into()];
    let mut vol = volume("vol-cis", true);
    vol.encrypted = encrypted;
    inv.ec2.volumes = vec![vol];
    inv.ec2
        .ebs_encryption_by_default
        .insert("us-east-1".into(), true);
    let checks: Vec<_> = catalog()
        .into_iter()
        .filter(|c| ["ebs.volume_unencrypted", "ebs.encryption_by_default_off"].contains(&c.id))
        .collect();
    let now = Utc.with_ymd_and_hms(2026, 11, day, 12, 0, 0).unwrap();
    let mut report = evaluate(&inv, &checks, &CheckContext::new(now), ScanStats::default());
    report.compliance = sightline_core::compliance::assess_all_counted(&report);
    (inv, report)
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn each_scan_keeps_its_controls_and_the_next_shows_which_changed(pool: PgPool) {
    use sightline_store::compliance::{changes, latest, pass_rates, ControlChange};
    let store = Store { pool };
    let account = account(&store).await;
    let (first, _) = record(&store, &account, ebs_scan(1, false)).await;
    // The worker counts a control's findings without listing them: the
    // count is what is kept.
    let mut tx = store
        .begin_workspace_tx(account.workspace_id)
        .await
        .unwrap();
    let then = latest(&mut tx, "cis-3.0").await.unwrap();
    let ebs = then.iter().find(|c| c.control_id == "2.2.1").unwrap();
    assert_eq!(
        (ebs.scan_id, ebs.status.as_str(), ebs.findings),
        (first, "fail", 1)
    );
    tx.commit().await.unwrap();
    let (second, _) = record(&store, &account, ebs_scan(2, true)).await;

    let mut tx = store
        .begin_workspace_tx(account.workspace_id)
        .await
        .unwrap();
    let now = latest(&mut tx, "cis-3.0").await.unwrap();
    let ebs = now.iter().find(|c| c.control_id == "2.2.1").unwrap();
    assert_eq!(
        (ebs.scan_id, ebs.status.as_str(), ebs.findings),
        (second, "pass", 0)
    );
    assert_eq!(now.len(), 62, "every control of the latest scan, once");
    let manual = now.iter().find(|c| c.control_id == "1.1").unwrap();
    assert_eq!(manual.status, "manual");

    let rates = pass_rates(&mut tx, "cis-3.0", 10).await.unwrap();
    let summary: Vec<(i64, i64, i64)> = rates
        .iter()
        .map(|r| (r.pass, r.fail, r.not_evaluated))
        .collect();
    // 54 automated controls: 2.2.1 fails, then passes; the rest did not run.
    assert_eq!(summary, [(0, 1, 53), (1, 0, 53)]);

    let changed = changes(&mut tx, first, second).await.unwrap();
    let change = |framework: &str, control: &str| ControlChange {
        framework: framework.into(),
        control_id: control.into(),
        before: Some("fail".into()),
        after: Some("pass".into()),
    };
    // v7.0's EBS control is decided by default encryption alone: unchanged.
    assert_eq!(
        changed,
        [change("cis-3.0", "2.2.1"), change("cis-5.0", "5.1.1")]
    );
    tx.commit().await.unwrap();

    let other = store
        .create_workspace("other", "other-external-id")
        .await
        .unwrap();
    let mut tx = store.begin_workspace_tx(other.id).await.unwrap();
    assert!(latest(&mut tx, "cis-3.0").await.unwrap().is_empty());
    assert!(changes(&mut tx, first, second).await.unwrap().is_empty());
}
