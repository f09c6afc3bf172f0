"""Shoprenter's pure parts: settings, numbers as strings or ints, ids, paging, both order shapes."""

from __future__ import annotations

from decimal import Decimal

import pytest

from orderbridge.channels.shoprenter.mapping import (
    ShoprenterMapper,
    decode_id,
    encode_id,
    line_quantity,
    page_done,
    product_row,
    status_id,
    webhook_orders,
    whole,
)
from orderbridge.channels.shoprenter.settings import ShoprenterSettings
from orderbridge.errors import InvalidPayload, SettingsError
from orderbridge.orders import SkuMap, decide_status, line_rows

STATUS_15 = encode_id("orderStatus", "order_status_id", 15)


def settings(**extra) -> ShoprenterSettings:
    return ShoprenterSettings.from_extra({"shop": "demoshop", **extra}, "orderbridge_shoprenter_demo")


def polled(inner="172", status=1, **fields) -> dict:
    return {"id": encode_id("order", "order_id", inner), "innerId": inner, "firstname": "Teszt", "lastname": "Elek",
            "email": "a@b.hu", "shippingFirstname": "Teszt", "shippingLastname": "Elek", "shippingPostcode": "4028",
            "shippingCity": "Debrecen", "shippingAddress1": "Kassai 129", "shippingCountryName": "HU",
            "total": "4038.0000", "dateUpdated": "2026-11-30T10:00:00",
            "orderStatus": {"href": f"http://x/shoprenter/demoshop/orderStatuses/"
                                    f"{encode_id('orderStatus', 'order_status_id', status)}"},
            "orderProducts": [{"innerId": "1", "sku": "WH-1", "price": "2400.0000", "grossPrice": 3048,
                               "stock1": "1", "stock2": 2, "stock3": "0", "stock4": "0.0000"}], **fields}


def webhook(inner="172", status="15", added="2026-11-30T11:00:00") -> dict:
    return {"storeName": "demoshop", "innerId": inner, "firstname": "Teszt", "lastname": "Elek",
            "shippingFirstname": "Teszt", "shippingLastname": "Elek", "shippingPostcode": 4028,
            "shippingCity": "Debrecen", "shippingAddress1": "Kassai 129", "shippingCountryName": "HU",
            "totalGross": "4038", "orderHistory": {"status": status, "statusText": "Fizetve", "dateAdded": added},
            "orderProducts": {"orderProduct": [{"innerId": 1, "sku": "WH-1", "price": 2400, "quantity": "3"}]}}


def test_settings_default_hosts_follow_auth_and_guesses_are_settings():
    basic, oauth = settings(), settings(auth="oauth2")
    assert basic.api_base == "https://demoshop.api.myshoprenter.hu"
    assert oauth.api_base == "https://demoshop.api2.myshoprenter.hu/api"
    assert oauth.token_url == "https://oauth.app.shoprenter.net/demoshop/app/token"
    assert basic.paid_statuses == ["15"] and basic.quantity_fields == ["stock1", "stock2", "stock3", "stock4"]
    assert settings(paid_statuses=[15, "16"]).paid_statuses == ["15", "16"]


@pytest.mark.parametrize("extra, named", [
    ({"shop": "https://x.hu"}, "extra shop"), ({"limit": 500}, "extra limit"),
    ({"order_becomes": "invoice"}, "extra order_becomes"), ({"paid_statuses": ["Fizetve"]}, "paid_statuses"),
    ({"webhook_secret": "short"}, "webhook_secret"), ({"quantity_fields": ["stock9"]}, "quantity_fields"),
    ({"shop_rate_per_sec": 3}, "shop_rate_per_sec"),
])
def test_settings_refuse_bad_extras_naming_them(extra, named):
    with pytest.raises(SettingsError, match=named):
        settings(**extra)


def test_numbers_as_strings_or_ints():
    assert [whole(v, "x") for v in ("3", 3, "3.0000", None, "")] == [3, 3, 3, 0, 0]
    with pytest.raises(InvalidPayload, match="x is not a whole number"):
        whole("1.5", "x")
    with pytest.raises(InvalidPayload, match="x is not"):
        whole("three", "x")


def test_line_quantity_sums_the_configured_stock_fields():
    product = {"stock1": "1", "stock2": 2, "stock3": "0", "stock4": "4"}
    assert line_quantity(product, ("stock1", "stock2", "stock3", "stock4"), 0) == 7
    assert line_quantity(product, ("stock1",), 0) == 1
    assert line_quantity({**product, "quantity": "2"}, ("stock1",), 0) == 2  # the webhook's own quantity


def test_ids_and_paging_envelope():
    assert decode_id("b3JkZXItb3JkZXJfaWQ9MTcy") == ("order-order_id", "172")
    assert decode_id(f"http://h/orderStatuses/{STATUS_15}") == ("orderStatus-order_status_id", "15")
    with pytest.raises(InvalidPayload, match="not a Shoprenter id"):
        decode_id("!!")
    assert page_done({"next": None, "page": 0})
    assert not page_done({"next": {"href": "n"}, "page": "0", "pageCount": "2"})
    assert page_done({"next": {"href": "n"}, "page": "1", "pageCount": 2})  # pageCount wins over a stray next
    assert status_id(polled(status=5)) == "5" and status_id(webhook(status=15)) == "15"
    assert status_id({"innerId": "1"}) is None  # abandoned cart


def test_webhook_orders_refuse_other_shapes():
    assert [o["innerId"] for o in webhook_orders({"orders": {"order": [webhook("1"), webhook("2")]}})] == ["1", "2"]
    assert len(webhook_orders({"orders": {"order": webhook("1")}})) == 1
    for bad in ({}, {"orders": {"order": []}}, {"newsletter": {}}, {"orders": {"order": [{"innerId": "x"}]}}):
        with pytest.raises(InvalidPayload, match="data"):
            webhook_orders(bad)


