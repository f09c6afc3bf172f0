"""Reason-coded attention and operator overrides on a real PostgreSQL, through the real load.

Orders are plentymarkets payloads (its mapper holds orders the shelf cannot cover), landed in
``raw`` and transformed as ``load_staging`` does.
"""

from __future__ import annotations

import copy

import psycopg2
import pytest

from conftest import rows
from orderbridge import attention, shipments, staging
from orderbridge.channels.plentymarkets.mapping import PlentyMapper

CHANNEL, ACCOUNT = "plentymarkets", "acct"


def payload(order_id: int, *items: tuple[int, str, int], postcode: str = "10115", note: str = "") -> dict:
    return {
        "id": order_id, "typeId": 1, "statusId": 5, "plentyId": 1000, "createdAt": "2026-11-20T10:15:00+01:00",
        "amounts": [{"isSystemCurrency": True, "currency": "EUR", "grossTotal": 50, "shippingCostsGross": 0}],
        "properties": [{"typeId": 2, "value": "6"}] + ([{"typeId": 7, "value": note}] if note else []),
        "addressRelations": [{"typeId": 2, "addressId": 33}],
        "addresses": [{"id": 33, "name2": "Max", "name3": "Müller", "address1": "Hauptstr.", "address2": "5",
                       "postalCode": postcode, "town": "Berlin", "countryId": 1}],
        "orderItems": [{"id": item, "typeId": 1, "itemVariationId": 1000 + item, "quantity": qty,
                        "variation": {"id": 1000 + item, "number": sku}, "amounts": [{"priceGross": 25}]}
                       for item, sku, qty in items or ((744, "WH-1001", 1),)],
    }


@pytest.fixture
def shelf(conn):
    with conn.cursor() as cur:
        cur.execute("""INSERT INTO staging.products (sku, name) VALUES ('WH-1001', 'Mug'), ('WH-1002', 'Cup');
                       INSERT INTO staging.stock_levels (sku, warehouse, on_hand) VALUES ('WH-1001', 'main', 5),
                              ('WH-1002', 'main', 5)""")
    conn.commit()
    return conn


def load(conn, run_id: str, *payloads: dict):
    with conn.cursor() as cur:
        staging.land_raw(cur, CHANNEL, ACCOUNT, [(str(p["id"]), p) for p in payloads], run_id)
    conn.commit()
    return staging.transform(conn, PlentyMapper(), ACCOUNT, run_id)


def order(conn, ext: str) -> tuple:
    return rows(conn, "SELECT status, attention, ship_postcode FROM staging.orders WHERE external_order_id = %s",
                ext)[0]


def reasons(conn, ext: str) -> list[tuple]:
    """Every attention row of the order: (reason, open, raised by run, cleared by run, cleared by whom)."""
    return rows(conn, """SELECT a.reason, a.cleared_at IS NULL, a.raised_run_id, a.cleared_run_id, a.cleared_by
                      FROM staging.attention a JOIN staging.orders o ON o.id = a.order_id
                      WHERE o.external_order_id = %s ORDER BY a.id""", ext)


def override(conn, ext: str, kind: str, value: str = "{}", who: str = "anna", why: str = "customer phoned") -> None:
    rows(conn, """INSERT INTO staging.order_overrides (channel, account, external_order_id, kind, value,
                                                  created_by, why)
               VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING id""", CHANNEL, ACCOUNT, ext, kind, value, who, why)


def history(conn, ext: str, event: str) -> list[tuple]:
    return rows(conn, "SELECT message, detail->>'by' FROM staging.order_events WHERE external_order_id = %s"
                   " AND event = %s ORDER BY id", ext, event)


def retransform_everything(conn, run_id: str):
    """As after a mapper fix: every raw payload transformed again."""
    rows(conn, "DELETE FROM staging.sync_state WHERE stream = 'transform' RETURNING 1")
    return staging.transform(conn, PlentyMapper(), ACCOUNT, run_id)


# -- holds raise their reason and clear it when resolved ------------------------------------------

def test_a_hold_raises_its_reason_with_a_resolution_and_clears_it_when_the_mapping_arrives(shelf):
    load(shelf, "run-1", payload(1, (744, "PL-NEW-1", 1)))
    status, summary, _ = order(shelf, "1")
    assert status == "awaiting_mapping"
    assert summary.startswith("awaiting_mapping: unknown SKU(s): PL-NEW-1. Resolution: map the SKU")
    assert reasons(shelf, "1") == [("awaiting_mapping", True, "run-1", None, None)]
    load(shelf, "run-2")  # still held: the row stays one, open
    assert reasons(shelf, "1") == [("awaiting_mapping", True, "run-1", None, None)]

    rows(shelf, "INSERT INTO staging.sku_aliases (channel, channel_sku, warehouse_sku)"
             " VALUES ('plentymarkets', 'PL-NEW-1', 'WH-1001') RETURNING 1")
    load(shelf, "run-3")
    assert order(shelf, "1")[:2] == ("ready", None)
    assert reasons(shelf, "1") == [("awaiting_mapping", False, "run-1", "run-3", "orderbridge")]


