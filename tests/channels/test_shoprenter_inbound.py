"""Shoprenter's webhook deliveries over real HTTP (uvicorn on loopback) into a real PostgreSQL."""

from __future__ import annotations

import json

import pytest
import requests

from merkana_support import LoopbackServer
from orderbridge import db
from orderbridge.channels.shoprenter.inbound import create_app
from orderbridge.channels.shoprenter.settings import ShoprenterSettings

SECRET = "s3cret-for-demo-shop-0001"
UA = {"user-agent": "ShopRenter"}


def order(inner: str = "172", status: str = "15") -> dict:
    return {"storeName": "demo", "innerId": inner, "innerResourceId": "orders/b3JkZXItb3JkZXJfaWQ9MTcy",
            "firstname": "Teszt", "lastname": "Elek", "shippingCity": "Debrecen", "shippingPostcode": 4028,
            "orderHistory": {"status": status, "statusText": "Fizetve", "dateAdded": "2026-11-30T11:00:00"},
            "orderProducts": {"orderProduct": [{"innerId": "1", "sku": "WH-1", "price": 2400, "quantity": "1"}]}}


@pytest.fixture
def receiver(staging_dsn):
    shops = {"demo": ShoprenterSettings.from_extra({"shop": "demo", "webhook_secret": SECRET}),
             "nosecret": ShoprenterSettings.from_extra({"shop": "nosecret"})}
    app = create_app(load_settings=shops.get, connect=lambda: db.connect(staging_dsn))
    with LoopbackServer(app) as server:
        yield server.url


def deliver(url: str, document, account: str = "demo", secret: str = SECRET, **kwargs) -> requests.Response:
    data = document if isinstance(document, str) else json.dumps(document)
    kwargs.setdefault("files", {"data": (None, data)})  # multipart/form-data, as the shop sends it
    return requests.post(f"{url}/{account}/{secret}/order-status", headers=UA, timeout=10, **kwargs)


def raw(conn) -> list[tuple]:
    with conn.cursor() as cur:
        cur.execute("SELECT account, external_id, payload->'orderHistory'->>'status' FROM raw.orders ORDER BY id")
        return cur.fetchall()


def test_a_delivery_is_landed_raw_under_its_inner_id_and_a_duplicate_once(receiver, conn):
    answer = deliver(receiver, {"orders": {"order": [order("172"), order("173")]}})
    assert answer.status_code == 200 and answer.json() == {"stored": True, "orders": 2, "new": 2}
    again = deliver(receiver, {"orders": {"order": [order("172"), order("173")]}})
    assert again.status_code == 200 and again.json()["new"] == 0
    assert raw(conn) == [("demo", "172", "15"), ("demo", "173", "15")]


@pytest.mark.parametrize("account, secret", [("demo", "wrong-secret-but-long-enough"), ("other", SECRET),
                                             ("nosecret", "anything-at-all-0000")])
def test_a_wrong_secret_or_unknown_shop_is_404_and_nothing_is_stored(receiver, conn, account, secret):
    answer = deliver(receiver, {"orders": {"order": [order()]}}, account=account, secret=secret)
    assert answer.status_code == 404 and "nothing was stored" in answer.json()["message"]
    assert raw(conn) == []


@pytest.mark.parametrize("kwargs, code, says", [
    ({"files": None, "data": None, "json": {"orders": {"order": []}}}, 400, "multipart/form-data"),
    ({"files": {"other": (None, "{}")}}, 400, "no field data"),
    ({"files": {"data": (None, "{not json")}}, 422, "not valid JSON"),
    ({"files": {"data": (None, json.dumps({"newsletter": {"subscriber": []}}))}}, 422, "orders"),
    ({"files": {"data": (None, json.dumps({"orders": {"order": [{"innerId": "x"}]}}))}}, 422, "innerId"),
])
def test_a_bad_body_is_refused_with_a_reason_and_nothing_is_stored(receiver, conn, kwargs, code, says):
    answer = deliver(receiver, None, **kwargs)
    assert answer.status_code == code and says in answer.json()["message"]
    assert raw(conn) == []


def test_an_oversized_delivery_is_refused(receiver, conn):
    big = {"orders": {"order": [order(str(n)) for n in range(1, 4000)]}}
    answer = deliver(receiver, big)
    assert answer.status_code == 413 and raw(conn) == []
