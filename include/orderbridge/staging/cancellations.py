"""Cancellations that reach staging: before the warehouse started, and after (a person's job).

A channel cancels a whole order (plentymarkets 8.0, Merkana's ``cancel_order``) or single lines
(Groupon, seen when the look-back reads an exported order again). Before the warehouse started,
the order or line is simply no longer picked; after (``in_progress``, ``shipped``), a parcel may
already hold it: the order is raised for a person (``staging.attention``, reason
``cancel_after_pick``) with a ``cancel_refused`` history entry whose ``detail.reason`` says the
same, and the channel is still answered
as it expects (plentymarkets 8.8). ``cancel_order`` is the synchronous cancellation a channel that
calls us (Merkana) needs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from orderbridge import attention
from orderbridge.orders import CANCEL_REQUESTED, WAREHOUSE_STATUSES, StagedOrder
from orderbridge.staging.history import record_event

if TYPE_CHECKING:
    from orderbridge.outbox import Effect
    from orderbridge.staging.load import ChannelMapper

# The reason code (event ``detail.reason``) of a cancellation that came after the warehouse started.
CANCEL_AFTER_PICK = "cancel_after_pick"


def lines_cancelled_since(cur, channel: str, account: str, orders: list[StagedOrder]) -> dict[str, list[str]]:
    """Per order, the lines the channel now reports cancelled that staging still holds as open.

    One query, and only for orders that have a cancelled line at all (few: a bulk load of new
    orders asks nothing).
    """
    wanted = {o.external_order_id: {line.channel_line_id for line in o.lines if line.status == "cancelled"}
              for o in orders}
    wanted = {ext: lines for ext, lines in wanted.items() if lines}
    if not wanted:
        return {}
    cur.execute(
        """SELECT DISTINCT o.external_order_id, l.channel_line_id FROM staging.orders o
           JOIN staging.order_lines l ON l.order_id = o.id AND l.status = 'open'
           WHERE o.channel = %s AND o.account = %s AND o.external_order_id = ANY(%s)""",
        (channel, account, list(wanted)),
    )
    found: dict[str, list[str]] = {}
    for ext, line in cur.fetchall():
        if line in wanted[ext]:
            found.setdefault(ext, []).append(line)
    return {ext: sorted(lines, key=lambda x: (len(x), x)) for ext, lines in found.items()}


def describe(channel: str, lines: list[str]) -> str:
    """``line(s) 1, 2 cancelled or refunded on <channel>`` for messages."""
    return f"line{'s' if len(lines) > 1 else ''} {', '.join(lines)} cancelled or refunded on {channel}"


def _warehouse_owned(cur, mapper: ChannelMapper, account: str, owned: list[tuple[StagedOrder, str]],
                     events: list[tuple], late: dict[str, list[str]], run_id: str | None) -> list[Effect]:
    """What a channel's cancellation (of the order, or of ``late`` lines) means for orders the
    warehouse already owns.

    A cancellation after picking started cannot be done: the order is flagged for a person (the
    channel is still told, as plentymarkets expects 8.8 either way). Returns the acknowledgement
    effects; appends history to ``events``. (Returns are return orders of their own: plentymarkets
    ``returns.record``.)
    """
    channel, effects = mapper.channel, []
    for order, before in owned:
        ext = order.external_order_id
        if before not in ("in_progress", "partially_shipped", "shipped"):
            continue
        if order.channel_state == CANCEL_REQUESTED:
            note = _flag_cancel_refused(cur, channel, account, ext, before, run_id)
            effects += mapper.acknowledgements(order, "cancel_refused")
        elif late.get(ext):
            note = _flag_cancel_refused(cur, channel, account, ext, before, run_id, describe(channel, late[ext]))
        else:
            continue
        if note:
            events.append((ext, "cancel_refused", note, {"status": before, "reason": CANCEL_AFTER_PICK,
                                                         **({"lines": late[ext]} if late.get(ext) else {})}))
    return effects


def _flag_cancel_refused(cur, channel: str, account: str, external_order_id: str, status: str,
                         run_id: str | None, what: str | None = None) -> str | None:
    """Raise ``cancel_after_pick`` on an order whose cancellation (``what``: of some lines) came too
    late; returns the note, or None if it is already raised."""
    what = f"{what} after the warehouse started ({status}): still in the order" if what else (
        f"cancellation requested on {channel} after the warehouse started ({status}): not cancelled")
    note = (f"{what}. Resolution: stop the parcel by hand or handle it as a return, then clear it in "
            "staging.attention.")
    new = attention.flag(cur, channel, account, external_order_id, CANCEL_AFTER_PICK, note,
                         detail={"status": status}, run_id=run_id)
    return note if new else None


def cancel_order(cur, channel: str, account: str, external_order_id: str, reason: str,
                 run_id: str | None = None) -> tuple[bool, str]:
    """Cancel one staged order if the warehouse has not started on it, in the caller's transaction.

    Cancelled orders reserve no stock, so this also releases it. Returns ``(done, status)``: done
    is False when the order is already being worked on (``in_progress``, ``shipped``, ...); the
    order is then flagged for a person. An order that is already cancelled counts as done.

    Raises:
        KeyError: no such order in staging.
    """
    cur.execute(
        "SELECT id, status FROM staging.orders WHERE channel = %s AND account = %s AND external_order_id = %s"
        " FOR UPDATE",
        (channel, account, external_order_id),
    )
    row = cur.fetchone()
    if row is None:
        raise KeyError(f"{channel}/{account} order {external_order_id} is not in staging")
    order_id, status = row
    if status == "cancelled":
        return True, status
    if status in WAREHOUSE_STATUSES:
        note = _flag_cancel_refused(cur, channel, account, external_order_id, status, run_id)
        if note:
            record_event(cur, channel, account, "cancel_refused", note, order_id=order_id,
                         external_order_id=external_order_id, detail={"status": status, "reason": CANCEL_AFTER_PICK},
                         run_id=run_id)
        return False, status
    cur.execute("UPDATE staging.orders SET status = 'cancelled', status_reason = %s, updated_at = now() WHERE id = %s",
                (reason, order_id))
    attention.clear(cur, channel, account, attention.HOLDS, order_ids=[order_id], run_id=run_id)
    record_event(cur, channel, account, "status_changed", f"{status} -> cancelled", order_id=order_id,
                 external_order_id=external_order_id, detail={"from": status, "to": "cancelled", "reason": reason},
                 run_id=run_id)
    return True, "cancelled"