def test_a_refused_cancellation_after_picking_is_raised_as_cancel_after_pick(shelf):
    load(shelf, "run-1", payload(2))
    rows(shelf, "UPDATE staging.orders SET status = 'in_progress' WHERE external_order_id = '2' RETURNING 1")
    load(shelf, "run-2", {**payload(2), "statusId": 8})  # the customer cancels in plenty
    assert reasons(shelf, "2") == [("cancel_after_pick", True, "run-2", None, None)]
    with shelf.cursor() as cur:
        assert staging.cancel_order(cur, CHANNEL, ACCOUNT, "2", "again", "run-3") == (False, "in_progress")
    shelf.commit()
    assert reasons(shelf, "2") == [("cancel_after_pick", True, "run-2", None, None)]  # still one open row
    assert "Resolution: stop the parcel" in order(shelf, "2")[1]


def test_clearing_the_old_attention_column_by_hand_clears_the_open_rows(shelf):
    load(shelf, "run-1", payload(3, (744, "PL-NEW-3", 1)))
    rows(shelf, "UPDATE staging.orders SET attention = NULL WHERE external_order_id = '3' RETURNING 1")
    assert [r[:2] for r in reasons(shelf, "3")] == [("awaiting_mapping", False)]
    assert reasons(shelf, "3")[0][4]  # by the database user who did it


def test_blocked_tracking_is_raised_on_the_shipped_order_and_cleared_once_the_carrier_row_exists(shelf):
    load(shelf, "run-1", payload(4))
    rows(shelf, """INSERT INTO staging.shipments (order_id, courier_service, tracking_number)
                SELECT id, 'Hermes Next Day', 'H-1' FROM staging.orders WHERE external_order_id = '4' RETURNING 1""")

    def post(run_id):
        with shelf.cursor() as cur:
            counts = shipments.enqueue_tracking(cur, CHANNEL, ACCOUNT, lambda *a: {"line": a[0]}, run_id)
        shelf.commit()
        return counts

    assert post("run-2").blocked_shipments == 1
    status, summary, _ = order(shelf, "4")
    assert status == "shipped" and summary.startswith("tracking_blocked: courier service 'Hermes Next Day'")
    assert "INSERT INTO staging.carrier_codes" in summary
    post("run-3")
    assert reasons(shelf, "4") == [("tracking_blocked", True, "run-2", None, None)]
    rows(shelf, "INSERT INTO staging.carrier_codes (channel, courier_service, carrier_code)"
             " VALUES ('plentymarkets', 'Hermes Next Day', '9') RETURNING 1")
    assert post("run-4").lines_enqueued == 1
    assert reasons(shelf, "4") == [("tracking_blocked", False, "run-2", "run-4", "orderbridge")]
    assert order(shelf, "4")[:2] == ("shipped", None)


def test_an_unknown_reason_is_refused_naming_it(conn):
    with conn.cursor() as cur, pytest.raises(ValueError, match="unknown attention reason 'lost'; known: "):
        attention.flag(cur, CHANNEL, ACCOUNT, "x", "lost", "?")


# -- operator overrides ---------------------------------------------------------------------------

def test_an_address_override_makes_the_order_ready_and_survives_a_retransform_from_raw(shelf):
    load(shelf, "run-1", payload(10, postcode=""))
    assert order(shelf, "10")[0] == "invalid_address"
    override(shelf, "10", "address", '{"ship_postcode": "10117"}', who="anna", why="customer phoned, 10117")

    load(shelf, "run-2")
    assert order(shelf, "10") == ("ready", None, "10117")
    assert reasons(shelf, "10") == [("invalid_address", False, "run-1", "run-2", "orderbridge")]
    [(message, by)] = history(shelf, "10", "override_applied")
    assert by == "anna" and "customer phoned, 10117" in message and "10117" in message

    # The channel sends the order again (still without a postcode) and everything is re-transformed.
    load(shelf, "run-3", payload(10, postcode="", note="EXT-NEW"))
    retransform_everything(shelf, "run-4")
    assert order(shelf, "10") == ("ready", None, "10117")
    assert len(history(shelf, "10", "override_applied")) == 1  # in the history once, when first applied
    assert rows(shelf, "SELECT payload->'addresses'->0->>'postalCode' FROM raw.orders WHERE external_id = '10'"
                    " ORDER BY id") == [("",), ("",)]  # raw is as the channel sent it


