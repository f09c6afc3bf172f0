"""How many accounts one machine holds: one 10-minute cycle of N sandbox accounts under the real scheduler.

Usage: .venv/bin/python bench/accounts.py [--accounts 50 --accounts 200 --accounts 500]
       [--executor local --executor celery] [--orders 3] [--out bench/accounts.md]
Needs the checkout's PostgreSQL up (scripts/pg.sh up; `make bench` does it) and, for celery, a
redis-server on PATH. `bench/run.py` runs it too (its --accounts options) and appends the table.

Half the accounts are Groupon suppliers, half plentymarkets systems, each with ``--orders`` orders in
the sandbox. Time is compressed: every DAG is unpaused at once, which is the moment all their
10-minute runs fall due, and the cycle's wall time (until the last account's run has finished) is
measured against the 10-minute budget instead of waiting for the real cadence (the accounts are
given a daily schedule, so no second run starts inside the measured one). Figures per run:
how long until the DAG processor has registered every DAG, scheduling delay (each task's wait
from scheduled to running), task duration percentiles, peak connections to PostgreSQL, peak
memory of Airflow's processes (tasks included), and accounts per core: how many accounts would
fill the 10 minutes at this cycle's pace, per core.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "include"))

from orderbridge_chaos.cluster import airflow_cluster, celery_missing  # noqa: E402
from orderbridge_sandbox.process import start_sandbox  # noqa: E402

BUDGET_S = 600  # the accounts' cadence: every 10 minutes
STAGING_DB, METADATA_DB = "orderbridge_bench_accounts", "airflow_bench_accounts"
ANCHOR = "2026-11-20T12:00:00+00:00"


def pg_url(db: str) -> str:
    return subprocess.run([str(REPO / "scripts" / "pg.sh"), "url", db], check=True, capture_output=True,
                          text=True).stdout.strip()


def fresh(db: str) -> str:
    import psycopg2

    admin = psycopg2.connect(pg_url("postgres"))
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
        cur.execute(f"CREATE DATABASE {db}")
    admin.close()
    return pg_url(db)


def accounts(n: int) -> list[dict]:
    """``n`` accounts, alternating Groupon and plentymarkets, with their sandbox specs."""
    out = []
    for i in range(n):
        if i % 2 == 0:
            out.append({"channel": "groupon", "name": f"g{i:04d}", "supplier": str(10_000 + i),
                        "secret": f"bench-token-{i:04d}-0123456789"})
        else:
            out.append({"channel": "plentymarkets", "name": f"p{i:04d}", "user": f"rest-p{i:04d}",
                        "secret": f"bench-pw-{i:04d}"})
    return out


def sandbox_args(accts: list[dict], orders: int) -> list[str]:
    args = ["--seed", "16", "--anchor", ANCHOR, "--days", "2", "--plenty-rate-window", "5"]
    for a in accts:
        args += (["--groupon", f"{a['supplier']}:{a['secret']}:{orders}"] if a["channel"] == "groupon" else
                 ["--plentymarkets", f"{a['name']}:{a['user']}:{a['secret']}:{orders}"])
    return args


def connection(a: dict, port: int) -> str:
    base = {"conn_type": "http", "host": "127.0.0.1", "port": port, "schema": "http", "password": a["secret"]}
    if a["channel"] == "groupon":
        return json.dumps({**base, "login": a["supplier"], "extra": {"api_path": "/groupon/api/v4", "timeout": 30}})
    return json.dumps({**base, "login": a["user"], "extra": {"api_path": f"/plentymarkets/{a['name']}", "timeout": 30,
                                                             "warehouse_id": 1, "storage_location_id": 7}})


def conn_id(a: dict) -> str:
    return f"orderbridge_{a['channel']}_{a['name']}"


class Sampler(threading.Thread):
    """Every second: connections to PostgreSQL (pg_stat_activity) and the RSS of the cluster's process trees."""

    def __init__(self, cluster) -> None:
        super().__init__(daemon=True)
        self.cluster, self.stop_at, self.peak_conns, self.peak_rss_mb = cluster, threading.Event(), 0, 0.0

    def run(self) -> None:
        import psutil
        import psycopg2

        db = psycopg2.connect(pg_url("postgres"))
        db.autocommit = True
        while not self.stop_at.is_set():
            with db.cursor() as cur:
                cur.execute("SELECT count(*) FROM pg_stat_activity WHERE datname IN (%s, %s)",
                            (STAGING_DB, METADATA_DB))
                self.peak_conns = max(self.peak_conns, cur.fetchone()[0])
            rss = 0
            for proc in self.cluster.procs.values():
                try:
                    root = psutil.Process(proc.pid)
                    rss += sum(p.memory_info().rss for p in [root, *root.children(recursive=True)])
                except psutil.NoSuchProcess:
                    continue
            self.peak_rss_mb = max(self.peak_rss_mb, rss / 2**20)
            self.stop_at.wait(1)
        db.close()


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def parse_time(iso: str | None) -> float | None:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() if iso else None


