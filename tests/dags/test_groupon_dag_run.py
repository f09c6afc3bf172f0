"""The real Groupon DAG, run with dag.test() on Airflow's metadata DB, against the sandbox."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import requests

from conftest import REPO
from orderbridge_sandbox.process import start_sandbox
from orderbridge_sandbox.warehouse import seed_catalogue

SUPPLIER, TOKEN, ORDERS = "1001", "sandbox-secret-token-dagrun", 25
ANCHOR = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def dag(airflow_db):
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(REPO / "dags")).get_dag("groupon_demo_uk")


@pytest.fixture
def sandbox():
    with start_sandbox(["--seed", "11", "--groupon", f"{SUPPLIER}:{TOKEN}:{ORDERS}", "--groupon-page-size", "10",
                        "--anchor", ANCHOR.isoformat()]) as proc:
        yield proc


def connect(monkeypatch, sandbox, token=TOKEN):
    monkeypatch.setenv("AIRFLOW_CONN_ORDERBRIDGE_GROUPON_DEMO_UK", json.dumps({
        "conn_type": "http", "host": "127.0.0.1", "port": sandbox.port, "login": SUPPLIER, "password": token,
        "extra": {"api_path": "/groupon/api/v4", "timeout": 5}}))


def asset_events(uri: str) -> list[dict]:
    """The extras of the Asset events recorded in Airflow's metadata DB for ``uri``, oldest first."""
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        return list(session.scalars(select(AssetEvent.extra).join(AssetModel, AssetEvent.asset_id == AssetModel.id)
                                    .where(AssetModel.uri == uri).order_by(AssetEvent.id)))


def states(dagrun) -> dict[str, str]:
    return {ti.task_id: str(ti.state) for ti in dagrun.get_task_instances()}


def scalar(conn, sql):
    with conn.cursor() as cur:
        cur.execute(sql)
        return cur.fetchone()[0]


def test_full_run_then_a_second_run_changes_and_posts_nothing(dag, sandbox, conn, monkeypatch):
    connect(monkeypatch, sandbox)
    with conn.cursor() as cur:
        seed_catalogue(cur)
    conn.commit()
    first = dag.test(logical_date=ANCHOR)
    assert set(states(first).values()) == {"success"}, states(first)
    assert first.data_interval_end - first.data_interval_start == timedelta(minutes=10)  # a real window
    st = requests.get(f"{sandbox.url}/_sandbox/groupon/{SUPPLIER}/state", timeout=5).json()
    assert scalar(conn, "SELECT count(*) FROM staging.orders") == st["totals"]["orders"] == ORDERS
    assert st["totals"]["exported_lines"] == st["totals"]["lines"]
    events = scalar(conn, "SELECT count(*) FROM staging.order_events")
    extra = asset_events("orderbridge://staging/orders/groupon/demo_uk")[-1]
    assert extra["channel"] == "groupon" and extra["account"] == "demo_uk" and extra["run_id"] == first.run_id
    assert extra["orders"] == extra["inserted"] == ORDERS and extra["lines"] > ORDERS
    assert sum(v for k, v in extra.items() if k.startswith("status_")) == ORDERS

    second = dag.test(logical_date=ANCHOR + timedelta(minutes=10))
    assert set(states(second).values()) == {"success"}, states(second)
    st2 = requests.get(f"{sandbox.url}/_sandbox/groupon/{SUPPLIER}/state", timeout=5).json()
    calls = [line["export_calls"] for o in st2["orders"] for e in o["entries"] for line in e["lines"]]
    assert set(calls) == {1}
    assert scalar(conn, "SELECT count(*) FROM staging.order_events") == events
    assert scalar(conn, "SELECT count(*) FROM staging.stock_drift WHERE action LIKE 'not pushed%%'") > 0


def test_wrong_token_fails_the_task_at_once_and_never_logs_it(dag, sandbox, conn, monkeypatch, capfd):
    secret = "wrong-token-0123456789abcdef"
    connect(monkeypatch, sandbox, token=secret)
    dagrun = dag.test(logical_date=ANCHOR + timedelta(hours=1))
    ti = next(t for t in dagrun.get_task_instances() if t.task_id == "extract_orders")
    assert str(ti.state) == "failed" and ti.try_number == 1  # no retry burnt on a permanent error
    out = capfd.readouterr()
    assert "credentials" in out.out + out.err
    assert secret not in out.out + out.err
