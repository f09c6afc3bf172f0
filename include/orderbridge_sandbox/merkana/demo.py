"""What the demo, the tests, chaos and bench need around the fake Merkana platform: its Airflow
connection, the warehouse's side of the demo merchant, our endpoints served alone in a child
process, one replay as counts, and the summary table.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests
from psycopg2.extras import execute_values

from orderbridge_sandbox.catalogue import WAREHOUSE_PRODUCTS
from orderbridge_sandbox.merkana.state import CHANNEL, TIMEOUT, UNKNOWN_SKU_TEMPLATE, catalogue
from orderbridge_sandbox.process import SandboxProcess, SandboxStartError, free_port


def demo_connection(sandbox_url: str, our_token: str, their_token: str, mids: tuple[int, ...] = (293,)) -> dict:
    """The platform's Airflow connection (``AIRFLOW_CONN_ORDERBRIDGE_MERKANA_<PLATFORM>``, as JSON)
    pointing at this sandbox."""
    host, _, port = sandbox_url.split("://", 1)[1].partition(":")
    return {"conn_type": "http", "host": host, "port": int(port or 80), "schema": "http", "password": their_token,
            "extra": {"api_path": "/merkana/v1", "timeout": 10, "inbound_token": our_token,
                      "merchants": {str(m): {} for m in mids}, "unknown_product_sku": UNKNOWN_SKU_TEMPLATE}}


def seed_warehouse(cur, mids: tuple[int, ...] = (293,)) -> None:
    """What the demo warehouse sets up for its Merkana merchants: each merchant's own products and
    stock (owner = its mid, the connection's default ``stock_owner``; idempotent), its unknown product
    (with no stock), the merchants' own SKU codes as aliases, and Merkana's courier names for the
    simulator's courier services."""
    execute_values(cur, "INSERT INTO staging.products (owner, sku, name) VALUES %s ON CONFLICT DO NOTHING",
                   [(str(m), p.sku, p.name) for m in mids for p in WAREHOUSE_PRODUCTS]
                   + [(str(m), UNKNOWN_SKU_TEMPLATE.format(mid=m), f"Unknown product of merchant {m}") for m in mids])
    execute_values(cur, "INSERT INTO staging.stock_levels (owner, sku, on_hand) VALUES %s ON CONFLICT DO NOTHING",
                   [(str(m), p.sku, p.on_hand) for m in mids for p in WAREHOUSE_PRODUCTS])
    execute_values(cur, "INSERT INTO staging.sku_aliases (channel, channel_sku, warehouse_sku) VALUES %s"
                        " ON CONFLICT DO NOTHING",
                   [(CHANNEL, p.sku, p.warehouse_sku) for p in catalogue() if p.sku != p.warehouse_sku])
    execute_values(cur, "INSERT INTO staging.carrier_codes (channel, courier_service, carrier_code) VALUES %s"
                        " ON CONFLICT DO NOTHING",
                   [(CHANNEL, "DPD UK", "dpd"), (CHANNEL, "DHL Germany", "dhl"), (CHANNEL, "GLS", "gls")])


def start_inbound(env: dict[str, str], port: int | None = None, log_path: str | Path | None = None,
                  host: str = "127.0.0.1", timeout: float = 30.0, workers: int = 1) -> SandboxProcess:
    """Serve our Merkana endpoints alone, ``python -m orderbridge.channels.merkana.inbound``, in a child process
    (its own session: stop it with ``.stop()``), as ``make demo`` needs without an API server.

    Args:
        env: added to this environment: ``AIRFLOW_CONN_ORDERBRIDGE_STAGING``, the platform's
            ``AIRFLOW_CONN_ORDERBRIDGE_MERKANA_<PLATFORM>`` and ``ORDERBRIDGE_ACCOUNTS`` at least.
        workers: uvicorn worker processes (``--workers``).

    Returns:
        The process; our endpoints are under ``f"{proc.url}/merkana"``.

    Raises:
        SandboxStartError: it exited or did not answer ``/merkana/health`` within ``timeout``.
    """
    port = port or free_port(host)
    own_log = log_path is None
    path = Path(tempfile.mkstemp(prefix="orderbridge-merkana-", suffix=".log")[1]) if own_log else Path(log_path)
    with open(path, "ab") as log:
        popen = subprocess.Popen([sys.executable, "-m", "orderbridge.channels.merkana.inbound", "--host", host,
                                  "--port", str(port), "--workers", str(workers)],
                                 stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                 env={**os.environ, **env}, start_new_session=True)
    proc = SandboxProcess(popen, host, port, path, own_log)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and popen.poll() is None:
        try:
            # Health no longer names the process (not public detail): ours answered if it still runs
            # once the port does (a foreign server on the port would have made it exit on bind).
            if requests.get(f"{proc.url}/merkana/health", timeout=1).json().get("status") is True \
                    and popen.poll() is None:
                return proc
        except (requests.RequestException, ValueError):
            pass
        time.sleep(0.2)
    tail = proc.log_tail()
    proc.stop()
    raise SandboxStartError(f"Merkana endpoints did not start; log tail:\n{tail}")


def demo_run(sandbox_url: str, our_base_url: str, platform: str = "demo", mid: int = 293, orders: int = 40,
             duplicates: int = 4, cancels: int = 3, unknown_rate: float = 0.1, from_start: bool = True) -> dict:
    """Have the fake platform send its four calls to our endpoints.

    Args:
        our_base_url: where our app is mounted, e.g. ``http://127.0.0.1:8080/merkana`` (API server) or
            ``http://127.0.0.1:8766/merkana`` (``python -m orderbridge.channels.merkana.inbound``).
        from_start: send the same orders on every call (a second demo run then re-sends them and
            staging stores nothing new); False continues with new orders.

    Returns:
        Counts of what we answered: orders accepted, duplicates, cancels done and refused.
    """
    response = requests.post(f"{sandbox_url}/_sandbox/merkana/{platform}/replay", timeout=300, json={
        "target": f"{our_base_url.rstrip('/')}/{platform}", "mid": mid, "orders": orders, "duplicates": duplicates,
        "cancels": cancels, "unknown_rate": unknown_rate, "from_start": from_start})
    response.raise_for_status()
    result = response.json()
    answers = [o["answer"] for o in result.get("orders", [])]
    cancels = [c["answer"] for c in result.get("cancels", []) if isinstance(c["answer"], dict)]
    return {"products_synced": result["products"][0] == 200, "stock_answered": result["stock"][0] == 200,
            "order_sends": len(answers), "accepted": sum(1 for a in answers if isinstance(a, dict) and a.get("status")),
            "cancelled": sum(1 for a in cancels if a.get("status") is True),
            "cancel_refused": sum(1 for a in cancels if a.get("status") is False)}


def summary_rows(cur, sandbox_url: str) -> list[dict]:
    """One row per Merkana merchant the sandbox knows: what it sent, what staging holds, what came back."""
    rows = []
    for platform in requests.get(f"{sandbox_url}/_sandbox/merkana", timeout=TIMEOUT).json()["platforms"]:
        state = requests.get(f"{sandbox_url}/_sandbox/merkana/{platform}/state", timeout=TIMEOUT).json()
        received = {u["idextern"] for u in state["status_updates"]}
        for mid, merchant in state["merchants"].items():
            account = f"{platform}/{mid}"
            cur.execute(
                """SELECT count(*), count(*) FILTER (WHERE attention IS NOT NULL),
                          count(*) FILTER (WHERE status = 'cancelled'),
                          count(*) FILTER (WHERE EXISTS (SELECT 1 FROM staging.shipments s WHERE s.order_id = o.id)),
                          coalesce(array_agg(external_order_id), '{}')
                   FROM staging.orders o WHERE channel = %s AND account = %s""",
                (CHANNEL, account),
            )
            staged, flagged, cancelled, shipped, ids = cur.fetchone()
            ids = set(ids)
            cur.execute("SELECT count(*) FILTER (WHERE status = 'pending'), count(*) FILTER (WHERE status = 'failed')"
                        " FROM staging.outbox WHERE channel = %s AND account = %s", (CHANNEL, account))
            pending, failed = cur.fetchone()
            rows.append({
                "channel": CHANNEL, "account": account, "orders sent by platform": merchant["orders_sent"],
                "sends (with retries)": merchant["sends"], "in staging": staged, "flagged": flagged,
                "cancelled": cancelled, "shipped": shipped,
                "status updates confirmed": sum(1 for u in state["status_updates"] if u["idextern"] in ids),
                "orders with an update": len(received & ids), "stock posts": merchant["supply_posts"],
                "posted twice": sum(1 for u in state["status_updates"] if u["times"] > 1 and u["idextern"] in ids),
                "pending write-backs": pending, "failed write-backs": failed,
            })
    return rows
