"""Groupon Goods (CommerceInterface supplier API): client, pure mapper, write-back handlers.

API facts, with their evidence, are in the project README's Groupon section; the surprising ones:
``supplier_id`` and ``token`` travel as ordinary parameters (query string or form body), JSON
arrays travel as form-field *text*, a default ``get_orders`` returns only orders with unexported
lines (so we read every page before marking anything exported, or the pages would shift under
us), a date window (at most 24 h) returns exported orders too, and one ``orderid`` may come in
several ``data`` entries, even on different pages.

The connection: host/port/schema give the server, ``api_path`` (extra) the version prefix such as
``/api/v2``, login is the supplier id and password the token.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from orderbridge.errors import AuthError, InvalidPayload
from orderbridge.http import ChannelClient
from orderbridge.orders import MAX_QUANTITY, StagedLine, StagedOrder, parse_decimal, refuse, text_field
from orderbridge.outbox import Effect, Handler, OutboxRow, Outcome
from orderbridge.staging import payload_id
from orderbridge.window import Window

CHANNEL = "groupon"
MAX_WINDOW = timedelta(hours=24)  # longest start/end window get_orders accepts
REQUEST_DATE_FORMAT = "%m/%d/%Y %H:%M"  # 24-hour clock, UTC
ORDER_DATE_FORMAT = "%m/%d/%Y %I:%M%p UTC"  # what orders carry: 12-hour clock and a literal " UTC"
MARK_EXPORTED, TRACKING = "mark_exported", "tracking"


class GrouponClient(ChannelClient):
    """The wire only: ``get_orders`` pages, ``mark_exported`` and ``tracking_notification``."""

    channel = CHANNEL

    @property
    def _auth(self) -> dict[str, str]:
        return {"supplier_id": self.connection.login or "", "token": self.connection.password or ""}

    def _call(self, method: str, path: str, fields: dict) -> dict:
        params = {**self._auth, **fields}
        kwargs = {"params": params} if method == "GET" else {"data": params}
        body = self.request_json(method, path, **kwargs)
        if not isinstance(body, dict):
            raise self._error(InvalidPayload, f"{path}: expected a JSON object, got {type(body).__name__}")
        if body.get("success") is not True:
            reason = self.mask(str(body.get("reason") or "no reason given"))
            if any(word in reason.lower() for word in ("token", "supplier", "auth")):
                raise self._error(AuthError, f"{path}: Groupon refused the credentials ({reason}). Resolution: "
                                  f"generate a new token in CommerceInterface and update connection {self.conn_id}.")
            raise self._error(InvalidPayload, f"{path}: Groupon answered success=false ({reason})")
        return body

    def iter_orders(self, window: Window | None = None) -> Iterator[list[dict]]:
        """Yield ``get_orders`` pages one at a time.

        Without a window: the unexported queue, page 1 to ``meta.no_of_pages``. With a window: the
        window cut into slices of at most 24 h, each read with ``start_datetime``/``end_datetime``
        (which also returns orders already exported).
        """
        slices = window.slices(MAX_WINDOW) if window else [None]
        for piece in slices:
            fields = {}
            if piece:
                fields = {"start_datetime": piece.start.strftime(REQUEST_DATE_FORMAT),
                          "end_datetime": piece.end.strftime(REQUEST_DATE_FORMAT)}
            page = 1
            while True:
                body = self._call("GET", "get_orders", {**fields, "page": page})
                data = body.get("data") or []
                yield data
                pages = int((body.get("meta") or {}).get("no_of_pages") or 0)
                if page >= pages or not data:
                    break
                page += 1

    def mark_exported(self, line_ids: list[int]) -> dict:
        return self._call("POST", "mark_exported", {"ci_lineitem_ids": json.dumps(line_ids)})

    def tracking_notification(self, items: list[dict]) -> dict:
        return self._call("POST", "tracking_notification", {"tracking_info": json.dumps(items)})


# -- pure mapping ---------------------------------------------------------------------------------
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
    """

    channel = CHANNEL

    def __init__(self, currency: str | None = None):
        self.currency = currency

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
        """``mark_exported`` for every line, whatever the staging status: the order is safe in
        staging (held orders too), and Groupon then stops offering it. Lines already cancelled
        are marked too (Groupon takes any known line), or their entry would stay in the queue."""
        return [Effect(MARK_EXPORTED, line.channel_line_id, {"ci_lineitem_id": int(line.channel_line_id)},
                       order.external_order_id)
                for line in order.lines]


def tracking_payload(line_id: str, carrier_code: str, tracking_number: str, quantity: int) -> dict:
    return {"carrier": carrier_code, "ci_lineitem_id": int(line_id), "tracking": tracking_number,
            "quantity": quantity}


# -- write-back handlers --------------------------------------------------------------------------
def mark_exported_handler(client: GrouponClient) -> Handler:
    """One ``mark_exported`` call per batch; re-marking is harmless on Groupon."""

    def send(rows: list[OutboxRow]) -> dict[int, Outcome]:
        body = client.mark_exported([row.payload["ci_lineitem_id"] for row in rows])
        unknown = {int(i) for i in ((body.get("data") or {}).get("unknown_ids") or [])}
        return {row.id: (Outcome("rejected", "Groupon does not know this line id")
                         if row.payload["ci_lineitem_id"] in unknown else Outcome("sent", "marked exported"))
                for row in rows}

    return send


def tracking_handler(client: GrouponClient) -> Handler:
    """One ``tracking_notification`` call per batch.

    A line Groupon reports in ``non_open_ids`` did not take the tracking: it was cancelled,
    refunded or shipped there. That needs a person (a parcel may be on its way for a cancelled
    line), so the row is refused and the order flagged, never counted as sent.
    """

    def send(rows: list[OutboxRow]) -> dict[int, Outcome]:
        body = client.tracking_notification([row.payload for row in rows])
        non_open = {int(i) for i in ((body.get("data") or {}).get("non_open_ids") or [])}
        outcomes = {}
        for row in rows:
            line, tracking = row.payload["ci_lineitem_id"], row.payload["tracking"]
            if line in non_open:
                outcomes[row.id] = Outcome(
                    "rejected", f"Groupon did not take tracking {tracking} for line {line}: the line is not open "
                    "there (cancelled, refunded or already shipped). Resolution: look the line up in "
                    "CommerceInterface; if it was cancelled, stop the parcel or book it as a return; if an earlier "
                    "attempt of this task was cut off after Groupon took the tracking, nothing is wrong. Then "
                    "clear staging.orders.attention.", {"non_open": True}, attention=True)
            else:
                outcomes[row.id] = Outcome("sent", f"tracking {tracking} ({row.payload['carrier']}) posted")
        return outcomes

    return send
