"""Groupon's pure mapper: ``get_orders`` entries -> ``StagedOrder`` (one per entry, ``entry_id``)."""


from __future__ import annotations

import re
from datetime import UTC, datetime

from orderbridge.channels.groupon.client import CHANNEL, MARK_EXPORTED, ORDER_DATE_FORMAT
from orderbridge.errors import InvalidPayload
from orderbridge.orders import MAX_QUANTITY, StagedLine, StagedOrder, parse_decimal, refuse, text_field
from orderbridge.outbox import Effect
from orderbridge.staging import payload_id

# ORDER_DATE_FORMAT as Groupon writes it. ``strptime`` looks up the locale on every call, which
# made it the mapper's most expensive step; this reads the usual spelling and leaves any other
# spelling ``strptime`` accepts (lower-case am/pm, one-digit minutes, ...) to ``strptime``.
_ORDER_DATE = re.compile(r"([0-9]{1,2})/([0-9]{1,2})/([0-9]{4}) (1[0-2]|0?[1-9]):([0-5][0-9])([AP])M UTC")


def _obj(value, field: str) -> dict:
    if value in (None, ""):
        return {}
    return value if isinstance(value, dict) else refuse(field, "an object", value)


def _amount(value, field: str):
    return refuse(field, "a number", value) if isinstance(value, bool | dict | list) else parse_decimal(value, field)


def parse_order_date(value: str | None) -> datetime | None:
    if not value:
        return None
    if not isinstance(value, str):
        refuse("date", "MM/DD/YYYY hh:mmAM UTC", value)
    text = value.strip()
    try:
        match = _ORDER_DATE.fullmatch(text)
        if match is None:
            return datetime.strptime(text, ORDER_DATE_FORMAT).replace(tzinfo=UTC)
        month, day, year, hour, minute, half = match.groups()
        return datetime(int(year), int(month), int(day), int(hour) % 12 + (12 if half == "P" else 0), int(minute),
                        tzinfo=UTC)
    except ValueError as err:
        raise InvalidPayload(f"date {value!r} is not MM/DD/YYYY hh:mmAM UTC") from err


# Line ``status`` words: ``open`` and ``ship`` are documented; ``cancelled`` and ``refunded`` are
# a guess (groupon-api.md §3.2), and any other word is read as "not open here, for some reason".
CANCELLED_WORDS = frozenset({"cancelled", "canceled", "refunded"})


# A line id as Groupon numbers it: an integer, or its digits as text (ASCII only: "²".isdigit() is
# true, but int("²") fails; bounded: int() refuses more than 4300 digits).
_LINE_ID = re.compile(r"[0-9]{1,20}")


