"""The Shoprenter fake over real HTTP (a sandbox child process, talked to with requests), built from
``../shared/reference/shoprenter-plenty-api.md`` part A alone.

``main`` serves shops without the rate limit, so tests can call fast: ``alpha`` (60 orders, Basic
and api2), ``beta`` (5 orders, Basic only) and ``hooks`` (webhooks and status changes). ``limited``
keeps the 3 requests a second.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from email.parser import BytesParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from xml.etree import ElementTree

import pytest
import requests

from orderbridge_sandbox.process import start_sandbox

ANCHOR = datetime(2026, 3, 2, 12, 0)
T = 10  # seconds; every request has a timeout
USER, KEY = "api-user", "s3cret-key"
CLIENT, SECRET = "client-1", "client-secret"
MAIN = ["--seed", "7", "--anchor", ANCHOR.isoformat(), "--shoprenter-rate-limit", "0",
        "--shoprenter", f"alpha:{USER}:{KEY}:60:{CLIENT}:{SECRET}",
        "--shoprenter", f"beta:{USER}:other-key:5", "--shoprenter", f"hooks:{USER}:hook-key:3"]
KEYS = {"alpha": KEY, "beta": "other-key", "hooks": "hook-key"}


@pytest.fixture(scope="module")
def main():
    with start_sandbox(MAIN) as proc:
        yield proc


@pytest.fixture(scope="module")
def limited():
    args = ["--seed", "7", "--shoprenter", f"rl:{USER}:k:2", "--shoprenter", f"other:{USER}:k:1",
            "--shoprenter-batch-counts", "each"]
    with start_sandbox(args) as proc:
        yield proc


class Shop:
    """Requests to one shop's legacy host with Basic auth, JSON unless ``xml=True``."""

    def __init__(self, sandbox, name: str, key: str | None = None) -> None:
        self.sandbox, self.name = sandbox, name
        self.base = f"{sandbox.url}/shoprenter/{name}"
        token = base64.b64encode(f"{USER}:{key or KEYS.get(name, 'k')}".encode()).decode()
        self.auth = {"Authorization": f"Basic {token}"}

    def call(self, method: str, path: str, xml: bool = False, headers: dict | None = None,
             **kwargs) -> requests.Response:
        accept = {} if xml else {"Accept": "application/json"}
        url = path if path.startswith("http") else f"{self.base}/{path}"
        return requests.request(method, url, headers={**self.auth, **accept, **(headers or {})}, timeout=T, **kwargs)

    def get(self, path: str, **params) -> requests.Response:
        return self.call("GET", path, params=params)


def state(sandbox, shop: str) -> dict:
    return requests.get(f"{sandbox.url}/_sandbox/shoprenter/state", timeout=T).json()["shops"][shop]


def control(sandbox, path: str, body: dict | None = None) -> dict:
    r = requests.post(f"{sandbox.url}/_sandbox/shoprenter/{path}", json=body or {}, timeout=T)
    return {"_status": r.status_code, **r.json()}


def decode(b64: str) -> str:
    return base64.b64decode(b64).decode()


def token(sandbox, shop: str = "alpha", **body) -> requests.Response:
    payload = {"grant_type": "client_credentials", "client_id": CLIENT, "client_secret": SECRET, **body}
    return requests.post(f"{sandbox.url}/shoprenter/oauth/{shop}/app/token", json=payload, timeout=T)


# -- formats, ids, paging ---------------------------------------------------------------------------
def test_answers_are_xml_unless_json_is_asked_for(main):
    shop = Shop(main, "alpha")
    xml = shop.call("GET", "orders", xml=True, params={"limit": 5})
    assert xml.status_code == 200 and xml.headers["content-type"].startswith("application/xml")
    root = ElementTree.fromstring(xml.content)
    assert root.tag == "response" and root.findtext("page") == "0"
    assert len(root.findall("items/item/href")) == 5 and root.find("next/href") is not None
    as_json = shop.get("orders", limit=5)
    assert as_json.headers["content-type"].startswith("application/json")
    assert [i["href"] for i in as_json.json()["items"]] == [e.text for e in root.findall("items/item/href")]


