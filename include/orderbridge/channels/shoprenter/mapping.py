"""Pure Shoprenter mapping: envelopes, ids, numbers and orders (poll or webhook) to staging.

No network, no database, no Airflow. Shoprenter sends numbers as strings or ints, mixed (A4, A9),
so every number goes through ``whole`` or ``parse_decimal``. An order arrives in two shapes,
both landed in ``raw.orders`` under its ``innerId``:

- polled, ``GET /orderExtend?full=1`` (A5, A6): lines embedded as ``orderProducts`` without a
  quantity, which is ``stock1..stock4`` summed ([G], ``quantity_fields``); status as the link
  ``orderStatus{href|id}`` (a base64 id ``orderStatus-order_status_id=<n>``);
- pushed, the ``order_status_change`` webhook (A9): ``orderProducts.orderProduct[]`` with a
  ``quantity``, status as ``orderHistory.status``.

The newest payload of an order wins (``dateUpdated`` or the webhook's ``orderHistory.dateAdded``;
the later landing on a tie), so a poll that overlaps a webhook never takes a status back.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable
from decimal import Decimal
from functools import lru_cache
from typing import Any

from orderbridge.errors import InvalidPayload
from orderbridge.orders import StagedLine, StagedOrder, parse_decimal, refuse, text_field
from orderbridge.outbox import Effect

CHANNEL = "shoprenter"
ACCEPT = "accept"  # outbox kind: the configured "accepted" status written back to the shop
HUF = "HUF"


def whole(value: Any, field: str) -> int:
    """A count sent as ``"3"``, ``3`` or ``"3.0000"``; anything else is ``InvalidPayload`` naming ``field``."""
    if value in (None, ""):
        return 0
    number = parse_decimal(value, field) if not isinstance(value, bool) else refuse(field, "a number", value)
    if number != number.to_integral_value():
        refuse(field, "a whole number", value)
    return int(number)


def page_done(body: dict) -> bool:
    """True on the last page of a paging envelope (A4): ``next`` is null, or page = pageCount - 1."""
    if body.get("next") in (None, "", {}):
        return True
    if body.get("pageCount") not in (None, "") and body.get("page") not in (None, ""):
        return whole(body["page"], "page") >= whole(body["pageCount"], "pageCount") - 1
    return False


def page_items(body: Any, what: str) -> list[dict]:
    items = body.get("items") if isinstance(body, dict) else None
    if not isinstance(items, list):
        raise InvalidPayload(f"{what}: expected a paging envelope with items[]")
    return [i for i in items if isinstance(i, dict)]


def decode_id(value: str) -> tuple[str, str]:
    """A base64 id (A3) as ``(resource-column, n)``: ``b3JkZXJTdGF0...`` -> ``("orderStatus-order_status_id", "1")``.

    Raises:
        InvalidPayload: not a Shoprenter id.
    """
    text = str(value).rsplit("/", 1)[-1]
    try:
        decoded = base64.b64decode(text + "=" * (-len(text) % 4), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidPayload(f"{str(value)[:80]!r} is not a Shoprenter id") from None
    kind, sep, number = decoded.partition("=")
    if not sep or not number.isdigit():
        raise InvalidPayload(f"{str(value)[:80]!r} is not a Shoprenter id ({decoded[:60]!r})")
    return kind, number


def encode_id(resource: str, column: str, number: str | int) -> str:
    """The base64 id of a row: ``encode_id("orderStatus", "order_status_id", 2)``."""
    return base64.b64encode(f"{resource}-{column}={number}".encode()).decode()


def status_id(order: dict) -> str | None:
    """The order status innerId of either shape; None for an abandoned cart (no status, A6)."""
    history = order.get("orderHistory")
    if isinstance(history, dict) and history.get("status") not in (None, ""):
        return str(whole(history["status"], "orderHistory.status"))
    link = order.get("orderStatus")
    if isinstance(link, dict):
        ref = link.get("id") or link.get("href")
        return decode_id(ref)[1] if ref else None
    return None


def order_id(payload: dict) -> str:
    """The staging id of an order: its ``innerId`` (the same in both shapes)."""
    return str(payload.get("innerId") or "")


def webhook_orders(document: Any) -> list[dict]:
    """The orders of an ``order_status_change`` delivery (``{"orders": {"order": [...]}}``, A9).

    Raises:
        InvalidPayload: the document is not that shape, or an order has no innerId.
    """
    orders = document.get("orders") if isinstance(document, dict) else None
    listed = orders.get("order") if isinstance(orders, dict) else None
    if isinstance(listed, dict):
        listed = [listed]  # one order may come as an object (XML-to-JSON habit)
    if not isinstance(listed, list) or not listed:
        raise InvalidPayload("data: expected {\"orders\": {\"order\": [...]}} with at least one order")
    for n, order in enumerate(listed):
        if not isinstance(order, dict) or not str(order.get("innerId") or "").isdigit():
            raise InvalidPayload(f"data: orders.order[{n}] has no numeric innerId")
    return listed


def _lines(payload: dict) -> list[dict]:
    products = payload.get("orderProducts")
    if isinstance(products, dict):  # webhook: {"orderProduct": [...]}; polled: a list
        products = products.get("orderProduct", [])
        products = [products] if isinstance(products, dict) else products
    if products is None:
        return []
    if not isinstance(products, list):
        refuse("orderProducts", "a list", products)
    return products


def line_quantity(product: dict, fields: Iterable[str], n: int) -> int:
    """The line quantity: ``quantity`` (webhook) or the ``fields`` summed (``stock1..stock4``, polled)."""
    if product.get("quantity") not in (None, ""):
        return whole(product["quantity"], f"orderProducts[{n}].quantity")
    return sum(whole(product.get(f), f"orderProducts[{n}].{f}") for f in fields)


def _moment(payload: dict) -> str:
    if not isinstance(payload, dict):
        return ""
    history = payload.get("orderHistory")
    added = history.get("dateAdded") if isinstance(history, dict) else None
    return str(payload.get("dateUpdated") or added or "")


class ShoprenterMapper:
    """Shoprenter orders to staging, with the shop's ``order_becomes`` and status settings."""

    channel = CHANNEL
    checks_stock = False

    def __init__(self, settings):
        self.settings = settings

    def to_order(self, rows: list[tuple[int, dict]]) -> StagedOrder:
        # The newest state wins; ``max`` keeps the later landing on equal moments (rows oldest first).
        raw_id, payload = max(enumerate(rows), key=lambda r: (_moment(r[1][1]), r[0]))[1]
        if not isinstance(payload, dict):
            refuse("order", "an object", payload)
        ext = order_id(payload)
        if not ext:
            raise InvalidPayload("innerId is missing: the order cannot be told apart from others")
        try:
            return self._order(ext, raw_id, payload)
        except InvalidPayload as err:
            return StagedOrder(ext, raw_id, [], invalid_reason=str(err))

    def _order(self, ext: str, raw_id: int, p: dict) -> StagedOrder:
        s = self.settings
        status = status_id(p)
        lines = []
        for n, product in enumerate(_lines(p)):
            if not isinstance(product, dict):
                refuse(f"orderProducts[{n}]", "an object", product)
            sku = text_field(product.get("sku"), f"orderProducts[{n}].sku")
            if not sku:
                raise InvalidPayload(f"orderProducts[{n}].sku is empty")
            qty = line_quantity(product, s.quantity_fields, n)
            if qty <= 0:
                raise InvalidPayload(f"orderProducts[{n}] ({sku}) has no quantity ({', '.join(s.quantity_fields)} "
                                     "sum to 0)")
            price = parse_decimal(product.get("grossPrice", product.get("price")), f"orderProducts[{n}].price")
            line_id = str(product.get("innerId") or product.get("id") or n + 1)
            lines.append(StagedLine(line_id, sku, qty, price, name=text_field(product.get("name"), "name")))
        if not lines:
            raise InvalidPayload("orderProducts: the order has no lines")
        name = _name(p, "shippingFirstname", "shippingLastname")
        order = StagedOrder(
            ext, raw_id, lines, channel_status=status,
            currency=_currency(p), total=parse_decimal(p.get("totalGross", p.get("total")), "total"),
            shipping_total=parse_decimal(p.get("shippingGrossPrice"), "shippingGrossPrice"),
            customer_name=_name(p, "firstname", "lastname"),
            customer_email=text_field(p.get("email"), "email"), customer_phone=text_field(p.get("phone"), "phone"),
            ship_name=name, ship_address1=text_field(p.get("shippingAddress1"), "shippingAddress1"),
            ship_address2=text_field(p.get("shippingAddress2"), "shippingAddress2") or None,
            ship_city=text_field(p.get("shippingCity"), "shippingCity"),
            ship_state=text_field(p.get("shippingZoneName"), "shippingZoneName") or None,
            ship_postcode=text_field(p.get("shippingPostcode"), "shippingPostcode"),
            ship_country=_country(p), ship_phone=text_field(p.get("phone"), "phone"),
            channel_data={"shop": s.shop, "order_status": status, "id": p.get("id")},
        )
        if status in s.cancelled_statuses:
            order.channel_state = "cancel_requested"
        elif s.order_becomes == "awaiting_payment" and status not in s.paid_statuses:
            order.hold = ("awaiting_payment", f"pro-forma: shop status {status} is not a paid status "
                          f"({', '.join(s.paid_statuses)}); ships once the shop says paid")
        elif s.order_becomes == "held":
            order.hold = ("held", "draft: held for a person (shop setting order_becomes held)")
            order.attention = ("held as a draft (order_becomes: held). Resolution: release it with INSERT INTO "
                               "staging.order_overrides ... kind 'release_stock', or change the shop setting.")
        return order

    def acknowledgements(self, order: StagedOrder, status: str) -> list[Effect]:
        """The configured "accepted" status, once per order, when it is staged ready (exactly once:
        the key is the order and the status)."""
        accepted = self.settings.accepted_status
        if not accepted or status != "ready" or order.channel_status == accepted:
            return []
        return [Effect(ACCEPT, f"{order.external_order_id}:{accepted}",
                       {"order_id": order.channel_data.get("id") or encode_id("order", "order_id",
                                                                             order.external_order_id),
                        "inner_id": order.external_order_id, "status": accepted})]


