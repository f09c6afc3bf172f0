"""`make up`'s connections live in Airflow's metadata database: an operator's edit there (through
Airflow's REST API, as the UI's Admin > Connections sends it) is what the next task run uses, a
second `make up` keeps it, and the UI sees secrets masked."""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests

from conftest import REPO
from orderbridge_sandbox.process import start_sandbox
from orderbridge_sandbox.warehouse import seed_catalogue

sys.path.insert(0, str(REPO / "scripts"))
from airflow_conns import write_connections  # noqa: E402

SUPPLIER, TOKEN, ORDERS = "1001", "sandbox-secret-token-conn", 8
CONN_ID = "orderbridge_groupon_demo_uk"
ANCHOR = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


def airflow_env() -> dict[str, str]:
    """`airflow connections import` runs as make up runs it: this venv's airflow, the tests' Airflow
    DB, and the same Fernet key as this process (make up's processes share one configuration; here
    an airflow.cfg another test wrote into AIRFLOW_HOME could hold a key this process never read)."""
    from airflow.configuration import conf

    return {"PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
            "AIRFLOW__CORE__FERNET_KEY": conf.get("core", "fernet_key", fallback="")}


@pytest.fixture(scope="module")
def dag(airflow_db):
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(REPO / "dags")).get_dag("groupon_demo_uk")


@pytest.fixture(scope="module")
def api(airflow_db):
    """Airflow's own API app (what the UI calls), with an admin's token."""
    from airflow.api_fastapi.app import create_app, get_auth_manager
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser
    from fastapi.testclient import TestClient

    client = TestClient(create_app("core"))
    token = get_auth_manager().generate_jwt(SimpleAuthManagerUser(username="admin", role="admin"))
    client.headers["Authorization"] = f"Bearer {token}"
    return client


def connection(port: int, token: str) -> dict:
    return {"conn_type": "http", "host": "127.0.0.1", "port": port, "login": SUPPLIER, "password": token,
            "extra": {"api_path": "/groupon/api/v4", "timeout": 5}}


def extract_state(dagrun) -> str:
    return next(str(t.state) for t in dagrun.get_task_instances() if t.task_id == "extract_orders")


def test_an_edit_in_the_metadata_db_is_what_the_next_run_uses(dag, api, conn, monkeypatch):
    monkeypatch.delenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", raising=False)  # the variable would win
    with conn.cursor() as cur:
        seed_catalogue(cur)
    conn.commit()
    with start_sandbox(["--seed", "12", "--groupon", f"{SUPPLIER}:{TOKEN}:{ORDERS}",
                        "--anchor", ANCHOR.isoformat()]) as sandbox:
        # make up wrote a connection whose token the channel refuses
        report = write_connections({CONN_ID: connection(sandbox.port, "stale-token")}, airflow_env(), overwrite=True)
        assert f"Imported connection {CONN_ID}" in report
        assert extract_state(dag.test(logical_date=ANCHOR)) == "failed"

        # the operator corrects the password in Admin > Connections
        edited = api.patch(f"/api/v2/connections/{CONN_ID}", params={"update_mask": ["password"]},
                           json={"connection_id": CONN_ID, "conn_type": "http", "password": TOKEN})
        assert edited.status_code == 200, edited.text
        # a second make up adds what is missing and leaves the edit alone
        again = write_connections({CONN_ID: connection(sandbox.port, "stale-token")}, airflow_env(), overwrite=False)
        assert "already exists" in again

        run = dag.test(logical_date=ANCHOR.replace(hour=13))
        assert {str(t.state) for t in run.get_task_instances()} == {"success"}
        state = requests.get(f"{sandbox.url}/_sandbox/groupon/{SUPPLIER}/state", timeout=5).json()
        assert state["totals"]["exported_lines"] == state["totals"]["lines"] > 0

    shown = api.get(f"/api/v2/connections/{CONN_ID}").json()
    assert TOKEN not in str(shown) and shown["password"] != TOKEN and shown["host"] == "127.0.0.1"
    assert shown["description"] == "orderbridge sandbox (written by make up)"


def test_sensitive_extras_are_masked_in_the_ui(api):
    write_connections({"orderbridge_test_masked": {"conn_type": "http", "host": "127.0.0.1", "password": "pw-1",
                                                   "extra": {"inbound_token": "tok-secret-1", "api_path": "/v1"}}},
                      airflow_env(), overwrite=True)
    shown = api.get("/api/v2/connections/orderbridge_test_masked").json()
    assert "tok-secret-1" not in str(shown) and "pw-1" not in str(shown)
    assert "/v1" in shown["extra"]
