"""Pure mapping of plentymarkets orders, and the status each staging outcome sends back.

An order (B6) has its delivery address by reference: ``addressRelations[typeId=2].addressId``
points into ``addresses[]`` (type 1, billing, is the fallback). Only ``orderItems`` of type 1 are
products; their SKU is ``variation.number`` (requested with ``with[]=orderItems.variation``);
shipping costs (type 6), coupons (4) and surcharges are kept in ``channel_data`` and totals.
Quantities and ids may arrive as strings or floats (``1.0``); both are read.

The status machine (seed 003) lives in ``PlentyMapper.acknowledgements``: ready -> 5.1, bad
address -> 6.2, not enough stock -> 6.3, cancelled (or refused because the warehouse started)
-> 8.8. An order whose SKU nobody has mapped stays in 5 on plenty: it is in staging as
``awaiting_mapping``, is re-checked every run, and gets 5.1 once mapped.
"""

from __future__ import annotations

import csv
from datetime import datetime
from decimal import Decimal
from functools import cache
from importlib import resources

from orderbridge.errors import InvalidPayload, Permanent
from orderbridge.orders import (
    CANCEL_REQUESTED,
    MAX_QUANTITY,
    OPEN,
    RETURNED,
    StagedLine,
    StagedOrder,
    parse_decimal,
    refuse,
    text_field,
)
from orderbridge.outbox import Effect
from orderbridge.plentymarkets.settings import PlentySettings, parse_status, status_json

CHANNEL = "plentymarkets"
STATUS, SHIPMENT, STOCK = "status", "tracking", "stock"
VARIATION_ITEM, SHIPPING_COSTS_ITEM = 1, 6
BILLING, DELIVERY = 1, 2
SHIPPING_PROFILE, PAYMENT_METHOD, EXTERNAL_ORDER_ID = 2, 3, 7


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


def _property(order: dict, type_id: int):
    for prop in order.get("properties") or []:
        if isinstance(prop, dict) and str(prop.get("typeId")) == str(type_id):
            return prop.get("value")
    return None


def delivery_address(order: dict) -> dict:
    """The delivery address (relation type 2), else the billing one; {} when there is none."""
    by_type = {str(r.get("typeId")): r.get("addressId") for r in order.get("addressRelations") or []
               if isinstance(r, dict)}
    addresses = {str(a.get("id")): a for a in order.get("addresses") or [] if isinstance(a, dict)}
    for type_id in (DELIVERY, BILLING):
        address_id = by_type.get(str(type_id))
        if address_id is not None and str(address_id) in addresses:
            return addresses[str(address_id)]
    return {}


def _country(country_id) -> str | None:
    """ISO code for a plenty countryId; an unknown id is kept, named, so the address check says which."""
    if country_id in (None, ""):
        return None
    code = plenty_countries().get(int(country_id)) if str(country_id).isdigit() else None
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
    if not status.is_finite():
        refuse("statusId", "a plentymarkets status id", value)
    return status


def _line(item: dict, index: int) -> StagedLine:
    where = f"orderItems[{index}]"
    variation = item.get("variation")
    sku = str((variation or {}).get("number") or "").strip() if isinstance(variation, dict) else ""
    if not sku:
        raise InvalidPayload(f"{where}.variation.number (the SKU) is missing; the order must be fetched "
                             "with with[]=orderItems.variation")
    amount = _first(item.get("amounts"), f"{where}.amounts")
    return StagedLine(
        channel_line_id=text_field(item.get("id"), f"{where}.id") or f"item{index}", channel_sku=sku,
        channel_quantity=_quantity(item.get("quantity"), f"{where}.quantity"),
        unit_price=parse_decimal(amount.get("priceGross"), f"{where}.amounts[0].priceGross"),
        name=text_field(item.get("orderItemName"), f"{where}.orderItemName"),
        channel_product_id=text_field(item.get("itemVariationId") or variation.get("id"), f"{where}.itemVariationId"),
    )


class PlentyMapper:
    """Pure: raw plentymarkets orders -> ``StagedOrder``; staging outcomes -> status effects."""

    channel = CHANNEL
    checks_stock = True  # 6.3: orders the shelf cannot cover wait as awaiting_stock

    def __init__(self, settings: PlentySettings | None = None):
        self.settings = settings or PlentySettings()

    def to_order(self, rows: list[tuple[int, dict]]) -> StagedOrder:
        raw_id, order = max(rows, key=lambda r: r[0])  # the latest payload is the truth
        if not isinstance(order, dict) or order.get("id") in (None, ""):
            raise InvalidPayload("id is missing")
        status = _status(order.get("statusId")) if order.get("statusId") is not None else None
        items = order.get("orderItems")
        if not isinstance(items, list):
            raise InvalidPayload("orderItems is missing")
        lines = [_line(item, i) for i, item in enumerate(items)
                 if isinstance(item, dict) and str(item.get("typeId")) == str(VARIATION_ITEM)]
        if not lines:
            raise InvalidPayload("orderItems has no product item (typeId 1): nothing the warehouse could ship")
        others = [{"typeId": item.get("typeId"), "name": item.get("orderItemName"),
                   "amount": str(parse_decimal(
                       _first(item.get("amounts"), f"orderItems[{i}].amounts").get("priceGross"),
                       f"orderItems[{i}].amounts[0].priceGross"))}
                  for i, item in enumerate(items)
                  if isinstance(item, dict) and str(item.get("typeId")) != str(VARIATION_ITEM)]
        shipping = [Decimal(o["amount"]) for o in others
                    if str(o["typeId"]) == str(SHIPPING_COSTS_ITEM) and o["amount"] != "None"]
        amounts = order.get("amounts") or []
        if not isinstance(amounts, list) or not all(isinstance(a, dict) for a in amounts):
            refuse("amounts", "a list of objects", amounts)
        amount = next((a for a in amounts if a.get("isSystemCurrency")), None) or (amounts or [{}])[0]
        address = delivery_address(order)
        country_id = address.get("countryId")
        names = " ".join(str(address.get(k) or "").strip() for k in ("name2", "name3")).strip()
        street = " ".join(str(address.get(k) or "").strip() for k in ("address1", "address2")).strip()
        return StagedOrder(
            external_order_id=str(order["id"]), raw_id=raw_id, lines=lines,
            placed_at=_when(order.get("createdAt"), "createdAt"),
            channel_status=str(status) if status is not None else None,
            channel_state=self._state(status),
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
            channel_data={"plentyId": order.get("plentyId"), "statusName": order.get("statusName"),
                          "countryId": country_id, "company": address.get("name1") or None,
                          "shippingProfileId": _property(order, SHIPPING_PROFILE),
                          "paymentMethodId": _property(order, PAYMENT_METHOD),
                          "externalOrderId": _property(order, EXTERNAL_ORDER_ID), "otherItems": others},
        )

    def _state(self, status) -> str:
        if status == self.settings.cancel_status:
            return CANCEL_REQUESTED
        if status == self.settings.returns_status:
            return RETURNED
        return OPEN

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
