"""From the warehouse's shipments to tracking effects, for any channel.

The warehouse writes ``staging.shipments`` (a parcel: order, courier service, tracking number,
and ``lines``: NULL for every open line's remaining quantity, a JSON array of channel line ids for
those lines' remaining quantities, or a JSON object of line id -> quantity). A trigger (migration
0006) resolves each parcel into ``staging.shipment_lines`` when it is written and refuses one
that carries more than remains. Each (parcel, line) becomes one tracking effect keyed by line and
tracking number, so a line shipped in two parcels is tracked twice, each parcel with its own
quantity, and each once, ever, whatever reruns follow. Only ``open`` lines are tracked: a line
cancelled on the channel is never shipped there, whatever the parcel says. The channel's carrier
code comes from ``staging.carrier_codes``; a parcel whose courier service has no code stays
pending, with one history entry saying how to fix it.

An order is ``shipped`` once every open line's quantity is in its parcels, ``partially_shipped``
before that (``mark_shipped``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from orderbridge import attention
from orderbridge.outbox import Effect, enqueue
from orderbridge.staging import record_event

TRACKING = "tracking"
PARTIAL_DEADLINE = "partially_shipped_deadline"  # reason code of the attention a partial parcel raises

# Per order: whether its parcels carry every open line's quantity (``upto``: parcels up to that id).
_COMPLETE = """NOT EXISTS (
    SELECT 1 FROM staging.order_lines l WHERE l.order_id = {order} AND l.status = 'open'
      AND l.channel_quantity > (SELECT coalesce(sum(sl.quantity), 0) FROM staging.shipment_lines sl
                                JOIN staging.shipments p ON p.id = sl.shipment_id
                                WHERE p.order_id = {order} AND sl.channel_line_id = l.channel_line_id{upto}))"""

# A parcel's tracking URL: the warehouse's, else its courier's template (migration 0010).
_URL = """coalesce(nullif(s.tracking_url, ''), (
    SELECT replace(t.url_template, '{tracking}', s.tracking_number) FROM staging.tracking_url_templates t
    WHERE lower(t.courier_service) = lower(s.courier_service)))"""


@dataclass
class TrackingCounts:
    shipments: int = 0
    lines_enqueued: int = 0
    blocked_shipments: int = 0
    orders_marked_shipped: int = 0
    orders_partially_shipped: int = 0


def enqueue_tracking(cur, channel: str, account: str, payload: Callable[..., dict],
                     run_id: str | None = None, partial_deadline: timedelta | None = None,
                     tracking_url: bool = False) -> TrackingCounts:
    """Turn new parcel lines into tracking effects, in the caller's transaction.

    Args:
        payload: the channel's shape for one line of one parcel:
            ``(line_id, carrier_code, tracking, quantity, complete)``; ``complete`` says whether
            the order is fully shipped with this parcel and the ones written before it.
        partial_deadline: how long the channel lets an order stay partially shipped (see
            ``mark_shipped``).
        tracking_url: the channel takes a tracking URL: ``payload`` also gets ``tracking_url=``, the
            parcel's own (``staging.shipments.tracking_url``) or its courier's template filled in
            (``staging.tracking_url_templates``), None when there is neither.
    """
    counts = TrackingCounts()
    cur.execute(
        f"""SELECT s.id, o.id, o.external_order_id, sl.channel_line_id, sl.quantity, s.tracking_number,
                   s.courier_service, c.carrier_code, {_COMPLETE.format(order='o.id', upto=' AND p.id <= s.id')},
                   {_URL if tracking_url else 'NULL'}
            FROM staging.shipments s
            JOIN staging.orders o ON o.id = s.order_id
            JOIN staging.shipment_lines sl ON sl.shipment_id = s.id
            LEFT JOIN staging.carrier_codes c
                   ON c.channel = o.channel AND lower(c.courier_service) = lower(s.courier_service)
            WHERE o.channel = %(c)s AND o.account = %(a)s
              AND EXISTS (SELECT 1 FROM staging.order_lines l WHERE l.order_id = o.id AND l.status = 'open'
                          AND l.channel_line_id = sl.channel_line_id)
              AND NOT EXISTS (
                SELECT 1 FROM staging.outbox b WHERE b.idempotency_key
                    = %(c)s || ':' || %(a)s || ':tracking:' || sl.channel_line_id || ':' || s.tracking_number)
            ORDER BY s.id, sl.channel_line_id""",
        {"c": channel, "a": account},
    )
    rows = cur.fetchall()
    counts.shipments = len({r[0] for r in rows})
    effects, blocked = [], {}
    for shipment_id, order_id, ext_id, line_id, qty, tracking, service, code, complete, url in rows:
        if code is None:
            blocked[shipment_id] = (order_id, ext_id, shipment_id, service)
            continue
        body = (payload(line_id, code, tracking, qty, complete, tracking_url=url) if tracking_url
                else payload(line_id, code, tracking, qty, complete))
        effects.append(Effect(TRACKING, f"{line_id}:{tracking}", body, ext_id))
    counts.lines_enqueued = enqueue(cur, channel, account, effects)
    counts.blocked_shipments = record_blocked(
        cur, channel, account, list(blocked.values()), run_id,
        consequence=f"so the order will not show as dispatched on {channel}", code_name="<approved code>")
    counts.orders_marked_shipped, counts.orders_partially_shipped = mark_shipped(
        cur, channel, account, run_id, partial_deadline)
    return counts


def record_blocked(cur, channel: str, account: str, blocked: list[tuple[int, str, int, str]], run_id: str | None,
                   *, consequence: str, code_name: str, alternative: str = "") -> int:
    """One ``tracking_blocked`` history entry per shipment whose courier service has no carrier code
    for ``channel`` (once, not once per run), and its order's ``tracking_blocked`` attention while it
    lasts; returns how many shipments wait. ``blocked`` is every blocked shipment of the account, so
    the attention of orders not in it any more (the row was added) is cleared.

    Args:
        blocked: ``(order_id, external_order_id, shipment_id, courier_service)`` per shipment.
        consequence: what the missing code means on this channel, for the message.
        code_name: what to put in the carrier_code column, as the channel calls it.
        alternative: another way out, appended to the Resolution.
    """
    flags: dict[str, attention.Flag] = {}
    for order_id, ext, shipment_id, service in blocked:
        literal = service.replace("'", "''")
        message = (f"courier service {service!r} has no {channel} carrier code, {consequence}. Resolution: INSERT "
                   f"INTO staging.carrier_codes (channel, courier_service, carrier_code) VALUES ('{channel}', "
                   f"'{literal}', '{code_name}'); the next run posts it.{alternative}")
        before = flags.get(ext)
        flags[ext] = attention.Flag(ext, "tracking_blocked", message if before is None or message in before.message
                                    else f"{before.message}; {message}",
                                    {"shipment_ids": [*(before.detail["shipment_ids"] if before else []), shipment_id]})
        cur.execute(
            """SELECT 1 FROM staging.order_events WHERE event = 'tracking_blocked'
               AND channel = %s AND account = %s AND (detail->>'shipment_id')::bigint = %s""",
            (channel, account, shipment_id),
        )
        if cur.fetchone():
            continue  # already told; the shipment stays pending until the mapping exists
        record_event(
            cur, channel, account, "tracking_blocked",
            f"order {ext} on {channel}/{account}: {message}",
            order_id=order_id, external_order_id=ext, detail={"shipment_id": shipment_id, "courier_service": service},
            run_id=run_id,
        )
    attention.raise_(cur, channel, account, flags.values(), run_id)
    attention.clear(cur, channel, account, ["tracking_blocked"], keep=[(ext, "tracking_blocked") for ext in flags],
                    run_id=run_id)
    return len(blocked)


def mark_shipped(cur, channel: str, account: str, run_id: str | None,
                 partial_deadline: timedelta | None = None) -> tuple[int, int]:
    """Move orders with parcels to ``shipped`` (every open line's quantity shipped) or
    ``partially_shipped``, with a history entry each; returns how many became each.

    Args:
        partial_deadline: for a channel that cancels orders left partially shipped (Groupon: 14
            days after the first parcel), the order moving to ``partially_shipped`` gets the
            attention reason ``partially_shipped_deadline`` naming the deadline (``detail.deadline``)
            and a ``needs_attention`` entry; it is cleared once the order is shipped.
    """
    cur.execute(
        f"""WITH progress AS (
               SELECT o.id, CASE WHEN {_COMPLETE.format(order='o.id', upto='')} THEN 'shipped'
                                 ELSE 'partially_shipped' END AS status,
                      (SELECT min(p.shipped_at) FROM staging.shipments p WHERE p.order_id = o.id) AS first_parcel
               FROM staging.orders o
               WHERE o.channel = %(c)s AND o.account = %(a)s
                 AND o.status IN ('ready', 'in_progress', 'partially_shipped')
                 AND EXISTS (SELECT 1 FROM staging.shipments p WHERE p.order_id = o.id)),
           moved AS (
               UPDATE staging.orders o SET status = g.status, status_reason = NULL, updated_at = now()
               FROM progress g WHERE o.id = g.id AND o.status <> g.status
               RETURNING o.id, o.external_order_id, o.status, g.first_parcel)
           SELECT id, external_order_id, status, first_parcel FROM moved ORDER BY id""",
        {"c": channel, "a": account},
    )
    moved = cur.fetchall()
    for order_id, ext, status, first_parcel in moved:
        message = "warehouse shipped the order" if status == "shipped" else \
            "warehouse shipped part of the order; the rest is still reserved"
        record_event(cur, channel, account, status, message, order_id=order_id, external_order_id=ext,
                     run_id=run_id)
        if partial_deadline is not None:
            _deadline_attention(cur, channel, account, order_id, ext, status, first_parcel + partial_deadline,
                                run_id)
    return (sum(1 for m in moved if m[2] == "shipped"), sum(1 for m in moved if m[2] == "partially_shipped"))


def _deadline_attention(cur, channel: str, account: str, order_id: int, ext: str, status: str, deadline,
                        run_id: str | None) -> None:
    """Raise ``partially_shipped_deadline`` with the date the channel cancels the order; clear it once shipped."""
    if status == "shipped":
        attention.clear(cur, channel, account, [PARTIAL_DEADLINE], order_ids=[order_id], run_id=run_id)
        return
    note = (f"partially shipped on {channel}: {channel} cancels order {ext} at {deadline.isoformat()} unless the rest "
            "is shipped by then. Resolution: ship the rest (a parcel in staging.shipments), or cancel the lines that "
            f"cannot ship on {channel}")
    detail = {"reason": PARTIAL_DEADLINE, "deadline": deadline.isoformat()}
    if attention.flag(cur, channel, account, ext, PARTIAL_DEADLINE, note, detail=detail, run_id=run_id):
        record_event(cur, channel, account, "needs_attention", note, order_id=order_id, external_order_id=ext,
                     detail=detail, run_id=run_id)
