"""Shoprenter end to end against its webshop fake over real HTTP and a real PostgreSQL (issue 14).

The client and the fake (``orderbridge_sandbox.shoprenter``) are built apart from the same API
reference and the lead's wire contract; until the fake lands this module is skipped. The
accessors below (``state``, ``shop``, ``per_second``) are the only places that read the fake's
state (``GET /_sandbox/shoprenter/state``): the key names there are the contract's words, to be
checked against the fake when both halves are merged.
"""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta

import pytest
import requests

from conftest import rows
from merkana_support import LoopbackServer
from orderbridge import db
from orderbridge.channels.base import Run
from orderbridge.channels.shoprenter.channel import ShoprenterChannel
from orderbridge.channels.shoprenter.inbound import create_app
from orderbridge.channels.shoprenter.settings import ShoprenterSettings
from orderbridge.config import Account
from orderbridge_sandbox.process import start_sandbox
from orderbridge_sandbox.warehouse import seed_catalogue

SHOPS = {"invoice": ("invoiceshop", 8), "proforma": ("proformashop", 6)}
USER, KEY, SECRET = "apiuser", "apikey", "webhook-secret-0123456789"
CHANNEL = ShoprenterChannel()
T = 10


def account(name: str) -> Account:
    return Account(channel="shoprenter", name=name, conn_id=f"orderbridge_shoprenter_{name}", extract_mode="window")


@pytest.fixture
def fake():
    args = ["--seed", "14"]
    for shop, n in SHOPS.values():
        args += ["--shoprenter", f"{shop}:{USER}:{KEY}:{n}"]
    with start_sandbox(args) as proc:
        yield proc


def point_at(monkeypatch, proc, name: str, **extra) -> Account:
    shop = SHOPS[name][0]
    acct = account(name)
    monkeypatch.setenv(f"AIRFLOW_CONN_{acct.conn_id.upper()}", json.dumps({
        "conn_type": "http", "login": USER, "password": KEY,
        "extra": {"shop": shop, "api_base": f"{proc.url}/shoprenter/{shop}", "timeout": 5, **extra}}))
    return acct


@pytest.fixture
def shops(fake, monkeypatch, conn):
    with conn.cursor() as cur:
        seed_catalogue(cur, "shoprenter")
    conn.commit()
    return {"invoice": point_at(monkeypatch, fake, "invoice"),
            "proforma": point_at(monkeypatch, fake, "proforma", order_becomes="awaiting_payment",
                                 paid_statuses=["15"], excluded_groups=["Excluded"])}


def control(proc, path: str, method: str = "GET", **body):
    response = requests.request(method, f"{proc.url}/_sandbox/shoprenter/{path}", json=body or None, timeout=T)
    response.raise_for_status()
    return response.json()


def state(proc) -> dict:
    return control(proc, "state")


def shop(proc, name: str) -> dict:
    return state(proc)["shops"][SHOPS[name][0]]


def per_second(proc, name: str) -> list[int]:
    return list(shop(proc, name)["requests_per_second"].values())


def deliveries(proc, name: str, n: int) -> list[dict]:
    """The shop's first ``n`` webhook deliveries once each has an outcome (the fake posts them from a
    thread pool); a bounded wait for that event, not a timing assertion."""
    for _ in range(200):
        done = [d for d in shop(proc, name)["deliveries"] if d["status"] is not None or d["error"]]
        if len(done) >= n:
            return done
        threading.Event().wait(0.05)
    raise AssertionError(f"the fake made fewer than {n} webhook deliveries: {shop(proc, name)['deliveries']}")


def run(task_id: str, acct: Account, run_id: str) -> dict:
    end = datetime.now(UTC) + timedelta(minutes=1)
    return CHANNEL.run_task(task_id, acct, Run(run_id, "scheduled", end - timedelta(days=2), end))


def staged(conn, name: str) -> dict[str, str]:
    return dict(rows(conn, "SELECT external_order_id, status FROM staging.orders WHERE account = %s", name))


