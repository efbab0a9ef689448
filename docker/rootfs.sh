#!/usr/bin/env bash
# The image's whole filesystem, assembled from a built binary: the binary,
# the shared libraries it loads (its dynamic loader included), the CA
# bundle for AWS's endpoints, the RDS CA bundle (checked against its pinned
# checksum), and passwd/group entries for the numeric user 65532. Nothing
# else: no shell, no package manager. The local image (`make image`, the
# container test) and the Marketplace pipeline's Dockerfile both copy this
# tree into `FROM scratch`, so their runtime layout is the same.
#
#   docker/rootfs.sh <path to the sightline binary> <output directory>
set -euo pipefail
binary=${1:?usage: docker/rootfs.sh <sightline binary> <output directory>}
out=${2:?usage: docker/rootfs.sh <sightline binary> <output directory>}
here=$(cd "$(dirname "$0")" && pwd)
system_cas=${SIGHTLINE_SYSTEM_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}

[ -x "$binary" ] || { echo "rootfs.sh: expected an executable sightline binary, found $binary" >&2; exit 1; }
[ -s "$system_cas" ] || { echo "rootfs.sh: expected the system CA bundle at $system_cas (Debian's ca-certificates)" >&2; exit 1; }
(cd "$here" && sha256sum --quiet --check rds-ca-bundle.pem.sha256) \
    || { echo "rootfs.sh: docker/rds-ca-bundle.pem does not match its pinned checksum" >&2; exit 1; }

rm -rf "$out"
mkdir -p "$out"/usr/local/bin "$out"/etc/ssl/certs "$out"/etc/sightline "$out"/tmp
# Neither debug information nor the symbol table is needed to run (a third
# of the release binary); keep the unstripped binary beside the image to
# symbolicate a backtrace.
objcopy --strip-all "$binary" "$out/usr/local/bin/sightline"
chmod 0555 "$out/usr/local/bin/sightline"

# Every library the loader resolves, and the loader, at the paths the binary names.
ldd "$binary" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' | sort -u |
while read -r lib; do
    mkdir -p "$out$(dirname "$lib")"
    cp -L "$lib" "$out$lib"
    # The loader is exec()ed by the kernel: libraries keep their x bit.
    chmod 0555 "$out$lib"
done

install -m 0444 "$system_cas" "$out/etc/ssl/certs/ca-certificates.crt"
install -m 0444 "$here/rds-ca-bundle.pem" "$out/etc/sightline/rds-ca.pem"
printf 'root:x:0:0:root:/:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/:/sbin/nologin\n' > "$out/etc/passwd"
printf 'root:x:0:\nnonroot:x:65532:\n' > "$out/etc/group"
chmod 0444 "$out/etc/passwd" "$out/etc/group"
# Readable, traversable, owned by nobody who runs: the image's / takes the
# mode of this directory.
find "$out" -type d -exec chmod 0555 {} +
chmod 1777 "$out/tmp"
