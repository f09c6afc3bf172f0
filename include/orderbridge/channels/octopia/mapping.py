"""Octopia's pure mapper: ``GET /orders`` items -> ``StagedOrder``s, and the approval effect.

One Octopia order becomes one staging order per delivery address of its ``Seller`` lines
(``address_groups``). Octopia has no order-level shipping address: each line carries its own
(octopia-api.md §4). A staging order is what the warehouse packs and sends to one address, so an
order whose lines go to two addresses is two shipments: two staging orders, ``<orderId>`` for
the group holding the lowest line id and ``<orderId>#<lowest line id>`` for each other group
(stable: line ids and addresses do not change). The order as a whole (approval, its id in every
write-back) stays in ``channel_data.orderId``. Nearly every order has one address and keeps the
plain ``orderId``.

Only ``supplyMode: Seller`` lines are ours. ``Fulfillment`` (Octopia's warehouse) and ``Xdock``
(the sales channel's) lines are recorded on the first group as ``closed`` with the reason, never
picked, never reserved, never declared shipped.
"""

from __future__ import annotations

from datetime import datetime

from orderbridge.channels.octopia.client import CHANNEL
from orderbridge.errors import InvalidPayload
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
from orderbridge.staging import payload_id

APPROVAL = "approval"
SELLER = "Seller"
# Line (and order) status words (octopia-api.md §3, [C] and [C-code]).
OPEN_WORDS = frozenset({"Processing", "WaitingAcceptance", "Accepted", "InPreparation", "CancelRequest"})
CANCELLED_WORDS = frozenset({"Cancelled", "Refused", "Rejected"})
SHIPPED_WORDS = frozenset({"Shipped", "Delivered"})
WAITING_ACCEPTANCE = "WaitingAcceptance"
# "Under review, not actionable" (octopia-api.md §3): the marketplace may still reject the order, so
# the warehouse must not pick it; it keeps its stock, and the read after the order moves on frees it.
UNDER_REVIEW = ("awaiting_channel", "Processing: Octopia is still reviewing the order; not released for shipping")
# Address fields that make two lines one shipment (contact fields do not split a parcel).
ADDRESS_KEYS = ("firstName", "lastName", "companyName", "addressLine1", "addressLine2", "addressLine3",
                "postalCode", "city", "countryCode", "pickupId")
NOT_OURS = {"Fulfillment": "fulfilled by Octopia's warehouse, not shipped by us",
            "Xdock": "shipped from the sales channel's warehouse (Xdock), not by us"}


def _obj(value, field: str) -> dict:
    if value in (None, ""):
        return {}
    return value if isinstance(value, dict) else refuse(field, "an object", value)


def _text(value, field: str) -> str:
    return (text_field(value, field) or "").strip()


def _date(value, field: str) -> datetime | None:
    text = _text(value, field)
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as err:
        raise InvalidPayload(f"{field} {text[:40]!r} is not an ISO-8601 date") from err


def _lines(order: dict) -> list[dict]:
    lines = order.get("lines")
    if not isinstance(lines, list) or not lines:
        raise InvalidPayload("lines is missing or empty")
    for i, line in enumerate(lines):
        if not isinstance(line, dict):
            refuse(f"lines[{i}]", "an object", line)
        if _text(line.get("orderLineId"), f"lines[{i}].orderLineId") == "":
            raise InvalidPayload(f"lines[{i}].orderLineId is missing")
    return lines


def _line_key(line: dict):
    text = str(line["orderLineId"]).strip()
    return (0, int(text), text) if text.isdigit() else (1, 0, text)


def supply_mode(line: dict) -> str:
    offer = line.get("offer") if isinstance(line.get("offer"), dict) else {}
    return str(offer.get("supplyMode") or line.get("supplyMode") or SELLER).strip()


def _address(line: dict, i) -> tuple:
    address = _obj(line.get("shippingAddress"), f"lines[{i}].shippingAddress")
    return tuple(_text(address.get(k), f"lines[{i}].shippingAddress.{k}").casefold() for k in ADDRESS_KEYS)


