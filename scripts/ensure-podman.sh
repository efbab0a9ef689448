#!/usr/bin/env bash
# The image is built and run with Debian's podman and runc (buildah comes
# with podman's build); install them when missing (apt-get update first, as
# on a fresh machine).
set -euo pipefail
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
if command -v podman >/dev/null && command -v runc >/dev/null && command -v objcopy >/dev/null; then
  exit 0
fi
echo "installing podman, buildah and runc (Debian packages)" >&2
as_root apt-get update -qq
as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman buildah runc binutils >/dev/null
command -v podman >/dev/null && command -v runc >/dev/null || { echo "podman or runc still missing after the install" >&2; exit 1; }
