"""`make demo`: the whole system once, end to end, on this machine, without credentials.

Starts (or reuses) the checkout's PostgreSQL and the marketplace sandbox, migrates the staging
schema and Airflow's database, then runs real DAG runs through Airflow (`airflow dags test`):
a first cycle imports and marks orders exported, the simulated warehouse ships part of them, a
second cycle posts their tracking. It ends with one summary row per channel account.

Subcommands (for scripts/airflow.sh): `env` prints the shell exports that point Airflow at the
local stack; `sandbox` only makes sure the sandbox runs.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[1]
LOCAL = REPO / ".local"
SANDBOX_PORT_FILE, SANDBOX_PID_FILE = LOCAL / "sandbox.port", LOCAL / "sandbox.pid"
ORDERS_PER_ACCOUNT = 120
SEED = 20261122

sys.path.insert(0, str(REPO / "include"))
from orderbridge import db  # noqa: E402
from orderbridge.config import load_accounts  # noqa: E402


def sh(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(args, check=True, text=True, **kwargs)


def postgres_url(database: str = "orderbridge") -> str:
    sh(str(REPO / "scripts" / "pg.sh"), "up", stdout=subprocess.DEVNULL)
    return sh(str(REPO / "scripts" / "pg.sh"), "url", database, capture_output=True).stdout.strip()


def sandbox_accounts() -> list[tuple[str, str, str]]:
    """(account name, sandbox supplier id, sandbox token) for every configured Groupon account."""
    return [(a.name, str(1001 + i), f"sandbox-token-{a.name}") for i, a in enumerate(load_accounts("groupon"))]


def sandbox_url() -> str:
    """The running sandbox's URL, starting it (detached, reused by later runs) if needed."""
    if SANDBOX_PORT_FILE.exists():
        url = f"http://127.0.0.1:{SANDBOX_PORT_FILE.read_text().strip()}"
        try:
            if requests.get(f"{url}/_sandbox/health", timeout=2).ok:
                return url
        except requests.ConnectionError:
            pass
    from orderbridge.sandbox.process import start_sandbox

    args = ["--seed", str(SEED)]
    for _name, supplier, token in sandbox_accounts():
        args += ["--groupon", f"{supplier}:{token}:{ORDERS_PER_ACCOUNT}"]
    LOCAL.mkdir(exist_ok=True)
    proc = start_sandbox(args, log_path=LOCAL / "sandbox.log")
    SANDBOX_PORT_FILE.write_text(str(proc.port))
    SANDBOX_PID_FILE.write_text(str(proc.pid))
    return proc.url


def airflow_env(sandbox: str) -> dict[str, str]:
    port = int(sandbox.rsplit(":", 1)[1])
    env = {
        "AIRFLOW_HOME": str(LOCAL / "airflow"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": postgres_url("airflow").replace("postgresql://",
                                                                                "postgresql+psycopg2://"),
        "AIRFLOW_CONN_ORDERBRIDGE_STAGING": postgres_url(),
        "ORDERBRIDGE_ACCOUNTS": str(REPO / "config" / "accounts.yaml"),
        "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
    }
    accounts = {a.name: a for a in load_accounts("groupon")}
    for name, supplier, token in sandbox_accounts():
        env[f"AIRFLOW_CONN_{accounts[name].conn_id.upper()}"] = json.dumps({
            "conn_type": "http", "host": "127.0.0.1", "port": port, "schema": "http",
            "login": supplier, "password": token, "extra": {"api_path": "/groupon/api/v4"}})
    return env


def run_cycle(env: dict[str, str], logical_date: datetime) -> None:
    for account in load_accounts("groupon"):
        dag_id = f"groupon_{account.name}"
        print(f"  airflow dags test {dag_id} {logical_date.isoformat()}", flush=True)
        result = subprocess.run(["airflow", "dags", "test", dag_id, logical_date.isoformat()],
                                env={**os.environ, **env}, capture_output=True, text=True)
        log_file = LOCAL / f"demo-{dag_id}.log"
        log_file.write_text(result.stdout + result.stderr)
        if result.returncode != 0 or "state=failed" in result.stdout + result.stderr:
            sys.exit(f"DAG run {dag_id} failed; its log is in {log_file}")


