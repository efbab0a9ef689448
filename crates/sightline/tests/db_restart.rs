//! PostgreSQL is restarted while a worker scans: the worker reconnects and
//! the job completes (retried if its write was lost); nothing is lost or
//! duplicated.

mod support;

use std::process::Stdio;
use std::time::{Duration, Instant};

use support::db::sql;
use support::private_pg::PrivatePostgres;
use support::Emulator;

#[test]
fn a_database_restart_mid_scan_loses_and_duplicates_nothing() {
    let emulator = Emulator::start("fleet:1");
    let pg = PrivatePostgres::start();
    let url = pg.url();
    emulator.register_fleet(&url, None);
    emulator.succeed(
        &url,
        &["enqueue", "--workspace", "fleet", "--max-attempts", "10"],
    );

    let mut worker = emulator
        .sightline()
        .env("DATABASE_URL", &url)
        .args(["worker", "--lease-seconds", "3", "--poll-seconds", "1"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();

    // Restart the moment a scan is under way.
    let deadline = Instant::now() + Duration::from_secs(60);
    while sql(&url, "SELECT count(*) FROM scans WHERE status = 'running'") == "0" {
        assert!(Instant::now() < deadline, "no scan started");
        std::thread::sleep(Duration::from_millis(20));
    }
    pg.restart();

    let deadline = Instant::now() + Duration::from_secs(90);
    let done = loop {
        let status = sql(&url, "SELECT string_agg(status, ',') FROM jobs");
        if status == "succeeded" || Instant::now() > deadline {
            break status;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let _ = worker.kill();
    let _ = worker.wait();
    assert_eq!(done, "succeeded", "the job completed after the restart");
    assert_eq!(
        sql(
            &url,
            "SELECT count(*) FROM scans WHERE status IN ('succeeded', 'partial')"
        ),
        "1",
        "one finished scan"
    );
    assert_eq!(
        sql(&url, "SELECT count(*) FROM scans WHERE status = 'running'"),
        "0"
    );
    assert_eq!(
        sql(
            &url,
            "SELECT count(*) FROM resources WHERE name LIKE 'fleet-1-%'"
        ),
        "3"
    );
    assert_eq!(
        sql(&url, "SELECT count(*) FROM resources"),
        sql(&url, "SELECT count(DISTINCT arn) FROM resources")
    );
    assert_eq!(
        sql(
            &url,
            "SELECT count(*) FROM findings WHERE check_id = 'ec2.sg_open_admin_ports'"
        ),
        "1"
    );
}
