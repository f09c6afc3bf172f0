"""Merkana's endpoint under concurrent senders (issue 16, item 4).

The fake Merkana platform sends N order creates to our endpoint (``python -m
orderbridge.channels.merkana.inbound``) on C connections at once, each kept alive, with some orders
sent twice at the same moment on two connections (the platform's retries). Prints orders/s, the
p50/p95/p99 latency of one call as the platform saw it, CPU per order of the endpoint, the sender
and PostgreSQL, and "stored once" (raw and staging rows vs distinct orders), each next to its target.

Alone: ``python bench/merkana_concurrency.py [--n 10000] [--connections 8] [--workers 1] [--dsn URL]``
(without ``--dsn`` it uses the checkout's PostgreSQL, ``scripts/pg.sh up``, and recreates the
database orderbridge_bench_merkana). ``bench/run.py`` calls ``measure`` in a child process and
prints ``report_lines``. Bodies are generated before the clock starts: only the sending is timed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TARGET_RATE, TARGET_P99_MS = 300.0, 200.0
PLATFORM, MID, OURS, THEIRS = "demo", 293, "bench-inbound-token", "bench-merkana-token"
DB = "orderbridge_bench_merkana"


def _cpu(procs) -> float:
    total = 0.0
    for p in procs:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except Exception:  # a worker gone meanwhile: its time is lost to both snapshots alike
            pass
    return total


def _tree(pid: int) -> list:
    import psutil

    root = psutil.Process(pid)
    return [root, *root.children(recursive=True)]


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def measure(n: int, dsn: str, connections: int = 8, workers: int = 1, duplicates: int | None = None) -> dict:
    """Run the scenario once on ``dsn`` (staging migrated; Merkana's rows there are replaced)."""
    import requests

    from orderbridge import db
    from orderbridge_sandbox import merkana
    from orderbridge_sandbox.process import start_sandbox

    duplicates = n // 50 if duplicates is None else duplicates
    conn = db.connect(dsn)
    with conn.cursor() as cur:
        cur.execute("DELETE FROM raw.orders WHERE channel = 'merkana'")
        cur.execute("DELETE FROM staging.orders WHERE channel = 'merkana'")
        merkana.seed_warehouse(cur, mids=(MID,))
        cur.execute("SELECT pg_backend_pid()")
        postmaster = __import__("psutil").Process(cur.fetchone()[0]).parent().pid
    conn.commit()
    sandbox = start_sandbox(["--seed", "7", "--merkana", f"{PLATFORM}:{OURS}:{THEIRS}"], timeout=300, stop_at_exit=True)
    env = {"AIRFLOW_CONN_ORDERBRIDGE_STAGING": dsn,
           "AIRFLOW_CONN_ORDERBRIDGE_MERKANA_DEMO": json.dumps(merkana.demo_connection(sandbox.url, OURS, THEIRS)),
           "ORDERBRIDGE_ACCOUNTS": str(REPO / "config" / "accounts.yaml")}
    endpoint = merkana.start_inbound(env, workers=workers)
    target = f"{endpoint.url}/merkana/{PLATFORM}"
    try:
        def replay(**spec) -> dict:
            answer = requests.post(f"{sandbox.url}/_sandbox/merkana/{PLATFORM}/replay", timeout=3600,
                                   json={"target": target, "mid": MID, **spec})
            answer.raise_for_status()
            return answer.json()

        replay(steps=["products", "stock"])
        replay(steps=["orders"], orders=20, duplicates=0, connections=connections)  # warm the pools, not timed
        with conn.cursor() as cur:
            cur.execute("DELETE FROM raw.orders WHERE channel = 'merkana'")
            cur.execute("DELETE FROM staging.orders WHERE channel = 'merkana'")
        conn.commit()
        ours, sender = _tree(endpoint.pid), _tree(sandbox.pid)
        pg = _tree(postmaster)
        before = _cpu(ours), _cpu(sender), _cpu(pg)
        result = replay(steps=["orders"], orders=n, duplicates=duplicates, connections=connections, from_start=True)
        after = _cpu(ours), _cpu(sender), _cpu(_tree(postmaster))
        orders = result["orders"]
        refused = [o for o in orders if o["answer"] != {"status": True}]
        with conn.cursor() as cur:
            cur.execute("SELECT count(*), count(DISTINCT external_id) FROM raw.orders WHERE channel = 'merkana'")
            raw_rows, raw_ids = cur.fetchone()
            cur.execute("SELECT count(*), count(DISTINCT external_order_id) FROM staging.orders"
                        " WHERE channel = 'merkana'")
            staged, staged_ids = cur.fetchone()
            cur.execute("SELECT count(*) FROM staging.order_history e JOIN staging.orders o ON o.id = e.order_id"
                        " WHERE o.channel = 'merkana' AND e.event = 'imported'")
            imported = cur.fetchone()[0]
        conn.commit()
        latencies = [o["seconds"] * 1000 for o in orders]
        calls = len(orders)
        return {
            "n": n, "connections": connections, "workers": workers, "calls": calls, "sent_twice": duplicates,
            "distinct_sent": len({o["id"] for o in orders}), "refused": len(refused),
            "refused_example": refused[0] if refused else None, "wall_s": result["send_s"],
            "orders_per_s": n / result["send_s"], "calls_per_s": calls / result["send_s"],
            "p50_ms": _pct(latencies, 0.50), "p95_ms": _pct(latencies, 0.95), "p99_ms": _pct(latencies, 0.99),
            "max_ms": max(latencies),
            "cpu_ms_per_call": {"endpoint": (after[0] - before[0]) * 1000 / calls,
                                "sender": (after[1] - before[1]) * 1000 / calls,
                                "postgresql": (after[2] - before[2]) * 1000 / calls},
            "raw_rows": raw_rows, "raw_ids": raw_ids, "staged": staged, "staged_ids": staged_ids, "imported": imported,
        }
    finally:
        endpoint.stop()
        sandbox.stop()
        conn.close()


def report_lines(r: dict) -> list[str]:
    """Markdown: the figures, each next to its target."""
    def met(ok: bool) -> str:
        return "**met**" if ok else "**NOT met**"

    once = r["raw_rows"] == r["raw_ids"] == r["staged"] == r["staged_ids"] == r["imported"] == r["distinct_sent"]
    cpu = r["cpu_ms_per_call"]
    return [
        f"### Merkana's endpoint under {r['connections']} concurrent platform connections "
        f"({r['workers']} uvicorn worker{'s' if r['workers'] > 1 else ''})",
        "",
        "| figure | measured | target | |",
        "|---|---|---|---|",
        f"| orders/s ({r['n']:,} orders, {r['calls']:,} calls with {r['sent_twice']} sent twice at once) | "
        f"{r['orders_per_s']:,.0f} ({r['wall_s']:.1f} s) | >= {TARGET_RATE:.0f} | "
        f"{met(r['orders_per_s'] >= TARGET_RATE)} |",
        f"| latency of one call p50 / p95 / p99 (max) | {r['p50_ms']:.0f} / {r['p95_ms']:.0f} / {r['p99_ms']:.0f} ms "
        f"({r['max_ms']:.0f}) | p99 < {TARGET_P99_MS:.0f} ms | {met(r['p99_ms'] < TARGET_P99_MS)} |",
        f"| stored once: raw rows / distinct raw ids / staging orders / 'imported' events / distinct ids sent | "
        f"{r['raw_rows']:,} / {r['raw_ids']:,} / {r['staged']:,} / {r['imported']:,} / {r['distinct_sent']:,} | "
        f"all equal | {met(once)} |",
        f"| refused calls | {r['refused']} | 0 | {met(r['refused'] == 0)} |",
        f"| CPU per call: endpoint / sender / PostgreSQL | {cpu['endpoint']:.2f} / {cpu['sender']:.2f} / "
        f"{cpu['postgresql']:.2f} ms | | |",
    ]


def checkout_dsn(name: str = DB) -> str:
    """The checkout's PostgreSQL (``scripts/pg.sh up``), database ``name`` recreated and migrated."""
    import psycopg2

    from orderbridge import db

    subprocess.run([str(REPO / "scripts" / "pg.sh"), "up"], check=True, capture_output=True)

    def url(name: str) -> str:
        return subprocess.run([str(REPO / "scripts" / "pg.sh"), "url", name], check=True, capture_output=True,
                              text=True).stdout.strip()

    admin = psycopg2.connect(url("postgres"))
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        cur.execute(f"CREATE DATABASE {name}")
    admin.close()
    db.migrate(url(name))
    return url(name)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--dsn", help="a migrated staging database (default: the checkout's, recreated)")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON line (bench/run.py)")
    args = parser.parse_args(argv)
    result = measure(args.n, args.dsn or checkout_dsn(), args.connections, args.workers)
    print(json.dumps(result) if args.json else "\n".join(report_lines(result)))


if __name__ == "__main__":
    os.environ.setdefault("ORDERBRIDGE_ACCOUNTS", str(REPO / "config" / "accounts.yaml"))
    main()
