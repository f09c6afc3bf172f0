"""From the warehouse's shipments to tracking effects, for any channel.

The warehouse writes ``staging.shipments`` (order, courier service, tracking number, and the
channel line ids shipped, or NULL for the whole order). Each shipped line becomes one tracking
effect keyed by the line alone, so a line's tracking is posted once, ever, whatever reruns or
corrections follow. Only ``open`` lines are tracked: a line cancelled on the channel is never
shipped, whatever the shipment row says. The channel's carrier code comes from ``staging.carrier_codes``; a shipment
whose courier service has no code stays pending, with one history entry saying how to fix it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from orderbridge import attention
from orderbridge.outbox import Effect, enqueue
from orderbridge.staging import record_event

TRACKING = "tracking"


@dataclass
class TrackingCounts:
    shipments: int = 0
    lines_enqueued: int = 0
    blocked_shipments: int = 0
    orders_marked_shipped: int = 0


def enqueue_tracking(cur, channel: str, account: str, payload: Callable[[str, str, str, int], dict],
                     run_id: str | None = None) -> TrackingCounts:
    """Turn new shipment lines into tracking effects, in the caller's transaction.

    Args:
        payload: the channel's shape for one line: ``(line_id, carrier_code, tracking, quantity)``.
    """
    counts = TrackingCounts()
    cur.execute(
        """SELECT s.id, o.id, o.external_order_id, l.channel_line_id, max(l.channel_quantity), s.tracking_number,
                  s.courier_service, c.carrier_code
           FROM staging.shipments s
           JOIN staging.orders o ON o.id = s.order_id
           JOIN staging.order_lines l ON l.order_id = o.id AND l.status = 'open'
                                  AND (s.lines IS NULL OR s.lines ? l.channel_line_id)
           LEFT JOIN staging.carrier_codes c
                  ON c.channel = o.channel AND lower(c.courier_service) = lower(s.courier_service)
           WHERE o.channel = %(c)s AND o.account = %(a)s AND NOT EXISTS (
               SELECT 1 FROM staging.outbox b
               WHERE b.idempotency_key = %(c)s || ':' || %(a)s || ':tracking:' || l.channel_line_id)
           GROUP BY s.id, o.id, o.external_order_id, l.channel_line_id, s.tracking_number, s.courier_service,
                    c.carrier_code
           ORDER BY s.id, l.channel_line_id""",
        {"c": channel, "a": account},
    )
    rows = cur.fetchall()
    counts.shipments = len({r[0] for r in rows})
    effects, blocked = [], {}
    for shipment_id, order_id, ext_id, line_id, qty, tracking, service, code in rows:
        if code is None:
            blocked[shipment_id] = (order_id, ext_id, shipment_id, service)
            continue
        effects.append(Effect(TRACKING, line_id, payload(line_id, code, tracking, qty), ext_id))
    counts.lines_enqueued = enqueue(cur, channel, account, effects)
    counts.blocked_shipments = record_blocked(
        cur, channel, account, list(blocked.values()), run_id,
        consequence=f"so the order will not show as dispatched on {channel}", code_name="<approved code>")
    counts.orders_marked_shipped = mark_shipped(cur, channel, account, run_id)
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


def mark_shipped(cur, channel: str, account: str, run_id: str | None) -> int:
    """Move ready and in-progress orders with a shipment to ``shipped`` (with a history entry); returns how many."""
    cur.execute(
        """WITH shipped AS (
               UPDATE staging.orders o SET status = 'shipped', status_reason = NULL, updated_at = now()
               WHERE o.channel = %s AND o.account = %s AND o.status IN ('ready', 'in_progress')
                 AND EXISTS (SELECT 1 FROM staging.shipments s WHERE s.order_id = o.id)
               RETURNING o.id, o.channel, o.account, o.external_order_id)
           INSERT INTO staging.order_events (order_id, channel, account, external_order_id, event, message, run_id)
           SELECT id, channel, account, external_order_id, 'shipped', 'warehouse shipped the order', %s FROM shipped""",
        (channel, account, run_id),
    )
    return cur.rowcount