def test_polled_order_maps_with_stock_fields_summed():
    order = ShoprenterMapper(settings()).to_order([(1, polled())])
    assert order.external_order_id == "172" and order.channel_status == "1"
    assert [(line.channel_sku, line.channel_quantity, line.unit_price) for line in order.lines] == \
        [("WH-1", 3, Decimal(3048))]
    assert (order.ship_city, order.ship_postcode, order.total) == ("Debrecen", "4028", Decimal("4038.0000"))
    assert decide_status(order, []) == ("ready", None)


def test_the_newest_payload_wins_whatever_landed_last():
    mapper = ShoprenterMapper(settings(order_becomes="awaiting_payment"))
    # The webhook (paid, 11:00) landed first; an overlapping poll re-lands the 10:00 state after it.
    order = mapper.to_order([(1, webhook(added="2026-11-30T11:00:00")), (2, polled(status=1))])
    assert order.raw_id == 1 and order.channel_status == "15" and order.hold is None


def test_order_becomes_awaiting_payment_until_a_paid_status_then_ready():
    mapper = ShoprenterMapper(settings(order_becomes="awaiting_payment", paid_statuses=["15"]))
    unpaid = mapper.to_order([(1, polled(status=1))])
    assert decide_status(unpaid, [])[0] == "awaiting_payment"
    paid = mapper.to_order([(1, polled(status=1)), (2, webhook(status="15"))])
    assert decide_status(paid, []) == ("ready", None)
    # An unknown SKU is still the more useful reason to give.
    assert decide_status(unpaid, ["X"])[0] == "awaiting_mapping"


def test_order_becomes_held_is_flagged_for_a_person_and_cancelled_status_cancels():
    held = ShoprenterMapper(settings(order_becomes="held")).to_order([(1, polled())])
    assert decide_status(held, [])[0] == "held" and "Resolution" in held.attention
    cancelled = ShoprenterMapper(settings()).to_order([(1, polled(status=7))])
    assert decide_status(cancelled, [])[0] == "cancelled"


def test_bad_order_is_invalid_naming_the_field():
    bad = polled()
    bad["orderProducts"][0].update(stock1="x")
    order = ShoprenterMapper(settings()).to_order([(1, bad)])
    assert decide_status(order, []) == ("invalid_payload", "orderProducts[0].stock1 is not a number: 'x'")
    empty = polled()
    empty["orderProducts"][0].update(stock1="0", stock2="0")
    assert "sum to 0" in ShoprenterMapper(settings()).to_order([(1, empty)]).invalid_reason


def test_accepted_status_is_enqueued_once_per_order_when_ready():
    mapper = ShoprenterMapper(settings(accepted_status="2"))
    order = mapper.to_order([(1, polled())])
    rows, unknown = line_rows(order, SkuMap(products=frozenset({"WH-1"})))
    (effect,) = mapper.acknowledgements(order, "ready")
    assert (effect.kind, effect.key, effect.payload["status"]) == ("accept", "172:2", "2")
    assert mapper.acknowledgements(order, "awaiting_mapping") == []
    already = mapper.to_order([(1, polled(status=2))])
    assert mapper.acknowledgements(already, "ready") == []
    assert unknown == []


def test_product_row_reads_group_price_and_stock():
    relations = [{"category": {"href": "http://x/categories/Y2F0ZWdvcnktY2F0ZWdvcnlfaWQ9MjAx",
                               "id": "Y2F0ZWdvcnktY2F0ZWdvcnlfaWQ9MjAx"}}]  # category-category_id=201
    item = {"sku": "WH-1", "innerId": "9", "price": "100.5000", "stock1": "2", "stock2": 1,
            "productCategoryRelations": relations, "productDescriptions": [{"name": "Egy"}]}
    row = product_row(item, settings(), {"Y2F0ZWdvcnktY2F0ZWdvcnlfaWQ9MjAx": "Könyv"})
    assert (row["sku"], row["name"], row["price"], row["group"], row["stock1"], row["stock2"]) == \
        ("WH-1", "Egy", Decimal("100.5000"), "Könyv", 2, 1)
    assert product_row(item, settings())["group"] == "201"  # a category the names lack: its innerId
    plain = product_row({**item, "productClass": {"name": "Könyv"}}, settings(group_field="productClass"))
    assert plain["group"] == "Könyv"
    with pytest.raises(InvalidPayload, match="sku is empty"):
        product_row({"innerId": "9"}, settings())


def test_the_channel_fills_the_contract_with_its_catalogue_task_before_stock():
    from orderbridge.channels.base import StockPolicy, iter_tasks
    from orderbridge.channels.shoprenter.channel import ShoprenterChannel

    channel = ShoprenterChannel()
    assert [t.task_id for t, _ in iter_tasks(channel)] == ["extract_orders", "load_staging", "send_accept",
                                                            "sync_catalogue", "push_stock"]
    assert channel.stock.policy is StockPolicy.ABSOLUTE and channel.stock.warehouses is not None
    assert channel.streams[0].external_id({"innerId": "172"}) == "172"


def test_a_webhook_country_name_in_the_shop_language_or_english_becomes_its_iso_code():
    from orderbridge.channels.shoprenter.mapping import country_code

    assert (country_code("Magyarország"), country_code("németország"), country_code("Austria")) == ("HU", "DE", "AT")
    assert country_code("Atlantisz") is None
    order = ShoprenterMapper(settings()).to_order([(1, {**polled(), "shippingCountry": None,
                                                         "shippingCountryName": "Szlovákia"})])
    assert order.ship_country == "SK"
