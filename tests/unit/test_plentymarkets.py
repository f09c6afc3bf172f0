"""plentymarkets: pure mapping, the status machine's answers, and settings from connection extras."""

from __future__ import annotations

from decimal import Decimal

import pytest

from orderbridge.errors import Permanent
from orderbridge.orders import CANCEL_REQUESTED, OPEN, RETURNED, SkuMap, decide_status, line_rows
from orderbridge.plentymarkets import PlentyMapper, PlentySettings, parse_status
from orderbridge.staging import _map_safely


def order(**over) -> dict:
    base = {
        "id": 630, "typeId": 1, "statusId": 5, "plentyId": 1000, "createdAt": "2026-11-20T10:15:00+01:00",
        "amounts": [{"isSystemCurrency": True, "currency": "EUR", "grossTotal": 158.9, "shippingCostsGross": 4.95}],
        "properties": [{"typeId": 2, "value": "6"}, {"typeId": 7, "value": "EXT-1"}],
        "addressRelations": [{"typeId": 1, "addressId": 32}, {"typeId": 2, "addressId": 33}],
        "addresses": [
            {"id": 32, "name2": "Rechnung", "name3": "Adresse", "address1": "Andere Str.", "address2": "1",
             "postalCode": "80331", "town": "München", "countryId": 1},
            {"id": 33, "name2": "Max", "name3": "Müller", "address1": "Hauptstr.", "address2": "5",
             "postalCode": "10115", "town": "Berlin", "countryId": 1, "email": "max@example.org"},
        ],
        "orderItems": [
            {"id": 744, "typeId": 1, "itemVariationId": 1012, "quantity": "2.0", "orderItemName": "Sessel",
             "variation": {"id": 1012, "number": "WH-1001"}, "amounts": [{"currency": "EUR", "priceGross": "75"}]},
            {"id": 745, "typeId": 6, "quantity": 1, "orderItemName": "Versand", "amounts": [{"priceGross": 4.95}]},
            {"id": 746, "typeId": 4, "quantity": 1, "orderItemName": "Gutschein", "amounts": [{"priceGross": -5}]},
        ],
    }
    base.update(over)
    return base


def test_delivery_address_products_only_and_numbers_as_strings():
    staged = PlentyMapper().to_order([(1, order())])
    assert (staged.ship_name, staged.ship_address1, staged.ship_city, staged.ship_postcode, staged.ship_country) == \
        ("Max Müller", "Hauptstr. 5", "Berlin", "10115", "DE")
    assert [(line.channel_line_id, line.channel_sku, line.channel_quantity, line.channel_product_id)
            for line in staged.lines] == [("744", "WH-1001", 2, "1012")]
    assert staged.shipping_total == Decimal("4.95") and staged.currency == "EUR"
    assert [o["typeId"] for o in staged.channel_data["otherItems"]] == [6, 4]
    assert staged.channel_data["shippingProfileId"] == "6" and staged.channel_state == OPEN


def test_billing_address_is_the_fallback_without_a_delivery_relation():
    staged = PlentyMapper().to_order([(1, order(addressRelations=[{"typeId": 1, "addressId": 32}]))])
    assert staged.ship_city == "München"


def test_the_latest_payload_wins_and_cancel_and_return_statuses_are_recognised():
    mapper = PlentyMapper()
    staged = mapper.to_order([(5, order(statusId=8)), (2, order())])
    assert staged.raw_id == 5 and staged.channel_state == CANCEL_REQUESTED
    assert mapper.to_order([(1, order(statusId="9.0"))]).channel_state == RETURNED
    assert mapper.to_order([(1, order(statusId=5.1))]).channel_status == "5.1"


@pytest.mark.parametrize("change, field", [
    ({"orderItems": [{"id": 1, "typeId": 1, "quantity": 1, "amounts": [{}]}]}, "variation.number"),
    ({"orderItems": [{"id": 1, "typeId": 1, "quantity": 1.5, "variation": {"number": "X"}}]}, "quantity"),
    ({"createdAt": "yesterday"}, "createdAt"),
    # numbers staging's columns cannot hold: quarantined here, not a failed batch INSERT later
    ({"orderItems": [{"id": 1, "typeId": 1, "quantity": 10**10, "variation": {"number": "X"}}]}, "quantity"),
    ({"amounts": [{"currency": "EUR", "grossTotal": "1e15"}]}, "grossTotal"),
    ({"amounts": [{"currency": "EUR", "grossTotal": "NaN"}]}, "grossTotal"),
    ({"orderItems": None}, "orderItems"),
])
def test_unreadable_orders_are_quarantined_naming_the_field(change, field):
    staged = _map_safely(PlentyMapper(), "630", [(1, order(**change))])
    assert staged.invalid_reason and field in staged.invalid_reason


def test_unknown_country_id_is_an_address_problem():
    staged = PlentyMapper().to_order([(1, order(addresses=[{**order()["addresses"][1], "countryId": 999}]))])
    assert decide_status(staged, []) == (
        "invalid_address", "address has no country (unknown code 'plentymarkets countryId 999')")


@pytest.mark.parametrize("status, expected", [
    ("ready", 5.1), ("invalid_address", 6.2), ("awaiting_stock", 6.3), ("cancelled", 8.8), ("cancel_refused", 8.8),
    ("awaiting_mapping", None), ("returned", None), ("invalid_payload", None),
])
def test_each_staging_outcome_answers_the_seed_status(status, expected):
    staged = PlentyMapper().to_order([(7, order())])
    effects = PlentyMapper().acknowledgements(staged, status)
    assert [e.payload["statusId"] for e in effects] == ([expected] if expected else [])
    if expected:
        assert effects[0].key == f"630:{expected}:7"  # one answer per payload version


def test_custom_status_ids_from_the_connection_are_used():
    settings = PlentySettings.from_extra({"status_fetch": "4", "status_transferred": 4.5, "warehouse_id": "3",
                                          "status_returns": "9.01"})
    assert settings.fetch_status == Decimal("4") and settings.warehouse_id == 3
    staged = PlentyMapper(settings).to_order([(1, order(statusId=9.01))])
    assert staged.channel_state == RETURNED
    assert PlentyMapper(settings).acknowledgements(staged, "ready")[0].payload["statusId"] == 4.5


def test_a_three_part_status_says_how_plenty_writes_it():
    with pytest.raises(Permanent, match="write 9.01"):
        parse_status("9.0.1", "status_returns")
    with pytest.raises(Permanent, match="whole number"):
        PlentySettings.from_extra({"warehouse_id": "main"})


def test_stock_shortage_holds_the_order_and_names_the_sku():
    staged = PlentyMapper().to_order([(1, order())])
    rows, unknown = line_rows(staged, SkuMap(products=frozenset({"WH-1001"})))
    from orderbridge.orders import stock_shortage

    assert stock_shortage(rows, {"WH-1001": 1}) == "not enough stock: WH-1001 needs 2, 1 available"
    assert decide_status(staged, unknown, stock_shortage(rows, {"WH-1001": 2})) == ("ready", None)
