//! Kill test at Organization scale: an AWS Organization of 50 member
//! accounts is registered through Organizations discovery with a schedule,
//! and three `sightline worker` processes run two (or more) scheduled rounds
//! while one of them is killed with SIGKILL at random moments while a round
//! runs, twenty times in all, about half in each round.
//! Afterwards every account was scanned exactly once per round (one job per
//! account and scheduled time, one finished scan per job), every member's
//! resources are present once, and no scan is left `running`.

mod support;

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use support::db::{execute, sql, TestDatabase};
use support::Emulator;

const WORKERS: usize = 3;
const KILLS: usize = 20;
const MEMBERS: usize = 50;
/// At least two scheduled rounds, so the second is proved to come once too.
const ROUNDS: usize = 2;

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
fn every_account_is_scanned_once_per_round_while_workers_are_killed() {
    let emulator = Emulator::start(&format!("fleet:{MEMBERS}"));
    let db = TestDatabase::create();
    emulator.succeed(&db.url, &["migrate"]);
    // Kills cost attempts, and a scheduled job gets 3: a generous default
    // keeps this test about exactly-once, not about giving up.
    execute(
        &db.url,
        "ALTER TABLE jobs ALTER COLUMN max_attempts SET DEFAULT 100",
    );
    let external_id = emulator.seed["external_id"].as_str().unwrap();
    emulator.succeed(
        &db.url,
        &["workspace", "add", "fleet", "--external-id", external_id],
    );
    emulator.succeed(
        &db.url,
        &[
            "account",
            "discover",
            "--workspace",
            "fleet",
            "--regions",
            "us-east-1",
            "--schedule",
            "1 hour",
        ],
    );
    // The members and the management account, each due now.
    let accounts = MEMBERS + 1;
    assert_eq!(
        sql(
            &db.url,
            "SELECT count(*) FROM accounts WHERE source = 'organizations' AND next_scan_at <= now() AND regions = '{us-east-1}'"
        ),
        accounts.to_string()
    );

    let mut workers: Vec<Child> = (0..WORKERS)
        .map(|n| spawn_worker(&emulator, &db, n, 0))
        .collect();
    let mut dice = Dice(0x5157_4c1e_9e37_79b9 ^ std::process::id() as u64);
    let mut kills = 0;
    let mut rounds = 1;
    let deadline = Instant::now() + Duration::from_secs(400);
    loop {
        assert!(
            Instant::now() < deadline,
            "round {rounds} did not finish: {}",
            sql(
                &db.url,
                "SELECT string_agg(status || ':' || attempts, ',') FROM jobs WHERE status <> 'succeeded'"
            )
        );
        std::thread::sleep(Duration::from_millis(150 + dice.next(900)));
        let succeeded: usize = sql(
            &db.url,
            "SELECT count(*) FROM jobs WHERE status = 'succeeded'",
        )
        .parse()
        .unwrap();
        // `>=`: more jobs than accounts would fail the checks below, not time out.
        let round_done = succeeded >= accounts * rounds;
        // At most half the kills in each round, each while the round still
        // runs (a round that ends early leaves its share to one more round).
        if !round_done && kills < KILLS / ROUNDS * rounds {
            let n = dice.next(WORKERS as u64) as usize;
            workers[n].kill().expect("SIGKILL");
            workers[n].wait().unwrap();
            kills += 1;
            workers[n] = spawn_worker(&emulator, &db, n, kills);
        }
        if round_done {
            if rounds >= ROUNDS && kills >= KILLS {
                break;
            }
            // The schedule's next time comes at once: the workers queue the
            // next round themselves, and kills keep landing on a busy fleet.
            execute(&db.url, "UPDATE accounts SET next_scan_at = now()");
            rounds += 1;
        }
    }
    for mut w in workers {
        let _ = w.kill();
        let _ = w.wait();
    }

    // Exactly once per round: each account has one job per round, each at a
    // scheduled time of its own, and each job has exactly one finished scan.
    assert_eq!(
        sql(&db.url, "SELECT string_agg(DISTINCT status, ',') FROM jobs"),
        "succeeded"
    );
    let once = format!(
        "SELECT count(*) FROM accounts a WHERE
             (SELECT count(*) FROM jobs j WHERE j.account_id = a.id) <> {rounds}
          OR (SELECT count(DISTINCT scheduled_for) FROM jobs j WHERE j.account_id = a.id) <> {rounds}"
    );
    assert_eq!(
        sql(&db.url, &once),
        "0",
        "an account not scanned once per round"
    );
    assert_eq!(
        sql(&db.url, "SELECT count(*) FROM jobs j WHERE (SELECT count(*) FROM scans s WHERE s.job_id = j.id AND s.status IN ('succeeded', 'partial')) <> 1"),
        "0",
        "a job without exactly one finished scan"
    );
    assert_eq!(
        sql(
            &db.url,
            "SELECT count(*) FROM scans WHERE status = 'running'"
        ),
        "0",
        "no scan stuck in running"
    );
    // Every member holds its own estate, present once (the key is (account,
    // ARN)), and its open SSH group is one finding.
    let members: Vec<String> = emulator.seed["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            format!(
                "('{}', '{}')",
                m["account_id"].as_str().unwrap(),
                m["name"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(members.len(), MEMBERS);
    let wrong = format!(
        "SELECT coalesce(string_agg(m.name, ','), '') FROM (VALUES {}) AS m(account, name)
         JOIN accounts a ON a.aws_account_id = m.account
         WHERE (SELECT string_agg(r.name, ',' ORDER BY r.name) FROM resources r
                WHERE r.account_id = a.id AND r.name LIKE m.name || '-%' AND r.gone_at IS NULL)
               IS DISTINCT FROM m.name || '-data,' || m.name || '-spare,' || m.name || '-ssh'
            OR (SELECT count(*) FROM resources r WHERE r.account_id = a.id AND r.name LIKE 'fleet-%') <> 3
            OR (SELECT count(*) FROM findings f JOIN resources r ON r.account_id = f.account_id AND r.arn = f.resource_arn
                WHERE f.account_id = a.id AND f.check_id = 'ec2.sg_open_admin_ports' AND r.name = m.name || '-ssh') <> 1",
        members.join(", ")
    );
    assert_eq!(sql(&db.url, &wrong), "", "members whose estate is wrong");
    assert_eq!(
        sql(
            &db.url,
            "SELECT count(*) FROM findings WHERE check_id = 'ec2.sg_open_admin_ports'"
        ),
        MEMBERS.to_string()
    );
    eprintln!(
        "{kills} kills over {rounds} round(s) of {accounts} accounts; attempts: {}",
        sql(&db.url, "SELECT sum(attempts) FROM jobs")
    );
}