def test_envelope_numbers_are_strings_on_orders_and_ints_with_page_count_elsewhere(main):
    shop = Shop(main, "alpha")
    orders = shop.get("orders", limit=10).json()
    assert orders["page"] == "0" and orders["limit"] == "10" and "pageCount" not in orders
    assert set(orders) == {"href", "page", "limit", "first", "previous", "next", "last", "items"}
    assert orders["previous"] is None and orders["items"][0] == {"href": orders["items"][0]["href"]}
    extend = shop.get("orderExtend", limit=10).json()
    assert extend["page"] == 0 and extend["limit"] == 10 and extend["pageCount"] == 6
    assert shop.get("products", limit=200).json()["pageCount"] == 1


def test_paging_follows_next_to_the_last_page_and_refuses_past_it(main):
    shop = Shop(main, "alpha")
    seen, url, pages = [], f"{shop.base}/orders?limit=7&full=1", 0
    while url:
        page = shop.call("GET", url).json()
        seen += [int(o["innerId"]) for o in page["items"]]
        url = page["next"]["href"] if page["next"] else None
        pages += 1
    assert pages == 9 and len(seen) == 60 and seen == sorted(set(seen))
    assert page["last"]["href"] == page["href"] and page["previous"]["href"].endswith("page=7&limit=7")
    past = shop.get("orders", limit=7, page=9)
    assert past.status_code == 400
    assert past.json() == {"error": 40008, "message": "Page not found! This Resource minimum page is 0 and "
                                                      "maximum page is 8"}
    assert shop.get("orders", limit=200).status_code == 200
    assert shop.get("orders", limit=201).status_code == 400


def test_ids_are_base64_of_type_column_and_number_and_inner_ids_strings(main):
    shop = Shop(main, "alpha")
    order = shop.get("orders", full=1, limit=1).json()["items"][0]
    assert isinstance(order["innerId"], str) and decode(order["id"]) == f"order-order_id={order['innerId']}"
    assert order["href"] == f"{shop.base}/orders/{order['id']}"
    again = shop.call("GET", order["href"]).json()
    assert again["innerId"] == order["innerId"] and again["dateCreated"].count(":") == 2
    status = order["orderStatus"]["href"].rsplit("/", 1)[1]
    assert decode(status).startswith("orderStatus-order_status_id=")
    assert shop.get("orders/bm9wZQ==").status_code == 404  # "nope": not an order id


def test_order_filters(main):
    shop = Shop(main, "alpha")
    everything = shop.get("orders", full=1, limit=200).json()["items"]
    inner = sorted(int(o["innerId"]) for o in everything)
    assert [int(o["innerId"]) for o in shop.get("orders", innerIdMin=inner[50], full=1).json()["items"]] == inner[50:]
    assert shop.get("orders", innerId=inner[3], full=1).json()["items"][0]["innerId"] == str(inner[3])
    abandoned = [o for o in everything if o["orderStatus"] is None]
    assert abandoned, "some generated orders are abandoned carts"
    kept = shop.get("orders", excludeAbandonedCart=1, limit=200).json()["items"]
    assert len(kept) == len(everything) - len(abandoned)
    paid = "b3JkZXJTdGF0dXMtb3JkZXJfc3RhdHVzX2lkPTE1"  # orderStatus-order_status_id=15
    paid_orders = shop.get("orders", orderStatusId=paid, full=1, limit=200).json()["items"]
    assert paid_orders and all(o["orderStatus"]["href"].endswith(paid) for o in paid_orders)
    dates = sorted(o["dateCreated"] for o in everything)
    window = shop.get("orders", createdAtMin=dates[10], createdAtMax=dates[19], limit=200).json()["items"]
    assert len(window) == 10  # both bounds inclusive
    day = dates[0][:10]
    assert len(shop.get("orders", createdAt=day, limit=200).json()["items"]) == sum(d[:10] == day for d in dates)
    bad = shop.get("orders", updatedAtMin="2026-03-01 10:00")
    assert bad.status_code == 400 and bad.json()["error"] == 40009 and "updatedAtMin" in bad.json()["message"]


def test_order_extend_embeds_lines_and_totals(main):
    shop = Shop(main, "alpha")
    order = shop.get("orderExtend", full=1, limit=1).json()["items"][0]
    assert order["href"].startswith(f"{shop.base}/orderExtend/")
    assert order["orderProducts"] and order["orderProducts"][0]["sku"]
    assert [t["type"] for t in order["orderTotals"]] == ["SUB_TOTAL", "SHIPPING", "TAX", "TOTAL"]
    assert order["currency"]["code"] == "HUF" and order["shippingCountry"]["isoCode2"] == "HU"