def summary(staging_url: str, sandbox: str) -> list[dict]:
    rows = []
    with closing(db.connect(staging_url)) as conn, conn.cursor() as cur:
        for name, supplier, _token in sandbox_accounts():
            state = requests.get(f"{sandbox}/_sandbox/groupon/{supplier}/state", timeout=10).json()
            orders = state["orders"]
            lines = [line for o in orders for e in o["entries"] for line in e["lines"]]
            cur.execute(
                """SELECT count(*), count(*) FILTER (WHERE status = 'awaiting_mapping'),
                          count(*) FILTER (WHERE status = 'invalid_address'),
                          count(DISTINCT s.order_id)
                   FROM staging.orders o LEFT JOIN LATERAL (SELECT order_id FROM staging.shipments
                        WHERE order_id = o.id LIMIT 1) s ON true
                   WHERE channel = 'groupon' AND account = %s""",
                (name,),
            )
            staged, awaiting, bad_address, shipped = cur.fetchone()
            cur.execute("SELECT count(DISTINCT detail->>'shipment_id') FROM staging.order_events"
                        " WHERE channel = 'groupon' AND account = %s AND event = 'tracking_blocked'", (name,))
            blocked = cur.fetchone()[0]
            cur.execute("SELECT count(*) FROM staging.outbox WHERE channel = 'groupon' AND account = %s"
                        " AND status = 'pending'", (name,))
            rows.append({
                "channel": "groupon", "account": name, "orders in sandbox": len(orders),
                "in staging": staged,
                "exported": sum(1 for o in orders if all(line["exported"] for e in o["entries"]
                                                         for line in e["lines"])),
                "awaiting mapping": awaiting, "invalid address": bad_address, "shipped": shipped,
                "tracking confirmed": sum(1 for o in orders if any(line["tracking"] for e in o["entries"]
                                                                   for line in e["lines"])),
                "blocked: no carrier code": blocked,
                "lines posted twice": sum(1 for line in lines if len(line["tracking"]) > 1 or line["export_calls"] > 1),
                "pending write-backs": cur.fetchone()[0],
            })
    return rows


def print_table(rows: list[dict]) -> None:
    headers = list(rows[0])
    widths = [max(len(h), *(len(str(r[h])) for r in rows)) for h in headers]
    print(" | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)))
    print("-+-".join("-" * w for w in widths))
    for row in rows:
        print(" | ".join(str(row[h]).ljust(w) for h, w in zip(headers, widths, strict=True)))


def main() -> None:
    started = time.monotonic()
    command = sys.argv[1] if len(sys.argv) > 1 else "run"
    sandbox = sandbox_url()
    if command == "sandbox":
        print(sandbox)
        return
    env = airflow_env(sandbox)
    if command == "env":
        print("\n".join(f"export {k}={shlex.quote(v)}" for k, v in env.items()))
        return
    staging_url = env["AIRFLOW_CONN_ORDERBRIDGE_STAGING"]
    print(f"PostgreSQL: {staging_url}\nSandbox:    {sandbox}")
    db.migrate(staging_url)
    sh("airflow", "db", "migrate", env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    from orderbridge.sandbox.warehouse import seed_catalogue, ship_some

    with closing(db.connect(staging_url)) as conn:
        with conn.cursor() as cur:
            seed_catalogue(cur)
        conn.commit()
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    print("Cycle 1: import orders, mark them exported, reconcile stock")
    run_cycle(env, now - timedelta(minutes=20))
    with closing(db.connect(staging_url)) as conn:
        with conn.cursor() as cur:
            shipped = sum(ship_some(cur, "groupon", name) for name, _s, _t in sandbox_accounts())
        conn.commit()
    print(f"Warehouse simulator shipped {shipped} orders")
    print("Cycle 2: post tracking for the shipped orders")
    run_cycle(env, now - timedelta(minutes=10))
    print()
    print_table(summary(staging_url, sandbox))
    print(f"\nDone in {time.monotonic() - started:.0f} s. The staging database stays up: psql {staging_url}")
    print("Task logs: .local/airflow/logs; `make down` stops PostgreSQL and the sandbox.")


if __name__ == "__main__":
    main()
