"""Fault-injection runs of the real DAGs, and the results table.

``fault_run`` drives ``dag.test()`` runs of one channel's DAG against its sandbox while the sandbox
injects the adapter's seeded faults, disturbs each run mid-way (new orders shifting pages, expired
tokens), lets the simulated warehouse ship between runs, then turns the faults off for the runs an
operator would see next (a marketplace's bad hour ends) and checks the invariants. Task retry delays
are shortened to seconds (``compress_retries``); retries, the retry policy and the client's own
429 and backoff handling are the production ones.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import requests

from orderbridge_chaos.adapter import ChannelAdapter
from orderbridge_chaos.invariants import Findings, check

ANCHOR = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


@dataclass
class RunResult:
    channel: str
    findings: Findings
    faults: Counter = field(default_factory=Counter)
    dag_runs: int = 0
    failed_runs: int = 0
    task_retries: int = 0
    max_tries: int = 0
    throttled_first_try: bool = True
    disturbances: list[str] = field(default_factory=list)
    wall: float = 0.0

    @property
    def problems(self) -> list[str]:
        out = list(self.findings.problems)
        if not self.throttled_first_try:
            out.append(f"{self.channel}: a 429 burst cost a task retry")
        return out


def compress_retries(dag, delay: float = 1.0) -> None:
    """Keep every task's retries and policy, but wait ``delay`` seconds instead of minutes between tries."""
    for task in dag.tasks:
        task.retry_delay = timedelta(seconds=delay)
        task.max_retry_delay = timedelta(seconds=delay * 2)


def set_faults(sandbox, rules: list[dict]) -> None:
    requests.delete(f"{sandbox.url}/_sandbox/faults", timeout=10).raise_for_status()
    if rules:
        requests.post(f"{sandbox.url}/_sandbox/faults", json=rules, timeout=10).raise_for_status()


def fired(sandbox) -> Counter:
    rules = requests.get(f"{sandbox.url}/_sandbox/faults", timeout=10).json()["rules"]
    out: Counter = Counter()
    for rule in rules:
        kind = "5xx" if rule["kind"] == "500" else rule["kind"]
        out[kind] += rule["fired"]
    return out


def _tries(dagrun) -> list[tuple[str, str, int]]:
    return [(ti.task_id, str(ti.state), ti.try_number) for ti in dagrun.get_task_instances()]


def fault_run(adapter: ChannelAdapter, dag, sandbox, conn, *, runs: int = 3, clean_runs: int = 2,
              intensity: float = 1.0, log=print) -> RunResult:
    """Run the channel's DAG ``runs`` times under faults, then ``clean_runs`` times without; check.

    The staging database behind ``conn`` must be fresh and the sandbox started with
    ``adapter.sandbox_args()`` (and the account's connection pointing at it).
    """
    started = time.monotonic()
    result = RunResult(adapter.channel, Findings(adapter.channel))
    compress_retries(dag)
    with conn.cursor() as cur:
        adapter.seed_warehouse(cur)
    conn.commit()
    date = ANCHOR

    def one_run(label: str, disturb: bool) -> None:
        nonlocal date
        if disturb:
            timer = threading.Timer(0.5, lambda: result.disturbances.append(adapter.disturb(sandbox, 0) or ""))
            timer.start()
        dagrun = dag.test(logical_date=date)
        if disturb:
            timer.join()
        date += timedelta(minutes=10)
        tries = _tries(dagrun)
        result.dag_runs += 1
        result.failed_runs += str(dagrun.state) != "success"
        result.task_retries += sum(max(n - 1, 0) for _, _, n in tries)
        result.max_tries = max([result.max_tries, *(n for _, _, n in tries)])
        log(f"  {adapter.channel} {label}: {dagrun.state}; tries " + ", ".join(f"{t}={n}" for t, _, n in tries))
        with conn.cursor() as cur:
            adapter.between_runs(cur, result.dag_runs)
        conn.commit()

    # 1. Every fault at once, on the sandbox's seeded schedule; orders arrive before and during each run.
    set_faults(sandbox, adapter.faults(intensity))
    for i in range(runs):
        if i:
            result.disturbances.append(adapter.disturb(sandbox, i) or "")
        one_run(f"faulted run {i + 1}", disturb=True)
    result.faults.update(fired(sandbox))
    # 2. A 429 burst alone: the client waits Retry-After inside the attempt, no task retry is spent.
    set_faults(sandbox, [{**rule, "times": 3, "rate": None} for rule in adapter.faults(1.0) if rule["kind"] == "429"])
    result.disturbances.append(adapter.disturb(sandbox, runs) or "")
    retries_before = result.task_retries
    one_run("429 burst", disturb=False)
    burst = fired(sandbox)["429"]
    result.throttled_first_try = result.task_retries == retries_before and burst > 0
    result.faults["429"] += burst
    # 3. The marketplace recovers: the next scheduled runs catch up on whatever failed.
    set_faults(sandbox, [])
    for i in range(clean_runs):
        one_run(f"recovery run {i + 1}", disturb=False)
    result.findings = check(adapter, sandbox, conn)
    result.wall = time.monotonic() - started
    return result


# -- the table ------------------------------------------------------------------------------------
COLUMNS = ("channel", "faults injected", "DAG runs", "orders", "lost", "duplicated", "sent twice", "quarantined",
           "wall time")


def table_rows(results: list[RunResult]) -> list[list[str]]:
    rows = []
    for r in results:
        f = r.findings
        kinds = ", ".join(f"{k} {n}" for k, n in sorted(r.faults.items()) if n)
        rows.append([r.channel, f"{sum(r.faults.values())} ({kinds})", f"{r.dag_runs} ({r.failed_runs} failed)",
                     str(f.offered), str(len(f.lost)), str(len(f.duplicated)), str(len(f.sent_twice)),
                     str(f.quarantined), f"{r.wall:.0f} s"])
    return rows


def markdown_table(results: list[RunResult]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(row) + " |" for row in table_rows(results)]
    return "\n".join(lines)


def plain_table(results: list[RunResult]) -> str:
    rows = [list(COLUMNS), *table_rows(results)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows)


def details(results: list[RunResult]) -> str:
    out = []
    for r in results:
        f = r.findings
        out.append(f"- **{r.channel}**: {f.staged} orders in staging for {f.offered} offered; acknowledgements of "
                   f"uncommitted orders: {len(f.acked_uncommitted)}; idempotent acknowledgements resent after a lost "
                   f"answer: {f.resent}; tracking effects sent {f.tracking_sent}, "
                   f"missing on the channel {len(f.tracking_missing)}; stock values checked {f.stock_checked}, "
                   f"different {len(f.stock_mismatch)}; outbox rows still waiting {len(f.unsent)}; task retries "
                   f"{r.task_retries} (most tries of one task: {r.max_tries}); 429 burst handled without a "
                   f"task retry: {'yes' if r.throttled_first_try else 'NO'}; disturbances: "
                   f"{'; '.join(d for d in r.disturbances if d) or 'none'}.")
        out += [f"  - PROBLEM {p}" for p in r.problems]
    return "\n".join(out)


def write_results(path: Path, results: list[RunResult], extra: list[str] = ()) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = ["# orderbridge chaos run", "", f"Written by `make chaos` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC.", "",
            markdown_table(results), "", details(results), "", *extra, ""]
    path.write_text("\n".join(text), encoding="utf-8")


def staging_scalar(dsn: str, sql: str):
    from orderbridge import db

    with closing(db.connect(dsn)) as c, c.cursor() as cur:
        cur.execute(sql)
        return cur.fetchone()[0]