def test_order_lines_have_no_quantity_and_split_over_stock1_to_stock4(main):
    shop = Shop(main, "alpha")
    wanted = {o["innerId"]: o for o in state(main, "alpha")["orders"]}
    split = 0
    for order in shop.get("orders", full=1, limit=200).json()["items"]:
        lines = shop.get("orderProducts", orderId=order["id"], full=1).json()["items"]
        assert len(lines) == len(wanted[int(order["innerId"])]["products"])
        for line, truth in zip(lines, wanted[int(order["innerId"])]["products"], strict=True):
            assert "quantity" not in line
            stocks = [int(line[f"stock{i}"]) for i in range(1, 5)]
            assert sum(stocks) == truth["quantity"]
            split += any(stocks[1:])
            assert line["order"]["href"].endswith(order["id"])
    assert split > 0, "some lines take part of their quantity from stock2..stock4"


def test_order_statuses_and_their_hungarian_names(main):
    shop = Shop(main, "alpha")
    statuses = shop.get("orderStatuses", full=1).json()["items"]
    assert [s["innerId"] for s in statuses] == ["1", "2", "3", "4", "5", "6", "7", "15"]
    names = {d["innerId"]: d["name"] for d in shop.get("orderStatusDescriptions", full=1).json()["items"]}
    assert names["1"] == "Függőben" and names["15"] == "Fizetve" and names["7"] == "Visszavonva"
    one = shop.call("GET", statuses[1]["orderStatusDescriptions"]["href"] + "&full=1").json()["items"]
    assert [d["name"] for d in one] == ["Feldolgozás alatt"]


# -- webhooks ----------------------------------------------------------------------------------------
class Receiver:
    """A local HTTP server recording every POST (headers and multipart fields); ``fail`` answers 500."""

    def __init__(self) -> None:
        self.posts: list[dict] = []
        self.arrived = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers["content-length"]))
                message = BytesParser().parsebytes(
                    f"content-type: {self.headers['content-type']}\r\n\r\n".encode() + body)
                fields = {part.get_param("name", header="content-disposition"): part.get_payload(decode=True).decode()
                          for part in message.get_payload()}
                with receiver.arrived:
                    receiver.posts.append({"path": self.path, "headers": dict(self.headers), "fields": fields})
                    receiver.arrived.notify_all()
                self.send_response(500 if "fail" in self.path else 200)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait(self, n: int) -> list[dict]:
        with self.arrived:
            assert self.arrived.wait_for(lambda: len(self.posts) >= n, timeout=T), self.posts
        return self.posts


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.server.shutdown()


def register(shop: Shop, url: str, event: str = "order_status_change", **extra) -> dict:
    r = shop.call("POST", "webHooks", json={"label": "orderbridge", "event": event, "status": 1,
                                            "webHookParameters": [{"type": "json", "url": url, **extra}]})
    assert r.status_code == 201, r.text
    return r.json()


def test_webhooks_are_registered_under_capital_h_only(main):
    shop = Shop(main, "beta")
    assert shop.call("POST", "webhooks", json={"event": "order_status_change"}).status_code == 404
    hook = register(shop, "https://example.invalid/hook")
    assert decode(hook["id"]).startswith("webHook-webhook_id=")
    listed = shop.get("webHooks", full=1).json()["items"]
    assert [h["id"] for h in listed] == [hook["id"]]
    assert shop.call("POST", "webHooks", json={"event": "nope", "webHookParameters": [{"url": "x"}]}).status_code == 400
    assert shop.call("DELETE", f"webHooks/{hook['id']}").status_code == 204
    assert shop.get("webHooks").json()["items"] == []


