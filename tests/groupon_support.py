"""What the Groupon tests share: the sandbox account, its Airflow connection, the sandbox's control
routes, one DAG cycle and a query helper."""

from __future__ import annotations

import json

import requests

from conftest import rows, run_task  # noqa: F401 (rows: re-exported for the Groupon tests)
from orderbridge.config import Account

SUPPLIER, TOKEN = "1001", "sandbox-secret-token-1001"
ACCOUNT = Account(channel="groupon", name="demo_uk", conn_id="orderbridge_groupon_demo_uk", currency="GBP")


def use_sandbox(monkeypatch, port: int, token: str = TOKEN, timeout: float = 5, **extra) -> None:
    """Point the account's Airflow connection at the sandbox on ``port`` (``AIRFLOW_CONN_*``);
    ``extra``: more connection extras (``lookback_days``, ``mark_exported``)."""
    monkeypatch.setenv("AIRFLOW_CONN_ORDERBRIDGE_GROUPON_DEMO_UK", json.dumps({
        "conn_type": "http", "host": "127.0.0.1", "port": port, "schema": "http",
        "login": SUPPLIER, "password": token, "extra": {"api_path": "/groupon/api/v4", "timeout": timeout, **extra}}))


def control(sandbox, path: str, body: dict | None = None) -> dict:
    """GET (no body) or POST one of the account's ``/_sandbox/groupon/<supplier>/...`` control routes."""
    if body is None:
        answer = requests.get(f"{sandbox.url}/_sandbox/groupon/{SUPPLIER}/{path}", timeout=10)
    else:
        answer = requests.post(f"{sandbox.url}/_sandbox/groupon/{SUPPLIER}/{path}", json=body, timeout=10)
    answer.raise_for_status()
    return answer.json()


def cycle(run_id: str) -> dict:
    """A scheduled run's tasks, in the DAG's order, up to tracking."""
    return {"extract": run_task("groupon", "extract_orders", ACCOUNT, run_id, "scheduled"),
            "load": run_task("groupon", "load_staging", ACCOUNT, run_id),
            "mark": run_task("groupon", "mark_exported", ACCOUNT, run_id),
            "tracking": run_task("groupon", "post_tracking", ACCOUNT, run_id)}
