"""Issue 17 for Merkana: each merchant's stock is its own, a stock post sent again after a lost
answer counts once, and what an order carries for the warehouse (COD, insurance, invoice, label,
notes, problem e-mail) has a home; an order held for a person is told to Merkana once.

The fake platform (sandbox child process) calls our endpoints (uvicorn on loopback) and receives
our posts; the DAG's tasks run through ``conftest.run_task``.
"""

from __future__ import annotations

import copy

import pytest
import requests

from conftest import run_task
from merkana_support import (  # noqa: F401 (fixture `inbound`)
    OUR_TOKEN,
    PLATFORM,
    THEIR_TOKEN,
    collection_bodies,
    inbound_fixture,
    replayer,
    sql,
)
from orderbridge import stock
from orderbridge.config import Account
from orderbridge.errors import Retryable
from orderbridge_sandbox.merkana import UNKNOWN_SKU_TEMPLATE, catalogue, seed_warehouse
from orderbridge_sandbox.process import start_sandbox

ACCOUNT = Account(channel="merkana", name=PLATFORM, conn_id="orderbridge_merkana_demo")
T = 30
MUG = "WH-1001"  # a warehouse SKU the demo merchants sell under its own code


@pytest.fixture
def sandbox():
    with start_sandbox(["--seed", "7", "--merkana", f"{PLATFORM}:{OUR_TOKEN}:{THEIR_TOKEN}"]) as proc:
        yield proc


@pytest.fixture
def platform(sandbox, inbound, conn):
    """Our endpoints with the platform's default settings, the fake platform, merchants 293 and 294
    seeded with the same products, each under its own owner. Returns ``replay(mid, **spec)``."""
    url = inbound(sandbox.port, unknown_product_sku=UNKNOWN_SKU_TEMPLATE)
    with conn.cursor() as cur:
        seed_warehouse(cur, mids=(293, 294))
    conn.commit()
    replay = replayer(sandbox.url, url)
    replay.url = url
    return replay


def merchant_stock(sandbox, mid: int) -> dict[str, int]:
    state = requests.get(f"{sandbox.url}/_sandbox/merkana/{PLATFORM}/state", timeout=T).json()
    return state["merchants"][str(mid)]["stock"]


def sellable(conn, mid: int) -> dict[str, int]:
    """What the warehouse can sell for merchant ``mid``, per Merkana SKU of the demo catalogue."""
    with conn.cursor() as cur:
        avail = stock.available(cur, owner=str(mid))
    conn.commit()
    return {p.sku: avail[p.warehouse_sku] for p in catalogue()}


def test_two_merchants_with_one_sku_get_their_own_stock_and_an_order_reserves_only_its_merchants(
        sandbox, platform, conn):
    sql(conn, "UPDATE staging.stock_levels SET on_hand = 50 WHERE owner = '293' AND sku = %s", MUG)
    sql(conn, "UPDATE staging.stock_levels SET on_hand = 7 WHERE owner = '294' AND sku = %s", MUG)
    initial = {mid: {s["sku"]: s["br"] for s in platform(mid, steps=["products", "stock"])["stock"][1]["stock"]}
               for mid in (293, 294)}
    assert (initial[293][MUG], initial[294][MUG]) == (50, 7)  # initial_stock: each its own figure
    assert sql(conn, "SELECT account, owner FROM staging.stock_owners ORDER BY 1") == [
        (f"{PLATFORM}/293", "293"), (f"{PLATFORM}/294", "294")]

    platform(293, steps=["orders"], orders=12, duplicates=0, unknown_rate=0)
    assert sellable(conn, 294) == initial[294]  # 293's orders reserve 293's stock only
    assert sellable(conn, 293) != initial[293]
    assert sql(conn, "SELECT count(*) FROM staging.orders WHERE status = 'ready'") == [(12,)]

    sql(conn, "UPDATE staging.stock_levels SET on_hand = 9 WHERE owner = '294' AND sku = %s", MUG)
    run_task("merkana", "push_stock", ACCOUNT, "run-1", key="k1")
    # ff-supplies: each merchant's platform gets its own figure.
    assert merchant_stock(sandbox, 293) == sellable(conn, 293)
    assert merchant_stock(sandbox, 294) == sellable(conn, 294) == {**initial[294], MUG: 9}


