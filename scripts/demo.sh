#!/usr/bin/env bash
# `make demo`: start the AWS emulator on a free loopback port with the
# sample estate, scan it with the real binary into PostgreSQL (DATABASE_URL
# when set, a private server under .sightline/ otherwise), print the
# findings table and what the database holds, then serve the web UI on
# http://127.0.0.1:8080 with a one-time login until Ctrl-C.
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
  "$bin" demo --regions us-east-1,eu-west-1 --serve "${SIGHTLINE_DEMO_LISTEN:-127.0.0.1:8080}"
status=$?
set -e
if [ -z "${DATABASE_URL:-}" ]; then
  echo "The scan is in the private PostgreSQL under .sightline/postgres (started for the demo, stopped now; the next run reuses it and shows the diff)."
fi
exit "$status"
