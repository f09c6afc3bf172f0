"""Pure SKU resolution (``orders.SkuMap``): kits whose components are the channel's own SKUs."""

import pytest

from orderbridge.orders import SkuMap, line_rows, parse_kit_spec
from orderbridge.stock import offer

SKUS = SkuMap(products=frozenset({"WH-1", "WH-2", "WH-3"}), aliases={"GG-A": "WH-2"},
              bundles={"GG-B": [("WH-1", 1), ("WH-3", 2)]})


def test_a_kit_component_resolves_through_its_alias():
    assert SKUS.resolve("GG-KIT", "3xGG-A") == [("WH-2", 3)]
    assert SKUS.resolve("GG-KIT", "2xWH-1,1xGG-A") == [("WH-1", 2), ("WH-2", 1)]


def test_a_kit_component_that_is_a_bundle_expands_into_the_bundle_parts():
    assert SKUS.resolve("GG-KIT", "2xGG-B") == [("WH-1", 2), ("WH-3", 4)]


def test_kit_components_reaching_the_same_warehouse_sku_are_one_part_and_stock_offers_what_the_kit_needs():
    parts = SKUS.resolve("GG-KIT", "1xWH-1+1xGG-B")
    assert parts == [("WH-1", 2), ("WH-3", 2)]
    assert offer(parts, {"WH-1": 5, "WH-3": 9}) == 2  # 5 // 2: two parts of WH-1 per kit, not one


@pytest.mark.parametrize("spec", ["2xGG-A,1xGG-NOPE", "1xGG-NOPE", "2xWH-404"])
def test_a_kit_with_a_component_nothing_maps_stays_unmapped(spec):
    assert SKUS.resolve("GG-KIT", spec) is None


def test_the_kit_sku_own_mapping_still_wins_over_its_kit_spec():
    skus = SkuMap(products=frozenset({"WH-1", "WH-2"}), aliases={"GG-KIT": "WH-1", "GG-A": "WH-2"})
    assert skus.resolve("GG-KIT", "3xGG-A") == [("WH-1", 1)]


def test_kit_specs_parse_in_every_separator_and_refuse_anything_else():
    assert parse_kit_spec("2xSKU-A, 1xSKU-B;3xSKU-C+1xSKU-D") == [("SKU-A", 2), ("SKU-B", 1), ("SKU-C", 3),
                                                                  ("SKU-D", 1)]
    assert parse_kit_spec("3xSKU-F") == [("SKU-F", 3)]
    for bad in (None, "", " ", "SKU-A", "0xSKU-A", "2x", "2xA,,1xB"):
        assert parse_kit_spec(bad) is None


def test_a_held_kit_names_the_component_to_map_not_the_kit():
    from orderbridge.channels.groupon.mapping import GrouponMapper

    entry = {"orderid": "K-1", "customer": {"address1": "1 St", "city": "London", "zip": "N1", "country": "UK"},
             "line_items": [{"ci_lineitemid": 1, "sku": "GG-KIT", "quantity": 1, "bom_sku": "3xGG-9013,1xWH-1"}]}
    order = GrouponMapper().to_order([(1, entry)])
    _rows, unknown = line_rows(order, SkuMap(products=frozenset({"WH-1"})))
    assert unknown == ["GG-KIT (kit 3xGG-9013,1xWH-1: map GG-9013)"]


@pytest.mark.parametrize("spec", ["²xWH-1005", "9" * 5000 + "xWH-1005", "0xWH-1"])
def test_kit_specs_staging_cannot_hold_are_not_kits(spec):
    assert parse_kit_spec(spec) is None


def test_amounts_with_more_places_than_staging_can_read_are_rounded():
    from decimal import Decimal

    from orderbridge.orders import parse_decimal

    assert parse_decimal("10.99", "unit_price") == parse_decimal("1.099E1", "unit_price")
    assert parse_decimal("1E-1000000000000000000", "unit_price") == 0
    assert parse_decimal(0.1 + 0.2, "unit_price") == Decimal("0.3000000000")
