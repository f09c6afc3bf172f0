#!/usr/bin/env bash
# `make up` / `make down`: Airflow on localhost:$AIRFLOW_PORT (default 8080: api-server, scheduler,
# dag-processor, triggerer) with PostgreSQL as its metadata database, the sandbox connections
# written into that database (Admin > Connections lists them), the demo catalogue seeded as
# `make demo` seeds it, one pool per channel account, DAGs unpaused. Everything runs in one process
# group whose id is kept in .local/airflow.pgid, so `down` stops all of it (SIGTERM to the parent
# alone leaves the scheduler's workers running).
# EXECUTOR=celery (`make up EXECUTOR=celery`): the CeleryExecutor instead of the LocalExecutor, with
# a redis-server on REDIS_PORT (default 6379) as broker, two `airflow celery worker` processes and
# Flower on FLOWER_PORT (default 5555), all in the same process group.
# `check-port`: only the check `up` makes first (exit 1 with the reason when the port is taken).
set -euo pipefail
cd "$(dirname "$0")/.."
LOCAL="$PWD/.local"
PY="${ORDERBRIDGE_PYTHON:-$PWD/.venv/bin/python}"
PGID_FILE="$LOCAL/airflow.pgid"
AIRFLOW_PORT="${AIRFLOW_PORT:-8080}"
EXECUTOR="${EXECUTOR:-local}"
REDIS_PORT="${REDIS_PORT:-6379}"
FLOWER_PORT="${FLOWER_PORT:-5555}"

running() { [ -s "$PGID_FILE" ] && kill -0 -- -"$(cat "$PGID_FILE")" 2>/dev/null; }

# Before anything starts: a port another program holds would let the API server die while the
# scheduler and tasks talk to that program (a false "up").
check_port() {
  if ! [[ "$AIRFLOW_PORT" =~ ^[0-9]+$ ]] || [ "$AIRFLOW_PORT" -lt 1 ] || [ "$AIRFLOW_PORT" -gt 65535 ]; then
    echo "make up: AIRFLOW_PORT must be a port number from 1 to 65535, not '$AIRFLOW_PORT'" >&2
    exit 2
  fi
  if ! "$PY" - "$AIRFLOW_PORT" <<'PYEOF'
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a closed connection's TIME_WAIT is no owner
try:
    s.bind(("0.0.0.0", int(sys.argv[1])))  # where the API server listens
except OSError:
    sys.exit(1)
finally:
    s.close()
PYEOF
  then
    echo "make up: port $AIRFLOW_PORT is already in use by another program; nothing was started." >&2
    echo "  Stop that program, or choose a free port: AIRFLOW_PORT=18080 make up" >&2
    exit 1
  fi
}

# Before anything starts: what the CeleryExecutor needs that `make install` cannot bring.
check_executor() {
  case "$EXECUTOR" in
    local) ;;
    celery)
      if ! command -v redis-server >/dev/null; then
        echo "make up EXECUTOR=celery: no redis-server on PATH; install it (Debian: apt-get install redis-server)" >&2
        exit 2
      fi
      if ! "$PY" -c "import airflow.providers.celery" 2>/dev/null; then
        echo "make up EXECUTOR=celery: apache-airflow-providers-celery is missing; run make install" >&2
        exit 2
      fi ;;
    *) echo "make up: EXECUTOR must be local or celery, not '$EXECUTOR'" >&2; exit 2 ;;
  esac
}

# One pool per account, all in one `airflow pools import`: a `pools set` per pool costs an Airflow
# CLI start each (seconds), which with hundreds of accounts kept `make up` busy for many minutes.
pools() {
  mkdir -p "$LOCAL"
  "$PY" -c "
import json, sys; sys.path.insert(0, 'include')
from orderbridge.channels.registry import CHANNELS
from orderbridge.config import load_accounts
pools = ['orderbridge_digest', *(a.pool for c in CHANNELS for a in load_accounts(c))]
print(json.dumps({p: {'slots': 2, 'description': f'orderbridge: concurrency cap for {p}'} for p in pools}))
" > "$LOCAL/pools.json"
  "$(dirname "$PY")/airflow" pools import "$LOCAL/pools.json" >/dev/null
}

