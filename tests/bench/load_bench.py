#!/usr/bin/env python3
"""Load, as users make it: signed-in users over a seeded Organization.

Takes the database `page_bench` kept (1,000,000 resources and 200,000
findings in workspace `bench`: `SIGHTLINE_BENCH_KEEP_DB=1`, whose output
names it), bootstraps an owner there, and starts `sightline serve` on a free
loopback port with the production rate limits, trusting X-Forwarded-For
from loopback as it trusts the load balancer's. The owner adds `--users`
viewers; each signs in from an address of its own (the one the load
balancer would forward) and replaces its one-time password. Then locust
runs those users for `--seconds`, mixing the UI's pages with API calls
(tests/bench/load/locustfile.py), while the server's resident memory is
sampled. Prints p50/p99 per request and overall, errors, requests refused
by a rate limit, and the server's peak RSS; then one client hammering the
API as fast as it can, and where the per-principal limit stopped it.
Drops the database unless told to keep it. Reports; never fails on a
figure.

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
                        samples.append(int(line.split()[1]) / 1024)
        except OSError:
            return
        stop.wait(0.5)


def peak_rss(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def hammer(port, session, most):
    """One client asking as fast as it can: how many answers before the first 429."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"cookie": session["cookie"], "x-forwarded-for": session["address"]}
    started = time.monotonic()
    try:
        for n in range(1, most + 1):
            conn.request("GET", "/api/v1/scans?limit=1", headers=headers)
            reply = conn.getresponse()
            reply.read()
            if reply.status == 429:
                return n, time.monotonic() - started, reply.getheader("retry-after")
            if reply.status != 200:
                return None, time.monotonic() - started, f"unexpected {reply.status}"
    finally:
        conn.close()
    return None, time.monotonic() - started, None


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", required=True)
    parser.add_argument("--locust", required=True)
    parser.add_argument("--kept-from", required=True, help="page_bench's output, which names the database it kept")
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args()

    with open(args.kept_from) as f:
        kept = re.search(r"kept database (sightline_pagebench_[0-9a-f]{32})", f.read())
    if not kept:
        sys.exit(f"{args.kept_from}: expected page_bench's 'kept database sightline_pagebench_<32 hex digits>', found none")
    name = kept.group(1)
    admin = os.environ["DATABASE_URL"]
    parts = urllib.parse.urlsplit(admin)
    db_url = urllib.parse.urlunsplit(parts._replace(path="/" + name))
    as_role = lambda role: urllib.parse.urlunsplit(
        parts._replace(netloc=f"{role}@{parts.hostname}:{parts.port or 5432}", path="/" + name)
    )
    server = None
    try:
        env = dict(os.environ, DATABASE_URL=db_url)
        # page_bench signed in one operator of its own; the owner here is
        # bootstrapped, which a workspace with users refuses.
        subprocess.run(
            ["psql", db_url, "-v", "ON_ERROR_STOP=1", "-q", "-c",
             "DELETE FROM users WHERE workspace_id = (SELECT id FROM workspaces WHERE name = 'bench')"],
            check=True,
        )
        owner_email = f"owner-{secrets.token_hex(4)}@load.example.com"
        printed = subprocess.run(
            [args.binary, "user", "bootstrap", "--workspace", "bench", "--email", owner_email],
            env=env, check=True, capture_output=True, text=True,
        ).stdout
        one_time = printed.rsplit(": ", 1)[1].strip()

        port = free_port()
        server_env = dict(
            os.environ,
            SIGHTLINE_DATABASE_URL=as_role("sightline_app"),
            SIGHTLINE_CONSOLE_DATABASE_URL=as_role("sightline_console"),
            SIGHTLINE_KEK=KEK,
            SIGHTLINE_KEK_ID=KEK_ID,
            # As behind the load balancer: the client is the address it forwards.
            SIGHTLINE_TRUST_FORWARDED_FOR="true",
            SIGHTLINE_TRUSTED_PROXIES="127.0.0.1/32",
            SIGHTLINE_LOG="warn",
        )
        server_env.pop("DATABASE_URL", None)
        for limit in ("SIGHTLINE_RATE_PER_IP", "SIGHTLINE_RATE_PER_PRINCIPAL", "SIGHTLINE_RATE_LOGINS_PER_IP"):
            server_env.pop(limit, None)  # the production defaults
        server = subprocess.Popen([args.binary, "serve", "--listen", f"127.0.0.1:{port}"], env=server_env, stdout=subprocess.DEVNULL)
        for _ in range(600):
            try:
                if request(port, "GET", "/readyz")[0] == 200:
                    break
            except OSError:
                pass
            if server.poll() is not None:
                sys.exit("sightline serve exited before it was ready")
            time.sleep(0.1)

        owner = sign_in(port, owner_email, one_time, "10.9.0.1")
        owner_headers = {"cookie": owner["cookie"], "x-csrf-token": owner["csrf"], "x-forwarded-for": owner["address"]}
        sessions = []
        for i in range(args.users):
            status, _, body = request(
                port, "POST", "/api/v1/users",
                {"email": f"viewer-{i}-{secrets.token_hex(3)}@load.example.com", "role": "viewer"}, owner_headers,
            )
            if status != 201:
                sys.exit(f"adding viewer {i}: expected 201, found {status}: {body}")
            sessions.append(sign_in(port, body["email"], body["one_time_password"], f"10.1.{i // 250}.{i % 250 + 1}"))

        with tempfile.TemporaryDirectory() as tmp:
            users_file = os.path.join(tmp, "users.json")
            with open(users_file, "w") as f:
                json.dump(sessions, f)
            samples, stop = [], threading.Event()
            sampler = threading.Thread(target=rss_sampler, args=(server.pid, samples, stop))
            rss_before = peak_rss(server.pid)
            sampler.start()
            command = [
                args.locust, "-f", os.path.join(HERE, "load", "locustfile.py"), "--headless",
                "-u", str(args.users), "-r", str(args.users), "-t", f"{args.seconds}s",
                "--host", f"http://127.0.0.1:{port}", "--csv", os.path.join(tmp, "load"),
                "--only-summary", "--loglevel", "WARNING",
            ]
            ran = subprocess.run(command, env=dict(os.environ, LOAD_USERS=users_file), capture_output=True, text=True)
            stop.set()
            sampler.join()
            stats_file = os.path.join(tmp, "load_stats.csv")
            if not os.path.exists(stats_file):
                sys.exit(f"locust wrote no statistics (exit {ran.returncode}): {ran.stderr[-2000:]}")
            with open(stats_file) as f:
                stats = list(csv.DictReader(f))
            failures = []
            failures_file = os.path.join(tmp, "load_failures.csv")
            if os.path.exists(failures_file):
                with open(failures_file) as f:
                    failures = list(csv.DictReader(f))

        print(f"{args.users} signed-in users for {args.seconds} s over database {name}, "
              f"production rate limits ({args.users} client addresses forwarded):")
        print(f"{'request':<34} {'count':>7} {'errors':>7} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}")
        for row in stats:
            print(f"{row['Name']:<34} {row['Request Count']:>7} {row['Failure Count']:>7} "
                  f"{row['50%']:>8} {row['99%']:>8} {float(row['Max Response Time']):>8.0f}")
        total = next(r for r in stats if r["Name"] == "Aggregated")
        refused = sum(int(f["Occurrences"]) for f in failures if f["Error"].startswith("429"))
        print(f"requests/s {float(total['Requests/s']):.1f}; errors {total['Failure Count']}, "
              f"of them refused by a rate limit {refused}")
        for f in failures:
            print(f"  {f['Occurrences']} x {f['Name']}: {f['Error'][:160]}")
        print(f"server RSS: {rss_before:.1f} MiB peak before the load, {max(samples, default=0):.1f} MiB "
              f"most sampled during it, {peak_rss(server.pid):.1f} MiB peak overall")

        # One client hammering (the owner, idle through the load): the
        # per-principal limit must stop it.
        refused_at, seconds, retry = hammer(port, owner, 2000)
        if refused_at:
            print(f"one client hammering /api/v1/scans: refused (429, Retry-After {retry}) at request {refused_at}, "
                  f"after {seconds:.1f} s")
        else:
            print(f"one client hammering /api/v1/scans: NOT refused in {seconds:.1f} s ({retry or 'no 429'})")
        print(f"command: {' '.join(sys.argv)}")
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=15)
        if not args.keep:
            subprocess.run(["psql", admin, "-q", "-c", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"], check=False)


if __name__ == "__main__":
    main()
