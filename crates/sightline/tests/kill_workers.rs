//! Kill test: three `sightline worker` processes share ten accounts' scan
//! jobs while one of them is killed with SIGKILL at random moments, at least
//! 20 times. Afterwards every job completed exactly once, every account's
//! resources are present once, and no scan is left `running`.

mod support;

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use support::db::{sql, TestDatabase};
use support::Emulator;

const WORKERS: usize = 3;
const KILLS: usize = 20;

/// A small, seedless pseudo-random sequence (xorshift), enough to vary kill times.
struct Dice(u64);

impl Dice {
    fn next(&mut self, below: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % below
    }
}

fn spawn_worker(emulator: &Emulator, db: &TestDatabase, n: usize, generation: usize) -> Child {
    emulator
        .sightline()
        .env("DATABASE_URL", &db.url)
        .args([
            "worker",
            "--lease-seconds",
            "3",
            "--poll-seconds",
            "1",
            "--name",
        ])
        .arg(format!("w{n}-{generation}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start a worker")
}

#[test]
fn jobs_complete_exactly_once_while_workers_are_killed() {
    let emulator = Emulator::start("fleet:10");
    let db = TestDatabase::create();
    emulator.register_fleet(&db.url, Some("us-east-1"));
    // Kills cost attempts; a generous limit keeps the test about exactly-once, not give-up.
    let enqueue = || {
        emulator.succeed(
            &db.url,
            &["enqueue", "--workspace", "fleet", "--max-attempts", "100"],
        );
    };
    enqueue();

    let mut workers: Vec<Child> = (0..WORKERS)
        .map(|n| spawn_worker(&emulator, &db, n, 0))
        .collect();
    let mut dice = Dice(0x5157_4c1e_9e37_79b9 ^ std::process::id() as u64);
    let mut kills = 0;
    let mut rounds = 1;
    let deadline = Instant::now() + Duration::from_secs(240);
    loop {
        assert!(
            Instant::now() < deadline,
            "jobs did not finish: {}",
            sql(
                &db.url,
                "SELECT string_agg(status || ':' || attempts, ',') FROM jobs"
            )
        );
        std::thread::sleep(Duration::from_millis(150 + dice.next(900)));
        let unfinished: i64 = sql(
            &db.url,
            "SELECT count(*) FROM jobs WHERE status <> 'succeeded'",
        )
        .parse()
        .unwrap();
        if kills < KILLS {
            let n = dice.next(WORKERS as u64) as usize;
            workers[n].kill().expect("SIGKILL");
            workers[n].wait().unwrap();
            kills += 1;
            workers[n] = spawn_worker(&emulator, &db, n, kills);
            // Keep work in flight until every kill has landed on a busy fleet.
            if unfinished == 0 {
                enqueue();
                rounds += 1;
            }
        } else if unfinished == 0 {
            break;
        }
    }
    for mut w in workers {
        let _ = w.kill();
        let _ = w.wait();
    }

    let jobs = 10 * rounds;
    assert_eq!(
        sql(
            &db.url,
            "SELECT count(*) FROM jobs WHERE status = 'succeeded'"
        ),
        jobs.to_string()
    );
    // Exactly once: each job has exactly one finished scan.
    assert_eq!(
        sql(&db.url, "SELECT count(*) FROM jobs j WHERE (SELECT count(*) FROM scans s WHERE s.job_id = j.id AND s.status IN ('succeeded', 'partial')) <> 1"),
        "0"
    );
    assert_eq!(
        sql(
            &db.url,
            "SELECT count(*) FROM scans WHERE status = 'running'"
        ),
        "0",
        "no scan stuck in running"
    );
    // Every account holds the same estate, present once (the key is (account, ARN)).
    let per_account = sql(&db.url, "SELECT string_agg(DISTINCT n::text, ',') FROM (SELECT count(*) AS n FROM resources GROUP BY account_id) c");
    assert!(
        !per_account.contains(','),
        "accounts differ in resource counts: {per_account}"
    );
    assert_eq!(
        sql(&db.url, "SELECT count(DISTINCT account_id) FROM resources"),
        "10"
    );
    for i in 1..=10 {
        let q = format!("SELECT count(*) FROM resources r JOIN accounts a ON a.id = r.account_id WHERE a.aws_account_id = '{}' AND r.name LIKE 'fleet-{i}-%' AND r.gone_at IS NULL", 100000000000u64 + i);
        assert_eq!(
            sql(&db.url, &q),
            "3",
            "account {i}: two volumes and a security group"
        );
    }
    assert_eq!(
        sql(
            &db.url,
            "SELECT count(*) FROM findings WHERE check_id = 'ec2.sg_open_admin_ports'"
        ),
        "10"
    );
    eprintln!(
        "{kills} kills over {rounds} round(s) of 10 jobs; attempts: {}",
        sql(&db.url, "SELECT sum(attempts) FROM jobs")
    );
}
