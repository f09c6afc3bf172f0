"""Pure mapping of plentymarkets orders and return orders, and the status each staging outcome sends back.

An order (B6) has its delivery address by reference: ``addressRelations[typeId=2].addressId``
points into ``addresses[]`` (type 1, billing, is the fallback). Only ``orderItems`` of type 1 are
products; their SKU is ``variation.number`` (requested with ``with[]=orderItems.variation``);
shipping costs (type 6), coupons (4) and surcharges are kept in ``channel_data`` and totals.
Quantities and ids may arrive as strings or floats (``1.0``); both are read. A field of the wrong
JSON type (a number where a list of objects belongs, an object where text does) quarantines the
order with a reason naming the field, never with a bare ``TypeError``.

A return is an order of its own (typeId 3, B6/B7) that points at its sales order through
``orderReferences`` (referenceType ``parent``); ``to_return`` reads what comes back, per line.
Sales orders are read with ``to_order``, which refuses any other order type: a return is never
mapped as an order to ship.

The status machine (seed 003) lives in ``PlentyMapper.acknowledgements``: ready -> 5.1, bad
address -> 6.2, not enough stock -> 6.3, cancelled (or refused because the warehouse started)
-> 8.8. An order whose SKU nobody has mapped stays in 5 on plenty: it is in staging as
``awaiting_mapping``, is re-checked every run, and gets 5.1 once mapped.
"""

from __future__ import annotations

import csv
from datetime import datetime
from decimal import Decimal, InvalidOperation
from functools import cache
from importlib import resources
from typing import Any

from orderbridge.channels.base import CatalogueProduct
from orderbridge.channels.plentymarkets.settings import PlentySettings, parse_status, status_json
from orderbridge.errors import InvalidPayload, Permanent
from orderbridge.orders import (
    CANCEL_REQUESTED,
    MAX_QUANTITY,
    OPEN,
    StagedLine,
    StagedOrder,
    parse_decimal,
    refuse,
    text_field,
)
from orderbridge.outbox import Effect

CHANNEL = "plentymarkets"
STATUS, SHIPMENT, STOCK = "status", "tracking", "stock"
SALES_ORDER, RETURN_ORDER = 1, 3
VARIATION_ITEM, SHIPPING_COSTS_ITEM = 1, 6
BILLING, DELIVERY = 1, 2
WAREHOUSE, SHIPPING_PROFILE, PAYMENT_METHOD, EXTERNAL_ORDER_ID = 1, 2, 3, 7
ADDRESS_TEXT = ("name1", "name2", "name3", "name4", "address1", "address2", "address3", "town", "postalCode",
                "email", "phone")


@cache
def plenty_countries() -> dict[int, str]:
    """plentymarkets countryId -> ISO 3166 alpha-2 (data/plenty_countries.csv)."""
    text = resources.files("orderbridge.data").joinpath("plenty_countries.csv").read_text(encoding="utf-8")
    rows = csv.DictReader(line for line in text.splitlines() if line.strip() and not line.startswith("#"))
    return {int(row["country_id"]): row["iso2"].strip() for row in rows}


def _quantity(value, field: str) -> int:
    qty = parse_decimal(value, field)
    if qty is None or qty != qty.to_integral() or not 1 <= qty <= MAX_QUANTITY:
        raise InvalidPayload(f"{field} is not a whole positive quantity: {value!r}")
    return int(qty)


def _when(value, field: str) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value))
    except ValueError as err:
        raise InvalidPayload(f"{field} is not a W3C date: {value!r}") from err


def _objects(value, field: str) -> list[dict]:
    """A list-of-objects field (``addresses``, ``properties`` ...); [] when absent. Raises ``InvalidPayload``
    naming the field for anything but a list of objects."""
    if value is None:
        return []
    if not isinstance(value, list):
        refuse(field, "a list of objects", value)
    for index, item in enumerate(value):
        if not isinstance(item, dict):
            refuse(f"{field}[{index}]", "an object", item)
    return value


