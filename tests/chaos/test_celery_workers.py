"""Two Celery workers share the DAG runs of several accounts; one is killed (SIGKILL) mid-task.

Proves nothing in a task depends on the machine that runs it: the task the dead worker held is
run again by the other one (a fresh process, another log server, no files or state left behind),
and the promise holds for every account (``orderbridge_chaos.invariants.check``): nothing lost,
duplicated or sent twice. Real scheduler, API server, redis-server and ``airflow celery worker``
processes; a few minutes (the dead worker's task waits the heartbeat timeout, then its retry delay).
"""

from __future__ import annotations

import time
import uuid

import pytest
import yaml

from orderbridge.config import Account
from orderbridge_chaos.cluster import ClusterError, airflow_cluster, celery_missing
from orderbridge_chaos.groupon import ANCHOR, GrouponAdapter
from orderbridge_chaos.invariants import check
from orderbridge_sandbox.process import start_sandbox
from orderbridge_sandbox.warehouse import seed_catalogue

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(celery_missing() is not None, reason=f"CeleryExecutor: {celery_missing()}")]

ACCOUNTS = 3
ORDERS = 12
#: the task killed in the second round: it sends tracking numbers, so a resend would show as sent twice
VICTIM = "post_tracking"


def adapters() -> list[GrouponAdapter]:
    out = []
    for n in range(1, ACCOUNTS + 1):
        adapter = GrouponAdapter(seed=n, orders=ORDERS, timeout=5.0)
        adapter.supplier, adapter.token = str(2000 + n), f"celery-token-{n}-0123456789"
        adapter.account = Account("groupon", f"celery{n}", f"orderbridge_groupon_celery{n}", currency="EUR")
        out.append(adapter)
    return out


def sandbox_args(accounts: list[GrouponAdapter]) -> list[str]:
    args = ["--seed", "5", "--groupon-page-size", "5", "--anchor", ANCHOR.isoformat(), "--days", "2"]
    for a in accounts:
        args += ["--groupon", f"{a.supplier}:{a.token}:{a.orders}"]
    return args


def kill_mid_task(cluster, task_id: str, timeout: float = 240) -> dict:
    """SIGKILL the worker whose process runs ``task_id`` right now; the task instance it held."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for ti in cluster.task_instances(state="running"):
            owner = ti.get("pid") and cluster.owner(ti["pid"])
            if ti["task_id"] == task_id and owner and owner.startswith("worker"):
                cluster.kill(owner)
                return {**ti, "worker": owner}
        time.sleep(0.2)
    raise ClusterError(f"no {task_id} ran on a worker within {timeout}s")


def test_a_worker_killed_mid_task_loses_duplicates_and_resends_nothing(pg, staging_dsn, conn, tmp_path):
    accounts = adapters()
    accounts_file = tmp_path / "accounts.yaml"
    accounts_file.write_text(yaml.safe_dump({"groupon": [
        {"name": a.account.name, "conn_id": a.account.conn_id, "currency": "EUR", "extract_mode": "auto"}
        for a in accounts]}))
    with conn.cursor() as cur:
        seed_catalogue(cur, "groupon")
    conn.commit()
    metadata = f"airflow_celery_{uuid.uuid4().hex[:8]}"
    pg.sql(f"CREATE DATABASE {metadata}")
    with start_sandbox(sandbox_args(accounts)) as sandbox:
        # Every call answers 1.5 s late: tasks last long enough to be caught running.
        accounts[0].control(sandbox, "faults", "POST", {"channel": "groupon", "kind": "slow", "delay": 1.5})
        env = {"ORDERBRIDGE_ACCOUNTS": str(accounts_file), "AIRFLOW_CONN_ORDERBRIDGE_STAGING": staging_dsn,
               **{k: v for a in accounts for k, v in a.env(sandbox).items()}}
        with airflow_cluster(pg.url(metadata), executor="celery", workers=2, concurrency=2, env=env) as cluster:
            for a in accounts:
                cluster.set_pool(a.account.pool, 2)
            dag_ids = {a.dag_id for a in accounts}
            cluster.wait_for_dags(dag_ids)
            cluster.unpause("groupon_celery%")  # each DAG's scheduled run of the last 10 minutes
            first = cluster.wait_runs(dag_ids, count=1)
            assert {r["state"] for rs in first.values() for r in rs} == {"success"}, first

            with conn.cursor() as cur:
                for a in accounts:
                    a.between_runs(cur, 1)  # the warehouse ships half: tracking to send
            conn.commit()
            for dag_id in dag_ids:
                cluster.trigger(dag_id)
            killed = kill_mid_task(cluster, VICTIM)
            second = cluster.wait_runs(dag_ids, count=2)
            logs = {name: (cluster.home / f"{name}.log").read_text(errors="replace") for name in ("worker1", "worker2")}
            tis = cluster.task_instances()
        findings = [check(a, sandbox, conn) for a in accounts]

    assert {r["state"] for rs in second.values() for r in rs} == {"success"}, second
    again = next(t for t in tis if (t["dag_id"], t["dag_run_id"], t["task_id"])
                 == (killed["dag_id"], killed["dag_run_id"], killed["task_id"]))
    assert again["state"] == "success" and again["try_number"] > killed["try_number"], (killed, again)
    # Both workers took tasks (the survivor also took the killed one's retry).
    assert all(" received" in log for log in logs.values()), {k: v[-1500:] for k, v in logs.items()}
    assert all(f.staged == f.offered > 0 for f in findings), findings
    assert sum(f.tracking_sent for f in findings) > 0, findings  # the second round did send tracking
    assert [p for f in findings for p in f.problems] == []
