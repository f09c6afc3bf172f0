"""Octopia end to end against its sandbox fake over real HTTP and a real PostgreSQL (issue 13).

The client and the fake (``orderbridge_sandbox.octopia``) were built apart from the same API
reference; this module proves them together. The accessors below (``orders``, ``tokens``,
``packages``) are the only places that read the fake's state (``GET /_sandbox/octopia/state``).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import requests

from conftest import rows, run_task
from orderbridge.config import Account
from orderbridge_sandbox.process import start_sandbox
from orderbridge_sandbox.warehouse import seed_catalogue

CLIENT, SECRET, SELLERS = "orderbridge-platform", "platform-secret", ("98979", "98980")
ACCOUNTS = {s: Account(channel="octopia", name=f"s{s}", conn_id=f"orderbridge_octopia_s{s}", extract_mode="window")
            for s in SELLERS}
T = 10


@pytest.fixture
def fake():
    # Accepted orders reach InPreparation an hour later on the fake's clock (``clock``), never by
    # itself while a test runs.
    with start_sandbox(["--seed", "13", "--octopia-prepare-delay", "3600",
                        "--octopia", f"{CLIENT}:{SECRET}:{SELLERS[0]}:12:CDISFR+FNAC",
                        "--octopia", f"{CLIENT}:{SECRET}:{SELLERS[1]}:6"]) as proc:
        yield proc


@pytest.fixture
def octopia(fake, monkeypatch, conn):
    for seller, account in ACCOUNTS.items():
        point_at(monkeypatch, fake, account, seller)
    with conn.cursor() as cur:
        seed_catalogue(cur, "octopia")
    conn.commit()
    return fake


def point_at(monkeypatch, proc, account: Account, seller: str, **extra) -> None:
    monkeypatch.setenv(f"AIRFLOW_CONN_{account.conn_id.upper()}", json.dumps({
        "conn_type": "http", "host": "127.0.0.1", "port": proc.port, "schema": "http", "login": CLIENT,
        "password": SECRET, "extra": {"api_path": "/octopia/seller/v2", "seller_id": seller, "timeout": 5,
                                      "token_url": f"{proc.url}/octopia/auth/realms/maas/protocol/openid-connect/token",
                                      **extra}}))


def control(proc, path: str, method: str = "GET", **body):
    response = requests.request(method, f"{proc.url}/_sandbox/octopia/{path}", json=body or None, timeout=T)
    response.raise_for_status()
    return response.json()


def state(proc) -> dict:
    return control(proc, "state")


def orders(proc, seller: str) -> dict[str, dict]:
    """orderId -> the fake's order (``salesChannelId``, ``status``, ``lines`` with ``status``,
    ``supplyMode`` and ``parcels``, ``shipments``: every accepted shipments POST body)."""
    return {o["orderId"]: o for o in state(proc)["sellers"][seller]["orders"]}


def tokens(proc) -> int:
    return state(proc)["tokens_issued"]


def packages(proc) -> list[dict]:
    return state(proc)["packages"]


def move(proc, seller: str, order_id: str, status: str) -> None:
    control(proc, f"{seller}/orders/{order_id}/status", "POST", status=status)


def fault(proc, **rule) -> None:
    requests.post(f"{proc.url}/_sandbox/faults", json={"channel": "octopia", **rule}, timeout=T).raise_for_status()


def cycle(seller: str, run_id: str, at: datetime | None = None) -> dict:
    end = at or datetime.now(UTC) + timedelta(minutes=1)
    account, start = ACCOUNTS[seller], end - timedelta(days=30)  # the fake's orders are recent
    return {task: run_task("octopia", task, account, run_id, "scheduled", start, end, key=f"{run_id}-{seller}")
            for task in ("extract_orders", "load_staging", "send_approval", "post_tracking", "poll_offer_packages",
                         "push_stock")}


def staged(conn, seller: str) -> dict[str, str]:
    return dict(rows(conn, "SELECT external_order_id, status FROM staging.orders WHERE channel = 'octopia' "
                           "AND account = %s", f"s{seller}"))


def ship(conn, seller: str, external_order_id: str, parcel: str, courier: str = "Colissimo") -> None:
    rows(conn, """INSERT INTO staging.shipments (order_id, courier_service, tracking_number)
                  SELECT id, %s, %s FROM staging.orders WHERE channel = 'octopia' AND account = %s
                  AND external_order_id = %s""", courier, parcel, f"s{seller}", external_order_id)


def test_two_sales_channels_one_token_for_every_task_and_seller(octopia, conn):
    for run in range(3):
        for seller in SELLERS:
            cycle(seller, f"run-{run}")
    assert tokens(octopia) == 1
    channels = {o["salesChannelId"] for o in orders(octopia, SELLERS[0]).values()}
    assert channels == {"CDISFR", "FNAC"}
    assert set(staged(conn, SELLERS[0])) >= set(orders(octopia, SELLERS[0]))


def test_fbo_lines_are_recorded_and_never_shipped(octopia, conn):
    cycle(SELLERS[0], "run-1")
    fbo = [(o["orderId"], line["orderLineId"]) for o in orders(octopia, SELLERS[0]).values() for line in o["lines"]
           if line["supplyMode"] != "Seller"]
    assert fbo, "the fake serves mixed supply modes"
    for order_id, line_id in fbo:
        assert rows(conn, "SELECT l.status FROM staging.order_lines l JOIN staging.orders o ON o.id = l.order_id "
                          "WHERE o.channel = 'octopia' AND split_part(o.external_order_id, '#', 1) = %s "
                          "AND l.channel_line_id = %s", order_id, line_id) == [("closed",)]


def test_acceptance_held_while_stock_is_short_and_accepted_once_it_arrives(octopia, conn):
    seller = SELLERS[0]
    [order_id] = control(octopia, f"{seller}/orders", "POST", n=1, salesChannelId="CDISFR",
                         status="WaitingAcceptance", supplyModes=["Seller"])["orderIds"]
    rows(conn, "UPDATE staging.stock_levels SET on_hand = 0")
    cycle(seller, "run-1")
    assert orders(octopia, seller)[order_id]["status"] == "WaitingAcceptance"
    assert staged(conn, seller)[order_id] == "awaiting_stock"
    rows(conn, "UPDATE staging.stock_levels SET on_hand = 1000")
    cycle(seller, "run-2")
    cycle(seller, "run-3")
    assert orders(octopia, seller)[order_id]["status"] != "WaitingAcceptance"
    assert rows(conn, "SELECT count(*) FROM staging.outbox WHERE kind = 'approval' AND payload->>'order_id' = %s",
                order_id) == [(1,)]


def _accepted_order(proc, conn, seller: str) -> str:
    """A new two-line Cdiscount order, Accepted and not yet InPreparation, staged ready to pick."""
    [order_id] = control(proc, f"{seller}/orders", "POST", n=1, salesChannelId="CDISFR", status="Accepted",
                         supplyModes=["Seller", "Seller"])["orderIds"]
    cycle(seller, "run-1")
    assert staged(conn, seller)[order_id] == "ready"
    assert orders(proc, seller)[order_id]["status"] == "Accepted"
    return order_id


def clock(proc, seconds: float) -> None:
    """Move the fake's time on: accepted orders pass its controls, packages integrate, tokens age."""
    control(proc, "clock", "POST", advance=seconds)