def _scalar(value, field: str):
    """An id, type or property value: a number or text, returned as sent; anything else is refused."""
    if value is None or (isinstance(value, str | int | float) and not isinstance(value, bool)):
        return value
    return refuse(field, "a number or text", value)


def _is_type(value, wanted: int, field: str) -> bool:
    """Whether a ``typeId`` (1, 1.0, "1") is ``wanted``."""
    value = _scalar(value, field)
    try:
        return value is not None and Decimal(str(value).strip()) == wanted
    except InvalidOperation:
        return False


def _properties(order: dict) -> dict[str, Any]:
    """The order's ``properties`` as typeId -> value (the first of each type)."""
    found: dict[str, Any] = {}
    for index, prop in enumerate(_objects(order.get("properties"), "properties")):
        type_id = _scalar(prop.get("typeId"), f"properties[{index}].typeId")
        found.setdefault(str(type_id), _scalar(prop.get("value"), f"properties[{index}].value"))
    return found


def delivery_address(order: dict) -> dict:
    """The delivery address (relation type 2), else the billing one, with only the fields the mapper
    reads, each checked; {} when there is none.

    Raises:
        InvalidPayload: ``addressRelations``, ``addresses`` or a field read from them has the wrong type.
    """
    by_type = {}
    for index, relation in enumerate(_objects(order.get("addressRelations"), "addressRelations")):
        type_id = _scalar(relation.get("typeId"), f"addressRelations[{index}].typeId")
        by_type[str(type_id)] = _scalar(relation.get("addressId"), f"addressRelations[{index}].addressId")
    addresses = {}
    for index, address in enumerate(_objects(order.get("addresses"), "addresses")):
        addresses.setdefault(str(_scalar(address.get("id"), f"addresses[{index}].id")), (index, address))
    for type_id in (DELIVERY, BILLING):
        address_id = by_type.get(str(type_id))
        if address_id is not None and str(address_id) in addresses:
            index, address = addresses[str(address_id)]
            where = f"addresses[{index}]"
            read = {k: text_field(address.get(k), f"{where}.{k}") for k in ADDRESS_TEXT}
            read["countryId"] = _scalar(address.get("countryId"), f"{where}.countryId")
            return read
    return {}


def _country(country_id) -> str | None:
    """ISO code for a plenty countryId; an unknown id is kept, named, so the address check says which."""
    if country_id in (None, ""):
        return None
    text = str(country_id).strip()
    # ASCII digits only: "²".isdigit() is true but int("²") fails, and int() refuses 4300+ digits.
    code = plenty_countries().get(int(text)) if text.isascii() and text.isdigit() and len(text) < 10 else None
    return code or f"plentymarkets countryId {country_id}"


def _first(values, field: str) -> dict:
    """The first object of a list field such as ``amounts`` ({} when empty)."""
    if values in (None, "", []):
        return {}
    if not isinstance(values, list) or not isinstance(values[0], dict):
        refuse(field, "a list of objects", values)
    return values[0]


def _status(value) -> Decimal:
    """The order's ``statusId``; a value that is no status quarantines the order (parse_status raises
    ``Permanent``, meant for configuration, which would stop the whole channel's load)."""
    try:
        status = parse_status(value, "statusId")
    except Permanent as err:
        raise InvalidPayload(str(err)) from None
    except InvalidOperation:  # "sNaN" parses, then signals when parse_status compares it
        refuse("statusId", "a plentymarkets status id", value)
    if not status.is_finite():
        refuse("statusId", "a plentymarkets status id", value)
    return status


def _order_id(value) -> str:
    """A sales order's ``id``: a whole number (630, "630", 630.0). The status answer sends it back as a
    number (``acknowledgements``), so anything else is refused here, naming ``id``, not at load."""
    value = _scalar(value, "id")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip()
    if not (text.isascii() and text.isdigit() and len(text) < 19):
        refuse("id", "a plentymarkets order id (a whole number)", value)
    return text


def _order_items(order: dict) -> list[dict]:
    if order.get("orderItems") is None:
        raise InvalidPayload("orderItems is missing")
    return _objects(order["orderItems"], "orderItems")


