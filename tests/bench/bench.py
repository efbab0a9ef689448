"""`make bench`: scan seeded emulator estates of several sizes with the real
binary and report resources/s, API calls per resource and the scan's peak
RSS. Benchmarks report; they never fail the build on a figure.

    .venv/bin/python tests/bench/bench.py --binary PATH --sizes 1000,10000
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
EMULATOR = os.path.join(HERE, "..", "emulator", "emulator.py")


def machine():
    cpus = os.cpu_count()
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            model = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    mem_kb = 0
    try:
        with open("/proc/meminfo") as f:
            mem_kb = int(next(line.split()[1] for line in f if line.startswith("MemTotal")))
    except (OSError, StopIteration):
        pass
    return f"{cpus} × {model}, {mem_kb // 1024 // 1024} GiB RAM, {platform.system()} {platform.release()}"


def bench(binary, size, concurrency):
    seed_start = time.monotonic()
    emulator = subprocess.Popen([sys.executable, EMULATOR, "--estate", f"bench:{size}"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        ready = json.loads(emulator.stdout.readline())
        seeded = time.monotonic() - seed_start
        env = dict(os.environ, AWS_ENDPOINT_URL=ready["endpoint"], AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench",
                   AWS_REGION="us-east-1", AWS_CONFIG_FILE="/dev/null", AWS_SHARED_CREDENTIALS_FILE="/dev/null", AWS_EC2_METADATA_DISABLED="true")
        with tempfile.TemporaryFile() as out:
            started = time.monotonic()
            scan = subprocess.Popen([binary, "scan", "--regions", "us-east-1,eu-west-1", "--format", "json", "--concurrency", str(concurrency)], stdout=out, env=env)
            _, status, usage = os.wait4(scan.pid, 0)
            wall = time.monotonic() - started
            out.seek(0)
            report = json.load(out)
    finally:
        emulator.kill()
        emulator.wait()
    stats = report["stats"]
    resources = stats["resources"]
    return {
        "size": size,
        "resources": resources,
        "api_calls": stats["api_calls"],
        "seconds": round(wall, 2),
        "resources_per_second": round(resources / wall, 1),
        "api_calls_per_resource": round(stats["api_calls"] / max(resources, 1), 3),
        "peak_rss_mib": round(usage.ru_maxrss / 1024, 1),
        "scanner_cpu_seconds": round(usage.ru_utime + usage.ru_stime, 2),
        "exit_status": os.waitstatus_to_exitcode(status),
        "seed_seconds": round(seeded, 1),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", required=True)
    parser.add_argument("--sizes", default="1000,10000")
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    print(f"command: {' '.join(sys.argv)}")
    print(f"machine: {machine()}")
    print("emulator: moto server (single Python process) on 127.0.0.1; the emulator, not the scanner, bounds resources/s")
    print()
    print(f"{'estate':>8} {'resources':>9} {'API calls':>9} {'seconds':>8} {'resources/s':>11} {'calls/resource':>14} {'peak RSS MiB':>12} {'scanner CPU s':>13}")
    for size in (int(s) for s in args.sizes.split(",")):
        r = bench(args.binary, size, args.concurrency)
        print(f"{r['size']:>8} {r['resources']:>9} {r['api_calls']:>9} {r['seconds']:>8} {r['resources_per_second']:>11} {r['api_calls_per_resource']:>14} {r['peak_rss_mib']:>12} {r['scanner_cpu_seconds']:>13}", flush=True)


if __name__ == "__main__":
    main()