up() {
  check_executor
  if ! running; then check_port; fi
  # Sandbox, migrations, demo catalogue, connections in the metadata DB; then Airflow's environment.
  eval "$("$PY" scripts/demo.py up)"
  # Tasks reach the API server at execution_api_server_url, which defaults to port 8080 whatever
  # the server's port: set both.
  export AIRFLOW_PORT AIRFLOW__API__PORT="$AIRFLOW_PORT"
  export AIRFLOW__CORE__EXECUTION_API_SERVER_URL="http://localhost:$AIRFLOW_PORT/execution/"
  export AIRFLOW__CORE__AUTH_MANAGER=airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager
  export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS="admin:admin"
  if [ "$EXECUTOR" = celery ]; then
    export AIRFLOW__CORE__EXECUTOR=CeleryExecutor
    export AIRFLOW__CELERY__BROKER_URL="redis://127.0.0.1:$REDIS_PORT/0"
    # Task states come back through Airflow's own database, as in the official compose file.
    export AIRFLOW__CELERY__RESULT_BACKEND="db+${AIRFLOW__DATABASE__SQL_ALCHEMY_CONN/+psycopg2/}"
    export REDIS_PORT FLOWER_PORT LOCAL
  fi
  pools
  if running; then
    echo "Airflow is already running (process group $(cat "$PGID_FILE"))"
  else
    mkdir -p "$LOCAL"
    if [ "$EXECUTOR" = celery ]; then
      # Two workers on one machine: each serves its task logs on a port of its own.
      setsid bash -c '
        redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no --dir "$LOCAL" &
        airflow api-server --port "$AIRFLOW_PORT" & airflow scheduler & airflow dag-processor & airflow triggerer &
        AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT=8793 airflow celery worker --celery-hostname "worker1@%h" &
        AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT=8794 airflow celery worker --celery-hostname "worker2@%h" &
        airflow celery flower --port "$FLOWER_PORT" & wait
      ' >"$LOCAL/airflow.log" 2>&1 &
    else
      setsid bash -c '
        airflow api-server --port "$AIRFLOW_PORT" & airflow scheduler & airflow dag-processor & airflow triggerer & wait
      ' >"$LOCAL/airflow.log" 2>&1 &
    fi
    echo $! > "$PGID_FILE"
  fi
  for _ in $(seq 1 90); do
    curl -fs "http://localhost:$AIRFLOW_PORT/api/v2/version" >/dev/null 2>&1 && break
    running || break
    sleep 2
  done
  if ! curl -fs "http://localhost:$AIRFLOW_PORT/api/v2/version" >/dev/null 2>&1 || ! running; then
    echo "make up: Airflow's API server did not come up on port $AIRFLOW_PORT; see $LOCAL/airflow.log" >&2
    down >/dev/null
    exit 1
  fi
  # Unpause every orderbridge DAG once the dag-processor has registered it.
  CHANNEL_NAMES=$("$PY" -c "import sys; sys.path.insert(0, 'include')
from orderbridge.channels.registry import CHANNELS; print('|'.join(CHANNELS))")
  for _ in $(seq 1 30); do
    ids=$(airflow dags list -o plain 2>/dev/null | awk -v re="^(($CHANNEL_NAMES)_|orderbridge_)" 'NR>1 && $1 ~ re {print $1}')
    [ -n "$ids" ] && break
    sleep 2
  done
  for id in $ids; do airflow dags unpause "$id" >/dev/null; done
  echo "Airflow UI: http://localhost:$AIRFLOW_PORT  (login admin / password in $AIRFLOW_HOME/simple_auth_manager_passwords.json.generated)"
  echo "Connections: Admin > Connections (an AIRFLOW_CONN_<ID> variable of the same id would win over them)"
  echo "Staging database: $ORDERBRIDGE_STAGING_URL"
  if [ "$EXECUTOR" = celery ]; then
    echo "Executor: CeleryExecutor, broker redis://127.0.0.1:$REDIS_PORT/0, workers worker1 and worker2, Flower http://localhost:$FLOWER_PORT"
  fi
  echo "Merkana endpoints: http://localhost:$AIRFLOW_PORT/merkana/<platform>/... (api-token from the merkana connection)"
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
  check-port) check_port ;;
  check-executor) check_executor ;;
  pools) pools ;;
  *) echo "usage: $0 up|down|check-port|check-executor|pools" >&2; exit 2 ;;
esac
