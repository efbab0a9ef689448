#!/usr/bin/env python3
"""Load, as users make it: signed-in users over a seeded Organization.

Takes the database `page_bench` kept (1,000,000 resources and 200,000
findings in workspace `bench`: `SIGHTLINE_BENCH_KEEP_DB=1`, whose output
names it), bootstraps an owner there, and starts `sightline serve` on a free
loopback port with the production rate limits and, as behind the load
balancer, the client address taken from X-Forwarded-For. The owner adds
viewers and issues viewer API keys: a fifth of `--users` are scripts with a
key, the rest people at a browser, each signed in from an address of its own
(the one the load balancer would forward) with its one-time password
replaced. Then locust (tests/bench/load/locustfile.py) runs them, ramping up
at five users a second; statistics start once all have started, and run for
`--seconds`. Halfway through, one more client, the owner, hammers the API as
fast as it can from a new forwarded address each request, so that only the
per-principal limit can stop it.

Prints p50/p99 per request and overall as the client saw them and as the
server logged them, errors (a request refused by a rate limit apart),
where the hammer was refused and whether the users were refused meanwhile,
and the server's resident memory during the load. Drops the database unless
told to keep it, whatever happened. Reports; never fails on a figure.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \\
    .venv/bin/python tests/bench/load_bench.py --binary target/release/sightline \\
        --locust .venv-load/bin/locust --kept-from page_bench.out
"""

import argparse
import csv
import http.client
import json
import os
import re
import secrets
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

