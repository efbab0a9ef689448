#!/usr/bin/env bash
# Make sure the PostgreSQL that DATABASE_URL names is up. On this project's
# machines it runs on 127.0.0.1:5432; on a fresh Debian machine this installs
# and starts it, and gives the postgres role the password in the default URL.
set -euo pipefail

url="${DATABASE_URL:-postgres://postgres:postgres@127.0.0.1:5432/postgres}"
hostport="${url#*@}"; hostport="${hostport%%/*}"
host="${hostport%%:*}"; port="${hostport##*:}"; [ "$port" = "$host" ] && port=5432

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
ready() { command -v pg_isready >/dev/null && pg_isready -q -h "$host" -p "$port"; }

ready && exit 0
case "$host" in
  127.0.0.1|localhost|::1) ;;
  *) echo "PostgreSQL at $host:$port is not accepting connections (DATABASE_URL): expected a running server" >&2; exit 1 ;;
esac

if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
  echo "installing PostgreSQL (Debian packages)" >&2
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
fi
version=$(ls /etc/postgresql | sort -V | tail -n 1)
as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
for _ in $(seq 1 30); do ready && break; sleep 1; done
ready || { echo "PostgreSQL did not start on $host:$port" >&2; exit 1; }
# The default URL carries a password; make it valid when the cluster was installed here.
as_root su postgres -c "psql -q -c \"ALTER ROLE postgres PASSWORD 'postgres'\"" >/dev/null 2>&1 || true
