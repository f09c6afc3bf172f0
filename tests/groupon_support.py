"""What the Groupon tests share: the sandbox account and its Airflow connection."""

from __future__ import annotations

import json

from orderbridge.config import Account

SUPPLIER, TOKEN = "1001", "sandbox-secret-token-1001"
ACCOUNT = Account(channel="groupon", name="demo_uk", conn_id="orderbridge_groupon_demo_uk", currency="GBP")


def use_sandbox(monkeypatch, port: int, token: str = TOKEN, timeout: float = 5) -> None:
    """Point the account's Airflow connection at the sandbox on ``port`` (``AIRFLOW_CONN_*``)."""
    monkeypatch.setenv("AIRFLOW_CONN_ORDERBRIDGE_GROUPON_DEMO_UK", json.dumps({
        "conn_type": "http", "host": "127.0.0.1", "port": port, "schema": "http",
        "login": SUPPLIER, "password": token, "extra": {"api_path": "/groupon/api/v4", "timeout": timeout}}))