def test_a_parcel_for_a_line_not_in_preparation_waits_and_goes_out_later_exactly_once(octopia, conn):
    seller = SELLERS[0]
    order_id = _accepted_order(octopia, conn, seller)
    ship(conn, seller, order_id, "6A-WAIT-1")
    cycle(seller, "run-2")
    assert all(not line.get("parcels") for line in orders(octopia, seller)[order_id]["lines"])
    assert rows(conn, "SELECT DISTINCT status FROM staging.outbox WHERE kind = 'tracking'") == [("pending",)]
    move(octopia, seller, order_id, "InPreparation")
    cycle(seller, "run-3")
    cycle(seller, "run-4")  # a rerun declares nothing twice
    ours = [line for line in orders(octopia, seller)[order_id]["lines"] if line["supplyMode"] == "Seller"]
    assert all([p["parcelNumber"] for p in line["parcels"]] == ["6A-WAIT-1"] for line in ours)


def test_a_lost_answer_to_a_parcel_post_declares_nothing_twice(octopia, conn):
    seller = SELLERS[0]
    order_id = _accepted_order(octopia, conn, seller)
    move(octopia, seller, order_id, "InPreparation")
    ship(conn, seller, order_id, "6A-LOST-1")
    fault(octopia, kind="cut", match="shipments", times=1)
    cycle(seller, "run-2")
    assert len(orders(octopia, seller)[order_id]["shipments"]) == 1, "the fake took the POST whose answer was cut"
    ours = [line for line in orders(octopia, seller)[order_id]["lines"] if line["supplyMode"] == "Seller"]
    assert all([p["parcelNumber"] for p in line["parcels"]] == ["6A-LOST-1"] for line in ours)
    assert rows(conn, "SELECT DISTINCT status FROM staging.outbox WHERE kind = 'tracking'") == [("sent",)]


