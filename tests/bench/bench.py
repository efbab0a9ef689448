"""`make bench`: scan seeded emulator estates of several sizes with the real
binary and report resources/s, API calls per resource beside the minimum a
scan of that estate needs, and the scan's peak RSS. Benchmarks report; they
never fail the build on a figure.

The minimum, per IAM action, from what the estate holds (the emulator
counts it after seeding) and the scan's own count of its calls by action
(`stats.calls_by_action`):
  - a listing: one page per region at the largest page its API gives (the
    emulator answers DescribeVolumes and DescribeSnapshots in one page, so
    the minimum against AWS, printed too, counts more pages there: 500
    volumes or 1,000 snapshots a page);
  - a per-bucket S3 read: one call per bucket (which reads is pinned by the
    test `s3_sends_per_bucket_exactly_the_reads_its_checks_require`);
  - GetBucketLocation: none (the region comes from the listing);
  - anything else is a fixed cost (one call per region or per account
    whatever the estate, or a batch such as GetMetricData's 500 series):
    taken as sent, and printed so, never claimed as minimal.

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


# action: (what it lists, the largest page AWS returns)
REGIONAL_LISTINGS = {
    "ec2:DescribeInstances": ("instances", 1000),
    "ec2:DescribeVolumes": ("volumes", 500),  # AWS returns at most 500 whatever MaxResults says
    "ec2:DescribeSecurityGroups": ("security_groups", 1000),
}
# moto 5.2.5 answers these in one page whatever MaxResults asks; AWS pages them.
EMULATOR_UNPAGED = {"ec2:DescribeVolumes", "ec2:DescribeSnapshots"}
ACCOUNT_WIDE_S3 = {"s3:ListAllMyBuckets", "s3:GetAccountPublicAccessBlock", "s3:GetBucketLocation"}


def pages(items, page):
    return max(1, -(-items // page))


def minimum(counts, calls, unpaged=frozenset()):
    """(minimum calls for this estate, {action: (sent, minimum)} where the
    minimum is modelled, and the calls taken as sent). Listings in `unpaged`
    are served in one page by the server measured."""
    modelled = {}
    regions = counts["regions"].values()
    page_of = lambda action, size: 10**12 if action in unpaged else size  # noqa: E731
    for action, (kind, page) in REGIONAL_LISTINGS.items():
        modelled[action] = sum(pages(r[kind], page_of(action, page)) for r in regions)
    # Own snapshots, listed a page at a time, and one listing of public ones.
    modelled["ec2:DescribeSnapshots"] = sum(
        pages(r["snapshots"], page_of("ec2:DescribeSnapshots", 1000)) + 1 for r in regions)
    modelled["s3:ListAllMyBuckets"] = pages(counts["buckets"], 10_000)
    modelled["s3:GetBucketLocation"] = 0
    for action in calls:
        if action.startswith("s3:") and action not in ACCOUNT_WIDE_S3:
            modelled[action] = counts["buckets"]
    fixed = sum(n for action, n in calls.items() if action not in modelled)
    rows = {action: (calls.get(action, 0), least) for action, least in modelled.items()}
    return sum(modelled.values()) + fixed, rows, fixed


def bench(binary, size, concurrency):
    seed_start = time.monotonic()
    emulator = subprocess.Popen([sys.executable, EMULATOR, "--estate", f"bench:{size}"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        ready = json.loads(emulator.stdout.readline())
        counts = ready["counts"]
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
    calls = stats.get("calls_by_action", {})
    least, rows, fixed = minimum(counts, calls, EMULATOR_UNPAGED)
    against_aws, _, _ = minimum(counts, calls)
    return {
        "minimum_calls": least,
        "minimum_against_aws": against_aws,
        "minimum_per_resource": round(least / max(resources, 1), 3),
        "fixed_calls": fixed,
        "above_minimum": {a: sent - m for a, (sent, m) in sorted(rows.items()) if sent > m},
        "below_model": {a: sent - m for a, (sent, m) in sorted(rows.items()) if sent < m},
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
    print(f"{'estate':>8} {'resources':>9} {'API calls':>9} {'minimum':>8} {'seconds':>8} {'resources/s':>11} {'calls/resource':>14} {'minimum/resource':>16} {'peak RSS MiB':>12} {'scanner CPU s':>13}")
    results = []
    for size in (int(s) for s in args.sizes.split(",")):
        r = bench(args.binary, size, args.concurrency)
        results.append(r)
        print(f"{r['size']:>8} {r['resources']:>9} {r['api_calls']:>9} {r['minimum_calls']:>8} {r['seconds']:>8} {r['resources_per_second']:>11} {r['api_calls_per_resource']:>14} {r['minimum_per_resource']:>16} {r['peak_rss_mib']:>12} {r['scanner_cpu_seconds']:>13}", flush=True)
    print()
    for r in results:
        above = ", ".join(f"{a} +{n}" for a, n in r["above_minimum"].items()) or "none"
        print(f"estate {r['size']}: fixed calls (taken as sent) {r['fixed_calls']}; above the minimum: {above}; "
              f"against AWS, which pages DescribeVolumes (500 a page) and DescribeSnapshots (1,000) where the emulator does not, "
              f"the minimum is {r['minimum_against_aws']}")
        if r["below_model"]:
            # Fewer calls than the model's floor means the model is wrong, not the scan fast.
            print(f"estate {r['size']}: FEWER than the model allows (the model needs fixing): {r['below_model']}")


if __name__ == "__main__":
    main()
