"""Merkana's calls on our endpoints, over real HTTP (uvicorn on loopback) into a real PostgreSQL.

The bodies are the seed collection's own (``tests/data/merkana_collection.json``, comments
removed), sent as text exactly as the platform would send them.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from conftest import rows
from merkana_support import OUR_TOKEN, collection_bodies, collection_texts, inbound_fixture  # noqa: F401 (fixture `inbound`)

T = 10


def post(url: str, path: str, body, token: str | None = OUR_TOKEN) -> requests.Response:
    data = body if isinstance(body, str | bytes) else json.dumps(body, ensure_ascii=False)
    headers = {"content-type": "application/json", **({"api-token": token} if token is not None else {})}
    return requests.post(f"{url}/{path}", data=data.encode() if isinstance(data, str) else data, headers=headers,
                         timeout=T)


def scalar(conn, sql: str, *args):
    return rows(conn, sql, *args)[0][0]


@pytest.fixture
def warehouse(conn):
    """Warehouse products of merchant 4755 for the collection's order (7563 and 9047; 41705 is
    unknown) and its unknown product, and SKU-123 of merchant 293 mapped by an alias; each merchant's
    stock is its own (owner = mid, the default ``stock_owner``)."""
    with conn.cursor() as cur:
        cur.execute("""INSERT INTO staging.products (owner, sku, name) VALUES ('4755', '7563', 'a'),
                              ('4755', '9047', 'b'), ('293', 'WH-1', 'c'), ('4755', 'UNKNOWN-4755', 'unknown product');
                       INSERT INTO staging.stock_levels (owner, sku, on_hand) VALUES ('4755', '7563', 5),
                              ('4755', '9047', 5), ('293', 'WH-1', 7);
                       INSERT INTO staging.sku_aliases (channel, account, channel_sku, warehouse_sku)
                              VALUES ('merkana', 'demo/293', 'SKU-123', 'WH-1')""")
    conn.commit()
    return conn


def test_the_collection_replayed_stores_each_call_and_answers_as_the_seed_expects(inbound, warehouse):
    url = inbound(unknown_product_sku="UNKNOWN-{mid}")
    texts, bodies = collection_texts(), collection_bodies()

    answer = post(url, "sync_products", texts["product_sync"])
    assert (answer.status_code, answer.json()) == (200, {"status": True})
    assert rows(warehouse, "SELECT account, channel_sku, name, external_product_id, ean, image_url"
                           " FROM staging.channel_products WHERE channel = 'merkana'") == [
        ("demo/293", "SKU-123", "product-title", "123", "123123",
         "https: //clients.mercoria.com/uploads/images/products/xx/image-file.jpg")]

    answer = post(url, "stock", texts["stock"])
    assert (answer.status_code, answer.json()) == (200, {"status": True, "mid": 293,
                                                         "stock": [{"sku": "SKU-123", "br": 7}]})
    assert scalar(warehouse, "SELECT confirmed_stock FROM staging.channel_products") == 7  # Merkana's baseline

    answer = post(url, "save_order", texts["order_create"])
    assert (answer.status_code, answer.json()) == (200, {"status": True})
    order = rows(warehouse, """SELECT account, external_order_id, status, attention, ship_name, ship_address1,
                                      ship_city, ship_postcode, ship_country, ship_phone, customer_email, total,
                                      currency, channel_status, channel_data FROM staging.orders""")
    assert len(order) == 1
    (account, ext, status, attention, name, street, city, postcode, country, phone, email, total, currency,
     channel_status, data) = order[0]
    assert (account, ext, status, channel_status) == ("demo/4755", "40103", "ready", "create")
    assert (name, street, city, postcode, country, phone, email) == (
        "Tihomir Sokolov", "бул. Братя Бъкстон, 33", "София", "1000", "BG", "0899196290", "tihomir.sokolov@gmail.com")
    assert (str(total), currency) == ("77.70", "BGN")
    assert data["cod"] is True and data["payment_method"] == "COD" and data["cod_amount"] == "77.7"
    assert (data["insurance"], data["customer_note"], data["company"]) == ("77", "call me", "тт")
    assert data["url_factura"].endswith("/953-14.pdf") and data["shipping_courier_office"] == "1085"
    assert "41705 -> UNKNOWN-4755" in attention  # flagged, as the seed describes
    assert rows(warehouse, "SELECT channel_line_id, channel_sku, warehouse_sku, quantity FROM staging.order_lines"
                           " ORDER BY channel_line_id") == [("1", "7563", "7563", 1), ("2", "9047", "9047", 1),
                                                            ("3", "41705", "UNKNOWN-4755", 1)]
    raw = rows(warehouse, "SELECT account, external_id, payload FROM raw.orders")
    assert raw == [("demo/4755", "40103", bodies["order_create"])]
    assert scalar(warehouse, "SELECT count(*) FROM staging.order_events WHERE event = 'needs_attention'") == 1

    # The collection's cancel names an order (226 of 293) we never received: refused, nothing changes.
    answer = post(url, "cancel_order", texts["cancel"])
    assert answer.status_code == 404 and answer.json()["status"] is False and "226" in answer.json()["message"]
    answer = post(url, "cancel_order", {"mid": 4755, "id": 40103})
    assert (answer.status_code, answer.json()) == (200, {"status": True})
    assert scalar(warehouse, "SELECT status FROM staging.orders") == "cancelled"


def test_an_order_sent_again_and_again_is_stored_once(inbound, warehouse):
    url = inbound()
    text = collection_texts()["order_create"]
    answers = [post(url, "save_order", text) for _ in range(3)]
    with ThreadPoolExecutor(4) as pool:  # retries racing each other
        answers += list(pool.map(lambda _: post(url, "save_order", text), range(4)))
    assert {(a.status_code, a.json()["status"]) for a in answers} == {(200, True)}
    assert scalar(warehouse, "SELECT count(*) FROM raw.orders") == 1
    assert scalar(warehouse, "SELECT count(*) FROM staging.orders") == 1
    assert scalar(warehouse, "SELECT count(*) FROM staging.order_lines") == 3
    assert scalar(warehouse, "SELECT count(*) FROM staging.order_history WHERE event = 'imported'") == 1

    # A changed body for the same id is the order's new version: one more raw row, still one order.
    changed = json.loads(text) | {"ff_note": "fragile"}
    assert post(url, "save_order", changed).json() == {"status": True}
    assert scalar(warehouse, "SELECT count(*) FROM raw.orders") == 2
    assert scalar(warehouse, "SELECT channel_data->>'ff_note' FROM staging.orders") == "fragile"


def test_a_missing_or_wrong_token_gets_401_and_nothing_is_stored(inbound, warehouse):
    url = inbound()
    for token in (None, "", "ff-secret-0123456789x", "wrong", OUR_TOKEN.upper()):
        for path, name in (("sync_products", "product_sync"), ("stock", "stock"), ("save_order", "order_create"),
                           ("cancel_order", "cancel")):
            answer = post(url, path, collection_texts()[name], token=token)
            assert answer.status_code == 401, (token, path, answer.text)
            assert answer.json()["status"] is False and "api-token" in answer.json()["message"]
    for table in ("raw.orders", "staging.orders", "staging.channel_products", "staging.order_events"):
        assert scalar(warehouse, f"SELECT count(*) FROM {table}") == 0, table


def test_without_a_configured_secret_every_call_is_refused(inbound, warehouse):
    url = inbound(inbound_token="")
    answer = post(url, "save_order", collection_texts()["order_create"], token="")
    assert answer.status_code == 503 and answer.json()["status"] is False
    assert scalar(warehouse, "SELECT count(*) FROM raw.orders") == 0


def broken(body: dict, path: list, value=None, delete: bool = False) -> dict:
    body = json.loads(json.dumps(body))
    target = body
    for key in path[:-1]:
        target = target[key]
    if delete:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return body


ORDER = collection_bodies()["order_create"]


MALFORMED = [
    ('{"mid": 4755, "id": 40103,', 400, "not valid JSON"),
    ("[1, 2]", 422, "JSON object"),
    (b"\xff\xfe{}", 400, "not valid JSON"),
    (broken(ORDER, ["line_items"], delete=True), 422, "line_items: Field required"),
    (broken(ORDER, ["line_items"], []), 422, "line_items: List should have at least 1 item"),
    (broken(ORDER, ["line_items", 1, "quantity"], 0), 422, "line_items[1].quantity"),
    (broken(ORDER, ["line_items", 2, "quantity"], "two"), 422, "line_items[2].quantity"),
    (broken(ORDER, ["line_items", 0, "sku"], ""), 422, "line_items[0].sku"),
    (broken(ORDER, ["id"], delete=True), 422, "id: Field required"),
    (broken(ORDER, ["mid"], True), 422, "mid:"),
    (broken(ORDER, ["total"], "77,70"), 422, "total:"),
    (broken(ORDER, ["currency"], "лв."), 422, "currency:"),
    (broken(ORDER, ["shipping"], "Sofia"), 422, "shipping:"),
    (broken(ORDER, ["shipping", "shipping_city"], {"name": "София"}), 422, "shipping.shipping_city"),
]


def test_a_malformed_order_is_refused_naming_the_field_and_nothing_is_stored(inbound, warehouse):
    url = inbound()
    for body, status, named in MALFORMED:
        answer = post(url, "save_order", body)
        assert answer.status_code == status, (body, answer.text)
        assert answer.json()["status"] is False and named in answer.json()["message"], answer.text
    assert scalar(warehouse, "SELECT count(*) FROM raw.orders") == 0
    assert scalar(warehouse, "SELECT count(*) FROM staging.orders") == 0


def test_oversized_bodies_and_lists_are_refused(inbound, warehouse):
    url = inbound(max_body_bytes=4096)
    big = broken(ORDER, ["ff_note"], "x" * 5000)
    answer = post(url, "save_order", big)
    assert answer.status_code == 413 and answer.json()["status"] is False and "4096" in answer.json()["message"]
    chunked = requests.post(f"{url}/save_order", data=iter([json.dumps(big).encode()]), timeout=T,
                            headers={"api-token": OUR_TOKEN})  # no Content-Length: the stream is counted
    assert chunked.status_code == 413

    url = inbound()
    lines = broken(ORDER, ["line_items"], [{"sku": "7563", "quantity": 1}] * 501)
    answer = post(url, "save_order", lines)
    assert answer.status_code == 422 and "line_items: List should have at most 500 items" in answer.json()["message"]
    twice = {"mid": 293, "products": [{"id": 1, "sku": "A"}, {"id": 2, "sku": "B"}, {"id": 3, "sku": "A"}]}
    answer = post(url, "sync_products", twice)
    assert answer.status_code == 422 and answer.json()["message"] == "products[2].sku: 'A' repeats products[0].sku"
    assert scalar(warehouse, "SELECT count(*) FROM raw.orders") == 0
    assert scalar(warehouse, "SELECT count(*) FROM staging.channel_products") == 0


def test_merchants_not_configured_are_refused_and_unknown_platforms_are_not_found(inbound, warehouse):
    url = inbound(merchants=["293"])
    answer = post(url, "save_order", collection_texts()["order_create"])  # mid 4755
    assert answer.status_code == 422 and answer.json()["message"].startswith("mid: 4755 is not a merchant")
    assert post(url, "stock", collection_texts()["stock"]).status_code == 200  # mid 293
    answer = post(url.replace("/demo", "/elsewhere"), "stock", collection_texts()["stock"])
    assert answer.status_code == 404 and answer.json()["status"] is False
    assert requests.get(f"{url}/stock", timeout=T).status_code == 405
    assert scalar(warehouse, "SELECT count(*) FROM raw.orders") == 0


def test_a_platform_that_renamed_fields_is_read_and_answered_in_its_own_names(inbound, warehouse):
    url = inbound(field_names={"id": "order_id", "line_items": "items", "br": "qty", "stock": "products_stock"})
    body = {("order_id" if k == "id" else "items" if k == "line_items" else k): v for k, v in ORDER.items()}
    assert post(url, "save_order", body).json() == {"status": True}
    assert scalar(warehouse, "SELECT external_order_id FROM staging.orders") == "40103"
    answer = post(url, "save_order", {k: v for k, v in body.items() if k != "items"})
    assert answer.status_code == 422 and answer.json()["message"] == "items: Field required"
    post(url, "sync_products", collection_texts()["product_sync"])
    assert post(url, "stock", {"mid": 293}).json() == {"status": True, "mid": 293,
                                                        "products_stock": [{"sku": "SKU-123", "qty": 7}]}


def available(conn, sku: str, owner: str = "4755") -> int:
    from orderbridge import stock

    with conn.cursor() as cur:
        value = stock.available(cur, owner=owner)[sku]
    conn.commit()
    return value


def test_cancel_before_picking_releases_stock_and_after_picking_is_refused_and_flagged(inbound, warehouse):
    url = inbound()
    first = broken(ORDER, ["line_items"], [{"sku": "7563", "quantity": 2}])
    second = broken(broken(first, ["id"], 40104), ["line_items"], [{"sku": "9047", "quantity": 3}])
    assert post(url, "save_order", first).json() == post(url, "save_order", second).json() == {"status": True}
    assert (available(warehouse, "7563"), available(warehouse, "9047")) == (3, 2)  # reserved by open orders
    rows(warehouse, "UPDATE staging.orders SET status = 'in_progress' WHERE external_order_id = '40104' RETURNING 1")

    answer = post(url, "cancel_order", {"mid": 4755, "id": 40103})
    assert (answer.status_code, answer.json()) == (200, {"status": True})
    assert available(warehouse, "7563") == 5  # released
    answer = post(url, "cancel_order", {"mid": 4755, "id": "40104"})
    assert answer.status_code == 200 and answer.json()["status"] is False
    assert "in_progress" in answer.json()["message"]
    assert available(warehouse, "9047") == 2  # still reserved: the warehouse is picking it
    assert rows(warehouse, "SELECT external_order_id, status, attention IS NOT NULL FROM staging.orders ORDER BY 1") \
        == [("40103", "cancelled", False), ("40104", "in_progress", True)]
    events = rows(warehouse, "SELECT external_order_id, event FROM staging.order_events"
                             " WHERE event IN ('status_changed', 'cancel_refused') ORDER BY id")
    assert events == [("40103", "status_changed"), ("40104", "cancel_refused")]

    (detail,), = rows(warehouse, "SELECT detail FROM staging.order_events WHERE event = 'cancel_refused'")
    assert detail == {"status": "in_progress", "reason": "cancel_after_pick"}  # the attention list's reason code

    # Merkana retries: the same answers again, no second event.
    assert post(url, "cancel_order", {"mid": 4755, "id": 40103}).json() == {"status": True}
    assert post(url, "cancel_order", {"mid": 4755, "id": 40104}).json()["status"] is False
    assert scalar(warehouse, "SELECT count(*) FROM staging.order_events WHERE event = 'cancel_refused'") == 1
    # A create sent again after the cancel does not revive the order.
    assert post(url, "save_order", first).json() == {"status": True}
    assert scalar(warehouse, "SELECT status FROM staging.orders WHERE external_order_id = '40103'") == "cancelled"


def test_each_order_sent_on_eight_connections_at_once_is_stored_once(inbound, warehouse):
    """The platform's retries racing each other: every one of 12 orders is sent by 8 connections
    released together (a barrier), over real HTTP to a real server. Each is answered true and stored
    once: one raw row, one staging order with its lines, one 'imported' event, its outbox rows once."""
    import threading

    url = inbound()
    base = collection_bodies()["order_create"]
    bodies = [base | {"id": 50_000 + i} for i in range(12)]
    barrier = threading.Barrier(8)

    def sender(_n: int) -> list[tuple[int, bool]]:
        session, answers = requests.Session(), []
        for body in bodies:
            barrier.wait(T)
            answer = session.post(f"{url}/save_order", data=json.dumps(body, ensure_ascii=False).encode(),
                                  headers={"content-type": "application/json", "api-token": OUR_TOKEN}, timeout=T)
            answers.append((answer.status_code, answer.json()["status"]))
        return answers

    with ThreadPoolExecutor(8) as pool:
        answers = [a for each in pool.map(sender, range(8)) for a in each]
    assert set(answers) == {(200, True)} and len(answers) == 96
    assert rows(warehouse, "SELECT count(*), count(DISTINCT external_id) FROM raw.orders") == [(12, 12)]
    assert rows(warehouse, "SELECT count(*), count(DISTINCT external_order_id) FROM staging.orders") == [(12, 12)]
    assert scalar(warehouse, "SELECT count(*) FROM staging.order_lines") == 12 * 3
    assert scalar(warehouse, "SELECT count(*) FROM staging.order_history WHERE event = 'imported'") == 12
    outbox = rows(warehouse, "SELECT count(*), count(DISTINCT (order_id, kind)) FROM staging.outbox")[0]
    assert outbox[0] == outbox[1]


def test_orders_of_one_merchant_do_not_wait_for_each_others_transactions(inbound, warehouse, staging_dsn):
    """Recording whose stock a merchant sells must not lock its row when nothing changes: with another
    transaction of the same merchant still open (as a slow concurrent request would be), an order is
    stored and answered at once instead of waiting for it (a row lock there serialised every order)."""
    from orderbridge import db

    url = inbound()
    text = collection_texts()["order_create"]
    assert post(url, "save_order", text).json() == {"status": True}  # the merchant's owner is recorded
    other = db.connect(staging_dsn)
    try:
        from orderbridge import stock
        with other.cursor() as cur:
            stock.set_owners(cur, "merkana", {"demo/4755": "4755"})  # unchanged, transaction left open
            changed = json.loads(text) | {"id": 40104}
            answer = post(url, "save_order", changed)  # T seconds at most; a lock wait would run out
        assert (answer.status_code, answer.json()) == (200, {"status": True})
    finally:
        other.rollback()
        other.close()
    assert scalar(warehouse, "SELECT count(*) FROM staging.orders") == 2
