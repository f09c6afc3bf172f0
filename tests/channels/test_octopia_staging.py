"""Octopia's orders, acceptance and parcels in real PostgreSQL (no HTTP: the fake comes with the
other half of issue 13; ``test_octopia_pipeline`` covers the wire once it is merged)."""

from __future__ import annotations

import copy

from conftest import rows
from orderbridge import outbox, shipments, staging
from orderbridge.channels.octopia.channel import _land
from orderbridge.channels.octopia.mapping import OctopiaMapper
from orderbridge.channels.octopia.writeback import held_parts, tracking_payload
from orderbridge.outbox import Outcome

PARIS = {"firstName": "Jean", "lastName": "Dupont", "addressLine1": "1 rue de Rivoli", "postalCode": "75001",
         "city": "Paris", "countryCode": "FR"}
LYON = {**PARIS, "addressLine1": "2 place Bellecour", "postalCode": "69002", "city": "Lyon"}


def _order(order_id: str, status: str, *lines: tuple[str, str, str, dict, int]) -> dict:
    return {"orderId": order_id, "status": status, "salesChannel": {"id": "CDISFR"}, "currencyCode": "EUR",
            "lines": [{"orderLineId": lid, "status": status, "quantity": qty,
                       "offer": {"sellerProductId": sku, "supplyMode": mode},
                       "shippingAddress": copy.deepcopy(address)} for lid, sku, mode, address, qty in lines]}


def _stock(conn, sku: str, on_hand: int) -> None:
    rows(conn, "INSERT INTO staging.products (sku, name) VALUES (%s, %s) ON CONFLICT DO NOTHING", sku, sku)
    rows(conn, "INSERT INTO staging.stock_levels (sku, on_hand) VALUES (%s, %s) ON CONFLICT (owner, sku, warehouse) "
               "DO UPDATE SET on_hand = EXCLUDED.on_hand", sku, on_hand)


def _land_and_load(conn, payloads: list[dict], mapper: OctopiaMapper, run_id: str):
    with conn.cursor() as cur:
        _land(cur, "fr", [(p["orderId"], p) for p in payloads], run_id)
    conn.commit()
    return staging.transform(conn, mapper, "fr", run_id)


def test_two_addresses_two_orders_fbo_closed_and_acceptance_held_until_stock_arrives(conn):
    _stock(conn, "WH-1", 0)
    _stock(conn, "WH-2", 5)
    payload = _order("SCID01", "WaitingAcceptance", ("1", "WH-1", "Seller", PARIS, 2),
                     ("2", "WH-2", "Seller", LYON, 1), ("3", "WH-9", "Fulfillment", PARIS, 1))
    _land_and_load(conn, [payload], OctopiaMapper("hold"), "run-1")
    assert rows(conn, "SELECT external_order_id, status, ship_city FROM staging.orders ORDER BY 1") == [
        ("SCID01", "awaiting_stock", "Paris"), ("SCID01#2", "ready", "Lyon")]
    assert rows(conn, "SELECT l.channel_line_id, l.status FROM staging.order_lines l JOIN staging.orders o "
                      "ON o.id = l.order_id WHERE o.external_order_id = 'SCID01' ORDER BY 1") == [
        ("1", "open"), ("3", "closed")]  # the FBO line is recorded, never picked (and its SKU holds nothing)
    assert rows(conn, "SELECT reason FROM staging.attention WHERE external_order_id = 'SCID01' "
                      "AND cleared_at IS NULL") == [("awaiting_stock",)]
    # The Lyon part is ready and enqueues the order's one approval; it waits for the Paris part.
    assert rows(conn, "SELECT idempotency_key, payload->>'approval_status' FROM staging.outbox") == [
        ("octopia:fr:approval:SCID01", "Accepted")]
    with conn.cursor() as cur:
        assert held_parts(cur, "fr", "SCID01") == ["SCID01 (awaiting_stock)"]
        assert held_parts(cur, "fr", "SCID0") == []  # another order's prefix is not a part

    _stock(conn, "WH-1", 10)
    _land_and_load(conn, [payload], OctopiaMapper("hold"), "run-2")
    assert rows(conn, "SELECT status FROM staging.orders WHERE external_order_id = 'SCID01'") == [("ready",)]
    with conn.cursor() as cur:
        assert held_parts(cur, "fr", "SCID01") == []
    assert rows(conn, "SELECT count(*) FROM staging.outbox") == [(1,)]  # nothing twice


def test_refuse_setting_refuses_an_order_the_shelf_cannot_cover_once(conn):
    _stock(conn, "WH-1", 0)
    payload = _order("SCID02", "WaitingAcceptance", ("1", "WH-1", "Seller", PARIS, 1))
    _land_and_load(conn, [payload], OctopiaMapper("refuse"), "run-1")
    _land_and_load(conn, [{**payload, "updatedAt": "later"}], OctopiaMapper("refuse"), "run-2")
    assert rows(conn, "SELECT payload->>'approval_status', payload->>'because' FROM staging.outbox") == [
        ("Refused", "awaiting_stock")]


