"""Pure Groupon mapping: payload quirks become canonical orders or a named reason."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from orderbridge.channels.groupon.channel import lookback_window
from orderbridge.channels.groupon.mapping import GrouponMapper, entry_id, parse_order_date
from orderbridge.errors import InvalidPayload
from orderbridge.orders import SkuMap, decide_status, line_rows, stock_shortage
from orderbridge.window import Window


def entry(orderid="FFB7A681BE", lines=None, **customer):
    return {
        "orderid": orderid, "date": "05/16/2013 08:10PM UTC", "amount": {"total": 21.98, "shipping": 0},
        "customer": {"name": "Ünal Çelik", "address1": "1 High St", "city": "London", "state": None,
                     "zip": "N1 9GU", "country": "UK", "phone": "0207", **customer},
        "line_items": lines if lines is not None else [
            {"ci_lineitemid": 54553918, "sku": "WH-1001", "quantity": 2, "unit_price": 10.99, "status": "open",
             "bom_sku": None}],
    }


def test_order_date_is_twelve_hour_clock_with_utc_suffix():
    assert parse_order_date("05/16/2013 08:10PM UTC") == datetime(2013, 5, 16, 20, 10, tzinfo=UTC)
    with pytest.raises(InvalidPayload, match="date"):
        parse_order_date("2013-05-16 20:10")


def test_each_entry_of_a_split_orderid_is_its_own_order_with_its_own_address():
    a = entry(lines=[{"ci_lineitemid": 5, "sku": "A", "quantity": 1, "unit_price": 5, "status": "open"},
                     {"ci_lineitemid": 1, "sku": "C", "quantity": 1, "unit_price": 5, "status": "open"}])
    b = entry(lines=[{"ci_lineitemid": 2, "sku": "B", "quantity": 3, "unit_price": 2, "status": "open"}],
              name="Jean Dupont", city="Saint-Etienne", country="FR")
    b["amount"] = {"total": 6, "shipping": 1}
    assert (entry_id(a), entry_id(b)) == ("FFB7A681BE#1", "FFB7A681BE#2")
    first, second = GrouponMapper("GBP").to_order([(10, a)]), GrouponMapper("GBP").to_order([(11, b)])
    assert (first.external_order_id, first.ship_city, [line.channel_line_id for line in first.lines]) == (
        "FFB7A681BE#1", "London", ["5", "1"])
    assert (second.external_order_id, second.ship_name, second.ship_city) == ("FFB7A681BE#2", "Jean Dupont",
                                                                              "Saint-Etienne")
    assert second.total == Decimal("6") and second.shipping_total == Decimal("1") and second.raw_id == 11
    assert first.channel_data["orderid"] == second.channel_data["orderid"] == "FFB7A681BE"


def test_an_entry_without_usable_ids_still_gets_an_id_to_be_quarantined_under():
    assert entry_id({"orderid": "X", "line_items": "nope"}).startswith("missing-orderid:") is False
    assert entry_id({"line_items": [{"ci_lineitemid": 1}]}).startswith("missing-orderid:")
    assert entry_id({"orderid": "X", "line_items": [{"ci_lineitemid": True}]}) == "X"


def test_a_later_version_of_an_entry_replaces_the_earlier_one():
    open_line = {"ci_lineitemid": 7, "sku": "A", "quantity": 1, "unit_price": 5, "status": "open"}
    shipped = {**open_line, "status": "ship"}
    order = GrouponMapper().to_order([(1, entry(lines=[open_line])), (2, entry(lines=[shipped]))])
    assert [(line.status, line.channel_status) for line in order.lines] == [("closed", "ship")]
    assert order.channel_status == "closed" and decide_status(order, [])[0] == "closed"


@pytest.mark.parametrize(("line", "field"), [
    ({"sku": "A", "quantity": 1}, "ci_lineitemid"),
    ({"ci_lineitemid": 3, "sku": "", "quantity": 1}, "sku"),
    ({"ci_lineitemid": 3, "sku": "A", "quantity": 0}, "quantity"),
    ({"ci_lineitemid": 3, "sku": "A", "quantity": "2"}, "quantity"),
    ({"ci_lineitemid": 3, "sku": "A", "quantity": 1, "unit_price": "abc"}, "unit_price"),
])
def test_bad_lines_are_refused_naming_the_field(line, field):
    with pytest.raises(InvalidPayload, match=field):
        GrouponMapper().to_order([(1, entry(lines=[line]))])


def test_every_line_is_marked_exported_and_cancelled_lines_are_kept_but_not_picked():
    lines = [{"ci_lineitemid": 1, "sku": "WH-1", "quantity": 1, "status": "open"},
             {"ci_lineitemid": 2, "sku": "GG-NEW", "quantity": 4, "status": "refunded"}]
    order = GrouponMapper().to_order([(1, entry(lines=lines))])
    effects = GrouponMapper().acknowledgements(order, "ready")
    # One effect for the order's every line (one outbox row per order, not per line).
    assert [(e.kind, e.key, e.payload) for e in effects] == [("mark_exported", "1,2", {"ci_lineitem_ids": [1, 2]})]
    rows, unknown = line_rows(order, SkuMap(products=frozenset({"WH-1"})))
    assert [(r[0], r[3], r[8], r[9]) for r in rows] == [("1", "WH-1", "open", "open"),
                                                        ("2", None, "cancelled", "refunded")]
    assert unknown == []  # a cancelled line's SKU never holds the order
    assert decide_status(order, unknown) == ("ready", None)
    assert stock_shortage(rows, {"WH-1": 1}) is None


def test_an_entry_whose_every_line_is_cancelled_is_a_cancelled_order():
    lines = [{"ci_lineitemid": 1, "sku": "WH-1", "quantity": 1, "status": "cancelled"},
             {"ci_lineitemid": 2, "sku": "WH-1", "quantity": 1, "status": "Refunded"}]
    order = GrouponMapper().to_order([(1, entry(lines=lines))])
    assert order.channel_status == "cancelled"
    assert decide_status(order, [])[0] == "cancelled"


def test_sku_resolution_alias_bundle_direct_kit_and_unknown():
    skus = SkuMap(products=frozenset({"WH-1", "WH-2", "WH-3"}), aliases={"GG-1": "WH-2"},
                  bundles={"GG-B": [("WH-1", 1), ("WH-3", 2)]})
    assert skus.resolve("WH-1") == [("WH-1", 1)]
    assert skus.resolve("GG-1") == [("WH-2", 1)]
    assert skus.resolve("GG-B") == [("WH-1", 1), ("WH-3", 2)]
    assert skus.resolve("GG-KIT", "2xWH-3") == [("WH-3", 2)]
    assert skus.resolve("GG-KIT", "2xWH-404") is None
    assert skus.resolve("GG-NEW") is None


def test_bundle_lines_expand_to_components_and_unknown_skus_hold_the_order():
    lines = [{"ci_lineitemid": 1, "sku": "GG-B", "quantity": 2, "status": "open"},
             {"ci_lineitemid": 2, "sku": "GG-NEW", "quantity": 1, "status": "open"}]
    order = GrouponMapper().to_order([(1, entry(lines=lines))])
    skus = SkuMap(products=frozenset({"WH-1", "WH-3"}), bundles={"GG-B": [("WH-1", 1), ("WH-3", 2)]})
    rows, unknown = line_rows(order, skus)
    assert [(r[0], r[1], r[3], r[4]) for r in rows] == [("1", 0, "WH-1", 2), ("1", 1, "WH-3", 4), ("2", 0, None, 1)]
    assert decide_status(order, unknown) == ("awaiting_mapping", "unknown SKU(s): GG-NEW")


@pytest.mark.parametrize(("customer", "reason"), [
    ({"zip": ""}, "postcode"), ({"address1": " "}, "street"), ({"country": "XX"}, "country"),
    ({"country": None}, "country"),
])
def test_unshippable_addresses_are_held_with_the_reason(customer, reason):
    order = GrouponMapper().to_order([(1, entry(**customer))])
    status, why = decide_status(order, [])
    assert status == "invalid_address" and reason in why


def test_uk_is_accepted_as_great_britain():
    order = GrouponMapper().to_order([(1, entry(country="UK"))])
    assert decide_status(order, []) == ("ready", None)


NOW = datetime(2026, 12, 1, 12, 39, 53, tzinfo=UTC)


def test_the_lookback_of_a_queue_read_is_the_last_days_up_to_now_rounded_up_to_the_minute():
    window = lookback_window(None, 3, NOW)
    assert window == Window(datetime(2026, 11, 28, 12, 40, tzinfo=UTC), datetime(2026, 12, 1, 12, 40, tzinfo=UTC))
    assert [piece.end - piece.start for piece in window.slices(timedelta(hours=24))] == [timedelta(hours=24)] * 3
    assert lookback_window(None, 1, NOW.replace(second=0)).end == NOW.replace(second=0)  # already on the minute


def test_the_lookback_of_a_window_read_is_only_the_part_before_it_and_zero_days_is_none():
    run = Window(NOW - timedelta(minutes=10), NOW)
    assert lookback_window(run, 2, NOW) == Window(NOW - timedelta(days=2), run.start)
    assert lookback_window(Window(NOW - timedelta(days=5), NOW), 2, NOW) is None  # the window covers it
    past = Window(NOW - timedelta(days=9, minutes=10), NOW - timedelta(days=9))  # a backfill's run long ago
    assert lookback_window(past, 2, NOW) is None
    assert lookback_window(None, 0, NOW) is None and lookback_window(run, 0, NOW) is None


def test_an_account_that_does_not_mark_exported_gets_no_acknowledgements():
    order = GrouponMapper("GBP").to_order([(1, entry())])
    assert len(GrouponMapper("GBP").acknowledgements(order, "ready")) == 1
    assert GrouponMapper("GBP", mark_exported=False).acknowledgements(order, "ready") == []