def _sku(item: dict, where: str) -> str:
    """``variation.number``, the SKU ('' when the variation was not asked for)."""
    variation = item.get("variation")
    if variation is not None and not isinstance(variation, dict):
        refuse(f"{where}.variation", "an object", variation)
    return (text_field((variation or {}).get("number"), f"{where}.variation.number") or "").strip()


def _variation_id(item: dict, where: str) -> str | None:
    variation = item.get("variation") if isinstance(item.get("variation"), dict) else {}
    value = item.get("itemVariationId") or variation.get("id")
    return text_field(_scalar(value, f"{where}.itemVariationId"), f"{where}.itemVariationId")


def _line(item: dict, index: int) -> StagedLine:
    where = f"orderItems[{index}]"
    sku = _sku(item, where)
    if not sku:
        raise InvalidPayload(f"{where}.variation.number (the SKU) is missing; the order must be fetched "
                             "with with[]=orderItems.variation")
    amount = _first(item.get("amounts"), f"{where}.amounts")
    return StagedLine(
        channel_line_id=text_field(_scalar(item.get("id"), f"{where}.id"), f"{where}.id") or f"item{index}",
        channel_sku=sku, channel_quantity=_quantity(item.get("quantity"), f"{where}.quantity"),
        unit_price=parse_decimal(amount.get("priceGross"), f"{where}.amounts[0].priceGross"),
        name=text_field(item.get("orderItemName"), f"{where}.orderItemName"),
        channel_product_id=_variation_id(item, where),
    )


def _products(items: list[dict], products: bool = True) -> list[tuple[int, dict]]:
    """(index, item) of the product items (typeId 1), or with ``products=False`` of the others."""
    return [(i, item) for i, item in enumerate(items)
            if _is_type(item.get("typeId"), VARIATION_ITEM, f"orderItems[{i}].typeId") == products]


def _others(items: list[dict]) -> list[dict]:
    """Items that are not products (shipping costs, coupons, surcharges), for ``channel_data``."""
    others = []
    for i, item in _products(items, products=False):
        where = f"orderItems[{i}]"
        price = _first(item.get("amounts"), f"{where}.amounts").get("priceGross")
        others.append({"typeId": item.get("typeId"), "name": text_field(item.get("orderItemName"),
                                                                       f"{where}.orderItemName"),
                       "amount": str(parse_decimal(price, f"{where}.amounts[0].priceGross"))})
    return others


def catalogue_product(variation) -> CatalogueProduct | None:
    """One variation of ``GET /rest/items/variations`` as a catalogue listing: its ``number`` is the
    SKU (as on orders, ``variation.number``), its ``id`` what stock corrections address. None for a
    variation without a number: nothing could map it to a warehouse SKU.

    Raises:
        InvalidPayload: not an object, or ``id``/``number``/``name`` of the wrong shape, named.
    """
    if not isinstance(variation, dict):
        refuse("variation", "an object", variation)
    number = (text_field(variation.get("number"), "number") or "").strip()
    if not number:
        return None
    variation_id = _scalar(variation.get("id"), "id")
    if isinstance(variation_id, float) and variation_id.is_integer():
        variation_id = int(variation_id)
    if not str(variation_id).strip().isdigit():
        refuse("id", "a plentymarkets variation id (a whole number)", variation_id)
    return CatalogueProduct(number, str(variation_id).strip(),
                            (text_field(variation.get("name"), "name") or "").strip() or None)