def one_cycle(n: int, executor: str, orders: int, timeout: float) -> dict:
    """Start Airflow with ``n`` accounts, run one cycle of every account's DAG, measure it."""
    from orderbridge import db
    from orderbridge_sandbox.warehouse import seed_catalogue

    accts = accounts(n)
    staging = fresh(STAGING_DB)
    db.migrate(staging)
    conn = db.connect(staging)
    with conn.cursor() as cur:
        seed_catalogue(cur, "groupon")
        seed_catalogue(cur, "plentymarkets")
    conn.commit()
    conn.close()
    home = Path(os.environ.get("TMPDIR", "/tmp"))
    accounts_file = home / f"orderbridge-bench-accounts-{os.getpid()}.yaml"
    grouped: dict[str, list] = {}
    for a in accts:
        # A daily schedule, so each DAG has just the one run measured: on the real 10-minute schedule a
        # 10-minute boundary falls inside the compressed cycle and starts the next wave early (at
        # 50 accounts it added half as many tasks again). The budget stays 10 minutes.
        grouped.setdefault(a["channel"], []).append({"name": a["name"], "conn_id": conn_id(a), "currency": "EUR",
                                                     "every_minutes": 1440})
    accounts_file.write_text(yaml.safe_dump(grouped))
    cores = os.cpu_count() or 1
    try:
        with start_sandbox(sandbox_args(accts, orders)) as sandbox:
            env = {"ORDERBRIDGE_ACCOUNTS": str(accounts_file), "AIRFLOW_CONN_ORDERBRIDGE_STAGING": staging,
                   **{f"AIRFLOW_CONN_{conn_id(a).upper()}": connection(a, sandbox.port) for a in accts}}
            # The same task slots either way: 4 per core, in one LocalExecutor or split over two workers.
            slots = 4 * cores
            with airflow_cluster(fresh(METADATA_DB), executor=executor, workers=2, concurrency=slots // 2,
                                 parallelism=slots, env=env, timeout=300) as cluster:
                for pool in ["orderbridge_digest", *(conn_id(a) for a in accts)]:  # as make up sets them
                    cluster.set_pool(pool, 2)
                dag_ids = {f"{a['channel']}_{a['name']}" for a in accts}
                parse_s = cluster.wait_for_dags(dag_ids, timeout=900)
                sampler = Sampler(cluster)
                sampler.start()
                began = time.time()
                cluster.unpause("%")
                finished, deadline = {}, time.monotonic() + timeout
                while len(finished) < len(dag_ids) and time.monotonic() < deadline:
                    for dag_id in dag_ids - finished.keys():
                        runs = cluster.runs(dag_id)
                        if runs and runs[0]["state"] in ("success", "failed"):
                            finished[dag_id] = runs[0]
                    time.sleep(2)
                sampler.stop_at.set()
                sampler.join()
                tis = [t for t in cluster.task_instances() if t["state"] in ("success", "failed")]
    finally:
        accounts_file.unlink(missing_ok=True)
    ends = [parse_time(r["end_date"]) for r in finished.values()]
    delays = [parse_time(r["start_date"]) - began for r in finished.values() if r["start_date"]]
    durations = [t["duration"] for t in tis if t["duration"] is not None]
    # A task's wait for a free slot and a process: from "scheduled" (its upstream done) to running.
    waits = [parse_time(t["start_date"]) - parse_time(t["scheduled_when"]) for t in tis
             if t["start_date"] and t["scheduled_when"]]
    done = len(finished) == len(dag_ids)
    wall = (max(ends) - began) if done and ends else None
    in_budget = sum(1 for end in ends if end is not None and end - began <= BUDGET_S)
    return {
        "accounts": n, "executor": executor, "orders_each": orders, "cores": cores, "dags_ready_s": parse_s,
        "finished": len(finished), "failed_runs": sum(r["state"] == "failed" for r in finished.values()),
        "cycle_s": wall, "fits_10_min": bool(wall is not None and wall <= BUDGET_S),
        "run_start_max_s": max(delays) if delays else None,
        "wait_p50_s": pct(waits, 0.5), "wait_p95_s": pct(waits, 0.95), "wait_max_s": max(waits) if waits else None,
        "task_p50_s": pct(durations, 0.5), "task_p95_s": pct(durations, 0.95), "task_p99_s": pct(durations, 0.99),
        "tasks": len(durations), "task_mean_s": statistics.fmean(durations) if durations else None,
        "peak_db_connections": sampler.peak_conns, "peak_rss_mb": sampler.peak_rss_mb,
        "finished_in_10_min": in_budget,
        # A cycle that fits: how many accounts would fill the 10 minutes at its pace (linear). One that
        # overran: how many accounts the machine did finish in 10 minutes (measured, not extrapolated).
        "accounts_per_core": (n * BUDGET_S / wall / cores) if wall else in_budget / cores,
    }