# The key page_bench wrapped the workspace's data keys with.
KEK, KEK_ID = "ab" * 32, "bench"
HERE = os.path.dirname(os.path.abspath(__file__))
# What the hammer asks for: a route no user of the load calls, so that the
# server's log tells its requests from theirs.
HAMMERED = "/api/v1/me"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request(port, method, path, body=None, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        payload = json.dumps(body).encode() if body is not None else None
        h = {"content-type": "application/json"} if payload else {}
        h.update(headers or {})
        conn.request(method, path, body=payload, headers=h)
        reply = conn.getresponse()
        text = reply.read()
        return reply.status, reply.headers, json.loads(text) if text.strip().startswith(b"{") else text
    finally:
        conn.close()


def sign_in(port, email, password, address):
    """A session from `address`, its one-time password replaced: (cookie, CSRF token)."""
    headers = {"x-forwarded-for": address}
    status, reply, body = request(
        port, "POST", "/api/v1/session", {"email": email, "password": password, "workspace": "bench"}, headers
    )
    if status != 200:
        sys.exit(f"sign-in of {email}: expected 200, found {status}: {body}")
    cookie = "; ".join(c.split(";")[0] for c in reply.get_all("set-cookie"))
    headers.update({"cookie": cookie, "x-csrf-token": body["csrf_token"]})
    status, reply, body = request(
        port, "POST", "/api/v1/me/password",
        {"current_password": password, "new_password": secrets.token_urlsafe(18)}, headers,
    )
    if status != 200:
        sys.exit(f"password change of {email}: expected 200, found {status}: {body}")
    # The change ends the session it ran in and opens a new one.
    cookie = "; ".join(c.split(";")[0] for c in reply.get_all("set-cookie"))
    return {"cookie": cookie, "csrf": body["csrf_token"], "address": address}


def rss_sampler(pid, samples, stop):
    while not stop.is_set():
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        samples.append((time.monotonic(), int(line.split()[1]) / 1024))
        except OSError:
            return
        stop.wait(0.5)


def peak_rss(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def hammer(port, session, most, after_refusal_seconds, report):
    """One client asking as fast as it can, each request from a new forwarded
    address so that only its principal's bucket can refuse it: where the
    first 429 came, and how many of its requests were refused in the
    `after_refusal_seconds` that followed."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    base = {"cookie": session["cookie"]}
    started = time.monotonic()
    try:
        for n in range(1, most + 1):
            headers = dict(base, **{"x-forwarded-for": f"10.200.{n // 250 % 250}.{n % 250 + 1}"})
            conn.request("GET", HAMMERED, headers=headers)
            reply = conn.getresponse()
            body = reply.read()
            if reply.status == 429:
                report.update(refused_at=n, seconds=time.monotonic() - started,
                              retry_after=reply.getheader("retry-after"), message=body.decode()[:200])
                break
            if reply.status != 200:
                report.update(unexpected=f"{reply.status}: {body.decode()[:200]}", requests=n)
                return
        else:
            report.update(requests=most, seconds=time.monotonic() - started)
            return
        # Keep hammering: the bucket refills at its rate and no faster.
        served = refused = 0
        until = time.monotonic() + after_refusal_seconds
        n = report["refused_at"]
        while time.monotonic() < until:
            n += 1
            headers = dict(base, **{"x-forwarded-for": f"10.201.{n // 250 % 250}.{n % 250 + 1}"})
            conn.request("GET", HAMMERED, headers=headers)
            reply = conn.getresponse()
            reply.read()
            if reply.status == 429:
                refused += 1
            else:
                served += 1
        report.update(then_served=served, then_refused=refused)
    finally:
        conn.close()


def percentile(values, q):
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def server_latencies(log_path, offset):
    """Per route, the latency_ms of each request the server logged after `offset`."""
    by_route = {}
    with open(log_path, "rb") as f:
        f.seek(offset)
        for line in f:
            try:
                event = json.loads(line)
            except ValueError:
                continue
            fields = event.get("fields", {})
            if fields.get("message") != "request":
                continue
            by_route.setdefault((fields.get("method"), fields.get("route")), []).append(
                (int(fields["latency_ms"]), int(fields["status"]))
            )
    return by_route


def psql_rows(db_url, sql):
    out = subprocess.run(["psql", db_url, "-v", "ON_ERROR_STOP=1", "-Atq", "-F", "\t", "-c", sql],
                         check=True, capture_output=True, text=True).stdout
    return [line.split("\t") for line in out.splitlines() if line]


def clean_environment(**extra):
    """Only what a process needs from ours: no SIGHTLINE_* setting, no proxy."""
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR")}
    keep.update(extra)
    keep["NO_PROXY"] = keep["no_proxy"] = "127.0.0.1,localhost"
    return keep


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", required=True)
    parser.add_argument("--locust", required=True)
    parser.add_argument("--kept-from", required=True, help="page_bench's output, which names the database it kept")
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args()
    if not 5 <= args.users <= 250:
        sys.exit(f"--users: expected 5 to 250 (the owner's own requests add them), found {args.users}")

    with open(args.kept_from) as f:
        kept = re.search(r"kept database (sightline_pagebench_[0-9a-f]{32})", f.read())
    if not kept:
        sys.exit(f"{args.kept_from}: expected page_bench's 'kept database sightline_pagebench_<32 hex digits>', found none")
    name = kept.group(1)
    admin = os.environ.get("DATABASE_URL")
    server = locust = None
    try:
        if not admin:
            sys.exit("DATABASE_URL: expected the URL of the server page_bench kept its database on, found none")
        parts = urllib.parse.urlsplit(admin)
        db_url = urllib.parse.urlunsplit(parts._replace(path="/" + name))
        as_role = lambda role: urllib.parse.urlunsplit(
            parts._replace(netloc=f"{role}@{parts.hostname}:{parts.port or 5432}", path="/" + name)
        )
        # page_bench signed in one operator of its own; the owner here is
        # bootstrapped, which a workspace with users refuses.
        psql_rows(db_url, "DELETE FROM users WHERE workspace_id = (SELECT id FROM workspaces WHERE name = 'bench')")
        # What the users open: random resources and findings, the last two
        # scans of each account, positions deep in the explorer's order
        # (cursors, as the API encodes them), free-text terms.
        workspace = "(SELECT id FROM workspaces WHERE name = 'bench')"
        pools = {
            "resources": [r[0] for r in psql_rows(
                db_url, f"SELECT id FROM resources WHERE workspace_id = {workspace} ORDER BY random() LIMIT 500")],
            "findings": [r[0] for r in psql_rows(
                db_url, f"SELECT id FROM findings WHERE workspace_id = {workspace} ORDER BY random() LIMIT 500")],
            "diffs": psql_rows(db_url, f"""
                SELECT (SELECT id FROM scans WHERE account_id = a.id ORDER BY started_at DESC OFFSET 1 LIMIT 1),
                       (SELECT id FROM scans WHERE account_id = a.id ORDER BY started_at DESC LIMIT 1)
                FROM accounts a WHERE a.workspace_id = {workspace}"""),
            "cursors": [r[0] for r in psql_rows(db_url, f"""
                SELECT encode(convert_to(resource_type || chr(31) || arn || chr(31) || account_id, 'UTF8'), 'hex')
                FROM resources WHERE workspace_id = {workspace} ORDER BY random() LIMIT 100""")],
            # Names are bench-1 to bench-1000000: a term of d digits matches
            # about 111, 11 or 1 of them (the shape), where a short
            # one like bench-7 would match 111,111 (page_bench's broad text).
            "terms": [f"bench-{10 ** (d - 1) + secrets.randbelow(9 * 10 ** (d - 1))}"
                      for d in (4, 5, 6) for _ in range(30)],
        }
        for pool, rows in pools.items():
            if not rows:
                sys.exit(f"database {name}: expected seeded {pool}, found none")

        env = clean_environment(DATABASE_URL=db_url)
        owner_email = f"owner-{secrets.token_hex(4)}@load.example.com"
        printed = subprocess.run(
            [args.binary, "user", "bootstrap", "--workspace", "bench", "--email", owner_email],
            env=env, check=True, capture_output=True, text=True,
        ).stdout
        one_time = printed.rsplit(": ", 1)[1].strip()

        port = free_port()
        # The production rate limits: none of SIGHTLINE_RATE_* is passed.
        server_env = clean_environment(
            SIGHTLINE_DATABASE_URL=as_role("sightline_app"),
            SIGHTLINE_CONSOLE_DATABASE_URL=as_role("sightline_console"),
            SIGHTLINE_KEK=KEK,
            SIGHTLINE_KEK_ID=KEK_ID,
            # As the stack runs it behind the load balancer: the client is
            # the address the balancer appends to X-Forwarded-For.
            SIGHTLINE_TRUST_FORWARDED_FOR="true",
            SIGHTLINE_LOG="warn,sightline_web::layers=info",
            SIGHTLINE_LOG_FORMAT="json",
        )
        work = tempfile.TemporaryDirectory()
        log_path = os.path.join(work.name, "server.log")
        log = open(log_path, "wb")
        server = subprocess.Popen([args.binary, "serve", "--listen", f"127.0.0.1:{port}"],
                                  env=server_env, stdout=subprocess.DEVNULL, stderr=log)
        deadline = time.monotonic() + 60
        while True:
            try:
                if request(port, "GET", "/readyz")[0] == 200:
                    break
            except OSError:
                pass
            if server.poll() is not None:
                sys.exit(f"sightline serve exited ({server.returncode}) before it was ready; its log is {log_path}")
            if time.monotonic() > deadline:
                sys.exit("sightline serve: expected /readyz to answer 200 within 60 s, it did not")
            time.sleep(0.1)

        owner = sign_in(port, owner_email, one_time, "10.9.0.1")
        owner_headers = {"cookie": owner["cookie"], "x-csrf-token": owner["csrf"], "x-forwarded-for": owner["address"]}
        scripts = args.users // 5
        sessions, keys = [], []
        for i in range(args.users - scripts):
            status, _, body = request(
                port, "POST", "/api/v1/users",
                {"email": f"viewer-{i}-{secrets.token_hex(3)}@load.example.com", "role": "viewer"}, owner_headers,
            )
            if status != 201:
                sys.exit(f"adding viewer {i}: expected 201, found {status}: {body}")
            sessions.append(sign_in(port, body["email"], body["one_time_password"], f"10.1.{i // 250}.{i % 250 + 1}"))
        for i in range(scripts):
            status, _, body = request(
                port, "POST", "/api/v1/api-keys", {"name": f"load script {i}", "role": "viewer"}, owner_headers,
            )
            if status != 201:
                sys.exit(f"issuing key {i}: expected 201, found {status}: {body}")
            keys.append({"key": body["key"], "address": f"10.2.{i // 250}.{i % 250 + 1}"})

        ramp = (args.users + 4) // 5
        users_file = os.path.join(work.name, "users.json")
        with open(users_file, "w") as f:
            json.dump(dict(pools, sessions=sessions, keys=keys), f)
        samples, stop = [], threading.Event()
        sampler = threading.Thread(target=rss_sampler, args=(server.pid, samples, stop))
        rss_before = peak_rss(server.pid)
        sampler.start()
        command = [
            args.locust, "-f", os.path.join(HERE, "load", "locustfile.py"), "--headless",
            "-u", str(args.users), "-r", "5", "-t", f"{ramp + args.seconds}s", "--reset-stats",
            "--host", f"http://127.0.0.1:{port}", "--csv", os.path.join(work.name, "load"),
            "--only-summary", "--loglevel", "WARNING",
        ]
        started = time.monotonic()
        locust = subprocess.Popen(
            command, env=clean_environment(LOAD_USERS=users_file, LOAD_SCRIPTS=str(scripts)),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        # Once every user has started: where the server's log of the
        # measured requests begins. Halfway through: the hammer.
        time.sleep(ramp)
        log.flush()
        measured_from = os.path.getsize(log_path)
        rss_from = time.monotonic()
        time.sleep(args.seconds / 2)
        hammered = {}
        hammer(port, owner, 5000, 5, hammered)
        out, err = locust.communicate()
        stop.set()
        sampler.join()
        elapsed = time.monotonic() - started

        def csv_rows(suffix):
            path = os.path.join(work.name, f"load_{suffix}.csv")
            if not os.path.exists(path):
                return []
            with open(path) as f:
                return list(csv.DictReader(f))

        stats, failures, exceptions = csv_rows("stats"), csv_rows("failures"), csv_rows("exceptions")
        if not stats:
            sys.exit(f"locust wrote no statistics (exit {locust.returncode}): {err[-2000:]}")
        server_side = server_latencies(log_path, measured_from)

        print(f"{args.users} signed-in users ({args.users - scripts} at a browser, {scripts} scripts with an API key), "
              f"each from its own forwarded address, for {args.seconds} s after a {ramp} s ramp, over database {name}, "
              f"production rate limits; locust exit {locust.returncode}, {elapsed:.0f} s in all")
        print(f"{'request (as the client saw it)':<30} {'count':>6} {'errors':>6} {'p50 ms':>7} {'p99 ms':>7} {'max ms':>7}")
        routes_seen = set()
        for row in stats:
            label = row["Name"]
            line = (f"{label:<30} {row['Request Count']:>6} {row['Failure Count']:>6} {row['50%']:>7} "
                    f"{row['99%']:>7} {float(row['Max Response Time']):>7.0f}")
            print(line)
        print(f"{'route (server log, ms)':<40} {'count':>6} {'p50':>5} {'p99':>5} {'max':>5}  statuses")
        all_server = []
        hammered_log = server_side.pop(("GET", HAMMERED), [])
        for (method, route), rows in sorted(server_side.items(), key=lambda kv: -len(kv[1])):
            times = [t for t, _ in rows]
            all_server.extend(times)
            statuses = sorted({s for _, s in rows})
            print(f"{method + ' ' + route:<40} {len(rows):>6} {percentile(times, 0.5):>5} {percentile(times, 0.99):>5} "
                  f"{max(times):>5}  {statuses}")
        print(f"{'the users, all routes':<40} {len(all_server):>6} {percentile(all_server, 0.5):>5} "
              f"{percentile(all_server, 0.99):>5} {max(all_server, default=0):>5}")
        users_refused = sum(1 for rows in server_side.values() for _, status in rows if status == 429)
        print(f"{'the hammer, GET ' + HAMMERED:<40} {len(hammered_log):>6}   "
              f"statuses {sorted({st for _, st in hammered_log})}; the users' requests refused meanwhile "
              f"or at any time: {users_refused}")
        total = next(r for r in stats if r["Name"] == "Aggregated")
        refused = sum(int(f["Occurrences"]) for f in failures if "HTTP 429" in f["Error"])
        print(f"requests/s {float(total['Requests/s']):.1f}; errors {total['Failure Count']}, "
              f"of them refused by a rate limit {refused}; exceptions in users {len(exceptions)}")
        for f in failures:
            print(f"  {f['Occurrences']} x {f['Name']}: {f['Error'][:160]}")
        for e in exceptions:
            print(f"  exception {e.get('Count')} x {e.get('Message', '')[:160]}")
        for warning in (l for l in err.splitlines() if "WARNING" in l or "ERROR" in l):
            print(f"  locust: {warning[:200]}")
        during = [rss for at, rss in samples if at >= rss_from]
        if during:
            print(f"server RSS: {rss_before:.1f} MiB peak before the load (setup: {args.users} password hashes); "
                  f"during the measured load {during[0]:.1f} MiB first, {during[-1]:.1f} MiB last, "
                  f"{max(during):.1f} MiB most ({len(during)} samples); {peak_rss(server.pid):.1f} MiB peak overall")
        if "refused_at" in hammered:
            print(f"one client hammering {HAMMERED} from a new forwarded address each request, halfway through: "
                  f"refused at request {hammered['refused_at']} after {hammered['seconds']:.1f} s "
                  f"(429, Retry-After {hammered['retry_after']}, {hammered['message']!r}); in the 5 s after, "
                  f"{hammered['then_refused']} refused and {hammered['then_served']} served (the bucket's refill)")
        else:
            print(f"one client hammering {HAMMERED}: NOT refused ({hammered})")
        print(f"command: {' '.join(sys.argv)}")
    finally:
        if locust is not None and locust.poll() is None:
            locust.kill()
            locust.wait()
        if server is not None:
            server.terminate()
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
        if admin and not args.keep:
            subprocess.run(["psql", admin, "-q", "-c", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"], check=False)


if __name__ == "__main__":
    main()
