"""What the operator page tests share: staging orders made by the real load, the real auth manager's tokens."""

from __future__ import annotations

import json
from contextlib import contextmanager

import pytest

from conftest import rows
from orderbridge import staging
from orderbridge.channels.plentymarkets.mapping import PlentyMapper

CHANNEL, ACCOUNT = "plentymarkets", "demo_de"  # an account of config/accounts.yaml: its DAG plentymarkets_demo_de
USERS = {"admin": "ADMIN", "op": "OP", "viewer": "VIEWER"}


def plenty_order(order_id: int, sku: str = "WH-1001", postcode: str = "10115") -> dict:
    """A plentymarkets order payload with one line (line id ``order_id * 10``)."""
    return {
        "id": order_id, "typeId": 1, "statusId": 5, "plentyId": 1000, "createdAt": "2026-11-20T10:15:00+01:00",
        "amounts": [{"isSystemCurrency": True, "currency": "EUR", "grossTotal": 50, "shippingCostsGross": 0}],
        "properties": [{"typeId": 2, "value": "6"}],
        "addressRelations": [{"typeId": 2, "addressId": 33}],
        "addresses": [{"id": 33, "name2": "Max", "name3": "Müller", "address1": "Hauptstr.", "address2": "5",
                       "postalCode": postcode, "town": "Berlin", "countryId": 1}],
        "orderItems": [{"id": order_id * 10, "typeId": 1, "itemVariationId": 1000, "quantity": 1,
                        "variation": {"id": 1000, "number": sku}, "amounts": [{"priceGross": 25}]}],
    }


def land(conn, run_id: str, *payloads: dict) -> None:
    """Land payloads in raw and transform them as load_staging does."""
    with conn.cursor() as cur:
        staging.land_raw(cur, CHANNEL, ACCOUNT, [(str(p["id"]), p) for p in payloads], run_id)
    conn.commit()
    staging.transform(conn, PlentyMapper(), ACCOUNT, run_id)


def order_id(conn, ext: str) -> int:
    return rows(conn, "SELECT id FROM staging.orders WHERE channel = %s AND account = %s AND external_order_id = %s",
                CHANNEL, ACCOUNT, ext)[0][0]


@pytest.fixture(name="shop")
def shop_fixture(conn):
    """A shelf of two products, a held order (unknown SKU ``PL-NEW``, id 7001), a ready one with a parcel
    whose courier service has no carrier code (7002, tracking ``TRK-7002``)."""
    rows(conn, """INSERT INTO staging.products (sku, name) VALUES ('WH-1001', 'Mug'), ('WH-1002', 'Cup');
                  INSERT INTO staging.stock_levels (sku, warehouse, on_hand) VALUES ('WH-1001', 'main', 50),
                         ('WH-1002', 'main', 50)""")
    land(conn, "scheduled__2026-11-20T10:00:00+00:00", plenty_order(7001, sku="PL-NEW"), plenty_order(7002))
    rows(conn, """INSERT INTO staging.shipments (order_id, courier_service, tracking_number, lines)
                  SELECT id, 'Mystery Post', 'TRK-7002', NULL FROM staging.orders WHERE external_order_id = '7002'""")
    return conn


def plenty_connection(port: int, system: str = "demo") -> str:
    """The ``orderbridge_plentymarkets_demo_de`` connection (``AIRFLOW_CONN_*`` JSON) at ``port`` on loopback."""
    return json.dumps({"conn_type": "http", "host": "127.0.0.1", "port": port, "schema": "http", "login": "rest-user",
                       "password": "pw", "extra": {"api_path": f"/plentymarkets/{system}", "timeout": 5,
                                                   "warehouse_id": 1, "storage_location_id": 7}})


PASSWORDS = {"admin": "admin-pw-1", "viewer": "viewer-pw-1"}


@contextmanager
def api_server(staging_dsn: str, extra_env: dict[str, str], timeout: float = 120):
    """A real ``airflow api-server`` (one worker) with SimpleAuthManager users ``admin:ADMIN`` and
    ``viewer:VIEWER``, this repository's plugins and the staging database; yields its base URL."""
    import os
    import subprocess
    import sys
    import tempfile
    import time
    from pathlib import Path

    import requests

    from conftest import REPO, _free_port

    home = Path(tempfile.mkdtemp(prefix="orderbridge-apiserver-"))
    passwords = home / "passwords.json"
    passwords.write_text(json.dumps(PASSWORDS))
    port = _free_port()
    env = {**os.environ, "AIRFLOW_HOME": str(home), "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
           "AIRFLOW__CORE__AUTH_MANAGER":
               "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
           "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:ADMIN,viewer:VIEWER",
           "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
           "AIRFLOW__API_AUTH__JWT_SECRET": "operator-browser-tests-" + "x" * 64,
           "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
           "AIRFLOW_CONN_ORDERBRIDGE_STAGING": staging_dsn,
           "PYTHONPATH": os.pathsep.join([str(REPO / "include"), os.environ.get("PYTHONPATH", "")]), **extra_env}
    log = open(home / "api-server.log", "wb")  # noqa: SIM115 (open while the server runs)
    proc = subprocess.Popen([str(Path(sys.executable).with_name("airflow")), "api-server", "--port", str(port),
                             "--host", "127.0.0.1", "--workers", "1"], env=env, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"airflow api-server did not start: {(home / 'api-server.log').read_text()[-3000:]}")
            try:
                if requests.get(f"{url}/api/v2/monitor/health", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            time.sleep(0.5)
        yield url
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, 15)
            proc.wait(30)
        log.close()