def test_a_lost_ff_supplies_answer_and_its_retry_leave_merkana_with_what_the_warehouse_can_sell(
        sandbox, platform, conn):
    platform(294, steps=["products", "stock"])
    sql(conn, "UPDATE staging.stock_levels SET on_hand = on_hand + 10 WHERE owner = '294' AND sku = %s", MUG)
    # Merkana applies the post, then the connection drops before we read its answer.
    requests.post(f"{sandbox.url}/_sandbox/faults", timeout=T,
                  json={"channel": "merkana", "match": "ff-supplies", "kind": "cut", "times": 1}).raise_for_status()
    with pytest.raises(Retryable):
        run_task("merkana", "push_stock", ACCOUNT, "run-1", key="k1")
    sql(conn, "UPDATE staging.outbox SET next_attempt_at = now() WHERE status = 'pending'")
    counts = run_task("merkana", "push_stock", ACCOUNT, "run-1", key="k1")
    assert counts["sent_sent"] == 1
    state = requests.get(f"{sandbox.url}/_sandbox/merkana/{PLATFORM}/state", timeout=T).json()
    assert len(state["supplies"]) == 2  # Merkana received the post twice
    assert merchant_stock(sandbox, 294) == sellable(conn, 294)  # and counted it once


def order(**changes) -> dict:
    body = copy.deepcopy(collection_bodies()["order_create"])
    body.update(changes)
    return body


def save(platform, body: dict) -> dict:
    return requests.post(f"{platform.url}/save_order", json=body, headers={"api-token": OUR_TOKEN}, timeout=T).json()


def test_what_the_order_carries_for_the_warehouse_is_in_merkana_order_extras(platform, conn):
    assert save(platform, order(mid=293, payment_method="COD", ff_note="fragile: glass",
                                awb_url="https://api.mercoria.com/labels/40103.pdf")) == {"status": True}
    rows = sql(conn, """SELECT account, mid, payment_method, cod, cod_amount::text, insurance::text, currency,
                               invoice_url, label_url, ff_note, customer_note, shipping_instructions, problem_email
                        FROM staging.merkana_order_extras WHERE external_order_id = '40103'""")
    assert rows == [(f"{PLATFORM}/293", "293", "COD", True, "77.70", "77.00", "BGN",
                     "https://api.mercoria.com/storage/invoice/XXXXXX/953-14.pdf",
                     "https://api.mercoria.com/labels/40103.pdf", "fragile: glass", "call me", "black door",
                     "test@valival.com")]
    save(platform, order(mid=293, id=40104, payment_method="BANK", insurance=None))
    assert sql(conn, "SELECT cod, cod_amount, insurance FROM staging.merkana_order_extras"
                     " WHERE external_order_id = '40104'") == [(False, None, None)]


def test_an_order_held_for_a_person_is_told_to_merkana_once(sandbox, platform, inbound, conn):
    no_address = order(mid=293, id=501)
    no_address["shipping"].update(shipping_street="", shipping_courier_office=None, shipping_postal_code="")
    unmapped = order(mid=293, id=502, unknownproductid=None)  # 41705 is no product: nothing to fall back on
    fine = order(mid=293, id=503, unknownproductid=None, line_items=[{"sku": MUG, "quantity": 1}])
    assert [save(platform, b) for b in (no_address, unmapped, fine)] == [{"status": True}] * 3
    assert sql(conn, "SELECT external_order_id, status FROM staging.orders ORDER BY 1") == [
        ("501", "invalid_address"), ("502", "awaiting_mapping"), ("503", "ready")]

    for run in ("run-1", "run-2"):
        run_task("merkana", "post_status_updates", ACCOUNT, run)
    state = requests.get(f"{sandbox.url}/_sandbox/merkana/{PLATFORM}/state", timeout=T).json()
    assert {(u["idextern"], u["status"], u["times"]) for u in state["status_updates"]} == {
        ("501", "problem", 1), ("502", "problem", 1)}
    assert state["status_posts"] == 1

    # A platform that wants no such notice says so (extra problem_status ""): its held orders wait silently.
    inbound(sandbox.port, unknown_product_sku=UNKNOWN_SKU_TEMPLATE, problem_status="")
    assert save(platform, order(mid=293, id=504, unknownproductid=None)) == {"status": True}
    run_task("merkana", "post_status_updates", ACCOUNT, "run-3")
    state = requests.get(f"{sandbox.url}/_sandbox/merkana/{PLATFORM}/state", timeout=T).json()
    assert state["status_posts"] == 1
