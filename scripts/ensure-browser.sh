#!/usr/bin/env bash
# The browser tests drive Debian's headless Chromium through chromedriver;
# install both when missing (apt-get update first, as on a fresh machine).
set -euo pipefail
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
  exit 0
fi
echo "installing Chromium and chromedriver (Debian packages chromium, chromium-driver)" >&2
as_root apt-get update -qq
as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
[ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ] || { echo "chromium or chromedriver still missing after the install" >&2; exit 1; }