def test_status_change_writes_history_and_delivers_multipart_data_to_every_hook(main, receiver):
    shop = Shop(main, "hooks")
    register(shop, receiver.url + "/one")
    register(shop, receiver.url + "/two")
    register(shop, "http://127.0.0.1:9/unreachable")  # discard port: the delivery fails, and is recorded
    order = state(main, "hooks")["orders"][0]
    done = control(main, f"hooks/orders/{order['innerId']}/status", {"status": 2, "comment": "csomagoljuk"})
    assert done["_status"] == 200 and done["order"]["status"] == 2
    posts = receiver.wait(2)
    assert sorted(p["path"] for p in posts) == ["/one", "/two"]
    for post in posts:
        assert post["headers"]["User-Agent"] == "ShopRenter"
        assert post["headers"]["Content-Type"].startswith("multipart/form-data")
        document = json.loads(post["fields"]["data"])["orders"]["order"][0]
        assert document["innerId"] == order["innerId"] and document["orderHistory"]["status"] == "2"
        assert document["orderHistory"]["statusText"] == "Feldolgozás alatt"
        assert document["innerResourceId"] == f"orders/{order['id']}"
        assert all("quantity" in line for line in document["orderProducts"]["orderProduct"])
    since = done["order"]["dateUpdated"]
    updated = Shop(main, "hooks").get("orders", updatedAtMin=since, full=1).json()["items"]
    assert order["innerId"] in [int(o["innerId"]) for o in updated] and since >= order["dateUpdated"]
    history = Shop(main, "hooks").get("orderHistories", orderId=order["id"], full=1).json()
    assert "pageCount" in history and history["items"][-1]["comment"] == "csomagoljuk"
    assert history["items"][-1]["orderStatus"]["href"].endswith("b3JkZXJTdGF0dXMtb3JkZXJfc3RhdHVzX2lkPTI=")
    deadline = time.monotonic() + T  # the failed delivery is recorded once its thread gives up
    deliveries = state(main, "hooks")["deliveries"]
    while not all(d["status"] or d["error"] for d in deliveries):
        assert time.monotonic() < deadline, deliveries
        time.sleep(0.05)
        deliveries = state(main, "hooks")["deliveries"]
    assert {d["url"].rsplit("/", 1)[1]: d["status"] for d in deliveries} == {"one": 200, "two": 200,
                                                                               "unreachable": None}
    assert "ConnectionError" in next(d["error"] for d in deliveries if d["url"].endswith("unreachable"))
    assert Shop(main, "hooks").get("orders").status_code == 200  # the fake carries on
    for hook_id in [h["id"] for h in shop.get("webHooks", full=1).json()["items"]]:
        shop.call("DELETE", f"webHooks/{hook_id}")


def test_put_of_order_status_fires_the_webhook_too(main, receiver):
    shop = Shop(main, "hooks")
    order = control(main, "hooks/orders", {"n": 1, "status": 1})["orders"][0]
    hook = register(shop, receiver.url + "/put", fields=["order_innerId", "orderHistory_status"])
    paid = "b3JkZXJTdGF0dXMtb3JkZXJfc3RhdHVzX2lkPTE1"
    r = shop.call("PUT", f"orders/{order['id']}", json={"orderStatus": {"id": paid}})
    assert r.status_code == 200 and r.json()["orderStatus"]["href"].endswith(paid)
    document = json.loads(receiver.wait(1)[0]["fields"]["data"])["orders"]["order"][0]
    assert document == {"innerId": order["innerId"], "orderHistory": {"status": "15"}}
    changed = next(o for o in state(main, "hooks")["orders"] if o["innerId"] == order["innerId"])
    assert [h["status"] for h in changed["history"]] == [1, 15]
    bad = shop.call("PUT", f"orders/{order['id']}", json={"orderStatus": {"id": "bm9wZQ=="}})
    assert bad.status_code == 400
    shop.call("DELETE", f"webHooks/{hook['id']}")


def test_new_orders_from_the_control_route_fire_order_confirm(main, receiver):
    shop = Shop(main, "hooks")
    hook = register(shop, receiver.url + "/confirm", event="order_confirm")
    added = control(main, "hooks/orders", {"n": 2, "status": 1})
    assert added["_status"] == 200 and [o["status"] for o in added["orders"]] == [1, 1]
    orders = json.loads(receiver.wait(1)[0]["fields"]["data"])["orders"]["order"]
    assert [o["innerId"] for o in orders] == [o["innerId"] for o in added["orders"]]
    shop.call("DELETE", f"webHooks/{hook['id']}")


# -- products, prices, bodies ----------------------------------------------------------------------------
def test_products_by_sku_and_product_extend_addressed_by_sku(main):
    shop = Shop(main, "beta")
    found = shop.get("products", sku="WH-1002", full=1).json()["items"]
    assert len(found) == 1 and found[0]["sku"] == "WH-1002" and "stock1" in found[0]
    changed = shop.call("PUT", "productExtend", params={"sku": "WH-1002"}, json={"stock1": 12, "price": "3100"})
    assert changed.status_code == 200 and changed.json()["stock1"] == "12" and changed.json()["price"] == "3100.0000"
    assert state(main, "beta")["products"][1]["stock1"] == 12
    unknown = shop.call("PUT", "productExtend", params={"sku": "NO-SUCH"}, json={"stock1": 1})
    assert unknown.status_code == 404
    assert unknown.json() == {"error": 40033, "message": "Product not found with sku: NO-SUCH"}
    created = shop.call("POST", "productExtend", json={"sku": "SR-NEW-1", "price": 990,
                                                       "productDescriptions": [{"name": "Új termék"}]})
    assert created.status_code == 201 and created.json()["productDescriptions"][0]["name"] == "Új termék"
    assert shop.call("POST", "products", json={"sku": "SR-NEW-1"}).status_code == 409
    assert shop.call("DELETE", "productExtend", params={"sku": "SR-NEW-1"}).status_code == 204
    assert shop.get("products", sku="SR-NEW-1").json()["items"] == []


