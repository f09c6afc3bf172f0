"""The demo's path for Merkana: our endpoints served alone in a child process, the fake platform's
calls replayed on them, then the real DAG run with dag.test() on Airflow's metadata DB posting the
status updates and stock back, and the demo's summary row."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
import requests

from conftest import REPO
from merkana_support import CONN_ID, OUR_TOKEN, PLATFORM, THEIR_TOKEN
from orderbridge_sandbox.merkana import demo_connection, demo_run, seed_warehouse, start_inbound, summary_rows
from orderbridge_sandbox.process import start_sandbox
from orderbridge_sandbox.warehouse import ship_some

ANCHOR = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def dag(airflow_db):
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(REPO / "dags")).get_dag(f"merkana_{PLATFORM}")


def scalar(conn, statement: str):
    with conn.cursor() as cur:
        cur.execute(statement)
        value = cur.fetchone()[0]
    conn.commit()
    return value


def test_a_dag_run_posts_status_updates_and_stock_for_what_the_platform_sent(dag, staging_dsn, conn, monkeypatch):
    with start_sandbox(["--seed", "9", "--merkana", f"{PLATFORM}:{OUR_TOKEN}:{THEIR_TOKEN}"]) as sandbox:
        monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}",
                           json.dumps(demo_connection(sandbox.url, OUR_TOKEN, THEIR_TOKEN)))
        with conn.cursor() as cur:
            seed_warehouse(cur)
        conn.commit()
        with start_inbound({}) as ours:  # inherits the test's AIRFLOW_CONN_* and ORDERBRIDGE_ACCOUNTS
            sent = demo_run(sandbox.url, f"{ours.url}/merkana", mid=293, orders=12, duplicates=2, cancels=2,
                            unknown_rate=0.2)
            assert sent["accepted"] == sent["order_sends"] == 14 and sent["cancelled"] == 2
            with conn.cursor() as cur:
                shipped = ship_some(cur, "merkana", f"{PLATFORM}/293", share=0.5)
            conn.commit()

            run = dag.test(logical_date=ANCHOR)
            states = {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
            assert set(states.values()) == {"success"}, states
            st = requests.get(f"{sandbox.url}/_sandbox/merkana/{PLATFORM}/state", timeout=10).json()
            assert st["status_posts"] == 1 and len(st["status_updates"]) == shipped + 2  # shipped + cancelled
            assert st["merchants"]["293"]["supply_posts"] == 1

            with conn.cursor() as cur:
                row = summary_rows(cur, sandbox.url)[0]
            assert row["account"] == f"{PLATFORM}/293" and row["orders sent by platform"] == row["in staging"] == 12
            assert (row["shipped"], row["cancelled"], row["stock posts"]) == (shipped, 2, 1)
            assert row["status updates confirmed"] == shipped + 2 and row["posted twice"] == 0
            assert row["flagged"] >= 1 and row["pending write-backs"] == 0

            # The demo run again: the platform re-sends the same orders; nothing new is stored.
            raw = scalar(conn, "SELECT count(*) FROM raw.orders")
            again = demo_run(sandbox.url, f"{ours.url}/merkana", mid=293, orders=12, duplicates=2, cancels=2,
                             unknown_rate=0.2)
            assert again["accepted"] == 14 and again["cancelled"] == 2
            assert scalar(conn, "SELECT count(*) FROM raw.orders") == raw
            assert scalar(conn, "SELECT count(*) FROM staging.orders") == 12
