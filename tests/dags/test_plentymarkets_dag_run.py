"""The real plentymarkets DAG, run with dag.test() on Airflow's metadata DB, against the sandbox."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import requests

from conftest import REPO
from orderbridge_sandbox.process import start_sandbox
from orderbridge_sandbox.warehouse import seed_catalogue

SYSTEM, USER, PASSWORD, ORDERS = "dagrun", "rest-user", "sandbox-pw-dagrun-0123456789", 20
ANCHOR = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def dag(airflow_db):
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(REPO / "dags")).get_dag("plentymarkets_demo_de")


@pytest.fixture
def sandbox(monkeypatch):
    with start_sandbox(["--seed", "5", "--plentymarkets", f"{SYSTEM}:{USER}:{PASSWORD}:{ORDERS}",
                        "--anchor", ANCHOR.isoformat()]) as proc:
        monkeypatch.setenv("AIRFLOW_CONN_ORDERBRIDGE_PLENTYMARKETS_DEMO_DE", json.dumps({
            "conn_type": "http", "host": "127.0.0.1", "port": proc.port, "login": USER, "password": PASSWORD,
            "extra": {"api_path": f"/plentymarkets/{SYSTEM}", "timeout": 5}}))
        yield proc


def states(dagrun) -> dict[str, str]:
    return {ti.task_id: str(ti.state) for ti in dagrun.get_task_instances()}


def test_a_run_answers_every_order_and_a_second_run_sends_nothing(dag, sandbox, conn, capfd):
    with conn.cursor() as cur:
        seed_catalogue(cur, "plentymarkets")
    conn.commit()
    first = dag.test(logical_date=ANCHOR)
    assert set(states(first).values()) == {"success"}, states(first)
    orders = requests.get(f"{sandbox.url}/_sandbox/plentymarkets/{SYSTEM}/state", timeout=5).json()["orders"]
    answered = [o for o in orders if any(h["source"] == "api" for h in o["history"])]
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM staging.orders"
                    " WHERE status IN ('ready', 'invalid_address', 'awaiting_stock')")
        assert len(answered) == cur.fetchone()[0] > 0

    second = dag.test(logical_date=ANCHOR + timedelta(minutes=10))
    # The catalogue is read once an hour: the run whose interval holds the hour read it, this one
    # skips it, and push_stock after it still runs.
    after = states(second)
    assert states(first)["sync_catalogue"] == "success" and after.pop("sync_catalogue") == "skipped"
    assert set(after.values()) == {"success"} and "push_stock" in after, after
    again = requests.get(f"{sandbox.url}/_sandbox/plentymarkets/{SYSTEM}/state", timeout=5).json()["orders"]
    assert [len(o["history"]) for o in again] == [len(o["history"]) for o in orders]
    out = capfd.readouterr()
    assert PASSWORD not in out.out + out.err
