"""Shoprenter's catalogue sync of 50,000 products: time, memory, requests (issue 14).

A warehouse product master of N products (2% in the excluded group ``Kizárt``) is uploaded to a
shop of the Shoprenter fake through the channel's ``sync_catalogue`` task (its real code path:
read the shop's products, diff, plan ``/batch`` chunks of 200, send them), then synced again with
nothing changed, then with 1% of the prices changed; last, another shop's N products are
downloaded into staging (pages of 200). Each sync runs in a child process of its own, so its peak
RSS (``ru_maxrss``) and CPU are its own.

The fake keeps the reference's limit of 3 requests a second per shop and its default of counting
a ``/batch`` as one request (``--shoprenter-batch-counts one``; the reference leaves it open, A8
[G]); the report prints which. Requests, sub-requests and 429s are the fake's counters. The floor
the rate limit alone imposes is (requests counted against the limit) / 3 s: next to the wall time
it shows what bounds a sync. At N = 50,000 each sync makes about 250 requests: ~82 s of limit
alone, 90-100 s measured each, ~7 minutes in all with the set-up (``--n`` makes it smaller). The
child imports Airflow and pandas before its clock starts, as a worker has them loaded.

Alone: ``python bench/shoprenter_catalogue.py [--n 50000] [--dsn URL]`` (without ``--dsn`` it uses
the checkout's PostgreSQL, ``scripts/pg.sh up``, and recreates the database
orderbridge_bench_shoprenter). ``bench/run.py`` calls it with ``--json`` and prints ``report_lines``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DB = "orderbridge_bench_shoprenter"
UP, DOWN, USER, KEY = "catshop", "dlshop", "benchuser", "benchkey"
EXCLUDED, DOWN_OWNER = "Kizárt", "shoprenter-download"
GROUPS = ("Konyha", "Kert", "Játék", "Könyv")


def _connection(url: str, shop: str, **extra) -> str:
    return json.dumps({"conn_type": "http", "login": USER, "password": KEY, "extra": {
        "shop": shop, "api_base": f"{url}/shoprenter/{shop}", "timeout": 60, "excluded_groups": [EXCLUDED],
        **extra}})


def sync_once(shop: str, run_id: str) -> dict:
    """The child: one ``sync_catalogue`` run of ``shop`` as the DAG task runs it; its figures."""
    from datetime import UTC, datetime, timedelta

    # What a worker has loaded before a task starts (Airflow alone is ~3 s of imports): not timed.
    import pandas  # noqa: F401
    from airflow.providers.http.hooks.http import HttpHook  # noqa: F401
    from airflow.providers.postgres.hooks.postgres import PostgresHook  # noqa: F401

    from orderbridge.channels.base import Run
    from orderbridge.channels.shoprenter.channel import ShoprenterChannel
    from orderbridge.config import Account

    acct = Account(channel="shoprenter", name=shop, conn_id=f"orderbridge_shoprenter_{shop}", extract_mode="window")
    end = datetime.now(UTC)
    cpu, start = time.process_time(), time.perf_counter()
    counts = ShoprenterChannel().run_task("sync_catalogue", acct, Run(run_id, "scheduled", end - timedelta(hours=1),
                                                                      end))
    return {"counts": {k: v for k, v in counts.items() if isinstance(v, int | float | str | bool)},
            "wall_s": time.perf_counter() - start, "cpu_s": time.process_time() - cpu,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def _master(cur, n: int) -> None:
    """N products of the warehouse's own master; every 50th in the excluded group."""
    cur.execute("DELETE FROM staging.products")
    cur.execute("INSERT INTO staging.products (sku, name, price, product_group) SELECT 'CAT-' || lpad(i::text, 6, '0'),"
                " 'Termék ' || i, 100 + i %% 9000, CASE WHEN i %% 50 = 0 THEN %s ELSE (%s::text[])[1 + i %% 4] END"
                " FROM generate_series(1, %s) i", (EXCLUDED, list(GROUPS), n))


