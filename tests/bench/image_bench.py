"""`make bench`: the container image's size and its cold start. Builds the
image from the given (release) binary with docker/build-image.sh, reports
its size uncompressed and gzip-compressed (what a registry stores), then
starts `serve` in a container, as the task definition runs it, five times
against a migrated local database and reports the time from `podman run` to
the first 200 from /readyz. Benchmarks report; they never fail the build on
a figure.

    .venv/bin/python tests/bench/image_bench.py --binary target/release/sightline
"""

import argparse
import gzip
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)
from bench import machine  # noqa: E402

PODMAN = ["podman", "--runtime", "runc"]
KEK = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
RUNS = 5


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ready(port):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as r:
            return r.status == 200
    except (urllib.error.URLError, ConnectionError, OSError):
        return False


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", required=True)
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres"))
    args = parser.parse_args()
    tag = "localhost/sightline:bench"
    subprocess.run([os.path.join(ROOT, "docker", "build-image.sh"), args.binary, tag], check=True, stdout=subprocess.DEVNULL)
    size = int(subprocess.run(["podman", "image", "inspect", "--format", "{{.Size}}", tag], check=True, capture_output=True, text=True).stdout)
    archive = subprocess.run(["podman", "save", "--format", "docker-archive", tag], check=True, capture_output=True).stdout
    compressed = len(gzip.compress(archive, compresslevel=6))

    database = f"sightline_image_bench_{os.getpid()}"
    admin = args.database_url
    base = admin.rsplit("/", 1)[0]
    subprocess.run(["psql", admin, "-qc", f"CREATE DATABASE {database}"], check=True)
    url = f"{base}/{database}"
    times = []
    try:
        subprocess.run([args.binary, "migrate"], env={**os.environ, "DATABASE_URL": url}, check=True, stderr=subprocess.DEVNULL)
        for run in range(RUNS):
            port = free_port()
            name = f"sightline-bench-{os.getpid()}-{run}"
            started = time.monotonic()
            subprocess.run(
                PODMAN + ["run", "--detach", "--rm", "--name", name, "--read-only", "--user", "65532:65532",
                          "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
                          "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024",
                          "--network", "host", "--no-healthcheck",
                          "--env", f"SIGHTLINE_DATABASE_URL={url}", "--env", f"SIGHTLINE_KEK={KEK}",
                          tag, "serve", "--listen", f"127.0.0.1:{port}"],
                check=True, stdout=subprocess.DEVNULL)
            while not ready(port):
                if time.monotonic() - started > 60:
                    raise SystemExit(f"no /readyz from the container in 60 s (run {run})")
                time.sleep(0.005)
            times.append(time.monotonic() - started)
            subprocess.run(PODMAN + ["rm", "--force", "--time", "1", name], check=False, capture_output=True)
    finally:
        subprocess.run(["psql", admin, "-qc", f"DROP DATABASE IF EXISTS {database} WITH (FORCE)"], check=False)
        subprocess.run(["podman", "rmi", "--force", tag], check=False, capture_output=True)

    print(f"machine: {machine()}")
    print(f"command: .venv/bin/python tests/bench/image_bench.py --binary {args.binary}")
    print(f"image size: {size / 1e6:.1f} MB uncompressed, {compressed / 1e6:.1f} MB gzip-compressed (goal <= 50 MB)")
    print(f"cold start, podman run to the first 200 from /readyz, {RUNS} runs: "
          f"median {statistics.median(times) * 1000:.0f} ms, max {max(times) * 1000:.0f} ms (goal <= 1 s)")


if __name__ == "__main__":
    main()
