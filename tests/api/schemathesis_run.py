#!/usr/bin/env python3
"""Schemathesis against the served OpenAPI document.

Creates a database of its own on DATABASE_URL, migrates it, bootstraps an
owner, starts `sightline serve` on a free loopback port as the application
role, signs in, replaces the one-time password, issues an owner API key and
runs schemathesis with it and a bounded number of examples. Fails on any
5xx or any response that does not match the document. Drops the database.
"""

import argparse
import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request

KEK = secrets.token_hex(32)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def psql(url, statement):
    subprocess.run(["psql", url, "-v", "ON_ERROR_STOP=1", "-q", "-c", statement], check=True)


def request(base, method, path, body=None, headers=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data, method=method, headers=headers or {})
    if data is not None:
        req.add_header("content-type", "application/json")
    try:
        with urllib.request.urlopen(req) as resp:
            return resp.status, resp.headers, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, e.headers, json.loads(e.read() or b"null")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", required=True)
    parser.add_argument("--schemathesis", required=True)
    parser.add_argument("--max-examples", default="20")
    args = parser.parse_args()

    admin = os.environ["DATABASE_URL"]
    parts = urllib.parse.urlsplit(admin)
    name = "sightline_api_" + secrets.token_hex(6)
    db_url = urllib.parse.urlunsplit(parts._replace(path="/" + name))
    as_role = lambda role: urllib.parse.urlunsplit(parts._replace(netloc=f"{role}@{parts.hostname}:{parts.port or 5432}", path="/" + name))
    app_url = as_role("sightline_app")
    psql(admin, f"CREATE DATABASE {name}")
    server = None
    try:
        env = dict(os.environ, DATABASE_URL=db_url)
        run = lambda *a: subprocess.run([args.binary, *a], env=env, check=True, capture_output=True, text=True)
        run("migrate")
        run("workspace", "add", "api", "--external-id", "api-external-id")
        printed = run("user", "bootstrap", "--workspace", "api", "--email", "owner@api.example.com").stdout
        one_time = printed.rsplit(": ", 1)[1].strip()

        port = free_port()
        base = f"http://127.0.0.1:{port}"
        server_env = dict(
            os.environ,
            SIGHTLINE_DATABASE_URL=app_url,
            SIGHTLINE_CONSOLE_DATABASE_URL=as_role("sightline_console"),
            SIGHTLINE_KEK=KEK,
            SIGHTLINE_RATE_PER_IP="1000000",
            SIGHTLINE_RATE_PER_PRINCIPAL="1000000",
            SIGHTLINE_RATE_LOGINS_PER_IP="1000000",
            SIGHTLINE_LOG="warn",
        )
        server_env.pop("DATABASE_URL", None)
        server = subprocess.Popen([args.binary, "serve", "--listen", f"127.0.0.1:{port}"], env=server_env, stdout=subprocess.DEVNULL)
        for _ in range(300):
            try:
                if request(base, "GET", "/readyz")[0] == 200:
                    break
            except OSError:
                pass
            if server.poll() is not None:
                sys.exit("sightline serve exited before it was ready")
            time.sleep(0.1)

        status, headers, body = request(base, "POST", "/api/v1/session", {"email": "owner@api.example.com", "password": one_time})
        assert status == 200, body
        cookies = "; ".join(c.split(";")[0] for c in headers.get_all("set-cookie"))
        session = {"cookie": cookies, "x-csrf-token": body["csrf_token"]}
        status, headers, body = request(base, "POST", "/api/v1/me/password", {"current_password": one_time, "new_password": secrets.token_urlsafe(18)}, session)
        assert status == 200, body
        # The change ends the session it ran in and opens a new one.
        cookies = "; ".join(c.split(";")[0] for c in headers.get_all("set-cookie"))
        session = {"cookie": cookies, "x-csrf-token": body["csrf_token"]}
        status, _, body = request(base, "POST", "/api/v1/api-keys", {"name": "schemathesis", "role": "owner"}, session)
        assert status == 201, body
        key = body["key"]
        status, _, body = request(base, "POST", "/api/v1/accounts", {"aws_account_id": "123456789012", "name": "fuzzed", "role_arn": "arn:aws:iam::123456789012:role/SightlineMonitoring"}, {"authorization": f"Bearer {key}"})
        assert status == 201, body

        command = [
            args.schemathesis, "run", f"{base}/api/v1/openapi.json",
            "--header", f"Authorization: Bearer {key}",
            "--checks", "not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance",
            "--max-examples", args.max_examples,
            "--seed", "1",
            "--workers", "1",
            "--suppress-health-check", "all",
        ]
        print("$", " ".join(c if not c.startswith("Authorization") else "Authorization: Bearer ***" for c in command), flush=True)
        result = subprocess.run(command)
        sys.exit(result.returncode)
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=15)
        if not os.environ.get("KEEP_DB"):
            psql(admin, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        else:
            print("kept", name)


if __name__ == "__main__":
    main()
