"""Merkana's pure parts: field names, settings, request checks, the mapper, the stock handler."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal

import pytest

from merkana_support import collection_bodies, collection_texts, strip_comments
from orderbridge.channels.merkana.fields import Fields
from orderbridge.channels.merkana.mapping import MerkanaMapper, OrderCreate, parse, parse_product_sync
from orderbridge.channels.merkana.settings import PlatformSettings, account_name, merchant_of
from orderbridge.channels.merkana.writeback import stock_handler
from orderbridge.errors import InvalidPayload, Permanent
from orderbridge.orders import SkuMap, decide_status, line_rows
from orderbridge.outbox import OutboxRow

ORDER = collection_bodies()["order_create"]


def settings(**extra) -> PlatformSettings:
    return PlatformSettings.from_extra("demo", "orderbridge_merkana_demo", extra)


def test_comments_are_removed_outside_strings_only():
    text = '{"a": "https: //x.example/y", // note\r\n "b": "say \\"//\\" here" // more\n}'
    assert json.loads(strip_comments(text)) == {"a": "https: //x.example/y", "b": 'say "//" here'}
    texts = collection_texts()
    assert "//" not in texts["stock"] and "https: //clients" in texts["product_sync"]
    assert "\\u0442\\u0442" in texts["order_create"]  # escapes travel as the platform wrote them


def test_the_collection_order_maps_to_a_staged_order():
    order = MerkanaMapper(settings(unknown_product_sku="UNKNOWN-{mid}")).to_order([(7, ORDER)])
    assert (order.external_order_id, order.raw_id, order.channel_status) == ("40103", 7, "create")
    assert (order.total, order.currency, order.ship_country) == (Decimal("77.7"), "BGN", "BG")
    assert (order.ship_name, order.ship_address1, order.ship_city, order.ship_postcode) == (
        "Tihomir Sokolov", "бул. Братя Бъкстон, 33", "София", "1000")
    assert order.customer_email == "tihomir.sokolov@gmail.com" and order.ship_phone == "0899196290"
    assert [(ln.channel_line_id, ln.channel_sku, ln.channel_quantity) for ln in order.lines] == [
        ("1", "7563", 1), ("2", "9047", 1), ("3", "41705", 1)]
    assert {ln.fallback_sku for ln in order.lines} == {"UNKNOWN-4755"}
    data = order.channel_data
    assert data["mid"] == "4755" and data["unknownproductid"] == "1"
    assert (data["payment_method"], data["cod"], data["cod_amount"], data["insurance"]) == ("COD", True, "77.7", "77")
    assert (data["customer_note"], data["company"], data["shipping_instructions"]) == ("call me", "тт", "black door")
    assert data["url_factura"] == "https://api.mercoria.com/storage/invoice/XXXXXX/953-14.pdf"
    assert "ff_note" not in data and "awb" not in data  # null in the seed: not stored


def test_unknown_skus_go_onto_the_merchants_unknown_product_and_flag_the_order():
    order = MerkanaMapper(settings()).to_order([(1, ORDER)])  # default: the id Merkana sends is our SKU
    rows, unknown = line_rows(order, SkuMap(products=frozenset({"7563", "9047", "1"})))
    assert unknown == [] and [r[3] for r in rows] == ["7563", "9047", "1"]
    assert order.attention == "unknown SKU(s) put on the merchant's unknown product: 41705 -> 1"
    assert decide_status(order, unknown) == ("ready", None)
    without = MerkanaMapper(settings()).to_order([(1, {k: v for k, v in ORDER.items() if k != "unknownproductid"})])
    _, unknown = line_rows(without, SkuMap(products=frozenset({"7563", "9047"})))
    assert decide_status(without, unknown)[0] == "awaiting_mapping"


def test_an_order_to_a_courier_office_needs_no_street_and_cash_only_when_cod():
    body = json.loads(json.dumps(ORDER))
    body["shipping"]["shipping_street"] = ""
    body["payment_method"] = "online"
    order = MerkanaMapper(settings()).to_order([(1, body)])
    assert order.ship_address1 == "econt office 1085"
    assert order.channel_data["cod"] is False and "cod_amount" not in order.channel_data
    assert order.channel_data["payment_method"] == "ONLINE"


@pytest.mark.parametrize(("change", "message"), [
    ({"line_items": [{"sku": "A", "quantity": 1.5}]},
     "line_items[0].quantity: Input should be a valid integer, got a number with a fractional part"),
    ({"line_items": [{"sku": "A", "quantity": True}]}, "line_items[0].quantity: must be a whole number"),
    ({"line_items": [{"sku": None, "quantity": 1}]}, "line_items[0].sku: must be a number or a non-empty string"),
    ({"insurance": -1}, "insurance: Input should be greater than or equal to 0"),
    ({"shipping": None}, "shipping: must be a JSON object"),
    ({"id": {"x": 1}}, "id: must be a number or a non-empty string"),
])
def test_a_bad_field_is_named(change, message):
    with pytest.raises(InvalidPayload) as err:
        parse(OrderCreate, {**ORDER, **change}, Fields())
    assert str(err.value) == message


def test_many_bad_fields_are_named_up_to_five():
    body = {"mid": None, "id": None, "shipping": [], "line_items": "x", "total": "a", "currency": 1, "insurance": "b"}
    with pytest.raises(InvalidPayload, match=r"^mid: .*; .* \(and 2 more\)$"):
        parse(OrderCreate, body, Fields())


def test_renamed_fields_are_read_written_and_named_in_the_platforms_words():
    fields = Fields({"id": "order_id", "quantity": "qty", "br": "count"})
    body = {**{k: v for k, v in ORDER.items() if k != "id"}, "order_id": 1, "id": "a stray key",
            "line_items": [{"sku": "A", "qty": 0}]}
    with pytest.raises(InvalidPayload, match=r"^line_items\[0\]\.qty: "):
        parse(OrderCreate, body, fields)
    body["line_items"][0]["qty"] = 2
    order = parse(OrderCreate, body, fields)
    assert (order.id, order.line_items[0].quantity) == ("1", 2)  # the renamed field wins over the stray key
    assert fields.to_wire({"mid": 1, "products": [{"sku": "A", "br": -2}]}) == {
        "mid": 1, "products": [{"sku": "A", "count": -2}]}


@pytest.mark.parametrize(("names", "why"), [({"nope": "x"}, "unknown field"), ({"id": "mid"}, "same wire name"),
                                            ({"id": ""}, "non-empty")])
def test_bad_field_name_mappings_are_refused(names, why):
    with pytest.raises(ValueError, match=why):
        Fields(names)


def test_settings_from_the_connection():
    s = settings(merchants={"293": {"unknown_product_sku": "U-293"}, "4755": {}}, unknown_product_sku="X-{mid}",
                 stock_mode="absolute", status_values={"shipped": "shipped"})
    assert s.unknown_sku("293", "1") == "U-293" and s.unknown_sku("4755", "9") == "X-4755"
    assert s.unknown_sku("4755", None) is None
    assert s.accepts("293") and not s.accepts("1")
    assert settings().accepts("anything")
    assert s.status_values["shipped"] == "shipped" and s.status_values["in_progress"] == "processing"
    assert settings(merchants=[293]).accepts("293")
    assert merchant_of(account_name("demo", "293")) == "293"
    assert settings().retry_delay == timedelta(minutes=10)  # the seed's policy
    assert settings(retry_delay_seconds="0.5").retry_delay == timedelta(seconds=0.5)
    for bad in ({"stock_mode": "levels"}, {"merchants": "293"}, {"unknown_product_sku": "{sku}"},
                {"field_names": {"x": "y"}}, {"status_values": ["send"]}, {"max_body_bytes": 0},
                {"retry_delay_seconds": -1}, {"retry_delay_seconds": "soon"}, {"retry_delay_seconds": "nan"}):
        with pytest.raises(Permanent, match="Resolution"):
            settings(**bad)


def test_whose_stock_a_merchant_sells_and_how_held_orders_are_reported():
    assert settings().stock_mode == "absolute"  # a post sent again after a lost answer changes nothing
    assert (settings().owner("293"), settings().problem_status) == ("293", "problem")
    s = settings(stock_owner="", problem_status="", merchants={"293": {"stock_owner": "acme-{mid}"}, "4755": {}})
    assert (s.owner("293"), s.owner("4755"), s.problem_status) == ("acme-293", "", None)
    for bad in ({"stock_owner": "{sku}"}, {"merchants": {"293": {"stock_owner": "{unknownproductid}"}}}):
        with pytest.raises(Permanent, match="stock_owner may only use"):
            settings(**bad)


def test_product_sync_needs_unique_skus():
    sync = parse_product_sync(collection_bodies()["product_sync"], Fields())
    assert (sync.mid, sync.products[0].id, sync.products[0].sku) == ("293", "123", "SKU-123")


class _Client:
    def __init__(self, mode: str):
        self.settings, self.posts = settings(stock_mode=mode), []

    def supplies(self, mid, products):
        self.posts.append((mid, products))


@pytest.mark.parametrize(("mode", "posted"), [
    ("delta", [("293", [{"sku": "A", "br": -3}, {"sku": "B", "br": 4}])]),
    ("absolute", [("293", [{"sku": "A", "br": 7}, {"sku": "B", "br": 4}, {"sku": "C", "br": 5}])]),
])
def test_stock_rows_become_one_post_of_deltas_or_levels(mode, posted):
    client = _Client(mode)
    rows = [OutboxRow(1, None, None, {"channel_sku": "A", "quantity": 7, "confirmed": 10}, 0),
            OutboxRow(2, None, None, {"channel_sku": "B", "quantity": 4, "confirmed": None}, 0),
            OutboxRow(3, None, None, {"channel_sku": "C", "quantity": 5, "confirmed": 5}, 0)]
    outcomes = stock_handler(client, "demo/293")(rows)
    assert client.posts == posted
    assert {o.status for o in outcomes.values()} == {"sent"}
    assert outcomes[1].detail["br"] == (-3 if mode == "delta" else 7)
