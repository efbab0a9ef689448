#!/usr/bin/env bash
# Build the image from a sightline binary with podman, offline (FROM scratch:
# nothing is pulled). Prints the image's id.
#
#   docker/build-image.sh <sightline binary> <tag>
set -euo pipefail
binary=${1:?usage: docker/build-image.sh <sightline binary> <tag>}
tag=${2:?usage: docker/build-image.sh <sightline binary> <tag>}
here=$(cd "$(dirname "$0")" && pwd)
context=$(mktemp -d)
trap 'rm -rf "$context"' EXIT
"$here/rootfs.sh" "$binary" "$context/rootfs"
revision=$(git -C "$here" rev-parse --short HEAD 2>/dev/null || echo unknown)
# Registry scanners cannot see the copied libraries' versions: record them.
# awk reads to the end: `head -1` would SIGPIPE ldd, and pipefail would end the script.
glibc=$(ldd --version 2>/dev/null | awk 'NR == 1 {print $NF}')
# crun refuses this machine's hybrid cgroups; runc works.
podman --runtime runc build --quiet --pull=never --network=none --format docker \
    --file "$here/Dockerfile" --tag "$tag" \
    --build-arg VERSION="${SIGHTLINE_VERSION:-dev}" --build-arg REVISION="$revision" \
    --label org.sightline.glibc="${glibc:-unknown}" \
    "$context/rootfs"