def test_paging_to_the_last_page_and_two_shops_in_one_run_without_abandoned_carts(fake, shops, conn):
    control(fake, f"{SHOPS['invoice'][0]}/orders", "POST", n=450)  # three pages of 200; statuses drawn
    for acct in shops.values():
        run("extract_orders", acct, "r1")
        run("load_staging", acct, "r1")
    for name in SHOPS:
        orders = shop(fake, name)["orders"]
        carts = {str(o["innerId"]) for o in orders if o["status"] is None}  # abandoned carts (A6)
        assert set(staged(conn, name)) == {str(o["innerId"]) for o in orders} - carts
        assert name == "proforma" or len(carts) > 5
    assert len(staged(conn, "invoice")) > 400 and len(staged(conn, "proforma")) > 0


def test_an_order_by_webhook_and_by_poll_is_stored_once_and_pro_forma_is_released_when_paid(fake, shops, conn,
                                                                                              staging_dsn):
    settings = {"proforma": ShoprenterSettings.from_extra({"shop": SHOPS["proforma"][0], "webhook_secret": SECRET})}
    with LoopbackServer(create_app(settings.get, lambda: db.connect(staging_dsn))) as receiver:
        with CHANNEL.client(shops["proforma"]) as client:
            client.register_webhook(f"{receiver.url}/proforma/{SECRET}/order-status", "test")
            client.register_webhook(f"{receiver.url}/proforma/not-{SECRET}/order-status", "a wrong secret")
        run("extract_orders", shops["proforma"], "r1")
        run("load_staging", shops["proforma"], "r1")
        before = staged(conn, "proforma")
        paid = {str(o["innerId"]) for o in shop(fake, "proforma")["orders"] if o["status"] == 15}  # card-paid at once
        assert {k for k, v in before.items() if v == "ready"} <= paid
        assert {k for k, v in before.items() if k not in paid} and all(
            v in ("awaiting_payment", "awaiting_mapping") for k, v in before.items() if k not in paid)
        inner = next(k for k, v in before.items() if v == "awaiting_payment")
        landed = rows(conn, "SELECT count(*) FROM raw.orders WHERE account = 'proforma'")[0][0]
        control(fake, f"{SHOPS['proforma'][0]}/orders/{inner}/status", "POST", status=15)
        assert sorted((d["orders"], d["status"]) for d in deliveries(fake, "proforma", 2)) == [
            ([int(inner)], 200), ([int(inner)], 404)]  # the wrong secret's delivery is refused
        assert rows(conn, "SELECT count(*) FROM raw.orders WHERE account = 'proforma'")[0][0] == landed + 1
        run("load_staging", shops["proforma"], "r2")  # the webhook's payload, before any poll
        assert staged(conn, "proforma")[inner] == "ready"
        run("extract_orders", shops["proforma"], "r3")
        run("load_staging", shops["proforma"], "r3")
    assert rows(conn, "SELECT count(*) FROM staging.orders WHERE external_order_id = %s", inner) == [(1,)]
    assert staged(conn, "proforma")[inner] == "ready"


