#!/usr/bin/env bash
# Start a throwaway PostgreSQL for the test suite (ECTUI_TEST_PG=1) and print its SQLAlchemy URL.
# Installs the Debian server package when it is missing. Usage: scripts/pg-test-server.sh start DIR | stop DIR
set -euo pipefail
action=${1:?start|stop}
dir=${2:?data directory}

find_bin() {
  for d in /usr/lib/postgresql/*/bin /usr/local/bin /usr/bin; do
    if [ -x "$d/$1" ]; then echo "$d/$1"; return 0; fi
  done
  return 1
}

if [ "$action" = stop ]; then
  pg_ctl=$(find_bin pg_ctl) || exit 0
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$pg_ctl" -D "$dir/data" -m fast stop >/dev/null 2>&1 || true
  else "$pg_ctl" -D "$dir/data" -m fast stop >/dev/null 2>&1 || true; fi
  exit 0
fi

if ! find_bin initdb >/dev/null; then
  # Several test workers may start at once: one installs, the others wait for it.
  exec 9>"${TMPDIR:-/tmp}/ectui-pg-install.lock"
  flock 9
  if ! find_bin initdb >/dev/null; then
    echo "installing PostgreSQL (Debian package postgresql)" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2 && apt-get install -y -qq postgresql >&2
  fi
  flock -u 9
fi
initdb=$(find_bin initdb); pg_ctl=$(find_bin pg_ctl)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$dir"
run() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
if [ "$(id -u)" = 0 ]; then chown postgres "$dir"; chmod 700 "$dir"; fi
run "$initdb" -D "$dir/data" -A trust -U ectui -E UTF8 >"$dir/initdb.log" 2>&1
run "$pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
  -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=50" start >/dev/null
run "$(dirname "$initdb")/createdb" -h 127.0.0.1 -p "$port" -U ectui ectui_test 2>/dev/null \
  || psql -h 127.0.0.1 -p "$port" -U ectui -d postgres -qc "CREATE DATABASE ectui_test" >/dev/null
echo "postgresql+psycopg://ectui@127.0.0.1:$port/ectui_test"
