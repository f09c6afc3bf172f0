"""Merkana write-backs: status updates enqueued per order and parcel, and the two outbox handlers.

See ``client`` for the retry policy (6 attempts 10 minutes apart) and the stock modes.
"""

from __future__ import annotations

from orderbridge.channels.merkana import CHANNEL
from orderbridge.channels.merkana.client import ORDER_STATUS, MerkanaClient
from orderbridge.channels.merkana.settings import PlatformSettings, merchant_of
from orderbridge.outbox import Effect, Handler, OutboxRow, Outcome, enqueue
from orderbridge.shipments import mark_shipped, record_blocked

# Orders held until a person acts: Merkana is told once (extra ``problem_status``).
HELD = ("awaiting_mapping", "invalid_address", "awaiting_stock")


# -- status updates ------------------------------------------------------------------------------
def enqueue_status_updates(cur, settings: PlatformSettings, account: str, run_id: str | None = None) -> dict:
    """Mark orders with parcels as shipped or partially shipped, then enqueue one status effect per
    new (order, status, parcel) for the statuses Merkana is told about (``settings.status_values``),
    in the caller's transaction.

    A (partially) shipped order's update carries each parcel, so Merkana can follow every parcel,
    and the final status (``send``) goes only once every line shipped; until then each parcel goes
    with the partially shipped word (``processing`` by default): ``awb`` is its tracking number and ``courier``
    Merkana's name for the warehouse's courier service (``staging.carrier_codes``, channel
    ``merkana``). A service with no row blocks the parcel, as on every channel: the shipment gets
    one ``tracking_blocked`` history entry saying which row to add, and the status still goes, with
    ``awb`` and ``courier`` null (the seed's own example), unless another parcel of the order
    carries it; once the row exists, the next run posts the status again with the parcel. With the
    extra ``unmapped_courier: service_name`` the service's own name is sent instead.

    An order held for a person (``HELD``) gets one notice, the status ``settings.problem_status``
    (none when it is empty), once per order and hold: Merkana learns the order is stuck with us.
    Returns counts.
    """
    shipped, partly = mark_shipped(cur, CHANNEL, account, run_id)
    words = {**({s: settings.problem_status for s in HELD} if settings.problem_status else {}),
             **settings.status_values}
    cur.execute(
        """SELECT o.id, o.external_order_id, o.status, s.id, s.tracking_number, s.courier_service, c.carrier_code
           FROM staging.orders o
           LEFT JOIN staging.shipments s ON s.order_id = o.id AND o.status IN ('shipped', 'partially_shipped')
           LEFT JOIN staging.carrier_codes c ON c.channel = o.channel
                AND lower(c.courier_service) = lower(s.courier_service)
           WHERE o.channel = %s AND o.account = %s AND o.status = ANY(%s)
           ORDER BY o.id, s.id""",
        (CHANNEL, account, list(words)),
    )
    rows = cur.fetchall()
    free_text = settings.unmapped_courier == "service_name"
    carried = {r[0] for r in rows if r[3] is None or r[6] is not None or free_text}  # orders with a status to send
    effects, blocked = [], []
    for order_id, ext, status, shipment_id, awb, service, code in rows:
        courier = code or (service if free_text else None)
        if shipment_id is not None and courier is None:
            blocked.append((order_id, ext, shipment_id, service))
            if order_id in carried:
                continue
            carried.add(order_id)
            awb = None  # the status alone; the parcel waits for its courier
        effects.append(Effect(ORDER_STATUS, f"{ext}:{status}:{awb or ''}",
                              {"idextern": ext, "status": words[status], "awb": awb,
                               "courier": courier}, ext))
    return {"orders_marked_shipped": shipped, "orders_partially_shipped": partly,
            "status_updates_enqueued": enqueue(cur, CHANNEL, account, effects),
            "parcels_blocked": _record_blocked(cur, account, blocked, run_id)}


def _record_blocked(cur, account: str, blocked: list[tuple[int, str, int, str]], run_id: str | None) -> int:
    return record_blocked(
        cur, CHANNEL, account, blocked, run_id,
        consequence="so this parcel (awb, courier) is not sent; the order's status goes without it",
        code_name="<the courier as Merkana names it>",
        alternative=" A platform that takes any courier name can instead get the service name as is: "
                    "connection extra unmapped_courier service_name.")


def status_handler(client: MerkanaClient) -> Handler:
    """One ff-orders-status post per batch. A batch Merkana refuses is split (``outbox._send``) so
    one bad order is ``rejected`` with Merkana's message and the others are sent."""

    def send(rows: list[OutboxRow]) -> dict[int, Outcome]:
        client.orders_status([{k: row.payload[k] for k in ("idextern", "status", "awb", "courier")} for row in rows])
        return {row.id: Outcome("sent", f"status {row.payload['status']} posted"
                                + (f" (awb {row.payload['awb']})" if row.payload.get("awb") else ""))
                for row in rows}

    return send


# -- stock ------------------------------------------------------------------------------------------
def stock_handler(client: MerkanaClient, account: str) -> Handler:
    """One ff-supplies post per batch, for the merchant of ``account``.

    Each row holds the new level (``quantity``) and the level Merkana last accepted
    (``confirmed``, from the reconciliation that made it; a new initial-stock answer supersedes
    rows made against an older one). ``stock.confirm_sent`` then records what was accepted.
    """
    mid = merchant_of(account)
    delta = client.settings.stock_mode == "delta"

    def send(rows: list[OutboxRow]) -> dict[int, Outcome]:
        products, outcomes = [], {}
        for row in rows:
            quantity, confirmed = row.payload["quantity"], row.payload.get("confirmed")
            br = quantity - (confirmed or 0) if delta else quantity
            if delta and br == 0:
                outcomes[row.id] = Outcome("sent", "no change to report", {"br": 0})
                continue
            products.append({"sku": row.payload["channel_sku"], "br": br})
            outcomes[row.id] = Outcome("sent", f"br {br:+d} posted" if delta else f"br {br} posted", {"br": br})
        if products:
            client.supplies(mid, products)
        return outcomes

    return send


