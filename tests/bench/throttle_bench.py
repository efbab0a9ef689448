"""`make bench`: the scan of the test estate (every service Sightline reads)
through the fault proxy (tests/emulator/faults.py) at 0%, 10% and 30%
throttling (each service's own throttling error; at 30%, 5% of calls also
answer 500), beside the same scan straight to the emulator. Reports the
wall time, its ratio to the clean scan, the API calls the scan counted, the
requests the proxy saw and faulted, and any gap the throttling left (the
goal: none). Benchmarks report; they never fail the build on a figure.

    .venv/bin/python tests/bench/throttle_bench.py --binary PATH [--runs 3]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
EMULATOR = os.path.join(HERE, "..", "emulator", "emulator.py")
sys.path.insert(0, HERE)
from bench import machine  # noqa: E402

SHAPES = [
    ("clean, no proxy", None),
    ("proxy, 0%", "seed=16"),
    ("10% throttled", "throttle=0.10,seed=16"),
    ("30% throttled + 5% 500s", "throttle=0.30,error=0.05,seed=16"),
]


def scan(binary, endpoint):
    env = dict(os.environ, AWS_ENDPOINT_URL=endpoint, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
               AWS_REGION="us-east-1", AWS_CONFIG_FILE="/dev/null", AWS_SHARED_CREDENTIALS_FILE="/dev/null",
               AWS_EC2_METADATA_DISABLED="true")
    env.pop("AWS_PROFILE", None)
    env.pop("AWS_SESSION_TOKEN", None)
    with tempfile.TemporaryFile() as out:
        started = time.monotonic()
        subprocess.run([binary, "scan", "--regions", "us-east-1,eu-west-1", "--format", "json"], stdout=out,
                       stderr=subprocess.DEVNULL, env=env, check=False)
        wall = time.monotonic() - started
        out.seek(0)
        report = json.load(out)
    return wall, report


def http(endpoint, method, path):
    request = urllib.request.Request(endpoint + path, method=method)
    with urllib.request.urlopen(request) as answer:
        return answer.read().decode()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", required=True)
    parser.add_argument("--runs", type=int, default=3, help="scans per shape; the median is reported")
    args = parser.parse_args()
    print(f"command: {' '.join(sys.argv)}")
    print(f"machine: {machine()}")
    emulator = subprocess.Popen([sys.executable, EMULATOR, "--estate", "test", "--faults", "seed=16"],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        ready = json.loads(emulator.stdout.readline())
        proxy, direct = ready["endpoint"], ready["direct_endpoint"]
        print(f"{'shape':>26} {'median s':>9} {'× clean':>8} {'API calls':>9} {'requests':>9} {'throttled':>9} {'500s':>5} {'gaps':>5} {'throttle gaps':>13}")
        clean = None
        for name, spec in SHAPES:
            walls, counts, report = [], {}, None
            for _ in range(args.runs):
                if spec is not None:
                    http(proxy, "POST", f"/fault-proxy/faults?spec={spec}")
                wall, report = scan(args.binary, direct if spec is None else proxy)
                walls.append(wall)
                if spec is not None:
                    counts = json.loads(http(proxy, "GET", "/fault-proxy/counts"))
            median = statistics.median(walls)
            clean = clean or median
            gaps = report["gaps"]
            throttled_gaps = [g for g in gaps if "hrottl" in (g.get("kind", "") + g.get("error", ""))]
            requests = sum(counts.values()) if counts else "-"
            print(f"{name:>26} {median:>9.2f} {median / clean:>8.2f} {report['stats']['api_calls']:>9} {requests:>9} "
                  f"{counts.get('throttle', '-'):>9} {counts.get('error', '-'):>5} {len(gaps):>5} {len(throttled_gaps):>13}", flush=True)
            for g in throttled_gaps:
                print(f"    gap: {g.get('action')} {g.get('region')} {g.get('kind')}: {g.get('error', '')[:120]}")
    finally:
        emulator.kill()
        emulator.wait()


if __name__ == "__main__":
    main()