def test_parcels_carry_the_carrier_name_and_a_template_url_and_an_unmapped_courier_blocks(conn):
    _stock(conn, "WH-1", 10)
    lines = ((str(i), "WH-1", "Seller", PARIS, 1) for i in (1, 2, 3))
    _land_and_load(conn, [_order("SCID03", "InPreparation", *lines)], OctopiaMapper(), "run-1")
    [(order_id,)] = rows(conn, "SELECT id FROM staging.orders WHERE external_order_id = 'SCID03'")
    rows(conn, "INSERT INTO staging.shipments (order_id, courier_service, tracking_number, lines) "
               "VALUES (%s, 'colissimo', '6A1', '[\"1\"]')", order_id)
    rows(conn, "INSERT INTO staging.shipments (order_id, courier_service, tracking_number, lines, tracking_url) "
               "VALUES (%s, 'DHL', 'JD2', '[\"2\"]', 'https://dhl.example/JD2')", order_id)
    rows(conn, "INSERT INTO staging.shipments (order_id, courier_service, tracking_number, lines) "
               "VALUES (%s, 'Pigeon Post', 'PP3', '[\"3\"]')", order_id)
    with conn.cursor() as cur:
        counts = shipments.enqueue_tracking(cur, "octopia", "fr", tracking_payload, "run-2", tracking_url=True)
    conn.commit()
    assert (counts.lines_enqueued, counts.blocked_shipments) == (2, 1)
    assert [r[0] for r in rows(conn, "SELECT payload FROM staging.outbox WHERE kind = 'tracking' ORDER BY id")] == [
        {"order_line_id": "1", "carrier_name": "Colissimo", "parcel_number": "6A1", "quantity": 1, "complete": False,
         "tracking_url": "https://www.laposte.fr/outils/suivre-vos-envois?code=6A1"},
        {"order_line_id": "2", "carrier_name": "DHL", "parcel_number": "JD2", "quantity": 1, "complete": False,
         "tracking_url": "https://dhl.example/JD2"}]
    [(message,)] = rows(conn, "SELECT message FROM staging.attention WHERE reason = 'tracking_blocked'")
    assert "courier service 'Pigeon Post' has no octopia carrier code" in message
    assert "Resolution: INSERT INTO staging.carrier_codes" in message


def test_a_waiting_outcome_leaves_the_row_pending_with_one_history_entry(conn):
    with conn.cursor() as cur:
        outbox.enqueue(cur, "octopia", "fr", [outbox.Effect("tracking", "1:6A1", {"order_line_id": "1"})])
    conn.commit()

    def wait(batch):
        return {row.id: Outcome("waiting", "line 1 is Accepted on Octopia") for row in batch}

    for run in ("run-1", "run-2"):
        counts = outbox.dispatch(conn, "octopia", "fr", "tracking", wait, run_id=run)
        assert (counts.claimed, counts.waiting, counts.sent) == (1, 1, 0)  # claimed once per run, not in a loop
    assert rows(conn, "SELECT status, attempts, last_error FROM staging.outbox") == [
        ("pending", 0, "line 1 is Accepted on Octopia")]
    assert rows(conn, "SELECT event FROM staging.order_events") == [("tracking_waiting",)]
    counts = outbox.dispatch(conn, "octopia", "fr", "tracking", lambda b: {r.id: Outcome("sent") for r in b})
    assert counts.sent == 1


def test_an_order_octopia_still_reviews_is_not_released_to_the_warehouse_until_it_moves_on(conn):
    # octopia-api.md §3: Processing is "under review, not actionable"; the marketplace may still reject it.
    _stock(conn, "WH-1", 3)
    payload = _order("SCID05", "Processing", ("1", "WH-1", "Seller", PARIS, 2))
    _land_and_load(conn, [payload], OctopiaMapper(), "run-1")
    assert rows(conn, "SELECT status, status_reason LIKE 'Processing%%' FROM staging.orders") == [
        ("awaiting_channel", True)]
    assert rows(conn, "SELECT count(*) FROM staging.attention WHERE cleared_at IS NULL") == [(0,)]  # nobody's job
    from orderbridge.stock import available
    with conn.cursor() as cur:
        assert available(cur)["WH-1"] == 1  # it is promised to a customer: it keeps its stock
    conn.rollback()

    reviewed = {**payload, "status": "WaitingAcceptance",
                "lines": [{**payload["lines"][0], "status": "WaitingAcceptance"}]}
    _land_and_load(conn, [reviewed], OctopiaMapper(), "run-2")
    assert rows(conn, "SELECT status FROM staging.orders") == [("ready",)]
    assert rows(conn, "SELECT payload->>'approval_status' FROM staging.outbox") == [("Accepted",)]