def test_a_changed_sku_is_found_under_its_new_name_only(main):
    shop = Shop(main, "beta")
    renamed = shop.call("PUT", "productExtend", params={"sku": "WH-1010"}, json={"sku": "WH-1010-B"})
    assert renamed.status_code == 200 and renamed.json()["sku"] == "WH-1010-B"
    assert shop.get("products", sku="WH-1010").json()["items"] == []
    assert shop.call("PUT", "productExtend", params={"sku": "WH-1010"}, json={"stock1": 1}).status_code == 404
    assert shop.call("PUT", "productExtend", params={"sku": "WH-1010-B"}, json={"sku": "WH-1011"}).status_code == 409
    assert shop.call("PUT", "productExtend", params={"sku": "WH-1010-B"}, json={"sku": "WH-1010"}).status_code == 200


def test_every_product_sits_in_a_group(main):
    shop = Shop(main, "beta")
    groups = {g["id"]: g["categoryDescriptions"][0]["name"] for g in shop.get("categories", full=1).json()["items"]}
    assert set(groups.values()) >= {"Kert", "Konyha"}
    products = shop.get("productExtend", full=1, limit=200).json()["items"]
    assert all(len(p["productCategoryRelations"]) == 1 for p in products)
    assert "Kert" in {groups[p["productCategoryRelations"][0]["category"]["id"]] for p in products}


@pytest.mark.parametrize("shape", ["top-level", "data-wrapped", "urlencoded", "multipart"])
def test_request_bodies_in_the_three_shapes(main, shape):
    shop = Shop(main, "beta")
    value = {"top-level": 21, "data-wrapped": 22, "urlencoded": 23, "multipart": 24}[shape]
    kwargs = {"top-level": {"json": {"stock2": value}}, "data-wrapped": {"json": {"data": {"stock2": value}}},
              "urlencoded": {"data": {"data[stock2]": value}},
              "multipart": {"files": {"data[stock2]": (None, str(value))}}}[shape]
    r = shop.call("PUT", "productExtend", params={"sku": "WH-1003"}, **kwargs)
    assert r.status_code == 200, r.text
    assert r.json()["stock2"] == str(value)


def test_missing_or_bad_data_is_refused_with_its_code_and_changes_nothing(main):
    shop = Shop(main, "beta")
    before = shop.get("products", sku="WH-1004", full=1).json()["items"][0]
    empty = shop.call("PUT", "productExtend", params={"sku": "WH-1004"}, json={})
    assert empty.status_code == 400 and empty.json()["error"] == 40001
    bad = shop.call("PUT", "productExtend", params={"sku": "WH-1004"}, json={"stock1": 3, "stock3": "sok"})
    assert bad.status_code == 400 and "stock3" in bad.json()["message"]
    typo = shop.call("PUT", "productExtend", params={"sku": "WH-1004"}, json={"stock": 3})
    assert typo.status_code == 400 and "stock" in typo.json()["message"]
    assert shop.get("products", sku="WH-1004", full=1).json()["items"][0] == before


def test_empty_body_parameter_answers_an_empty_list_except_on_products(main):
    shop = Shop(main, "beta")
    hook = shop.call("POST", "webHooks", params={"emptyBody": 1},
                     json={"event": "order_confirm", "webHookParameters": [{"url": "https://x.invalid/"}]})
    assert hook.status_code == 201 and hook.json() == []
    product = shop.call("PUT", "productExtend", params={"sku": "WH-1005", "emptyBody": 1}, json={"stock1": 2})
    assert product.json()["sku"] == "WH-1005"


