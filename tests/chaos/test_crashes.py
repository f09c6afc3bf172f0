"""Crashes: a worker SIGKILLed at each step boundary, PostgreSQL stopped mid-run, a backfill racing
the scheduled run. After the task is run again (as Airflow's retry or an operator's clear does), the
promise still holds (``orderbridge_chaos.invariants``).
"""

from __future__ import annotations

import signal
import threading
import time
from datetime import timedelta

import pytest
import requests
from chaos_support import FULL, channel_fixture  # noqa: F401 (fixture `channel`)

from conftest import REPO, PgCluster
from orderbridge_chaos.invariants import check
from orderbridge_chaos.run import ANCHOR, compress_retries, set_faults
from orderbridge_chaos.worker import run_step

# (channel, task that crashes, crash point): every boundary on every channel in the full run.
ALL = [
    ("groupon", "extract_orders", "extract.landed"), ("groupon", "load_staging", "load.committed"),
    ("groupon", "mark_exported", "writeback.mark_exported"), ("groupon", "post_tracking", "writeback.tracking"),
    ("plentymarkets", "extract_orders", "extract.landed"), ("plentymarkets", "load_staging", "load.committed"),
    ("plentymarkets", "send_status", "writeback.status"), ("plentymarkets", "post_tracking", "writeback.tracking"),
    ("plentymarkets", "push_stock", "writeback.stock"),
    # Merkana's orders arrive through our endpoints (their crash is a lost answer: the platform's
    # retry, tests/chaos/test_inbound_abuse.py). Its stock goes as levels: one sent again after a
    # killed worker changes nothing.
    ("merkana", "post_status_updates", "writeback.order_status"), ("merkana", "push_stock", "writeback.stock"),
    ("octopia", "extract_orders", "extract.landed"), ("octopia", "load_staging", "load.committed"),
    ("octopia", "send_approval", "writeback.approval"), ("octopia", "post_tracking", "writeback.tracking"),
    ("octopia", "push_stock", "writeback.stock"),
    # Shoprenter: also a catalogue upload killed after a chunk was answered and recorded.
    ("shoprenter", "extract_orders", "extract.landed"), ("shoprenter", "load_staging", "load.committed"),
    ("shoprenter", "send_accept", "writeback.accept"), ("shoprenter", "sync_catalogue", "catalogue.chunk"),
    ("shoprenter", "push_stock", "writeback.stock"),
]
SHORT = [ALL[0], ALL[2], ALL[3], ALL[5], ALL[7], ALL[8], ALL[9], ALL[10], ALL[13], ALL[14], ALL[17], ALL[18]]


def cycle(adapter, run_id: str, crash: tuple[str, str] | None = None) -> int:
    """One pass over the DAG's steps; the crashing task runs in a child that is killed, then again
    (its retry). Returns how many times a worker was killed."""
    killed = 0
    for task_id, step in adapter.steps().items():
        if crash and task_id == crash[0]:
            child = run_step(adapter.channel, task_id, run_id, {}, crash_at=crash[1])
            if child.returncode == -signal.SIGKILL:
                killed += 1
            else:
                assert child.returncode == 0, child.stderr[-2000:]
                continue  # nothing to do at that boundary this time: it ran to the end
        step(run_id)
    return killed


@pytest.mark.slow
@pytest.mark.parametrize(("channel", "task_id", "point"), [pytest.param(c, t, p, id=f"{c}-{p}")
                                                          for c, t, p in (ALL if FULL else SHORT)],
                         indirect=["channel"])
def test_sigkill_at_a_step_boundary_then_retry_keeps_the_promise(channel, task_id, point, conn, staging_dsn):
    adapter, sandbox = channel
    with adapter.serving(sandbox, staging_dsn):
        with conn.cursor() as cur:
            adapter.seed_warehouse(cur)
        conn.commit()
        killed = cycle(adapter, "run-1", (task_id, point))
        with conn.cursor() as cur:
            adapter.between_runs(cur, 1)
        conn.commit()
        killed += cycle(adapter, "run-2", (task_id, point))
        cycle(adapter, "run-3")
        findings = check(adapter, sandbox, conn)
    assert killed >= 1, f"the worker never reached {point}"
    assert findings.problems == []
    assert findings.staged >= findings.offered > 0


