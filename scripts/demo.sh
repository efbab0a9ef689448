#!/usr/bin/env bash
# `make demo`: start the AWS emulator on a free loopback port with the
# sample estate, scan it with the real binary, print the findings table,
# keep every report format under out/demo, and stop the emulator.
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${CARGO_TARGET_DIR:-target}/debug/sightline"

coproc EMULATOR { exec .venv/bin/python tests/emulator/emulator.py --estate demo; }
trap 'kill "$EMULATOR_PID" 2>/dev/null || true' EXIT
read -r ready <&"${EMULATOR[0]}"
endpoint=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["endpoint"])' "$ready")
echo "AWS emulator with the sample estate at $endpoint" >&2

set +e
AWS_ENDPOINT_URL="$endpoint" AWS_ACCESS_KEY_ID=demo AWS_SECRET_ACCESS_KEY=demo AWS_REGION=us-east-1 \
  AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_EC2_METADATA_DISABLED=true \
  "$bin" scan --regions us-east-1,eu-west-1 --output-dir out/demo \
  --format table --format json --format csv --format ocsf --format sarif
status=$?
set -e
cat out/demo/sightline-report.txt
echo
echo "Reports in out/demo/ (table, JSON, CSV, OCSF, SARIF). Scan exit status: $status (3 = failing findings)."
# 3 means the scan worked and found problems, which is what the demo is for.
[ "$status" -eq 0 ] || [ "$status" -eq 3 ]