def test_customer_group_prices(main):
    shop = Shop(main, "beta")
    product = shop.get("products", sku="WH-1006").json()["items"][0]["href"].rsplit("/", 1)[1]
    group = shop.get("customerGroups", full=1).json()["items"][1]
    assert group["name"] == "Viszonteladó"
    created = shop.call("POST", "customerGroupProductPrices",
                        json={"customerGroup": {"id": group["id"]}, "product": {"id": product}, "price": "2500"})
    assert created.status_code == 201 and created.json()["price"] == "2500.0000"
    listed = shop.get("customerGroupProductPrices", productId=product, full=1).json()["items"]
    assert [p["id"] for p in listed] == [created.json()["id"]]
    updated = shop.call("PUT", f"customerGroupProductPrices/{created.json()['id']}", json={"price": 2400})
    assert updated.json()["price"] == "2400.0000"
    refused = shop.call("POST", "customerGroupProductPrices", json={"product": {"id": product}, "price": 1})
    assert refused.status_code == 400 and "customerGroup" in refused.json()["message"]
    assert shop.call("DELETE", f"customerGroupProductPrices/{created.json()['id']}").status_code == 204


# -- batch -------------------------------------------------------------------------------------------
def test_batch_answers_each_sub_request_inside_a_200(main):
    shop = Shop(main, "beta")
    product = shop.get("products", sku="WH-1007").json()["items"][0]["href"]
    real_host = "https://beta.api.myshoprenter.hu"
    body = {"data": {"requests": [
        {"method": "PUT", "uri": product, "data": {"stock1": "7"}},
        {"method": "PUT", "uri": f"{real_host}/productExtend?sku=NO-SUCH", "data": {"stock1": "1"}},
        {"method": "PUT", "uri": f"{real_host}/productExtend?sku=WH-1008", "data": {"stock1": "hét"}},
        {"method": "GET", "uri": f"{real_host}/productExtend?full=1&limit=200&page=0"},
        {"method": "GET", "uri": f"{real_host}/nothing/here"},
        {"method": "PUT", "uri": "https://gamma.api.myshoprenter.hu/products/x", "data": {"stock1": "1"}},
    ]}}
    r = shop.call("POST", "batch", json=body)
    assert r.status_code == 200
    answers = r.json()["requests"]["request"]
    assert [a["response"]["header"]["statusCode"] for a in answers] == ["200", "404", "400", "200", "404", "404"]
    assert [a["uri"] for a in answers] == [s["uri"] for s in body["data"]["requests"]]
    assert answers[0]["response"]["body"]["stock1"] == "7"
    assert answers[1]["response"]["body"]["error"] == 40033
    assert "stock1" in answers[2]["response"]["body"]["message"]
    assert answers[3]["response"]["body"]["pageCount"] == 1
    assert 'Resource matching URI' in answers[4]["response"]["body"]["message"]
    products = {p["sku"]: p for p in state(main, "beta")["products"]}
    assert products["WH-1007"]["stock1"] == 7 and products["WH-1008"]["stock1"] != "hét"


def test_batch_limits_and_xml(main):
    shop = Shop(main, "beta")
    one = {"method": "GET", "uri": "/orderStatuses"}
    too_many = shop.call("POST", "batch", json={"data": {"requests": [one] * 201}})
    assert too_many.status_code == 400 and "201" in too_many.json()["message"]
    assert shop.call("POST", "batch", json={"data": {"requests": [one] * 200}}).status_code == 200
    empty = shop.call("POST", "batch", json={"data": {}})
    assert empty.status_code == 400 and empty.json()["error"] == 40001
    form = shop.call("POST", "batch", data={"data[requests][0][method]": "PUT", "data[requests][0][uri]":
                                            "/productExtend?sku=WH-1009", "data[requests][0][data][stock4]": "4"})
    assert form.json()["requests"]["request"][0]["response"]["body"]["stock4"] == "4"
    xml = shop.call("POST", "batch", xml=True, json={"data": {"requests": [one, one]}})
    root = ElementTree.fromstring(xml.content)
    assert [e.text for e in root.findall("requests/request/response/header/statusCode")] == ["200", "200"]