def report(results: list[dict]) -> str:
    def f(x, spec=".1f"):
        return "n/a" if x is None else format(x, spec)

    lines = ["## How many accounts one machine holds (10-minute cadence)", "",
             "One cycle per row: every account's DAG falls due at once (unpaused together), half Groupon, half "
             "plentymarkets. `cycle` is the wall time until the last account's run finished, against the 10-minute "
             "budget; `DAGs ready` = seconds after the API server answered until the DAG processor had registered "
             "every account's DAG; `task wait` = scheduling delay of each task, from scheduled (upstream done) to "
             "running; `accounts/core` = for a cycle that fits, accounts that would fill 10 minutes at that pace, per "
             "core (linear); for one that overran, the accounts it finished within 10 minutes, per core.", "",
             "| executor | accounts | DAGs ready s | cycle s | fits 10 min | task wait p50 / p95 / max s "
             "| task run p50 / p95 / p99 s | peak DB conns | peak RSS MiB | accounts/core |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        if "error" in r:
            lines.append(f"| {r['executor']} | {r['accounts']} | failed: {r['error'][:120]} |||||||| ")
            continue
        if "skipped" in r:
            lines.append(f"| {r['executor']} | {r['accounts']} | not run: {r['skipped']} |||||||| ")
            continue
        cycle = (f(r["cycle_s"]) if r["cycle_s"] is not None else
                 f"> {r['timeout_s']:.0f} ({r['finished_in_10_min']} of {r['accounts']} done in 10 min)")
        lines.append(f"| {r['executor']} | {r['accounts']} | {f(r['dags_ready_s'])} | {cycle} | "
                     f"{'yes' if r['fits_10_min'] else 'no'} | "
                     f"{f(r['wait_p50_s'])} / {f(r['wait_p95_s'])} / {f(r['wait_max_s'])} | "
                     f"{f(r['task_p50_s'])} / {f(r['task_p95_s'])} / {f(r['task_p99_s'])} | "
                     f"{r['peak_db_connections']} | {f(r['peak_rss_mb'], '.0f')} | "
                     f"{f(r['accounts_per_core'], '.0f')} |")
    return "\n".join(lines) + "\n"


def draw(results: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.8))
    most = max((r["accounts"] for r in results), default=1)
    ax.plot([0, most], [0, most], color="grey", linestyle=":", label="every account due (the cycle fits)")
    for executor, label, below in (("local", "LocalExecutor", True), ("celery", "CeleryExecutor, two workers", False)):
        rows = sorted((r for r in results if r["executor"] == executor), key=lambda r: r["accounts"])
        if rows:
            ax.plot([r["accounts"] for r in rows], [r["finished_in_10_min"] for r in rows], marker="o", label=label)
            for r in rows:  # the cycle's length beside each point
                text = f"{r['cycle_s'] / 60:.1f} min" if r["cycle_s"] else "> 10 min"
                ax.annotate(text, (r["accounts"], r["finished_in_10_min"]), textcoords="offset points",
                            xytext=(4, -12 if below else 6), fontsize=8)  # the two never print on each other
    ax.set_xlabel("accounts due every 10 minutes on one machine (2 cores)")
    ax.set_ylabel("accounts whose run finished within 10 minutes")
    ax.set_title("orderbridge: accounts per machine")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def run(counts: list[int], executors: list[str], orders: int, timeout: float,
        chart: Path | None = None) -> list[dict]:
    """One cycle per executor and account count, smallest first, until a cycle overruns 10 minutes;
    draws ``accounts_per_machine.png`` beside ``chart`` when given."""
    results = []
    for executor in executors:
        if executor == "celery" and (why := celery_missing()):
            results.append({"executor": executor, "accounts": "-", "error": why})
            continue
        for n in sorted(counts):
            print(f"accounts: {n} on {executor}, one cycle (budget {BUDGET_S} s)", flush=True)
            try:
                r = one_cycle(n, executor, orders, timeout)
            except Exception as err:  # report what failed, keep the rest of the run
                r = {"executor": executor, "accounts": n, "error": str(err).splitlines()[0]}
            r["timeout_s"] = timeout
            print("  " + json.dumps(r, default=str), flush=True)
            results.append(r)
            if not r.get("fits_10_min"):  # the knee is found: larger counts only take longer
                results += [{"executor": executor, "accounts": m, "skipped": f"{n} accounts already overran"}
                            for m in sorted(counts) if m > n]
                break
    if chart is not None:
        measured = [r for r in results if "error" not in r and "skipped" not in r]
        draw(measured, chart.with_name("accounts_per_machine.png"))
    return results


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--accounts", type=int, action="append", help="account counts (default 50, 200, 500)")
    parser.add_argument("--executor", action="append", choices=("local", "celery"), help="default both")
    parser.add_argument("--orders", type=int, default=3, help="orders per account in the sandbox")
    parser.add_argument("--timeout", type=float, default=BUDGET_S,
                        help="stop watching a cycle after (s); an overrun reports what finished in 10 minutes")
    parser.add_argument("--out", default=str(REPO / "bench" / "accounts.md"))
    args = parser.parse_args(argv)
    results = run(args.accounts or [50, 200, 500], args.executor or ["local", "celery"], args.orders, args.timeout,
                  chart=Path(args.out))
    Path(args.out).write_text(report(results), encoding="utf-8")
    print(report(results))
    return results


if __name__ == "__main__":
    main()
