//! Account-deletion benchmark (run by `make bench`): how long deleting one
//! account takes when it has many scans and findings and another account
//! of the workspace holds a large estate. Deleting an account deletes its
//! scans, jobs, findings and decisions, and PostgreSQL looks up what
//! references each deleted row; this measures that those lookups are index
//! probes, not reads of every tenant's rows. The deleted account has
//! `scans` scans and `findings` resources, each with a history row and a
//! finding that every one of its scans saw (a change row per scan); the
//! kept one has `others` resources, their history, and a finding for one
//! in ten. With `unindexed` it first drops the indexes of migrations
//! 20261207000002-6, to show what they save.
//! Uses a database of its own on the server `DATABASE_URL` names, dropped
//! afterwards. Reports; never fails on a figure.
//!
//!     cargo run --release -p sightline-store --example delete_bench -- 200 2000 300000 [unindexed]

mod support;

use std::time::Instant;

use sightline_store::accounts::NewAccount;
use sightline_store::Store;

const REFERENCE_INDEXES: &str = "DROP INDEX resources_last_scan, resource_history_scan, findings_last_scan,
     findings_resolved_scan, findings_decision, scan_finding_changes_finding, decisions_resolved_scan,
     scans_job, scan_open_counts_account, sessions_user, api_keys_created_by";

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let scans: i32 = args.next().as_deref().unwrap_or("200").parse()?;
    let findings: i32 = args.next().as_deref().unwrap_or("2000").parse()?;
    let others: i32 = args.next().as_deref().unwrap_or("300000").parse()?;
    let unindexed = args.next().as_deref() == Some("unindexed");
    let db = support::BenchDatabase::create().await?;
    let url = db.url.clone();
    let result = async {
        let store = Store::connect(&url).await?;
        store.migrate().await?;
        if unindexed {
            sqlx::raw_sql(REFERENCE_INDEXES).execute(&store.pool).await?;
        }
        let ws = store.create_workspace("bench", "bench-xid").await?;
        let mut accounts = Vec::new();
        for aws in ["111111111111", "222222222222"] {
            let new = NewAccount {
                aws_account_id: aws.into(),
                ..NewAccount::default()
            };
            accounts.push(store.add_account(&ws, &new).await?);
        }
        let (gone, kept) = (&accounts[0], &accounts[1]);
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "INSERT INTO scans (workspace_id, account_id, status, started_at)
                 SELECT '{w}', '{gone}', 'succeeded', now() - g * interval '1 day' FROM generate_series(1, {scans}) g;
             INSERT INTO scans (workspace_id, account_id, status) VALUES ('{w}', '{kept}', 'succeeded');
             INSERT INTO resources (workspace_id, account_id, arn, resource_type, resource_id, region, tags, attributes,
                                    first_seen, last_seen, last_scan_id)
                 SELECT '{w}', a.id, 'arn:bench:' || a.id || ':' || g, 'ec2.volume', 'vol-' || g, 'us-east-1', '{{}}', '{{}}',
                        now(), now(), (SELECT id FROM scans s WHERE s.account_id = a.id ORDER BY started_at DESC LIMIT 1)
                 FROM accounts a, generate_series(1, CASE WHEN a.id = '{gone}' THEN {findings} ELSE {others} END) g;
             INSERT INTO resource_history (workspace_id, account_id, arn, scan_id, observed_at, change)
                 SELECT workspace_id, account_id, arn, last_scan_id, now(), 'appeared' FROM resources;
             INSERT INTO findings (workspace_id, account_id, check_id, resource_arn, resource_type, resource_id, region,
                                   severity, category, title, message, evidence, evidence_sha256, status,
                                   first_seen, last_seen, last_scan_id)
                 SELECT workspace_id, account_id, 'bench.check', arn, resource_type, resource_id, region, 'low', 'cost',
                        'bench', 'bench', '{{}}', repeat('a', 64), 'open', now(), now(), last_scan_id
                 FROM resources WHERE account_id = '{gone}' OR resource_id LIKE '%3';
             -- Each of the deleted account's findings in every one of its scans; the kept one's in its one.
             INSERT INTO scan_finding_changes (workspace_id, scan_id, finding_id, change)
                 SELECT f.workspace_id, s.id, f.id, CASE WHEN s.id = f.last_scan_id THEN 'new' ELSE 'still_open' END
                 FROM findings f JOIN scans s ON s.account_id = f.account_id;
             ANALYZE;",
            w = ws.id,
            gone = gone.id,
            kept = kept.id,
        )))
        .execute(&store.pool)
        .await?;
        let changes: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM scan_finding_changes c JOIN scans s ON s.id = c.scan_id WHERE s.account_id = $1",
        )
        .bind(gone.id)
        .fetch_one(&store.pool)
        .await?;
        let started = Instant::now();
        sqlx::query("DELETE FROM accounts WHERE id = $1")
            .bind(gone.id)
            .execute(&store.pool)
            .await?;
        let took = started.elapsed().as_secs_f64();
        println!(
            "{:>6} {:>9} {:>9} {:>16} {:>10} {:>12}",
            "scans", "findings", "changes", "other resources", "indexes", "delete s"
        );
        println!(
            "{:>6} {:>9} {:>9} {:>16} {:>10} {:>12.3}",
            scans,
            findings,
            changes,
            others,
            if unindexed { "dropped" } else { "present" },
            took
        );
        store.pool.close().await;
        Ok::<_, Box<dyn std::error::Error>>(())
    }
    .await;
    db.drop().await?;
    result
}