@pytest.mark.slow
@pytest.mark.parametrize("channel", ["groupon", "plentymarkets"], indirect=True)
def test_a_backfill_racing_the_scheduled_run_duplicates_nothing_and_posts_nothing_twice(channel, conn):
    adapter, sandbox = channel
    with conn.cursor() as cur:
        adapter.seed_warehouse(cur)
    conn.commit()
    steps, errors = adapter.steps(), []

    def scheduled():
        for i in range(2):
            for step in steps.values():
                step(f"scheduled-{i}")
            adapter.disturb(sandbox, i)

    def backfill():
        for i in range(2):
            start = ANCHOR - timedelta(days=2) + timedelta(hours=24 * i)
            for task_id, step in steps.items():
                if task_id == "extract_orders":
                    step(f"backfill-{i}", "backfill", start, start + timedelta(hours=24))
                else:
                    step(f"backfill-{i}")

    def guarded(target):
        try:
            target()
        except Exception as err:  # noqa: BLE001 - reported below, with the thread's name
            errors.append(f"{target.__name__}: {err!r}")

    threads = [threading.Thread(target=guarded, args=(t,)) for t in (scheduled, backfill)]
    for t in threads:
        t.start()
    with conn.cursor() as cur:  # the warehouse ships while both run
        time.sleep(1)
        adapter.between_runs(cur, 1)
    conn.commit()
    for t in threads:
        t.join(300)
    assert errors == []
    for i in range(2):
        for step in steps.values():
            step(f"settle-{i}")
    findings = check(adapter, sandbox, conn)
    assert findings.problems == []
    assert findings.resent == 0  # no faults here: every claim was sent by exactly one run
    assert findings.tracking_sent > 0


@pytest.fixture
def throwaway_pg(monkeypatch):
    """A PostgreSQL cluster of its own (stopping it must not disturb the session's)."""
    from orderbridge import db
    from orderbridge_sandbox.process import free_port

    cluster = PgCluster(port=free_port())
    cluster.sql("CREATE DATABASE staging")
    db.migrate(cluster.url("staging"))
    monkeypatch.setenv("AIRFLOW_CONN_ORDERBRIDGE_STAGING", cluster.url("staging"))
    yield cluster
    cluster.stop()


@pytest.mark.slow
@pytest.mark.parametrize("channel", ["groupon"], indirect=True)
def test_postgres_stopped_mid_run_tasks_fail_retry_and_finish(channel, throwaway_pg, airflow_db):
    from airflow.dag_processing.dagbag import DagBag

    from orderbridge import db

    adapter, sandbox = channel
    dag = DagBag(dag_folder=str(REPO / "dags")).get_dag(adapter.dag_id)
    compress_retries(dag, delay=2.0)
    conn = db.connect(throwaway_pg.url("staging"))
    with conn.cursor() as cur:
        adapter.seed_warehouse(cur)
    conn.commit()
    conn.close()
    # Slow pages, so the extract is still running when the database goes away.
    set_faults(sandbox, [{"channel": "groupon", "kind": "slow", "delay": 0.6, "match": "get_orders"}])

    def outage():
        # Wait until the extract has read its first page, then take the database away for a while.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not any(r["fired"] for r in requests.get(
                f"{sandbox.url}/_sandbox/faults", timeout=5).json()["rules"]):
            time.sleep(0.1)
        throwaway_pg.halt()
        time.sleep(2.5)
        throwaway_pg.resume()

    thread = threading.Thread(target=outage)
    thread.start()
    first = dag.test(logical_date=ANCHOR)
    thread.join()
    tries = {ti.task_id: ti.try_number for ti in first.get_task_instances()}
    assert str(first.state) == "success", tries
    assert max(tries.values()) > 1, "the outage should have cost at least one task a retry"
    set_faults(sandbox, [])
    assert str(dag.test(logical_date=ANCHOR + timedelta(minutes=10)).state) == "success"
    conn = db.connect(throwaway_pg.url("staging"))
    try:
        findings = check(adapter, sandbox, conn)
    finally:
        conn.close()
    assert findings.problems == [] and findings.staged >= findings.offered > 0