def measure(n: int, dsn: str) -> dict:
    """Run the scenario once on ``dsn`` (staging migrated; its products and Shoprenter rows are replaced)."""
    import psutil
    import requests

    from orderbridge import db
    from orderbridge_sandbox.process import start_sandbox

    conn = db.connect(dsn)
    with conn.cursor() as cur:
        _master(cur, n)
        cur.execute("DELETE FROM staging.catalogue_chunks WHERE channel = 'shoprenter'")
        cur.execute("DELETE FROM staging.channel_products WHERE channel = 'shoprenter'")
        cur.execute("INSERT INTO staging.stock_owners (channel, account, owner) VALUES ('shoprenter', %s, %s)"
                    " ON CONFLICT (channel, account) DO UPDATE SET owner = EXCLUDED.owner", (DOWN, DOWN_OWNER))
    conn.commit()
    sandbox = start_sandbox(["--seed", "7", "--shoprenter", f"{UP}:{USER}:{KEY}:0",
                             "--shoprenter", f"{DOWN}:{USER}:{KEY}:0"], timeout=120, stop_at_exit=True)
    control = f"{sandbox.url}/_sandbox/shoprenter"

    def call(method: str, path: str, **body) -> dict:
        answer = requests.request(method, f"{control}/{path}", json=body or None, timeout=600)
        answer.raise_for_status()
        return answer.json()

    try:
        settings = call("GET", "state")["settings"]
        for start in range(0, n, 5000):  # the download shop's products, not timed
            call("POST", f"{DOWN}/products", products=[
                {"sku": f"DL-{i:06d}", "name": f"Bolti termék {i}", "price": 200 + i % 5000,
                 "group": EXCLUDED if i % 50 == 0 else GROUPS[i % 4]}
                for i in range(start + 1, min(n, start + 5000) + 1)])
        env = {**os.environ, "AIRFLOW_CONN_ORDERBRIDGE_STAGING": dsn,
               f"AIRFLOW_CONN_ORDERBRIDGE_SHOPRENTER_{UP.upper()}": _connection(sandbox.url, UP, catalogue_upload=True),
               f"AIRFLOW_CONN_ORDERBRIDGE_SHOPRENTER_{DOWN.upper()}": _connection(sandbox.url, DOWN,
                                                                                catalogue_download=True)}
        fake = psutil.Process(sandbox.pid)
        steps = []
        for label, shop, run_id in (("first upload", UP, "r1"), ("nothing changed", UP, "r2"),
                                    ("1% changed", UP, "r3"), ("download", DOWN, "r4")):
            if run_id == "r3":
                with conn.cursor() as cur:
                    cur.execute("UPDATE staging.products SET price = price + 1 WHERE owner = '' AND"
                                " substr(sku, 5)::int % 100 = 7")
                conn.commit()
            call("DELETE", f"{shop}/requests")
            fake_cpu = sum(fake.cpu_times()[:2])
            child = subprocess.run([sys.executable, __file__, "--sync", shop, "--run-id", run_id], env=env,
                                   capture_output=True, text=True, timeout=3600, cwd=REPO)
            if child.returncode != 0:
                raise RuntimeError(f"sync of {shop} ({label}) failed:\n{child.stderr[-3000:]}")
            figures = json.loads(child.stdout.strip().splitlines()[-1])
            counted = call("GET", "state")["shops"][shop]
            steps.append({"label": label, "shop": shop, **figures, "fake_cpu_s": sum(fake.cpu_times()[:2]) - fake_cpu,
                          **_requests(counted, settings["rate_limit"])})
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM staging.products WHERE owner = %s", (DOWN_OWNER,))
            downloaded_rows = cur.fetchone()[0]
        conn.commit()
        return {"n": n, "rate_limit": settings["rate_limit"], "batch_counts": settings["batch_counts"],
                "max_batch": settings["max_batch"], "steps": steps, "downloaded_rows": downloaded_rows}
    finally:
        sandbox.stop()
        conn.close()