# -- auth ------------------------------------------------------------------------------------------------
def test_basic_auth_on_the_legacy_host(main):
    assert Shop(main, "alpha").get("orders").status_code == 200
    wrong = Shop(main, "alpha", key="wrong").get("orders")
    assert wrong.status_code == 401 and wrong.json()["error"] == 40101
    as_xml = Shop(main, "alpha", key="wrong").call("GET", "orders", xml=True)
    assert as_xml.status_code == 401 and ElementTree.fromstring(as_xml.content).findtext("error") == "40101"
    anonymous = requests.get(f"{main.url}/shoprenter/alpha/orders", headers={"Accept": "application/json"}, timeout=T)
    assert anonymous.status_code == 401
    other_shop = Shop(main, "beta", key=KEYS["alpha"]).get("orders")  # alpha's key does not open beta
    assert other_shop.status_code == 401
    assert Shop(main, "nosuch").get("orders").status_code == 404


def test_oauth_token_and_bearer_on_api2(main):
    issued = token(main)
    assert issued.status_code == 200
    body = issued.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3600 and body["access_token"].count(".") == 2
    bearer = {"Authorization": f"Bearer {body['access_token']}", "Accept": "application/json"}
    page = requests.get(f"{main.url}/shoprenter/alpha/api2/orders", params={"limit": 2}, headers=bearer, timeout=T)
    assert page.status_code == 200 and page.json()["next"]["href"].startswith(f"{main.url}/shoprenter/alpha/api2/")
    followed = requests.get(page.json()["items"][0]["href"], headers=bearer, timeout=T)
    assert followed.status_code == 200
    # the token opens only api2 of its own shop; Basic does not open api2
    assert requests.get(f"{main.url}/shoprenter/alpha/orders", headers=bearer, timeout=T).status_code == 401
    assert requests.get(f"{main.url}/shoprenter/beta/api2/orders", headers=bearer, timeout=T).status_code == 401
    basic = Shop(main, "alpha")
    assert basic.call("GET", f"{main.url}/shoprenter/alpha/api2/orders").status_code == 401
    assert state(main, "alpha")["tokens_issued"] >= 1
    expired = control(main, "alpha/tokens/expire")
    assert expired["expired"] >= 1
    late = requests.get(f"{main.url}/shoprenter/alpha/api2/orders", headers=bearer, timeout=T)
    assert late.status_code == 401 and "expired" in late.json()["message"]


def test_token_endpoint_refusals(main):
    wrong = token(main, client_secret="nope")
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"
    assert {"error_description", "message"} <= set(wrong.json())
    missing = token(main, client_id="")
    assert missing.status_code == 400 and missing.json()["error"] == "invalid_request"
    assert "client_id" in missing.json()["hint"]
    assert token(main, grant_type="password").status_code == 400
    assert token(main, shop="beta").status_code == 401  # beta has no OAuth client


# -- rate limit and faults -----------------------------------------------------------------------------
def test_three_requests_per_second_per_shop_and_429_beyond(limited):
    shop = Shop(limited, "rl")
    requests.delete(f"{limited.url}/_sandbox/shoprenter/rl/requests", timeout=T)
    start = threading.Barrier(12)

    def one(_):
        start.wait(timeout=T)
        return shop.get("orderStatuses").status_code

    with ThreadPoolExecutor(max_workers=12) as pool:
        codes = list(pool.map(one, range(12)))
    assert codes.count(429) > 0 and set(codes) <= {200, 429}
    seen = state(limited, "rl")
    assert seen["max_per_second"] <= 3
    assert seen["refused"] == codes.count(429)
    assert all(s["let_through"] <= 3 for s in seen["requests_per_second"].values())
    refused = next(r for r in [shop.get("orderStatuses") for _ in range(5)] if r.status_code == 429)
    assert refused.json() == {"error": 42901, "message": "Too Many Requests: at most 3 requests per second per shop"}
    assert "Retry-After" not in refused.headers


def test_the_limit_is_per_shop_and_a_batch_of_n_counts_n_when_configured(limited):
    shop, other = Shop(limited, "rl"), Shop(limited, "other")
    # Fill rl's second with a 3-request batch; the next call to rl in that second is refused, other's is not.
    for _ in range(5):
        requests.delete(f"{limited.url}/_sandbox/shoprenter/rl/requests", timeout=T)
        three = [{"method": "GET", "uri": "/orderStatuses"}] * 3
        batch = shop.call("POST", "batch", json={"data": {"requests": three}})
        after, elsewhere = shop.get("orderStatuses"), other.get("orderStatuses")
        seconds = state(limited, "rl")["requests_per_second"]
        if batch.status_code == 200 and len(seconds) == 1:  # all in one wall-clock second
            break
    assert batch.status_code == 200 and after.status_code == 429 and elsewhere.status_code == 200


