#!/usr/bin/env bash
# A private PostgreSQL cluster for this checkout: data in .local/pgdata (git-ignored), listening on
# 127.0.0.1 on a port chosen once and kept in .local/pg.port. Reused when already running.
#   scripts/pg.sh up      start (init on first use), create databases, print the URL
#   scripts/pg.sh down    stop
#   scripts/pg.sh url DB  print the postgresql:// URL of database DB
set -euo pipefail
cd "$(dirname "$0")/.."
LOCAL="$PWD/.local"
DATA="$LOCAL/pgdata"
PORT_FILE="$LOCAL/pg.port"
PGBIN="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)"
PGBIN="${PGBIN:-$(dirname "$(command -v pg_ctl)")}"

# PostgreSQL refuses to run as root: run its binaries as the 'postgres' user when we are root.
as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

url() { echo "postgresql://postgres@127.0.0.1:$(cat "$PORT_FILE")/${1:-orderbridge}"; }

up() {
  mkdir -p "$LOCAL"
  if [ ! -s "$DATA/PG_VERSION" ]; then
    mkdir -p "$DATA"
    [ "$(id -u)" = 0 ] && chown postgres "$DATA"
    chmod 700 "$DATA"
    as_pg "$PGBIN/initdb" -D "$DATA" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
    free_port > "$PORT_FILE"
  fi
  [ -s "$PORT_FILE" ] || free_port > "$PORT_FILE"
  local port; port=$(cat "$PORT_FILE")
  if ! as_pg "$PGBIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; then
    as_pg "$PGBIN/pg_ctl" -D "$DATA" -w -t 60 -l "$DATA/server.log" \
      -o "-p $port -k /tmp -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200" start >/dev/null
  fi
  for db in orderbridge airflow; do
    as_pg "$PGBIN/psql" -h 127.0.0.1 -p "$port" -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname='$db'" \
      | grep -q 1 || as_pg "$PGBIN/createdb" -h 127.0.0.1 -p "$port" -U postgres "$db"
  done
  echo "PostgreSQL is up: $(url orderbridge)"
}

down() {
  if [ -s "$DATA/PG_VERSION" ] && as_pg "$PGBIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; then
    as_pg "$PGBIN/pg_ctl" -D "$DATA" -m fast -w stop >/dev/null
    echo "PostgreSQL stopped"
  fi
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  url) url "${2:-orderbridge}" ;;
  *) echo "usage: $0 up|down|url [db]" >&2; exit 2 ;;
esac