def _requests(shop: dict, rate: int) -> dict:
    """The fake's counters of one shop since they were reset: requests, sub-requests, 429s, the floor."""
    outer = {k: v for k, v in shop["requests"].items() if "(batch)" not in k}
    counted = sum(s["let_through"] for s in shop["requests_per_second"].values())
    return {"requests": sum(outer.values()), "batches": sum(v for k, v in outer.items() if k.startswith("POST batch")),
            "pages": sum(v for k, v in outer.items() if k.startswith("GET ")),
            "sub_requests": sum(v for k, v in shop["requests"].items() if "(batch)" in k),
            "status_429": shop["refused"], "counted": counted, "floor_s": counted / rate if rate else 0.0,
            "by_endpoint": shop["requests"]}


def report_lines(r: dict) -> list[str]:
    """Markdown: one row per sync, the rate limit's floor next to the wall time."""
    lines = [f"### Shoprenter catalogue sync, {r['n']:,} products ({r['rate_limit']} requests/s per shop; "
             f"a `/batch` of up to {r['max_batch']} counts as "
             f"{'one request' if r['batch_counts'] == 'one' else 'each of its sub-requests'}: the fake's "
             f"`--shoprenter-batch-counts {r['batch_counts']}`)", "",
             "| sync | wall | rate-limit floor (counted / rate) | requests (pages + batches) | sub-requests | "
             "429s | items new / changed / unchanged / excluded | sent: done / refused / failed | peak RSS | "
             "CPU ours / fake |", "|---|---|---|---|---|---|---|---|---|---|"]
    for s in r["steps"]:
        c = s["counts"]
        if s["shop"] == DOWN:
            items = " / ".join(f"{c.get('downloaded_' + k, 0):,}" for k in ("new", "changed", "unchanged", "excluded"))
            sent = f"{r['downloaded_rows']:,} rows in staging.products"
        else:
            items = " / ".join(f"{c.get('planned_' + k, 0):,}" for k in ("new", "changed", "unchanged", "excluded"))
            sent = " / ".join(f"{c.get(k, 0):,}" for k in ("done", "refused", "failed"))
        lines.append(f"| {s['label']} | {s['wall_s']:.1f} s | {s['floor_s']:.1f} s ({s['counted']:,}) | "
                     f"{s['requests']:,} ({s['pages']:,} + {s['batches']:,}) | {s['sub_requests']:,} | "
                     f"{s['status_429']} | {items} | {sent} | {s['peak_rss_mb']:.0f} MB | "
                     f"{s['cpu_s']:.1f} / {s['fake_cpu_s']:.1f} s |")
    return lines


def section(n: int = 50_000) -> list[str]:
    """``bench/run.py``'s hook: the scenario in a child process (its own database); the report's lines."""
    print(f"Shoprenter: catalogue sync of {n:,} products at 3 requests/s (child process, ~7 min)", flush=True)
    proc = subprocess.run([sys.executable, __file__, "--json", "--n", str(n)], capture_output=True, text=True,
                          timeout=3600, cwd=REPO)
    if proc.returncode != 0:
        print(f"  failed: {proc.stderr[-500:]}", flush=True)
        return ["### Shoprenter catalogue sync: failed", "", "```", proc.stderr[-1500:], "```"]
    return report_lines(json.loads(proc.stdout.strip().splitlines()[-1]))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=50_000, help="products in the master and in the download shop")
    parser.add_argument("--dsn", help="a migrated staging database (default: the checkout's, recreated)")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON line (bench/run.py)")
    parser.add_argument("--sync", help=argparse.SUPPRESS)  # the child: one sync of this shop
    parser.add_argument("--run-id", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.sync:
        print(json.dumps(sync_once(args.sync, args.run_id)))
        return
    from merkana_concurrency import checkout_dsn

    result = measure(args.n, args.dsn or checkout_dsn(DB))
    print(json.dumps(result) if args.json else "\n".join(report_lines(result)))


if __name__ == "__main__":
    os.environ.setdefault("ORDERBRIDGE_ACCOUNTS", str(REPO / "config" / "accounts.yaml"))
    main()
