"""plentymarkets: pure mapping of orders and return orders, the status machine's answers, settings
from connection extras, and the order reads the client sends."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from orderbridge.channels.plentymarkets.client import PlentyClient
from orderbridge.channels.plentymarkets.mapping import PlentyMapper
from orderbridge.channels.plentymarkets.return_mapping import ReturnLine
from orderbridge.channels.plentymarkets.settings import PlentySettings, parse_status
from orderbridge.errors import InvalidPayload, Permanent
from orderbridge.orders import CANCEL_REQUESTED, OPEN, SkuMap, decide_status, line_rows
from orderbridge.staging import _map_safely
from orderbridge.window import Window


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


def test_the_latest_payload_wins_and_the_cancel_status_is_recognised():
    mapper = PlentyMapper()
    staged = mapper.to_order([(5, order(statusId=8)), (2, order())])
    assert staged.raw_id == 5 and staged.channel_state == CANCEL_REQUESTED
    assert mapper.to_order([(1, order(statusId=5.1))]).channel_status == "5.1"
    # A sales order in 9 is not a return (returns are return orders of their own, typeId 3).
    assert mapper.to_order([(1, order(statusId="9.0"))]).channel_state == OPEN


@pytest.mark.parametrize("change, field", [
    ({"orderItems": [{"id": 1, "typeId": 1, "quantity": 1, "amounts": [{}]}]}, "variation.number"),
    ({"orderItems": [{"id": 1, "typeId": 1, "quantity": 1.5, "variation": {"number": "X"}}]}, "quantity"),
    ({"createdAt": "yesterday"}, "createdAt"),
    # numbers staging's columns cannot hold: quarantined here, not a failed batch INSERT later
    ({"orderItems": [{"id": 1, "typeId": 1, "quantity": 10**10, "variation": {"number": "X"}}]}, "quantity"),
    ({"amounts": [{"currency": "EUR", "grossTotal": "1e15"}]}, "grossTotal"),
    ({"amounts": [{"currency": "EUR", "grossTotal": "NaN"}]}, "grossTotal"),
    ({"orderItems": None}, "orderItems"),
    # wrongly typed fields are refused naming the field, never a bare TypeError or AttributeError
    ({"addresses": 7}, "addresses"), ({"addresses": [5]}, "addresses[0]"), ({"addresses": "Berlin"}, "addresses"),
    ({"addressRelations": 3}, "addressRelations"), ({"addressRelations": [None]}, "addressRelations[0]"),
    ({"addressRelations": [{"typeId": 2, "addressId": {"id": 33}}]}, "addressRelations[0].addressId"),
    ({"addresses": [{"id": 33, "town": ["Berlin"]}]}, "addresses[0].town"),
    ({"addresses": [{"id": [33]}]}, "addresses[0].id"),
    ({"properties": 5}, "properties"), ({"properties": "6"}, "properties"), ({"properties": [3]}, "properties[0]"),
    ({"properties": [{"typeId": 2, "value": {"id": 6}}]}, "properties[0].value"),
    ({"amounts": 0}, "amounts"), ({"amounts": {"grossTotal": 1}}, "amounts"), ({"amounts": [1]}, "amounts[0]"),
    ({"orderItems": 5}, "orderItems"), ({"orderItems": [7]}, "orderItems[0]"),
    ({"orderItems": [{"id": 1, "typeId": 1, "quantity": 1, "variation": 5}]}, "orderItems[0].variation"),
    ({"orderItems": [{"id": 1, "typeId": 1, "quantity": 1, "variation": {"number": ["X"]}}]}, "variation.number"),
    ({"orderItems": [{"id": {}, "typeId": 1, "quantity": 1, "variation": {"number": "X"}}]}, "orderItems[0].id"),
    ({"orderItems": [{"id": 1, "typeId": [1], "quantity": 1}]}, "orderItems[0].typeId"),
    ({"statusName": {"de": "x"}}, "statusName"), ({"plentyId": [1000]}, "plentyId"), ({"id": {"a": 1}}, "id"),
    ({"typeId": 3}, "typeId"),  # a return order read as a sales order is refused, never staged to ship
])
def test_unreadable_orders_are_quarantined_naming_the_field(change, field):
    staged = _map_safely(PlentyMapper(), "630", [(1, order(**change))])
    assert staged.invalid_reason and field in staged.invalid_reason and "payload not understood" not in \
        staged.invalid_reason, staged.invalid_reason


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
    # status_returns (the status-9 returns queue) is read by nothing any more; an old connection still works
    settings = PlentySettings.from_extra({"status_fetch": "4", "status_transferred": 4.5, "warehouse_id": "3",
                                          "status_returns": "9.01"})
    assert settings.fetch_status == Decimal("4") and settings.warehouse_id == 3
    assert not hasattr(settings, "returns_status")
    staged = PlentyMapper(settings).to_order([(1, order(statusId=9.01))])
    assert staged.channel_state == OPEN
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


# -- return orders ----------------------------------------------------------------------------------------------

def return_order(**over) -> dict:
    """Return order 901 of sales order 630 (B6/B7): two of item 744 back, and the shipping costs refunded."""
    base = {
        "id": 901, "typeId": 3, "statusId": 9, "statusName": "[9] Retoure", "createdAt": "2026-11-25T09:00:00+01:00",
        "properties": [{"typeId": 1, "value": "1"}],
        "orderReferences": [{"orderId": 901, "originOrderId": 630, "referenceOrderId": 630, "referenceType": "parent"}],
        "orderItems": [
            {"id": 950, "typeId": 1, "itemVariationId": 1012, "quantity": 2.0, "variation": {"id": 1012, "number":
             "WH-1001"}, "references": [{"orderItemId": 950, "referenceOrderItemId": 744, "referenceType": "parent"}]},
            {"id": 951, "typeId": 6, "quantity": 1, "orderItemName": "Versand", "amounts": [{"priceGross": 4.95}]},
        ],
    }
    base.update(over)
    return base


def test_a_return_order_is_read_per_line_with_the_sales_order_and_line_it_returns():
    ret = PlentyMapper().to_return([(3, return_order(statusId=9.1)), (1, return_order())])
    assert (ret.external_return_id, ret.external_order_id, ret.raw_id, ret.channel_status) == ("901", "630", 3, "9.1")
    assert ret.lines == [ReturnLine("950", "744", "WH-1001", "1012", 2)]
    assert ret.detail["otherItems"] == [{"typeId": 6, "name": "Versand", "amount": "4.95"}]
    assert ret.detail["warehouseId"] == "1" and ret.invalid_reason is None


def test_a_returned_item_without_a_reference_is_matched_later_and_origin_is_the_fallback_parent():
    items = [{"id": 950, "typeId": "1", "itemVariationId": 1012, "quantity": "1", "variation": {"number": "WH-1001"}}]
    ret = PlentyMapper().to_return([(1, return_order(
        orderItems=items, orderReferences=[{"originOrderId": "630", "referenceType": "parent"}]))])
    assert ret.external_order_id == "630" and ret.lines == [ReturnLine("950", None, "WH-1001", "1012", 1)]


@pytest.mark.parametrize("change, field", [
    ({"orderReferences": []}, "orderReferences"), ({"orderReferences": 5}, "orderReferences"),
    ({"orderReferences": [7]}, "orderReferences[0]"),
    ({"orderReferences": [{"referenceType": "parent", "referenceOrderId": [630]}]},
     "orderReferences[0].referenceOrderId"),
    ({"orderReferences": [{"referenceType": {"x": 1}}]}, "orderReferences[0].referenceType"),
    ({"typeId": 1}, "typeId"), ({"id": None}, "id"), ({"orderItems": None}, "orderItems"),
    ({"orderItems": "items"}, "orderItems"), ({"orderItems": [{"id": 1, "typeId": 6, "quantity": 1}]}, "orderItems"),
    ({"orderItems": [{"id": 1, "typeId": 1, "quantity": 1.5}]}, "orderItems[0].quantity"),
    ({"orderItems": [{"id": 1, "typeId": 1, "quantity": 1, "references": 5}]}, "orderItems[0].references"),
    ({"orderItems": [{"id": 1, "typeId": 1, "quantity": 1, "variation": []}]}, "orderItems[0].variation"),
    ({"orderItems": [{"id": 1, "typeId": 1, "quantity": 1}, {"id": 1, "typeId": 1, "quantity": 2}]},
     "orderItems[1].id"),
    ({"statusId": "9.0.1"}, "statusId"), ({"properties": {"1": "1"}}, "properties"),
])
def test_an_unreadable_return_order_is_refused_naming_the_field(change, field):
    with pytest.raises(InvalidPayload, match=field.replace("[", r"\[").replace("]", r"\]")):
        PlentyMapper().to_return([(1, return_order(**change))])


# -- the order reads the client sends ------------------------------------------------------------------------

@pytest.fixture
def client(monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_ORDERBRIDGE_PLENTYMARKETS_UNIT", json.dumps({
        "conn_type": "http", "host": "plenty.example", "schema": "https", "login": "u", "password": "p",
        "extra": {"items_per_page": 2}}))
    client = PlentyClient("orderbridge_plentymarkets_unit", "unit")
    calls = []

    def call(method, path, params=None, **kwargs):
        calls.append(params)
        page = int(dict(params)["page"])
        return {"page": page, "isLastPage": page == 2, "lastPageNumber": 2, "entries": [{"id": page}]}

    monkeypatch.setattr(client, "call", call)
    return client, calls


def test_sales_orders_and_return_orders_are_read_with_their_own_type_filter(client):
    client, calls = client
    window = Window(datetime(2026, 11, 20, 12, tzinfo=UTC), datetime(2026, 11, 20, 12, 10, 0, 500, tzinfo=UTC))
    assert [e["id"] for page in client.iter_returns(window) for e in page] == [1, 2]
    assert calls[0] == [("orderType", "3"), ("itemsPerPage", "2"), ("sortBy", "id"), ("sortOrder", "asc"),
                        ("with[]", "orderItems.variation"), ("warehouseId", "1"),
                        ("updatedAtFrom", "2026-11-20T12:00:00+00:00"),
                        ("updatedAtTo", "2026-11-20T12:10:01+00:00"), ("page", "1")]
    assert calls[1][-1] == ("page", "2")
    list(client.iter_orders(5, 5))
    assert [v for k, v in calls[2] if k in ("statusFrom", "statusTo", "orderType")] == ["5", "5", "1"]
    assert ("with[]", "addresses") in calls[2] and not any(k.startswith("updatedAt") for k, _ in calls[2])


@pytest.mark.parametrize(("body", "row_only"), [
    ({"error": {"message": "The order with ID 4711 could not be found.", "code": 0}}, True),
    ({"error": {"message": "The warehouse with ID 9 could not be found.", "code": 0}}, False),
    ("<html>Not Found</html>", False),
])
def test_only_a_deleted_order_refuses_just_its_write_back(body, row_only):
    import json as _json

    import requests

    from orderbridge.channels.plentymarkets.client import PlentyClient

    response = requests.Response()
    response.status_code = 404
    response._content = (_json.dumps(body) if isinstance(body, dict) else body).encode()
    assert PlentyClient._unknown_record(None, response) is row_only


@pytest.mark.parametrize(("start_minute", "due"), [(0, False), (40, False), (50, True)])
def test_the_catalogue_is_read_in_the_run_whose_interval_holds_the_hour(start_minute, due):
    from orderbridge.channels.base import Run
    from orderbridge.channels.registry import get

    start = datetime(2026, 11, 20, 12, start_minute, tzinfo=UTC)
    sync = get("plentymarkets").catalogue
    assert sync.due(Run("r", "scheduled", start, start + timedelta(minutes=10))) is due
    assert sync.due(Run("r", "manual")) is True  # no interval: a person asked for it
    # one run of every hour's six back-to-back intervals
    hour = datetime(2026, 11, 20, 12, tzinfo=UTC)
    runs = [Run("r", "scheduled", hour + timedelta(minutes=m), hour + timedelta(minutes=m + 10))
            for m in range(0, 60, 10)]
    assert sum(sync.due(r) for r in runs) == 1


def test_the_dag_skips_a_catalogue_run_without_skipping_stock():
    from orderbridge.channels.base import iter_tasks
    from orderbridge.channels.registry import get

    tasks = {task.task_id: (task, upstream) for task, upstream in iter_tasks(get("plentymarkets"))}
    assert tasks["push_stock"][1] == ("sync_catalogue",)
    assert tasks["push_stock"][0].options == {"trigger_rule": "none_failed"}
    assert "return_status" in get("plentymarkets").writebacks and "send_return_status" in tasks


@pytest.mark.parametrize(("variation", "expected"), [
    ({"id": 3401, "number": "WH-1022", "name": "Lamp"}, ("WH-1022", "3401", "Lamp")),
    ({"id": "3401", "number": " WH-1022 ", "name": ""}, ("WH-1022", "3401", None)),
    ({"id": 3401.0, "number": "WH-1022"}, ("WH-1022", "3401", None)),
    ({"id": 3401, "number": ""}, None),  # no number: nothing could map it
])
def test_a_variation_is_a_catalogue_listing_by_its_number(variation, expected):
    from orderbridge.channels.plentymarkets.mapping import catalogue_product

    product = catalogue_product(variation)
    assert (product and (product.channel_sku, product.external_product_id, product.name)) == expected


@pytest.mark.parametrize(("variation", "field"), [
    (["WH-1022"], "variation"), ({"id": "x1", "number": "WH-1"}, "id"), ({"id": 1, "number": {"a": 1}}, "number"),
])
def test_an_unreadable_variation_is_refused_naming_the_field(variation, field):
    from orderbridge.channels.plentymarkets.mapping import catalogue_product

    with pytest.raises(InvalidPayload, match=rf"^{field}\b"):
        catalogue_product(variation)
