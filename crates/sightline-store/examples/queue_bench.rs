//! Queue benchmark (run by `make bench`): how many jobs a second the job
//! queue hands out and takes back, with N workers claiming (`Store::claim`,
//! `FOR UPDATE SKIP LOCKED`) and completing (`Store::complete_job`, the
//! statement a scan's write uses) at once against the local PostgreSQL, so
//! that the queue is known never to be what limits a fleet. Uses a database
//! of its own on the server `DATABASE_URL` names, dropped afterwards.
//! Reports; never fails on a figure.
//!
//!     cargo run --release -p sightline-store --example queue_bench -- 16 20000

mod support;

use std::time::{Duration, Instant};

use sightline_store::accounts::NewAccount;
use sightline_store::Store;
use sqlx::postgres::PgPoolOptions;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let workers: usize = args.next().as_deref().unwrap_or("16").parse()?;
    let jobs: i64 = args.next().as_deref().unwrap_or("20000").parse()?;
    let db = support::BenchDatabase::create().await?;
    let url = db.url.clone();
    let result = async {
        let pool = PgPoolOptions::new()
            .max_connections(workers as u32 + 1)
            .connect(&url)
            .await?;
        let store = Store { pool };
        store.migrate().await?;
        let ws = store.create_workspace("bench", "bench-xid").await?;
        // A hundred accounts, the jobs spread over them.
        let mut accounts = vec![];
        for n in 0..100u64 {
            let account = NewAccount {
                aws_account_id: format!("{:012}", 100_000_000_000u64 + n),
                ..NewAccount::default()
            };
            accounts.push(store.add_account(&ws, &account).await?.id);
        }
        sqlx::query(
            "INSERT INTO jobs (workspace_id, account_id)
             SELECT $1, ($2::uuid[])[1 + g % 100] FROM generate_series(0, $3 - 1) g",
        )
        .bind(ws.id)
        .bind(&accounts)
        .bind(jobs)
        .execute(&store.pool)
        .await?;
        sqlx::query("ANALYZE jobs").execute(&store.pool).await?;

        let started = Instant::now();
        let mut tasks = vec![];
        for w in 0..workers {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                let mut latencies = vec![];
                loop {
                    let t = Instant::now();
                    let Some(job) = store
                        .claim_job(&format!("bench-{w}"), Duration::from_secs(300))
                        .await?
                    else {
                        return Ok::<_, sightline_store::StoreError>(latencies);
                    };
                    store.complete_job(&job).await?;
                    latencies.push(t.elapsed());
                }
            }));
        }
        let mut latencies = vec![];
        for task in tasks {
            latencies.extend(task.await??);
        }
        let elapsed = started.elapsed().as_secs_f64();
        latencies.sort();
        let at = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
        let done: i64 =
            sqlx::query_scalar("SELECT count(*) FROM jobs WHERE status = 'succeeded'")
                .fetch_one(&store.pool)
                .await?;
        println!("command: cargo run --release -p sightline-store --example queue_bench -- {workers} {jobs}");
        println!(
            "{:>7} {:>7} {:>9} {:>7} {:>14} {:>14}",
            "workers", "jobs", "succeeded", "s", "jobs/s", "p50/p99 ms"
        );
        println!(
            "{:>7} {:>7} {:>9} {:>7.2} {:>14.0} {:>8.2}/{:.2}",
            workers,
            jobs,
            done,
            elapsed,
            latencies.len() as f64 / elapsed,
            at(0.5).as_secs_f64() * 1e3,
            at(0.99).as_secs_f64() * 1e3
        );
        store.pool.close().await;
        Ok::<_, Box<dyn std::error::Error>>(())
    }
    .await;
    db.drop().await?;
    result
}
