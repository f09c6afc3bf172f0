#!/usr/bin/env bash
# `make up` / `make down`: Airflow on localhost:8080 (api-server, scheduler, dag-processor,
# triggerer) with PostgreSQL as its metadata database, connections pointing at the sandbox,
# one pool per channel account, DAGs unpaused. Everything runs in one process group whose id is
# kept in .local/airflow.pgid, so `down` stops all of it (SIGTERM to the parent alone leaves the
# scheduler's workers running).
set -euo pipefail
cd "$(dirname "$0")/.."
LOCAL="$PWD/.local"
PY="$PWD/.venv/bin/python"
PGID_FILE="$LOCAL/airflow.pgid"

up() {
  eval "$("$PY" scripts/demo.py env)"
  export AIRFLOW__API__PORT=8080 AIRFLOW__CORE__AUTH_MANAGER=airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager
  export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS="admin:admin"
  "$PY" -c "import sys; sys.path.insert(0, 'include'); from orderbridge import db; db.migrate('$AIRFLOW_CONN_ORDERBRIDGE_STAGING')"
  airflow db migrate >/dev/null
  for pool in $("$PY" -c "
import sys; sys.path.insert(0, 'include')
from orderbridge.channels.registry import CHANNELS
from orderbridge.config import load_accounts
print(' '.join(a.pool for c in CHANNELS for a in load_accounts(c)))"); do
    airflow pools set "$pool" 2 "orderbridge: concurrency cap for $pool" >/dev/null
  done
  if [ -s "$PGID_FILE" ] && kill -0 -- -"$(cat "$PGID_FILE")" 2>/dev/null; then
    echo "Airflow is already running (process group $(cat "$PGID_FILE"))"
  else
    mkdir -p "$LOCAL"
    setsid bash -c '
      airflow api-server --port 8080 & airflow scheduler & airflow dag-processor & airflow triggerer & wait
    ' >"$LOCAL/airflow.log" 2>&1 &
    echo $! > "$PGID_FILE"
  fi
  for _ in $(seq 1 90); do
    curl -fs http://localhost:8080/api/v2/version >/dev/null 2>&1 && break
    sleep 2
  done
  # Unpause every orderbridge DAG once the dag-processor has registered it.
  CHANNEL_NAMES=$("$PY" -c "import sys; sys.path.insert(0, 'include')
from orderbridge.channels.registry import CHANNELS; print('|'.join(CHANNELS))")
  for _ in $(seq 1 30); do
    ids=$(airflow dags list -o plain 2>/dev/null | awk -v re="^($CHANNEL_NAMES)_" 'NR>1 && $1 ~ re {print $1}')
    [ -n "$ids" ] && break
    sleep 2
  done
  for id in $ids; do airflow dags unpause "$id" >/dev/null; done
  echo "Airflow UI: http://localhost:8080  (login admin / password in $AIRFLOW_HOME/simple_auth_manager_passwords.json.generated)"
  echo "Staging database: $AIRFLOW_CONN_ORDERBRIDGE_STAGING"
  echo "Merkana endpoints: http://localhost:8080/merkana/<platform>/... (api-token from the merkana connection)"
}

down() {
  if [ -s "$PGID_FILE" ]; then
    kill -TERM -- -"$(cat "$PGID_FILE")" 2>/dev/null || true
    sleep 3
    kill -KILL -- -"$(cat "$PGID_FILE")" 2>/dev/null || true
    rm -f "$PGID_FILE"
    echo "Airflow stopped"
  fi
  if [ -s "$LOCAL/sandbox.pid" ]; then
    kill -TERM -- -"$(cat "$LOCAL/sandbox.pid")" 2>/dev/null || kill -TERM "$(cat "$LOCAL/sandbox.pid")" 2>/dev/null || true
    rm -f "$LOCAL/sandbox.pid" "$LOCAL/sandbox.port"
    echo "Sandbox stopped"
  fi
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  *) echo "usage: $0 up|down" >&2; exit 2 ;;
esac