def test_an_offer_package_that_rejects_items_shows_the_channels_reason(octopia, conn):
    seller = SELLERS[0]
    cycle(seller, "run-1")
    rows(conn, "INSERT INTO staging.channel_products (channel, account, channel_sku) VALUES "
               "('octopia', %s, 'NOT-AN-OFFER')", f"s{seller}")
    rows(conn, "INSERT INTO staging.sku_aliases (channel, channel_sku, warehouse_sku) SELECT 'octopia', "
               "'NOT-AN-OFFER', sku FROM staging.products LIMIT 1")
    cycle(seller, "run-2")
    ours = [p for p in packages(octopia) if p["sellerId"] == seller]
    assert ours and {p["state"] for p in ours} == {"Ready"}, "stock went as offer packages, not integrated yet"
    cycle(seller, "run-3")  # polled before the fake integrates it: still open, nothing recorded
    assert rows(conn, "SELECT count(*) FROM staging.order_events WHERE event = 'stock_rejected'") == [(0,)]
    clock(octopia, 301)  # the fake integrates a Ready package 300 s later (--octopia-package-delay)
    cycle(seller, "run-4")
    assert rows(conn, "SELECT count(*) > 0 FROM staging.order_events WHERE event = 'stock_rejected' "
                      "AND detail->'item'->>'sellerExternalReference' = 'NOT-AN-OFFER'") == [(True,)]


def test_a_seller_that_did_not_delegate_gets_the_resolution(octopia, monkeypatch):
    from orderbridge.errors import AuthError

    point_at(monkeypatch, octopia, ACCOUNTS[SELLERS[0]], "11111")
    with pytest.raises(AuthError, match="has not delegated to our client id"):
        run_task("octopia", "extract_orders", ACCOUNTS[SELLERS[0]], "run-1", "scheduled",
                 datetime.now(UTC) - timedelta(days=1), datetime.now(UTC))


def test_a_disconnected_account_stops_and_keeps_its_data(octopia, conn, tmp_path, monkeypatch):
    from orderbridge.config import load_accounts

    cycle(SELLERS[1], "run-1")
    before = staged(conn, SELLERS[1])
    config = tmp_path / "accounts.yaml"
    config.write_text("octopia:\n  - name: s98979\n    conn_id: orderbridge_octopia_s98979\n", encoding="utf-8")
    assert [a.name for a in load_accounts("octopia", config)] == ["s98979"]  # no DAG for s98980 any more
    assert staged(conn, SELLERS[1]) == before and before


def test_a_429_on_an_approval_is_waited_out_in_the_task_not_a_failed_run(octopia, conn):
    """A 429 was not processed: the single-try approval waits Retry-After and sends it (a lost
    answer, by contrast, is checked by re-reading the order, never resent blindly)."""
    seller = SELLERS[0]
    [order_id] = control(octopia, f"{seller}/orders", "POST", n=1, salesChannelId="CDISFR",
                         status="WaitingAcceptance", supplyModes=["Seller"])["orderIds"]
    fault(octopia, kind="429", match="approval-status", retry_after=0, times=1)
    result = cycle(seller, "run-1")["send_approval"]
    assert (result["sent"], result["failed"]) == (1, 0)
    assert orders(octopia, seller)[order_id]["approvals"] == ["Accepted"]


def test_a_throttled_or_failing_token_endpoint_is_retried_within_the_task(octopia, conn):
    fault(octopia, kind="429", match="openid-connect/token", retry_after=0, times=1)
    fault(octopia, kind="503", match="openid-connect/token", times=1)
    cycle(SELLERS[1], "run-1")
    assert tokens(octopia) == 1
    assert set(staged(conn, SELLERS[1])) >= set(orders(octopia, SELLERS[1]))