def test_item_faults_fail_chosen_batch_items_inside_the_200_without_applying_them(main):
    shop, host = Shop(main, "beta"), "https://beta.api.myshoprenter.hu"
    refused = control(main, "beta/batch-faults", {"rules": [{"skus": ["WH-1007"]}, {"status": 200}]})
    assert refused["_status"] == 400 and "status must be a 4xx or 5xx" in refused["error"]
    assert control(main, "beta/batch-faults", {"sku": "WH-1007"})["_status"] == 400  # unknown field, named
    assert state(main, "beta")["item_faults"] == []  # all rules or none
    added = control(main, "beta/batch-faults", {"rules": [{"skus": ["WH-1007"], "status": 503, "times": 1},
                                                          {"match": "sku=WH-1009", "status": 504}]})
    assert added["_status"] == 200 and len(added["rules"]) == 2
    before = {p["sku"]: p["stock1"] for p in state(main, "beta")["products"]}
    body = {"data": {"requests": [{"method": "PUT", "uri": f"{host}/productExtend?sku={sku}", "data": {"stock1": "41"}}
                                  for sku in ("WH-1007", "WH-1008", "WH-1009", "WH-1007")]}}
    answers = shop.call("POST", "batch", json=body).json()["requests"]["request"]
    assert [a["response"]["header"]["statusCode"] for a in answers] == ["503", "200", "504", "200"]
    assert answers[0]["response"]["body"]["error"] == 50301
    after = {p["sku"]: p["stock1"] for p in state(main, "beta")["products"]}
    assert (after["WH-1008"], after["WH-1007"], after["WH-1009"]) == (41, 41, before["WH-1009"])
    rules = state(main, "beta")["item_faults"]
    assert [(r["fired"], r["active"]) for r in rules] == [(1, False), (1, True)]
    r = requests.delete(f"{main.url}/_sandbox/shoprenter/beta/batch-faults", timeout=T)
    assert r.json()["cleared"] == 2 and state(main, "beta")["item_faults"] == []


def test_fault_rules_reach_the_shoprenter_routes(main):
    rule = requests.post(f"{main.url}/_sandbox/faults", json={"channel": "shoprenter", "kind": "503", "times": 1,
                                                              "match": "/beta/"}, timeout=T)
    assert rule.status_code == 200
    shop = Shop(main, "beta")
    assert shop.get("orders").status_code == 503
    assert shop.get("orders").status_code == 200


# -- control -------------------------------------------------------------------------------------------
def test_control_adds_and_changes_products_with_groups(main):
    created = control(main, "beta/products", {"sku": "SR-CTRL-1", "name": "Kerti lámpa", "group": "Világítás",
                                              "price": 4990, "stock1": 3})
    assert created["_status"] == 200 and created["created"] and created["product"]["group"] == "Világítás"
    changed = control(main, "beta/products", {"sku": "SR-CTRL-1", "stock1": 9})
    assert not changed["created"] and changed["product"]["stock1"] == 9
    shop = Shop(main, "beta")
    listed = shop.get("productExtend", sku="SR-CTRL-1", full=1).json()["items"][0]
    assert listed["productDescriptions"][0]["name"] == "Kerti lámpa" and listed["stock1"] == "9"
    assert control(main, "beta/products", {"sku": "SR-CTRL-1", "status": 9})["_status"] == 400
    assert control(main, "nosuch/products", {"sku": "x"})["_status"] == 404
    many = control(main, "beta/products", {"products": [{"sku": f"SR-BULK-{i}", "price": 100 + i} for i in range(300)]})
    assert (many["created"], many["changed"]) == (300, 0)
    assert len(shop.get("products", limit=200, page=1).json()["items"]) > 100
    refused = control(main, "beta/products", {"products": [{"sku": "SR-BULK-0", "price": 1}, {"sku": "SR-BULK-1",
                                                                                                  "stock1": "x"}]})
    assert refused["_status"] == 400  # all or nothing: the first one is unchanged
    assert shop.get("products", sku="SR-BULK-0", full=1).json()["items"][0]["price"] == "100.0000"
    assert control(main, "beta/orders/1/status", {"status": 2})["_status"] == 404


def test_start_refuses_a_malformed_shop_spec():
    from orderbridge_sandbox.shoprenter import ShopSpec

    with pytest.raises(ValueError, match="SHOP:USER:KEY:N"):
        ShopSpec.parse("shop:user:key")
    assert ShopSpec.parse("s:u:k:3:c:x").client_secret == "x"