def address_groups(order: dict) -> dict[str, list[dict]]:
    """Staging id -> the lines that order holds: Seller lines grouped by delivery address, the
    other lines with the first group. Raises ``InvalidPayload`` naming what it cannot read."""
    if not isinstance(order, dict):  # a page item that is no object lands under its own id, quarantined
        refuse("the order", "an object", order)
    order_id = _text(order.get("orderId"), "orderId")
    if not order_id:
        raise InvalidPayload("orderId is missing")
    lines = sorted(_lines(order), key=_line_key)
    groups: dict[tuple, list[dict]] = {}
    for line in lines:
        if supply_mode(line) == SELLER:
            groups.setdefault(_address(line, line["orderLineId"]), []).append(line)
    firsts = sorted(groups.values(), key=lambda g: _line_key(g[0]))
    others = [line for line in lines if supply_mode(line) != SELLER]
    if not firsts:
        return {order_id: others}
    named = {order_id if n == 0 else f"{order_id}#{group[0]['orderLineId']}": group for n, group in enumerate(firsts)}
    named[order_id] = sorted(named[order_id] + others, key=_line_key)
    return named


def landed(items: list[tuple[str, dict]]) -> list[tuple[str, dict]]:
    """Each ``GET /orders`` item under every staging id it makes (``address_groups``); an item
    that cannot be grouped lands under its order id (or a content id) to be quarantined, never dropped."""
    out = []
    for ext, order in items:
        try:
            out += [(group, order) for group in address_groups(order)]
        except InvalidPayload:
            out.append((ext, order))
    return out


def order_id(order: dict) -> str:
    return payload_id(order, "orderId")


def _line_status(line: dict, order_status: str) -> tuple[str, str]:
    """(staging line status, the channel's words)."""
    mode = supply_mode(line)
    if mode != SELLER:
        return "closed", f"{mode}: {NOT_OURS.get(mode, 'not shipped by the seller')}"
    word = _text(line.get("status"), f"lines[{line['orderLineId']}].status") or order_status
    if word in OPEN_WORDS:
        return "open", word
    if word in CANCELLED_WORDS:
        return "cancelled", word
    return "closed", word  # Shipped, Delivered, or a word we do not know: never picked


def _staged_line(line: dict, order_status: str) -> StagedLine:
    line_id = str(line["orderLineId"]).strip()
    offer = _obj(line.get("offer"), f"lines[{line_id}].offer")
    status, word = _line_status(line, order_status)
    sku = _text(offer.get("sellerProductId"), f"lines[{line_id}].offer.sellerProductId")
    if not sku:
        if status == "open":
            raise InvalidPayload(f"lines[{line_id}].offer.sellerProductId is missing")
        sku = _text(offer.get("productGtin"), f"lines[{line_id}].offer.productGtin") or "(none)"
    quantity = line.get("quantity")
    if not isinstance(quantity, int) or isinstance(quantity, bool) or not 1 <= quantity <= MAX_QUANTITY:
        raise InvalidPayload(f"lines[{line_id}].quantity is not a positive integer: {quantity!r}")
    price = _obj(line.get("sellingPrice"), f"lines[{line_id}].sellingPrice").get("unitSalesPrice")
    if isinstance(price, bool | dict | list):
        refuse(f"lines[{line_id}].sellingPrice.unitSalesPrice", "a number", price)
    # The offer is addressed by its sellerProductId (offer packages' sellerExternalReference), so it
    # is also the product's id on the channel: stock is pushed for it.
    return StagedLine(channel_line_id=line_id, channel_sku=sku, channel_quantity=quantity,
                      channel_product_id=sku if supply_mode(line) == SELLER else None,
                      unit_price=parse_decimal(price, f"lines[{line_id}].sellingPrice.unitSalesPrice"),
                      name=text_field(offer.get("productTitle"), f"lines[{line_id}].offer.productTitle"),
                      status=status, channel_status=word)


