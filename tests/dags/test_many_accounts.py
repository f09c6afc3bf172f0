"""Hundreds of accounts on one machine: the DAG file parses into one DAG and one pool per account
(how long it takes is bench/accounts.py's figure, under the real DAG processor, not a test's)."""

from __future__ import annotations

import yaml

from conftest import REPO

ACCOUNTS = 500


def write_accounts(folder) -> None:
    """``folder/accounts.yaml`` with ACCOUNTS accounts, half Groupon, half plentymarkets."""
    accounts = {"groupon": [{"name": f"g{i:03d}", "conn_id": f"orderbridge_groupon_g{i:03d}"}
                            for i in range(ACCOUNTS // 2)],
                "plentymarkets": [{"name": f"p{i:03d}", "conn_id": f"orderbridge_plentymarkets_p{i:03d}"}
                                  for i in range(ACCOUNTS // 2)]}
    (folder / "accounts.yaml").write_text(yaml.safe_dump(accounts))


def test_five_hundred_accounts_parse_into_five_hundred_dags_each_with_its_pool(tmp_path, monkeypatch):
    from airflow.dag_processing.dagbag import DagBag

    write_accounts(tmp_path)
    monkeypatch.setenv("ORDERBRIDGE_ACCOUNTS", str(tmp_path / "accounts.yaml"))
    bag = DagBag(dag_folder=str(REPO / "dags"))
    assert bag.import_errors == {}
    channel_dags = {d for d in bag.dags if d.startswith(("groupon_", "plentymarkets_"))}
    assert len(channel_dags) == ACCOUNTS
    assert len({bag.dags[d].default_args["pool"] for d in channel_dags}) == ACCOUNTS  # a pool each


def test_make_up_creates_every_account_pool_in_one_import(airflow_db, tmp_path):
    """`make up`'s pools step (scripts/airflow.sh pools): one pool of 2 slots per account and the
    digest's, for 500 accounts in one Airflow CLI call instead of one call per pool."""
    import os
    import subprocess
    import sys

    import psycopg2

    write_accounts(tmp_path)
    done = subprocess.run(["bash", str(REPO / "scripts" / "airflow.sh"), "pools"], capture_output=True, text=True,
                          timeout=300, env={**os.environ, "ORDERBRIDGE_ACCOUNTS": str(tmp_path / "accounts.yaml"),
                                            "ORDERBRIDGE_PYTHON": sys.executable})
    assert done.returncode == 0, done.stderr[-2000:]
    with psycopg2.connect(airflow_db) as conn, conn.cursor() as cur:
        cur.execute("SELECT pool, slots FROM slot_pool WHERE pool LIKE 'orderbridge_%'")
        pools = dict(cur.fetchall())
    assert len(pools) == ACCOUNTS + 1 and set(pools.values()) == {2}
    assert "orderbridge_groupon_g000" in pools and "orderbridge_plentymarkets_p249" in pools


def test_a_task_process_builds_only_its_own_dag_of_five_hundred(tmp_path, monkeypatch):
    """Before a task runs, Airflow parses its DAG file again with the parsing context naming the
    task's DAG; building all 500 there made every task pay for every account."""
    from airflow.dag_processing.dagbag import DagBag
    from airflow.sdk.definitions.context import _AIRFLOW_PARSING_CONTEXT_DAG_ID

    write_accounts(tmp_path)
    monkeypatch.setenv("ORDERBRIDGE_ACCOUNTS", str(tmp_path / "accounts.yaml"))
    # What the task runner sets (its own context manager leaves the variable behind, so not that).
    monkeypatch.setenv(_AIRFLOW_PARSING_CONTEXT_DAG_ID, "plentymarkets_p123")
    bag = DagBag(dag_folder=str(REPO / "dags" / "orderbridge_channels.py"))
    assert bag.import_errors == {}
    assert list(bag.dags) == ["plentymarkets_p123"]