def test_two_tasks_of_one_shop_stay_within_3_requests_a_second_at_the_fake(fake, monkeypatch, conn):
    """Orders and the catalogue of one shop read at once, 10 a page so each task makes several
    requests: the fake lets at most 3 a second through and never had to refuse one (a limiter per
    task would let both send 3 a second, and the fake would answer 429)."""
    control(fake, f"{SHOPS['invoice'][0]}/orders", "POST", n=60, status=1)
    acct = point_at(monkeypatch, fake, "invoice", limit=10, catalogue_download=True)
    results: dict[str, object] = {}

    def task(task_id: str) -> None:
        try:
            results[task_id] = run(task_id, acct, "r1")
        except Exception as err:  # shown by the assertion below, not lost in the thread
            results[task_id] = err

    threads = [threading.Thread(target=task, args=(t,)) for t in ("extract_orders", "sync_catalogue")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(isinstance(r, dict) for r in results.values()) and len(results) == 2, results
    counted = shop(fake, "invoice")
    assert sum(n for key, n in counted["requests"].items() if "orderExtend" in key) >= 7  # 68 orders, 10 a page
    assert sum(n for key, n in counted["requests"].items() if "productExtend" in key) >= 3  # 23 products
    assert counted["max_per_second"] <= 3 and counted["refused"] == 0, counted["requests_per_second"]


def test_excluded_groups_are_never_uploaded_and_an_unchanged_catalogue_is_not_sent_again(fake, monkeypatch, conn):
    acct = point_at(monkeypatch, fake, "proforma", catalogue_upload=True, excluded_groups=["Excluded"])
    with conn.cursor() as cur:
        seed_catalogue(cur, "shoprenter")
        cur.execute("UPDATE staging.products SET price = 100, product_group = CASE WHEN sku LIKE '%%1' THEN "
                    "'Excluded' ELSE 'Books' END")
        cur.execute("UPDATE staging.products SET price = NULL, name = name || ' (új)' WHERE sku = 'WH-1002'")
    conn.commit()
    before = {p["sku"]: p for p in shop(fake, "proforma")["products"]}
    first = run("sync_catalogue", acct, "r1")
    after = {p["sku"]: p for p in shop(fake, "proforma")["products"]}
    excluded = {r[0] for r in rows(conn, "SELECT sku FROM staging.products WHERE product_group = 'Excluded'")}
    books = {r[0] for r in rows(conn, "SELECT sku FROM staging.products WHERE product_group = 'Books'")}
    assert excluded & set(before) and excluded - set(before)  # some the shop has, some it has not
    assert all(after[s] == before[s] for s in excluded & set(before))  # not touched
    assert not (excluded - set(before)) & set(after)  # not created
    assert books <= set(after) and all(float(after[s]["price"]) == 100 for s in books - {"WH-1002"})
    # No price in the master: the name goes, the shop keeps its price.
    assert after["WH-1002"]["name"].endswith("(új)") and after["WH-1002"]["price"] == before["WH-1002"]["price"]
    assert first["planned_excluded"] == len(excluded) and first["refused"] == 0
    # The shop's groups differ from ours, but groups are not uploaded: nothing to send the second time.
    second = run("sync_catalogue", acct, "r2")
    assert second.get("planned_new", 0) == second.get("planned_changed", 0) == 0 and second["chunks"] == 0


def test_download_takes_the_shop_groups_by_name_and_skips_the_excluded_one(fake, monkeypatch, conn):
    acct = point_at(monkeypatch, fake, "proforma", catalogue_download=True, excluded_groups=["Kert"])
    products = shop(fake, "proforma")["products"]
    kert = {p["sku"] for p in products if p["group"] == "Kert"}
    assert kert and len(kert) < len(products)
    run("sync_catalogue", acct, "r1")
    staged_groups = dict(rows(conn, "SELECT sku, product_group FROM staging.products"))
    listed = {r[0] for r in rows(conn, "SELECT channel_sku FROM staging.channel_products WHERE account = 'proforma'")}
    assert not kert & set(staged_groups) and not kert & listed
    assert {p["sku"]: p["group"] for p in products if p["sku"] not in kert} == staged_groups


def test_stock_up_is_the_sum_of_the_chosen_warehouses(fake, monkeypatch, conn):
    acct = point_at(monkeypatch, fake, "proforma", catalogue_download=True, stock_up_warehouses=["main", "second"])
    with conn.cursor() as cur:
        seed_catalogue(cur, "shoprenter")
        cur.execute("INSERT INTO staging.stock_levels (sku, warehouse, on_hand) SELECT sku, w, n FROM "
                    "staging.products, (VALUES ('second', 5), ('returns', 1000)) v(w, n) ON CONFLICT DO NOTHING")
    conn.commit()
    run("sync_catalogue", acct, "r1")  # the shop's products become its listings (channel_products)
    run("push_stock", acct, "r1")
    chosen = dict(rows(conn, "SELECT sku, sum(on_hand)::int FROM staging.stock_levels WHERE warehouse IN "
                             "('main', 'second') GROUP BY sku"))
    shop_stock = {p["sku"]: int(p["stock1"]) for p in shop(fake, "proforma")["products"]}
    direct = set(chosen) & set(shop_stock)
    assert len(direct) >= 10 and all(shop_stock[s] == chosen[s] for s in direct)


def test_a_first_sync_of_5000_products_killed_halfway_resumes_without_resending(fake, monkeypatch, conn):
    """The worker is SIGKILLed after its 12th chunk of 200 was answered and recorded; the retry sends
    the 13 chunks left. The fake answers 409 to a product POSTed twice: none came."""
    from orderbridge_chaos.worker import run_step

    acct = account("invoiceshop")
    monkeypatch.setenv(f"AIRFLOW_CONN_{acct.conn_id.upper()}", json.dumps({
        "conn_type": "http", "login": USER, "password": KEY, "extra": {
            "shop": "invoiceshop", "api_base": f"{fake.url}/shoprenter/invoiceshop", "timeout": 10,
            "catalogue_upload": True, "excluded_groups": ["Hidden"]}}))
    with conn.cursor() as cur:
        cur.execute("INSERT INTO staging.products (sku, name, price, product_group) SELECT 'SKU-' || lpad(i::text, 5,"
                    " '0'), 'Termék ' || i, 990 + i, CASE WHEN i <= 100 THEN 'Hidden' ELSE 'Konyha' END"
                    " FROM generate_series(1, 5000) i")
    conn.commit()
    initial = len(shop(fake, "invoice")["products"])
    child = run_step("shoprenter", "sync_catalogue", "r1", {}, crash_at="catalogue.chunk#12", timeout=300)
    assert child.returncode == -9, child.stderr[-2000:]
    assert len(shop(fake, "invoice")["products"]) == initial + 12 * 200
    counts = run("sync_catalogue", acct, "r1")  # Airflow's retry of the killed task
    assert counts["resumed"] and counts["chunks"] == 13 and counts["done"] == 4900 - 12 * 200
    after = shop(fake, "invoice")
    created = {p["sku"] for p in after["products"]} - {f"SKU-{i:05d}" for i in range(1, 101)}
    assert len(after["products"]) == initial + 4900 and len(created) == len(after["products"])
    assert after["requests"].get("POST productExtend (batch) 201") == 4900
    assert not any(key.startswith("POST productExtend (batch) 409") for key in after["requests"])


def test_a_batch_with_an_item_the_shop_refuses_sends_the_others_once_and_that_one_not_again(fake, monkeypatch, conn):
    """The fake refuses a blank product name (400 inside the batch's 200): the other items are done,
    once; the refused one is kept with the shop's reason and not sent again by that sync."""
    acct = point_at(monkeypatch, fake, "proforma", catalogue_upload=True)
    with conn.cursor() as cur:
        cur.execute("INSERT INTO staging.products (sku, name, price) VALUES ('WH-1001', 'Új név', 1),"
                    " ('NEW-1', 'Új', 2), ('NEW-2', '  ', 3), ('NEW-3', 'Harmadik', 4)")
    conn.commit()
    counts = run("sync_catalogue", acct, "r1")
    assert (counts["done"], counts["refused"], counts["failed"]) == (3, 1, 0)
    requests_ = shop(fake, "proforma")["requests"]
    assert requests_["POST productExtend (batch) 201"] == 2 and requests_["PUT productExtend (batch) 200"] == 1
    assert requests_["POST productExtend (batch) 400"] == 1 and requests_["POST batch 200"] == 1
    results = rows(conn, "SELECT results->>'NEW-2', state FROM staging.catalogue_chunks WHERE direction = 'upload'")
    assert results[0][1] == "partial" and "productDescriptions" in results[0][0]


def test_batch_items_failing_with_5xx_inside_the_200_are_sent_again_alone_and_a_4xx_item_never(
        fake, monkeypatch, conn):
    """The fake fails chosen items of the batch with 503/500 inside its 200 (A8), once each: the
    second batch carries only those three, each item is applied once, the 400 item is not resent."""
    acct = point_at(monkeypatch, fake, "proforma", catalogue_upload=True)
    new = [f"NEW-{i}" for i in range(1, 7)]
    with conn.cursor() as cur:
        cur.execute("INSERT INTO staging.products (sku, name, price) SELECT unnest(%s::text[]), 'Új', 5", (new,))
        cur.execute("INSERT INTO staging.products (sku, name, price) VALUES ('WH-1001', 'Új név', 1),"
                    " ('NEW-BAD', ' ', 3)")
    conn.commit()
    name = SHOPS["proforma"][0]
    control(fake, f"{name}/batch-faults", "POST", rules=[{"skus": ["NEW-2"], "status": 503, "times": 1},
                                                        {"skus": ["NEW-5", "WH-1001"], "status": 500, "times": 2}])
    counts = run("sync_catalogue", acct, "r1")
    assert (counts["done"], counts["refused"], counts["failed"]) == (7, 1, 0)
    after = shop(fake, "proforma")
    assert [r["fired"] for r in after["item_faults"]] == [1, 2]
    assert after["requests"] == {"POST batch 200": 2, "GET productExtend 200": 1,
                                 "POST productExtend (batch) 201": 6, "PUT productExtend (batch) 200": 1,
                                 "POST productExtend (batch) 503": 1, "POST productExtend (batch) 500": 1,
                                 "PUT productExtend (batch) 500": 1, "POST productExtend (batch) 400": 1}
    skus = [p["sku"] for p in after["products"]]
    assert all(skus.count(s) == 1 for s in new) and "NEW-BAD" not in skus
    results = rows(conn, "SELECT results FROM staging.catalogue_chunks WHERE direction = 'upload'")[0][0]
    assert "HTTP 400" in results.pop("NEW-BAD") and set(results.values()) == {"done"}


def test_a_batch_item_failing_past_the_retries_is_left_to_the_next_sync_and_random_failures_apply_once(
        fake, monkeypatch, conn):
    """One item fails with 503 on every try (3): it is "failed", not lost, and the next sync sends it
    once. Random 500s on a fifth of 400 items: whatever the draws, every product is created once."""
    acct = point_at(monkeypatch, fake, "proforma", catalogue_upload=True)
    with conn.cursor() as cur:
        cur.execute("INSERT INTO staging.products (sku, name, price) SELECT 'R-' || i, 'Termék ' || i, i"
                    " FROM generate_series(1, 400) i")
    conn.commit()
    name = SHOPS["proforma"][0]
    control(fake, f"{name}/batch-faults", "POST", rules=[{"skus": ["R-7"], "status": 503},
                                                        {"match": "POST", "status": 500, "rate": 0.2}])
    first = run("sync_catalogue", acct, "r1")
    failed_now = shop(fake, "proforma")["requests"]
    assert first["failed"] >= 1 and first["done"] + first["failed"] == 400
    assert failed_now["POST productExtend (batch) 201"] == first["done"]
    assert failed_now["POST productExtend (batch) 503"] == 3  # R-7, each of the three tries
    control(fake, f"{name}/batch-faults", "DELETE")
    second = run("sync_catalogue", acct, "r2")
    after = shop(fake, "proforma")
    assert second["planned_new"] == second["done"] == first["failed"] and second["failed"] == 0
    assert after["requests"]["POST productExtend (batch) 201"] == 400
    assert not any(k.startswith("POST productExtend (batch) 409") for k in after["requests"])
    skus = [p["sku"] for p in after["products"] if p["sku"].startswith("R-")]
    assert len(skus) == len(set(skus)) == 400