def _name(p: dict, first: str, last: str) -> str | None:
    return " ".join(x for x in (text_field(p.get(first), first), text_field(p.get(last), last)) if x) or None


def _currency(p: dict) -> str:
    cur = p.get("currency")
    if isinstance(cur, dict):  # orderExtend embeds the currency resource
        cur = cur.get("code")
    return str(cur or HUF)


def _country(p: dict) -> str | None:
    country = p.get("shippingCountry")
    if isinstance(country, dict):  # orderExtend embeds the country: its ISO code
        code = country.get("isoCode2") or country.get("isoCode")
        if code:
            return str(code)
    value = text_field(p.get("shippingCountryCode") or p.get("shippingCountryName"), "shippingCountryName")
    # The webhook names the country in the shop's language ("Magyarország", A9): its ISO code when
    # a name in that language or English matches; else as sent, so the address check names it.
    language = str(p.get("languageCode") or "hu")
    return country_code(value, language) or value if value else value


@lru_cache(maxsize=8)
def _country_names(language: str) -> dict[str, str]:
    from babel import Locale, UnknownLocaleError

    names: dict[str, str] = {}
    for lang in dict.fromkeys(("en", language)):
        try:
            territories = Locale.parse(lang).territories
        except (UnknownLocaleError, ValueError):
            continue
        names |= {name.casefold(): code for code, name in territories.items() if len(code) == 2 and code.isalpha()}
    return names


