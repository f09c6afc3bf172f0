"""What the operator page tests share: staging orders made by the real load, the real auth manager's tokens."""

from __future__ import annotations

import json

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