def _line_number(value) -> int | None:
    """``ci_lineitemid`` as a number (write-backs send it as one), or None when it is not one."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and _LINE_ID.fullmatch(value.strip()):
        return int(value.strip())
    return None


def _line(item: dict) -> StagedLine:
    if not isinstance(item, dict):
        refuse("line_items[]", "an object", item)
    line_id = item.get("ci_lineitemid")
    if _line_number(line_id) is None:
        raise InvalidPayload(f"line_items[].ci_lineitemid is missing or not a whole number: {str(line_id)[:80]!r}")
    sku = (text_field(item.get("sku"), f"line_items[{line_id}].sku") or "").strip()
    if not sku:
        raise InvalidPayload(f"line_items[{line_id}].sku is empty")
    quantity = item.get("quantity")
    if not isinstance(quantity, int) or isinstance(quantity, bool) or not 1 <= quantity <= MAX_QUANTITY:
        raise InvalidPayload(f"line_items[{line_id}].quantity is not a positive integer: {quantity!r}")
    word = (text_field(item.get("status"), f"line_items[{line_id}].status") or "open").strip().lower()
    return StagedLine(
        channel_line_id=str(line_id), channel_sku=sku, channel_quantity=quantity,
        unit_price=_amount(item.get("unit_price"), f"line_items[{line_id}].unit_price"),
        name=text_field(item.get("name"), f"line_items[{line_id}].name"),
        kit_spec=text_field(item.get("bom_sku"), f"line_items[{line_id}].bom_sku") or None,
        status="open" if word == "open" else "cancelled" if word in CANCELLED_WORDS else "closed",
        channel_status=word,
    )


def entry_id(entry: dict) -> str:
    """The staging id of one ``get_orders`` entry: ``<orderid>#<its lowest ci_lineitemid>``.

    Groupon may list one ``orderid`` in several entries (on different pages, even in different
    runs), each with its own lines and its own ship-to address, so each entry is its own shipment
    and its own staging order. Its lowest line id names it for good: line ids are unique and an
    entry keeps its lines. An entry without a usable orderid or line id still gets an id (from its
    content) so that it is landed and quarantined, never dropped.
    """
    orderid = entry.get("orderid") if isinstance(entry, dict) else None
    items = entry.get("line_items") if isinstance(entry, dict) else None
    ids = [i.get("ci_lineitemid") for i in items if isinstance(i, dict)] if isinstance(items, list) else []
    numbers = [n for n in map(_line_number, ids) if n is not None]
    if orderid in (None, "") or isinstance(orderid, dict | list | bool) or not numbers:
        return payload_id(entry, "orderid")
    return f"{str(orderid).strip()}#{min(numbers)}"


class GrouponMapper:
    """Pure: the raw versions of one ``get_orders`` entry (``entry_id``) -> one ``StagedOrder``.

    Args:
        currency: Groupon sends no currency; the account's (from config) is stamped on the order.
        mark_exported: the account's option (``GrouponSettings.mark_exported``); False enqueues no
            ``mark_exported`` at all.
    """

    channel = CHANNEL
    checks_stock = False  # orders are taken as they come; stock is the warehouse's to chase

    def __init__(self, currency: str | None = None, mark_exported: bool = True):
        self.currency = currency
        self.mark_exported = mark_exported

    def to_order(self, rows: list[tuple[int, dict]]) -> StagedOrder:
        # An entry is landed again whenever it changes (a line cancelled, shipped): the latest
        # version is what Groupon says now.
        raw_id, entry = max(rows, key=lambda row: row[0])
        entry = _obj(entry, "the get_orders entry")
        items = entry.get("line_items")
        if not isinstance(items, list) or not items:
            raise InvalidPayload("line_items is missing or empty")
        lines = list({line.channel_line_id: line for line in map(_line, items)}.values())
        order_id = (text_field(entry.get("orderid"), "orderid") or "").strip()
        if not order_id:
            raise InvalidPayload("orderid is missing")
        customer = _obj(entry.get("customer"), "customer")
        text = {k: text_field(customer.get(k), f"customer.{k}") for k in
                ("name", "phone", "address1", "address2", "city", "state", "zip", "country")}
        amount = _obj(entry.get("amount"), "amount")
        open_lines = [line for line in lines if line.open_on_channel]
        return StagedOrder(
            external_order_id=entry_id(entry), raw_id=raw_id, lines=lines,
            placed_at=parse_order_date(entry.get("date")),
            channel_status="open" if open_lines else "cancelled" if all(
                line.status == "cancelled" for line in lines) else "closed",
            currency=self.currency,
            total=_amount(amount.get("total"), "amount.total"),
            shipping_total=_amount(amount.get("shipping"), "amount.shipping"),
            customer_name=text["name"], customer_phone=text["phone"],
            ship_name=text["name"], ship_address1=text["address1"],
            ship_address2=text["address2"] or None, ship_city=text["city"],
            ship_state=text["state"], ship_postcode=text["zip"],
            ship_country=text["country"], ship_phone=text["phone"],
            # Entries of one orderid are separate parcels to separate addresses, which Groupon
            # wants shipped together: ``orderid`` links them for the warehouse.
            channel_data={"orderid": order_id, "parent_orderid": entry.get("parent_orderid"),
                          "fulfillment_method": entry.get("fulfillment_method"),
                          "shipping_method": _obj(entry.get("shipping"), "shipping").get("method")},
        )

    def acknowledgements(self, order: StagedOrder, status: str) -> list[Effect]:
        """One ``mark_exported`` for all lines of the order, whatever the staging status: the order
        is safe in staging (held orders too), and Groupon then stops offering it. Lines already
        cancelled are marked too (Groupon takes any known line), or their entry would stay in the
        queue. None when the merchant does not mark exported.

        One outbox row per order, not per line (the handler puts every row's lines in one call): the
        key is the order's line ids, so a line set that changed is marked again (harmless on
        Groupon), and a one-line order keeps the key a per-line row of earlier versions had."""
        if not self.mark_exported or not order.lines:
            return []
        ids = sorted({int(line.channel_line_id) for line in order.lines})
        return [Effect(MARK_EXPORTED, ",".join(map(str, ids)), {"ci_lineitem_ids": ids}, order.external_order_id)]
