"""Octopia write-backs: approval, parcels (tracking) and stock, one handler per outbox kind.

Octopia documents no idempotency key (octopia-api.md §5), so each write that must happen once
re-reads the order first and sends only what is not there yet, as a single try: an answer lost
on the way back is checked by reading the order again, never by sending twice.

- ``approval``: ``Accepted`` or ``Refused`` of an order in ``WaitingAcceptance`` (Cdiscount only).
- ``tracking``: one parcel declaration per warehouse parcel (``POST /orders/{id}/shipments``,
  ``[{parcelNumber, carrierName, trackingUrl, orderLineIds}]``); a line already carrying the
  parcel is done; a line not ``InPreparation`` yet waits for a later run; a line Octopia refuses
  is a refused row with Octopia's words, for a person.
- ``stock``: one ``Update`` offer package per sales channel of the account with every changed
  quantity, set ``Ready``; integration is asynchronous and polled by later runs (``packages``).
"""

from __future__ import annotations

from collections.abc import Callable

from orderbridge.channels.octopia.client import OctopiaClient
from orderbridge.channels.octopia.mapping import SELLER, SHIPPED_WORDS, WAITING_ACCEPTANCE, supply_mode
from orderbridge.errors import InvalidPayload, Retryable
from orderbridge.outbox import Handler, OutboxRow, Outcome

# Line statuses that come before InPreparation: a parcel for such a line waits (not an error).
BEFORE_PREPARATION = frozenset({"Processing", WAITING_ACCEPTANCE, "Accepted"})
# Staging statuses of a part that holds the acceptance of its whole order.
HELD = frozenset({"awaiting_mapping", "awaiting_stock", "invalid_address", "invalid_payload"})
# Where each approval leaves the order (what a re-read after a lost answer looks for).
APPROVED = {"Accepted": frozenset({"Accepted", "InPreparation", "Shipped", "Delivered"}),
            "Refused": frozenset({"Refused"})}
# Attention reasons of refused rows (``attention.REASONS``): Octopia refused it, or the line is not
# open for our parcel there (cancelled, shipped by Octopia).
SHIPMENT_REFUSED = APPROVAL_TOO_LATE = "writeback_refused"
LINE_NOT_OPEN = "tracking_not_open"


def order_of(row: OutboxRow) -> str:
    """The Octopia order id of a row: its staging order is ``<orderId>`` or ``<orderId>#<line>``."""
    return row.payload.get("order_id") or (row.external_order_id or "").split("#", 1)[0]


def tracking_payload(line_id: str, carrier_code: str, tracking_number: str, quantity: int, complete: bool = True,
                     tracking_url: str | None = None) -> dict:
    """One line of one parcel. ``carrier_code`` is Octopia's ``carrierName`` (``staging.carrier_codes``).
    Octopia's parcel has no quantity: a line ships whole, so ``quantity`` is kept for the record."""
    return {"order_line_id": line_id, "carrier_name": carrier_code, "parcel_number": tracking_number,
            "tracking_url": tracking_url, "quantity": quantity, "complete": complete}


def _lines(order: dict) -> dict[str, dict]:
    lines = order.get("lines")
    return {str(line.get("orderLineId")): line for line in lines or [] if isinstance(line, dict)}


def _parcels(line: dict) -> list[str]:
    return [str(p.get("parcelNumber")) for p in line.get("parcels") or [] if isinstance(p, dict)]


def held_parts(cur, account: str, order_id: str) -> list[str]:
    """The staging orders of Octopia order ``order_id`` (one per delivery address) the warehouse
    cannot take yet: held, or not loaded. An order is accepted whole, so it waits for all of them."""
    cur.execute("""SELECT external_order_id, status FROM staging.orders WHERE channel = 'octopia' AND account = %s
                   AND (external_order_id = %s OR external_order_id LIKE %s)""",
                (account, order_id, order_id.replace("%", r"\%").replace("_", r"\_") + "#%"))
    return [f"{ext} ({status})" for ext, status in cur.fetchall() if status in HELD]


def _held_in_staging(account: str) -> Callable[[str], list[str]]:
    def held(order_id: str) -> list[str]:
        from contextlib import closing

        from orderbridge.steps import staging_connection

        with closing(staging_connection()) as conn, conn.cursor() as cur:
            return held_parts(cur, account, order_id)

    return held


def approval_handler(client: OctopiaClient, held: Callable[[str], list[str]] | None = None) -> Handler:
    """``held(order_id)``: parts of the order still held in staging (default: read there); an
    acceptance waits for them (the part that was ready enqueued it), a refusal does not."""
    held = held or _held_in_staging(client.account)

    def send(rows: list[OutboxRow]) -> dict[int, Outcome]:
        outcomes = {}
        for row in rows:
            order_id, want = order_of(row), row.payload["approval_status"]
            waiting = held(order_id) if want == "Accepted" else []
            if waiting:
                outcomes[row.id] = Outcome("waiting", f"order {order_id} is accepted whole: "
                                           f"{', '.join(waiting)} cannot be fulfilled yet")
                continue
            status = str(client.order(order_id).get("status"))
            if status != WAITING_ACCEPTANCE:
                outcomes[row.id] = _after_the_fact(order_id, want, status)
                continue
            try:
                client.approve(order_id, want)
            except Retryable:
                status = str(client.order(order_id).get("status"))  # did the lost answer's approval arrive?
                if status not in APPROVED[want]:
                    raise
            except InvalidPayload as err:
                outcomes[row.id] = Outcome("rejected", f"Octopia refused {want} for order {order_id}: {err}",
                                           {"problem": getattr(err, "problem", None)}, reason=APPROVAL_TOO_LATE)
                continue
            outcomes[row.id] = Outcome("sent", f"order {order_id} {want.lower()} on Octopia ({row.payload['because']})")
        return outcomes

    return send


