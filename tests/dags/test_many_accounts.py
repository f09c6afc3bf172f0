"""Hundreds of accounts on one machine: the DAG file parses into one DAG and one pool per account
(how long it takes is bench/accounts.py's figure, under the real DAG processor, not a test's)."""

from __future__ import annotations

import yaml

from conftest import REPO

ACCOUNTS = 500


def test_five_hundred_accounts_parse_into_five_hundred_dags_each_with_its_pool(tmp_path, monkeypatch):
    from airflow.dag_processing.dagbag import DagBag

    accounts = {"groupon": [{"name": f"g{i:03d}", "conn_id": f"orderbridge_groupon_g{i:03d}"}
                            for i in range(ACCOUNTS // 2)],
                "plentymarkets": [{"name": f"p{i:03d}", "conn_id": f"orderbridge_plentymarkets_p{i:03d}"}
                                  for i in range(ACCOUNTS // 2)]}
    (tmp_path / "accounts.yaml").write_text(yaml.safe_dump(accounts))
    monkeypatch.setenv("ORDERBRIDGE_ACCOUNTS", str(tmp_path / "accounts.yaml"))
    bag = DagBag(dag_folder=str(REPO / "dags"))
    assert bag.import_errors == {}
    channel_dags = {d for d in bag.dags if d.startswith(("groupon_", "plentymarkets_"))}
    assert len(channel_dags) == ACCOUNTS
    assert len({bag.dags[d].default_args["pool"] for d in channel_dags}) == ACCOUNTS  # a pool each
