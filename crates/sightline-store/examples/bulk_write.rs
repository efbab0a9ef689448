//! Bulk-write benchmark (run by `make bench`): how fast a scan's resources
//! and findings go into PostgreSQL, first write and rewrite, at several
//! sizes, with the process's peak RSS before the write (the inventory and
//! the evaluated report) and after it. Uses a database of its own on the
//! server `DATABASE_URL` names, dropped afterwards. Reports; never fails on
//! a figure.
//!
//!     cargo run --release -p sightline-store --example bulk_write -- 10000 100000
//!
//! `BULK_WRITE_VARIANT_SQL` runs SQL on the bench's database before the
//! first write, to measure what a change to the schema costs or saves
//! (`docs/benchmarks.md` lists those measured).

mod support;

use std::time::Instant;

use sightline_core::evaluate::{evaluate, ScanStats};
use sightline_core::inventory::ec2::Volume;
use sightline_core::{catalog, CheckContext, Inventory, ResourceMeta};
use sightline_store::accounts::NewAccount;
use sightline_store::Store;

// The allocator of the `sightline` binary, whose write this measures.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn inventory(size: usize) -> Inventory {
    let mut inv = Inventory::new("123456789012");
    inv.regions = vec!["us-east-1".into()];
    inv.services = vec!["ec2".into()];
    inv.ec2.volumes = (0..size)
        .map(|i| {
            let id = format!("vol-{i:017x}");
            let mut meta = ResourceMeta::new(
                "ec2.volume",
                &id,
                &format!("arn:aws:ec2:us-east-1:123456789012:volume/{id}"),
                "us-east-1",
            );
            meta.name = Some(format!("bench-{i}"));
            meta.tags.insert("team".into(), format!("team-{}", i % 17));
            Volume {
                meta,
                volume_type: if i % 3 == 0 { "gp2" } else { "gp3" }.into(),
                size_gib: 8 + (i % 500) as i64,
                iops: Some(3000),
                throughput: None,
                encrypted: i % 5 != 0,
                // Half are unattached: a finding each, besides gp2 and unencrypted ones.
                state: if i % 2 == 0 { "available" } else { "in-use" }.into(),
                attached_instance_ids: if i % 2 == 0 {
                    vec![]
                } else {
                    vec![format!("i-{i:017x}")]
                },
                availability_zone: Some("us-east-1a".into()),
                create_time: None,
            }
        })
        .collect();
    inv
}

/// Seconds of CPU this process has used (user and system): what the write
/// costs on the worker's side, while the database waits for it.
fn cpu_seconds() -> f64 {
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|stat| {
            // Fields after the command name: utime and stime are the 12th and 13th.
            let fields: Vec<&str> = stat.rsplit(')').next()?.split_whitespace().collect();
            let ticks = |i: usize| fields.get(i)?.parse::<f64>().ok();
            Some((ticks(11)? + ticks(12)?) / 100.0)
        })
        .unwrap_or(0.0)
}

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map(|kib| kib / 1024.0)
        .unwrap_or(0.0)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let sizes: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse())
        .collect::<Result<_, _>>()?;
    let db = support::BenchDatabase::create().await?;
    let url = db.url.clone();
    let result = async {
        let store = Store::connect(&url).await?;
        store.migrate().await?;
        // A variant to measure (an index or key dropped, a setting changed):
        // SQL run once on the bench's own database before the first write.
        if let Ok(variant) = std::env::var("BULK_WRITE_VARIANT_SQL") {
            println!("variant: {variant}");
            sqlx::raw_sql(sqlx::AssertSqlSafe(variant))
                .execute(&store.pool)
                .await?;
        }
        let ws = store.create_workspace("bench", "bench-xid").await?;
        println!(
            "{:>9} {:>9} {:>12} {:>15} {:>14} {:>14} {:>22} {:>12}",
            "resources",
            "findings",
            "first write s",
            "its client CPU s",
            "first res/s",
            "rewrite res/s",
            "peak RSS before write",
            "peak RSS MiB"
        );
        for (n, size) in sizes.iter().enumerate() {
            let account = store
                .add_account(
                    &ws,
                    &NewAccount {
                        aws_account_id: format!("{:012}", 100_000_000_000u64 + n as u64),
                        ..NewAccount::default()
                    },
                )
                .await?;
            let inv = inventory(*size);
            let checks = catalog();
            let mut report = evaluate(
                &inv,
                &checks,
                &CheckContext::new(chrono::Utc::now()),
                ScanStats::default(),
            );
            // As the worker does: the compliance it stores with the scan.
            report.compliance = sightline_core::compliance::assess_all_counted(&report);
            // The inventory and the report are the scan's own: what the
            // write adds on top of them is the difference.
            let before = peak_rss_mib();
            let cpu_before = cpu_seconds();
            let started = Instant::now();
            let scan = store.begin_scan(&account, None).await?;
            store.save_scan(scan, &account, None, &inv, &report).await?;
            let first = started.elapsed().as_secs_f64();
            let client_cpu = cpu_seconds() - cpu_before;
            let started = Instant::now();
            let scan = store.begin_scan(&account, None).await?;
            store.save_scan(scan, &account, None, &inv, &report).await?;
            let rewrite = started.elapsed().as_secs_f64();
            println!(
                "{:>9} {:>9} {:>12.2} {:>15.2} {:>14.0} {:>14.0} {:>22.1} {:>12.1}",
                size,
                report.findings.len(),
                first,
                client_cpu,
                *size as f64 / first,
                *size as f64 / rewrite,
                before,
                peak_rss_mib()
            );
        }
        store.pool.close().await;
        Ok::<_, Box<dyn std::error::Error>>(())
    }
    .await;
    db.drop().await?;
    result
}