def country_code(name: str, language: str = "hu") -> str | None:
    """An ISO 3166 alpha-2 code for a country name in ``language`` or English (Babel's CLDR names)."""
    return _country_names(language).get(name.strip().casefold())


def relation_category(relations: Any) -> str | None:
    """The category id of a product's first ``productCategoryRelations`` row (``{"category": {"id"|"href"}}``)."""
    first = next((r for r in relations if isinstance(r, dict)), None) if isinstance(relations, list) else None
    category = (first or {}).get("category")
    if not isinstance(category, dict):
        return None
    link = category.get("id") or str(category.get("href") or "").rsplit("/", 1)[-1]
    return str(link) if link else None


def product_row(item: dict, settings, groups: dict[str, str] | None = None) -> dict:
    """A shop product (``/productExtend?full=1``) as a catalogue row: sku, name, price, group, stock.

    The group is ``group_field`` [G]: by default ``productCategoryRelations``, whose first
    category's id ``groups`` (category id -> name, ``client.category_names``) turns into a name;
    a category it lacks stays its innerId. A plain field (a name, or an object with one) is taken as is.

    Raises:
        InvalidPayload: no sku, or a number that is not one.
    """
    sku = text_field(item.get("sku"), "sku")
    if not sku:
        raise InvalidPayload(f"product {item.get('innerId')}: sku is empty")
    group = item.get(settings.group_field)
    if isinstance(group, list):
        category = relation_category(group)
        group = (groups or {}).get(category) or (_inner(category) if category else None)
    elif isinstance(group, dict):
        group = group.get("name") or group.get("innerId") or group.get("id")
    name = item.get("name")
    descriptions = item.get("productDescriptions")
    if not name and isinstance(descriptions, list) and descriptions and isinstance(descriptions[0], dict):
        name = descriptions[0].get("name")
    price = parse_decimal(item.get("price"), f"product {sku}: price")
    stock = {f: whole(item.get(f), f"product {sku}: {f}") for f in ("stock1", "stock2", "stock3", "stock4")}
    return {"sku": sku, "name": str(name) if name else None, "price": price if price is not None else Decimal(0),
            "group": str(group) if group not in (None, "") else None, "id": item.get("id"),
            "inner_id": str(item.get("innerId") or ""), **stock}


def _inner(link: str) -> str:
    try:
        return decode_id(link)[1]
    except InvalidPayload:
        return link