def test_a_sku_override_maps_an_unknown_sku_for_that_line_only(shelf):
    load(shelf, "run-1", payload(11, (801, "PL-ODD", 1), (802, "PL-ODD", 1)), payload(12, (803, "PL-ODD", 1)))
    override(shelf, "11", "sku", '{"channel_line_id": "801", "warehouse_sku": "WH-1002"}', who="ben",
             why="PL-ODD is the blue cup on this order")
    load(shelf, "run-2")
    # Line 802 of the same order still maps to nothing: the order stays held, naming it.
    assert order(shelf, "11")[0] == "awaiting_mapping"
    override(shelf, "11", "sku", '{"channel_line_id": 802, "warehouse_sku": "WH-1002"}', who="ben", why="same")
    load(shelf, "run-3")
    assert order(shelf, "11")[:2] == ("ready", None)
    assert rows(shelf, """SELECT l.channel_line_id, l.channel_sku, l.warehouse_sku FROM staging.order_lines l
                       JOIN staging.orders o ON o.id = l.order_id WHERE o.external_order_id = '11'
                       ORDER BY 1""") == [("801", "PL-ODD", "WH-1002"), ("802", "PL-ODD", "WH-1002")]
    assert reasons(shelf, "11") == [("awaiting_mapping", False, "run-1", "run-3", "orderbridge")]
    assert [by for _m, by in history(shelf, "11", "override_applied")] == ["ben", "ben"]
    assert order(shelf, "12")[0] == "awaiting_mapping"  # the same SKU on another order is not mapped


def test_a_release_override_lets_an_awaiting_stock_order_go_ready(shelf):
    load(shelf, "run-1", payload(13, (901, "WH-1001", 9)))  # 5 on the shelf
    assert order(shelf, "13")[0] == "awaiting_stock"
    assert reasons(shelf, "13") == [("awaiting_stock", True, "run-1", None, None)]
    override(shelf, "13", "release_stock", who="cleo", why="the pallet is on the ramp")
    load(shelf, "run-2")
    assert order(shelf, "13")[:2] == ("ready", None)
    assert reasons(shelf, "13") == [("awaiting_stock", False, "run-1", "run-2", "orderbridge")]
    [(message, by)] = history(shelf, "13", "override_applied")
    assert by == "cleo" and "release_stock" in message and "the pallet is on the ramp" in message


def test_an_override_for_a_line_the_order_lacks_is_recorded_as_unusable(shelf):
    load(shelf, "run-1", payload(14, (744, "PL-NEW-14", 1)))
    override(shelf, "14", "sku", '{"channel_line_id": "999", "warehouse_sku": "WH-1001"}')
    load(shelf, "run-2")
    assert order(shelf, "14")[0] == "awaiting_mapping"
    [(message, _by)] = history(shelf, "14", "override_unusable")
    assert "the order has no line '999' (its lines: 744)" in message


@pytest.mark.parametrize("kind, value, constraint", [
    ("address", '{"street": "Hauptstr. 5"}', "order_overrides_address_takes_only_ship_fields"),
    ("sku", '{"warehouse_sku": "WH-1001"}', "order_overrides_sku_takes_channel_line_id_and_warehouse_sku"),
    ("release", "{}", "order_overrides_kind_is_address_sku_or_release_stock"),
    ("release_stock", '{"yes": true}', "order_overrides_release_stock_takes_no_value"),
])
def test_a_malformed_override_is_refused_naming_what_is_wrong(conn, kind, value, constraint):
    with pytest.raises(psycopg2.errors.CheckViolation, match=constraint):
        override(conn, "15", kind, value)
    conn.rollback()
    assert rows(conn, "SELECT count(*) FROM staging.order_overrides") == [(0,)]


def test_an_override_without_an_author_or_a_reason_is_refused(conn):
    for who, why in (("", "x"), ("anna", " ")):
        with pytest.raises(psycopg2.errors.CheckViolation, match="order_overrides_(created_by|why)"):
            override(conn, "16", "release_stock", who=who, why=why)
        conn.rollback()


def test_the_mappers_note_is_raised_as_needs_review(shelf):
    mapper = PlentyMapper()
    original = mapper.to_order

    def noted(rows):
        staged = original(copy.deepcopy(rows))
        staged.attention = "gift wrap requested"
        return staged

    mapper.to_order = noted
    with shelf.cursor() as cur:
        staging.land_raw(cur, CHANNEL, ACCOUNT, [("17", payload(17))], "run-1")
    shelf.commit()
    staging.transform(shelf, mapper, ACCOUNT, "run-1")
    assert reasons(shelf, "17") == [("needs_review", True, "run-1", None, None)]
    assert order(shelf, "17")[1] == "needs_review: gift wrap requested"


def test_an_override_for_an_order_the_warehouse_took_is_recorded_as_not_applied(shelf):
    load(shelf, "run-1", payload(18))
    rows(shelf, "UPDATE staging.orders SET status = 'in_progress' WHERE external_order_id = '18' RETURNING 1")
    override(shelf, "18", "address", '{"ship_city": "Potsdam"}')
    load(shelf, "run-2")
    load(shelf, "run-3")
    [(message, _by)] = history(shelf, "18", "override_unusable")
    assert "not applied: the warehouse already took the order, status in_progress" in message
    assert rows(shelf, "SELECT ship_city FROM staging.orders WHERE external_order_id = '18'") == [("Berlin",)]
