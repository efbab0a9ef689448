"""`make bench`: one scheduled round over an AWS Organization at 1, 2 and 4
workers. The emulator seeds an Organization of N member accounts (a few
resources each, reached by AssumeRole into each member's monitoring role);
for each worker count a fresh database registers them through Organizations
discovery (`account discover --schedule`, so all are due at once), then K
`sightline worker` processes run the round. Reports the round's wall time,
accounts per minute, queue wait (a job's creation to its scan's start), scan
time per account (its scan row begun, once the role is assumed, to the
start of the transaction that saves it), and the most database connections the workers held at
once. Also checks what the kill test proves: one finished scan per account.
Benchmarks report; they never fail the build on a figure.

    .venv/bin/python tests/bench/fleet_bench.py --binary PATH [--accounts 300] [--workers 1,2,4]
"""

import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
EMULATOR = os.path.join(HERE, "..", "emulator", "emulator.py")
sys.path.insert(0, HERE)
from bench import machine  # noqa: E402


def psql(url, query):
    out = subprocess.run(["psql", url, "-AtX", "-v", "ON_ERROR_STOP=1", "-c", query], capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"psql failed on {query!r}: {out.stderr.strip()}")
    return out.stdout.strip()


def database_url(admin_url, name):
    base, _, _ = admin_url.rpartition("/")
    return f"{base}/{name}"


def sightline_env(endpoint, url):
    env = dict(os.environ, AWS_ENDPOINT_URL=endpoint, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
               AWS_REGION="us-east-1", AWS_CONFIG_FILE="/dev/null", AWS_SHARED_CREDENTIALS_FILE="/dev/null",
               AWS_EC2_METADATA_DISABLED="true", DATABASE_URL=url, SIGHTLINE_LOG="warn")
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
        env.pop(name, None)
    return env


def run(binary, env, *args):
    out = subprocess.run([binary, *args], env=env, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"sightline {' '.join(args)} failed: {out.stderr.strip()}")
    return out.stdout


def round_with(binary, endpoint, external_id, admin_url, workers, accounts):
    name = f"sightline_fleet_bench_{os.getpid()}_{workers}"
    psql(admin_url, f"DROP DATABASE IF EXISTS {name}")
    psql(admin_url, f"CREATE DATABASE {name}")
    url = database_url(admin_url, name)
    env = sightline_env(endpoint, url)
    procs = []
    try:
        run(binary, env, "migrate")
        run(binary, env, "workspace", "add", "fleet", "--external-id", external_id)
        run(binary, env, "account", "discover", "--workspace", "fleet", "--regions", "us-east-1", "--schedule", "1 hour")
        registered = int(psql(url, "SELECT count(*) FROM accounts"))
        if registered != accounts:
            raise SystemExit(f"discovery registered {registered} accounts, expected {accounts}")
        started = time.monotonic()
        for n in range(workers):
            procs.append(subprocess.Popen(
                [binary, "worker", "--poll-seconds", "1", "--name", f"bench-{workers}-{n}"],
                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        peak_connections = 0
        while True:
            time.sleep(0.5)
            done, connections = psql(url, (
                "SELECT (SELECT count(*) FROM jobs WHERE status IN ('succeeded', 'failed')) || ',' || "
                f"(SELECT count(*) FROM pg_stat_activity WHERE datname = '{name}' AND pid <> pg_backend_pid())"
            )).split(",")
            peak_connections = max(peak_connections, int(connections))
            if int(done) >= accounts:
                break
            if time.monotonic() - started > 3600:
                raise SystemExit(f"the round did not finish in an hour: {done}/{accounts} jobs done")
        wall = time.monotonic() - started
        stats = psql(url, """
            WITH j AS (
                -- A scan's row is begun once its role is assumed; the job is
                -- finished in the transaction that saves the scan.
                SELECT j.status,
                       extract(epoch FROM (SELECT min(s.started_at) FROM scans s WHERE s.job_id = j.id) - j.created_at) AS wait,
                       extract(epoch FROM j.finished_at - (SELECT max(s.started_at) FROM scans s
                                                           WHERE s.job_id = j.id AND s.status IN ('succeeded', 'partial'))) AS scan
                FROM jobs j
            )
            SELECT json_build_object(
                'failed', count(*) FILTER (WHERE status <> 'succeeded'),
                'wait_p50', percentile_cont(0.5) WITHIN GROUP (ORDER BY wait),
                'wait_max', max(wait),
                'scan_p50', percentile_cont(0.5) WITHIN GROUP (ORDER BY scan),
                'scan_p99', percentile_cont(0.99) WITHIN GROUP (ORDER BY scan),
                'not_once', (SELECT count(*) FROM accounts a WHERE (SELECT count(*) FROM scans s
                             WHERE s.account_id = a.id AND s.status IN ('succeeded', 'partial')) <> 1),
                -- moto does not emulate IAM Access Analyzer: that gap is the emulator's.
                'gaps', (SELECT count(*) FROM coverage_gaps WHERE action <> 'access-analyzer:ListAnalyzers'))
            FROM j""")
        return wall, peak_connections, json.loads(stats)
    finally:
        for p in procs:
            p.kill()
            p.wait()
        psql(admin_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", required=True)
    parser.add_argument("--accounts", type=int, default=300, help="member accounts in the Organization")
    parser.add_argument("--workers", default="1,2,4", help="worker counts, one round each")
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"),
                        help="an administrator's URL; each round gets a database of its own (default: $DATABASE_URL)")
    args = parser.parse_args()
    if not args.database_url:
        parser.error("expected --database-url or DATABASE_URL, found neither")
    print(f"command: {' '.join(sys.argv)}")
    print(f"machine: {machine()}")
    seeding = time.monotonic()
    emulator = subprocess.Popen([sys.executable, EMULATOR, "--estate", f"fleet:{args.accounts}"],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        ready = json.loads(emulator.stdout.readline())
        print(f"seeded {args.accounts} member accounts in {time.monotonic() - seeding:.0f} s; "
              f"each round also scans the management account ({args.accounts + 1} in all), region us-east-1")
        print(f"{'workers':>7} {'round s':>8} {'accounts/min':>12} {'wait p50 s':>10} {'wait max s':>10} "
              f"{'scan p50 s':>10} {'scan p99 s':>10} {'peak DB conns':>13} {'not once':>8} {'failed':>6} {'gaps':>5}")
        # moto builds each account's backends on first touch: a round nobody
        # times pays that, so that every timed round finds the same emulator.
        warm = max(int(w) for w in args.workers.split(","))
        wall, _, _ = round_with(args.binary, ready["endpoint"], ready["external_id"], args.database_url, warm,
                                args.accounts + 1)
        print(f"(warm-up round at {warm} workers, not counted: {wall:.1f} s)", flush=True)
        for workers in (int(w) for w in args.workers.split(",")):
            wall, connections, s = round_with(args.binary, ready["endpoint"], ready["external_id"], args.database_url,
                                              workers, args.accounts + 1)
            print(f"{workers:>7} {wall:>8.1f} {(args.accounts + 1) / wall * 60:>12.0f} {s['wait_p50']:>10.1f} "
                  f"{s['wait_max']:>10.1f} {s['scan_p50']:>10.2f} {s['scan_p99']:>10.2f} {connections:>13} "
                  f"{s['not_once']:>8} {s['failed']:>6} {s['gaps']:>5}", flush=True)
    finally:
        emulator.stdin.close()
        emulator.wait()


if __name__ == "__main__":
    main()