class OctopiaMapper:
    """Pure: the raw versions of one Octopia order -> the staging order of one of its addresses.

    Args:
        acceptance: the account's ``acceptance`` setting: ``hold`` or ``refuse`` an order in
            ``WaitingAcceptance`` the warehouse cannot fulfil.
    """

    channel = CHANNEL
    # Orders the shelf cannot cover wait as awaiting_stock: they are not accepted until it can.
    checks_stock = True

    def __init__(self, acceptance: str = "hold"):
        self.acceptance = acceptance

    def to_order(self, rows: list[tuple[int, dict]]) -> StagedOrder:
        raw_id, order = max(rows, key=lambda row: row[0])
        order = _obj(order, "the order")
        return self.to_order_of(next(iter(address_groups(order))), rows)

    def to_order_of(self, external_id: str, rows: list[tuple[int, dict]]) -> StagedOrder:
        """The staging order ``external_id`` (one address group) of the latest version."""
        raw_id, order = max(rows, key=lambda row: row[0])  # the latest version is what Octopia says now
        order = _obj(order, "the order")
        groups = address_groups(order)
        if external_id not in groups:
            raise InvalidPayload(f"order {order.get('orderId')} has no lines for {external_id} any more")
        status = _text(order.get("status"), "status")
        lines = [_staged_line(line, status) for line in groups[external_id]]
        seller = next((line for line in groups[external_id] if supply_mode(line) == SELLER), None)
        ship = _obj(seller.get("shippingAddress"), "lines[].shippingAddress") if seller else {}
        text = {k: text_field(ship.get(k), f"shippingAddress.{k}") for k in (
            "firstName", "lastName", "companyName", "addressLine1", "addressLine2", "addressLine3", "postalCode",
            "city", "countryCode", "phone", "email", "pickupId", "pickupName")}
        name = " ".join(p for p in (text["firstName"], text["lastName"]) if p) or None
        street2 = ", ".join(p for p in (text["addressLine2"], text["addressLine3"]) if p) or None
        sales_channel = _obj(order.get("salesChannel"), "salesChannel")
        total = _obj(order.get("totalPrice"), "totalPrice").get("sellingPrice")
        if isinstance(total, bool | dict | list):
            refuse("totalPrice.sellingPrice", "a number", total)
        return StagedOrder(
            external_order_id=external_id, raw_id=raw_id, lines=lines,
            placed_at=_date(order.get("purchasedAt") or order.get("createdAt"), "purchasedAt"),
            channel_status=status or None,
            channel_state=CANCEL_REQUESTED if status in CANCELLED_WORDS else OPEN,
            hold=UNDER_REVIEW if status == "Processing" else None,
            currency=_text(order.get("currencyCode"), "currencyCode") or None,
            total=parse_decimal(total, "totalPrice.sellingPrice") if external_id == order["orderId"] else None,
            customer_name=name, customer_email=text["email"], customer_phone=text["phone"],
            ship_name=" - ".join(p for p in (text["companyName"], name) if p) or None,
            ship_address1=text["addressLine1"], ship_address2=street2, ship_city=text["city"],
            ship_postcode=text["postalCode"], ship_country=text["countryCode"], ship_phone=text["phone"],
            channel_data={"orderId": order["orderId"], "salesChannel": sales_channel.get("id"),
                          "reference": order.get("reference"), "status": status,
                          "addresses": len(groups), "pickupId": text["pickupId"] or None,
                          "pickupName": text["pickupName"] or None},
        )

    def acknowledgements(self, order: StagedOrder, status: str) -> list[Effect]:
        """Accept an order waiting for acceptance once the warehouse can fulfil it (``ready``); under
        ``acceptance: refuse``, refuse one it cannot (unknown SKU, short stock) at once. One approval
        per Octopia order, ever: the key is the order id, so the first decision sent is the only one
        (a refusal is never followed by an acceptance, a rerun sends nothing)."""
        if order.channel_data.get("status") != WAITING_ACCEPTANCE:
            return []
        if status == "ready":
            approval = "Accepted"
        elif self.acceptance == "refuse" and status in ("awaiting_stock", "awaiting_mapping"):
            approval = "Refused"
        else:
            return []  # held: staging.attention has the hold; accepted by the run that can fulfil it
        order_id = order.channel_data["orderId"]
        return [Effect(APPROVAL, order_id, {"order_id": order_id, "approval_status": approval, "because": status},
                       order.external_order_id)]