def _after_the_fact(order_id: str, want: str, status: str) -> Outcome:
    if status in APPROVED[want]:
        return Outcome("sent", f"order {order_id} was already {status} on Octopia", {"already": status})
    return Outcome("rejected", f"order {order_id} is {status} on Octopia, no longer waiting for acceptance: {want} "
                   "was not sent. Resolution: look the order up in the Octopia seller back office; if it was "
                   "cancelled there, cancel it in the warehouse.", {"status": status}, reason=APPROVAL_TOO_LATE)


def tracking_handler(client: OctopiaClient) -> Handler:
    def send(rows: list[OutboxRow]) -> dict[int, Outcome]:
        parcels: dict[tuple[str, str], list[OutboxRow]] = {}
        for row in rows:
            parcels.setdefault((order_of(row), row.payload["parcel_number"]), []).append(row)
        outcomes: dict[int, Outcome] = {}
        for (order_id, number), parcel_rows in parcels.items():
            outcomes.update(_declare(client, order_id, number, parcel_rows))
        return outcomes

    return send


def _declare(client: OctopiaClient, order_id: str, number: str, rows: list[OutboxRow]) -> dict[int, Outcome]:
    """Declare one parcel for the lines of ``rows`` that do not carry it yet and can take it."""
    lines = _lines(client.order(order_id))
    outcomes, todo = {}, []
    for row in rows:
        line_id = row.payload["order_line_id"]
        line = lines.get(line_id)
        status = str((line or {}).get("status"))
        if line is None:
            outcomes[row.id] = Outcome("rejected", f"Octopia order {order_id} has no line {line_id}",
                                       reason=SHIPMENT_REFUSED)
        elif number in _parcels(line):
            outcomes[row.id] = Outcome("sent", f"line {line_id} already carries parcel {number}", {"already": True})
        elif supply_mode(line) != SELLER:
            outcomes[row.id] = Outcome("rejected", f"line {line_id} of order {order_id} is {supply_mode(line)}: "
                                       "not ours to ship, yet the warehouse shipped it. Resolution: check the "
                                       "parcel; Octopia ships this line itself.", reason=LINE_NOT_OPEN)
        elif status in BEFORE_PREPARATION:
            outcomes[row.id] = Outcome("waiting", f"line {line_id} of order {order_id} is {status} on Octopia: parcel "
                                       f"{number} is declared once it is InPreparation")
        elif status in SHIPPED_WORDS and _parcels(line):
            # Octopia's parcel has no quantity: a line split over parcels is declared with its first.
            outcomes[row.id] = Outcome("sent", f"line {line_id} was declared shipped with parcel "
                                       f"{', '.join(_parcels(line))}; Octopia takes one parcel per line",
                                       {"shipped_with": _parcels(line)})
        elif status == "InPreparation":
            todo.append(row)
        else:
            outcomes[row.id] = Outcome("rejected", f"line {line_id} of order {order_id} is {status} on Octopia: "
                                       f"parcel {number} not declared. Resolution: if it was cancelled, stop the "
                                       "parcel or book it as a return.", {"status": status}, reason=LINE_NOT_OPEN)
    if not todo:
        return outcomes
    first = todo[0].payload
    parcel = {"parcelNumber": number, "carrierName": first["carrier_name"],
              "orderLineIds": [row.payload["order_line_id"] for row in todo]}
    if first.get("tracking_url"):
        parcel["trackingUrl"] = first["tracking_url"]
    try:
        client.declare_parcels(order_id, [parcel])
    except Retryable:
        lines = _lines(client.order(order_id))  # the answer was lost: did the parcel arrive?
        if not all(number in _parcels(lines.get(row.payload["order_line_id"], {})) for row in todo):
            raise
    except InvalidPayload as err:
        outcomes.update({row.id: Outcome("rejected", f"Octopia refused parcel {number} for line "
                                         f"{row.payload['order_line_id']} of order {order_id}: {err}",
                                         {"problem": getattr(err, "problem", None)}, reason=SHIPMENT_REFUSED)
                         for row in todo})
        return outcomes
    outcomes.update({row.id: Outcome("sent", f"parcel {number} ({parcel['carrierName']}) declared for line "
                                     f"{row.payload['order_line_id']}") for row in todo})
    return outcomes


def stock_handler(client: OctopiaClient, account: str, record: Callable[[str, str, str, list[dict]], None]) -> Handler:
    """Stock is one figure per SKU across the account's sales channels (Octopia unifies it): every
    sales channel gets the same quantities, one package each. ``record(account, sales_channel,
    package_id, items)`` keeps the package for ``packages.poll``."""

    def send(rows: list[OutboxRow]) -> dict[int, Outcome]:
        items = [{"sellerExternalReference": row.payload["channel_sku"], "quantity": row.payload["quantity"]}
                 for row in rows]
        sent = []
        for sales_channel in client.sales_channels():
            package_id = client.create_package(sales_channel)
            client.add_offer_requests(package_id, items)
            client.set_ready(package_id)
            record(account, sales_channel, package_id, items)
            sent.append(f"{package_id} ({sales_channel})")
        where = ", ".join(sent) or "no sales channel"
        return {row.id: Outcome("sent", f"stock {row.payload['quantity']} in offer package(s) {where}; integration "
                                "is checked by the next runs", {"packages": sent}) for row in rows}

    return send