class PlentyMapper:
    """Pure: plentymarkets orders -> ``StagedOrder``, return orders -> ``ReturnOrder``, outcomes -> statuses."""

    channel = CHANNEL
    checks_stock = True  # 6.3: orders the shelf cannot cover wait as awaiting_stock

    def __init__(self, settings: PlentySettings | None = None):
        self.settings = settings or PlentySettings()

    def to_order(self, rows: list[tuple[int, dict]]) -> StagedOrder:
        """Map every payload of one sales order (the latest wins) to a ``StagedOrder``.

        Raises:
            InvalidPayload: the order cannot be used, naming the field (also: it is no sales order).
        """
        raw_id, order = max(rows, key=lambda r: r[0])  # the latest payload is the truth
        if not isinstance(order, dict) or order.get("id") in (None, ""):
            raise InvalidPayload("id is missing")
        external_id = _order_id(order["id"])
        if order.get("typeId") is not None and not _is_type(order["typeId"], SALES_ORDER, "typeId"):
            refuse("typeId", "1 (a sales order; returns are read as return orders)", order["typeId"])
        status = _status(order.get("statusId")) if order.get("statusId") is not None else None
        items = _order_items(order)
        lines = [_line(item, i) for i, item in _products(items)]
        if not lines:
            raise InvalidPayload("orderItems has no product item (typeId 1): nothing the warehouse could ship")
        others = _others(items)
        shipping = [Decimal(o["amount"]) for o in others
                    if str(o["typeId"]) == str(SHIPPING_COSTS_ITEM) and o["amount"] != "None"]
        amounts = _objects(order.get("amounts"), "amounts")
        amount = next((a for a in amounts if a.get("isSystemCurrency")), None) or (amounts or [{}])[0]
        properties = _properties(order)
        address = delivery_address(order)
        country_id = address.get("countryId")
        names = " ".join(str(address.get(k) or "").strip() for k in ("name2", "name3")).strip()
        street = " ".join(str(address.get(k) or "").strip() for k in ("address1", "address2")).strip()
        return StagedOrder(
            external_order_id=external_id, raw_id=raw_id, lines=lines,
            placed_at=_when(order.get("createdAt"), "createdAt"),
            channel_status=str(status) if status is not None else None,
            channel_state=CANCEL_REQUESTED if status == self.settings.cancel_status else OPEN,
            currency=text_field(amount.get("currency"), "amounts[0].currency"),
            total=parse_decimal(amount.get("grossTotal"), "amounts[0].grossTotal"),
            shipping_total=sum(shipping) if shipping else parse_decimal(amount.get("shippingCostsGross"),
                                                                   "amounts[0].shippingCostsGross"),
            customer_name=names or address.get("name1"), customer_email=address.get("email"),
            customer_phone=address.get("phone"), ship_name=names or address.get("name1"),
            ship_address1=street or None, ship_address2=address.get("address3") or address.get("name4") or None,
            ship_city=address.get("town"), ship_postcode=address.get("postalCode"),
            ship_country=_country(country_id),
            ship_phone=address.get("phone"),
            channel_data={"plentyId": _scalar(order.get("plentyId"), "plentyId"),
                          "statusName": text_field(order.get("statusName"), "statusName"),
                          "countryId": country_id, "company": address.get("name1") or None,
                          "shippingProfileId": properties.get(str(SHIPPING_PROFILE)),
                          "paymentMethodId": properties.get(str(PAYMENT_METHOD)),
                          "externalOrderId": properties.get(str(EXTERNAL_ORDER_ID)), "otherItems": others},
        )

    def to_return(self, rows: list[tuple[int, dict]]):
        """A return order's payloads -> ``return_mapping.ReturnOrder`` (see ``return_mapping.to_return``)."""
        from orderbridge.channels.plentymarkets.return_mapping import to_return

        return to_return(rows)

    def acknowledgements(self, order: StagedOrder, status: str) -> list[Effect]:
        """The plenty status that answers a staging outcome; none while the order waits for a mapping.

        Keyed by the payload version (``raw_id``): a rerun sends nothing new, but an order the
        merchant fixed and moved back to the fetch status is answered again.
        """
        target = {"ready": self.settings.transferred_status, "invalid_address": self.settings.address_error_status,
                  "awaiting_stock": self.settings.no_stock_status, "cancelled": self.settings.cancel_ack_status,
                  "cancel_refused": self.settings.cancel_ack_status}.get(status)
        if target is None:
            return []
        return [Effect(STATUS, f"{order.external_order_id}:{target}:{order.raw_id}",
                       {"order_id": int(order.external_order_id), "statusId": status_json(target),
                        "because": status}, order.external_order_id)]
