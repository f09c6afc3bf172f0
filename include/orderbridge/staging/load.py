"""The load: mapped orders upserted set-based with their lines, history and acknowledgement effects.

What a cancellation does to an order the warehouse started is ``staging.cancellations``.
"""


from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from typing import Protocol

import msgspec

from orderbridge import attention, db, fastpath
from orderbridge.orders import (
    CANCEL_REQUESTED,
    WAREHOUSE_STATUSES,
    SkuMap,
    StagedOrder,
    decide_status,
    line_rows,
    normalize_country,
    stock_shortage,
    take_stock,
)
from orderbridge.outbox import Effect, enqueue
from orderbridge.staging import overrides
from orderbridge.staging.cancellations import _warehouse_owned, describe, lines_cancelled_since
from orderbridge.staging.history import _events
from orderbridge.staging.rows import (
    IMPORT_COLUMNS,
    LINE_TABLE_COLUMNS,
    ORDER_COLUMNS,
    _NewOrders,
)
from orderbridge.stock import available as available_stock
from orderbridge.stock import owner_of as stock_owner

log = logging.getLogger(__name__)


class ChannelMapper(Protocol):
    """What ``transform`` needs from a channel module: a pure mapper and its acknowledgements.

    ``checks_stock``: True when the channel's orders wait as ``awaiting_stock`` while the shelf
    cannot cover them (a channel that answers such orders, e.g. with a status of its own).
    Optional ``to_order_of(external_id, rows)``: for a channel whose one payload is landed under
    several external ids (each its own staging order), maps the one named; ``transform`` then
    calls it instead of ``to_order``.
    """

    channel: str
    checks_stock: bool

    def to_order(self, rows: list[tuple[int, dict]]) -> StagedOrder:
        """Map every raw payload of one external order (oldest first) to one ``StagedOrder``."""

    def acknowledgements(self, order: StagedOrder, status: str) -> list[Effect]:
        """Effects to send once ``order`` is committed with ``status`` (mark exported, 5.1, 6.2, ...).

        ``status`` is a staging status, or ``cancel_refused`` for a cancellation that came after
        the warehouse had started on the order.
        """


@dataclass
class LoadCounts:
    orders: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    held_by_warehouse: int = 0
    lines: int = 0
    by_status: dict[str, int] = field(default_factory=dict)
    effects: int = 0

    def add(self, other: LoadCounts) -> None:
        for name in ("orders", "inserted", "updated", "unchanged", "held_by_warehouse", "lines", "effects"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for status, n in other.by_status.items():
            self.by_status[status] = self.by_status.get(status, 0) + n


# What ``content_hash`` digests: the order's staging content as JSON with sorted keys (msgspec: a
# quarter of the load's CPU went into json.dumps here). The text must stay as it is: a change
# rewrites, once, every order transformed again (as the switch from json.dumps did).
_CONTENT_JSON = msgspec.json.Encoder(order="sorted", enc_hook=str)
_ORDER_FIELDS = ORDER_COLUMNS[3:19]


def _order_row(order: StagedOrder, status: str, reason: str | None, lines: list[tuple]) -> tuple:
    values = {k: getattr(order, k) for k in _ORDER_FIELDS}
    values["ship_country"] = normalize_country(order.ship_country) or order.ship_country
    content = _CONTENT_JSON.encode([status, reason, values, order.channel_data, order.attention, lines])
    digest = hashlib.sha256(content).hexdigest()
    return (order.external_order_id, status, reason, *values.values(), order.channel_data, order.raw_id, digest)


@fastpath.paused_gc()
def load_orders(cur, mapper: ChannelMapper, account: str, orders: list[StagedOrder], skus: SkuMap,
                run_id: str | None) -> LoadCounts:
    """Upsert a batch of mapped orders, their lines, events and acknowledgement effects.

    Runs in the caller's transaction. Orders whose content did not change write nothing; orders the
    warehouse owns (``in_progress`` and later) keep their staging row, and only a cancellation or
    return the channel reports for them is recorded (``_warehouse_owned``).

    Orders new to staging (the bulk of a load) get ids from the table's sequence and go in by plain
    ``COPY``, with their lines, history and outbox rows, on a background thread while the next ones
    are mapped to rows (``_NewOrders``). Every statement is keyed by order ids known here, so no plan
    depends on table statistics and the cost of a batch does not grow with the tables.
    """
    channel = mapper.channel
    counts = LoadCounts(orders=len(orders))
    if not orders:
        return counts
    ids = [o.external_order_id for o in orders]
    cur.execute(
        "SELECT external_order_id, id, status, content_hash, status_reason FROM staging.orders"
        " WHERE channel = %s AND account = %s AND external_order_id = ANY(%s)",
        (channel, account, ids),
    )
    existing, order_ids, held_for = {}, {}, {}
    for ext, order_id, status, digest, reason in cur.fetchall():
        existing[ext] = (status, digest)
        order_ids[ext] = order_id
        if status == "awaiting_stock":
            held_for[ext] = reason
    # Stock free for this batch: on hand minus what every other open order already reserves.
    free = (available_stock(cur, exclude=(channel, account, ids), owner=stock_owner(cur, channel, account))
            if mapper.checks_stock else None)
    new = _NewOrders(cur, channel, account, run_id, sum(1 for ext in ids if ext not in existing))
    changed_rows, lines_by_order, events, effects, changed, owned = [], {}, [], [], {}, []
    decided, notes = {}, {}  # what each order not owned by the warehouse is now, and the mapper's notes
    released, first_applied = _apply_overrides(cur, channel, account, orders)
    mapped = [(order, *line_rows(order, skus)) for order in orders]
    # An order already accepted as ready keeps its stock: it was promised (plentymarkets: 5.1 sent),
    # so it reserves first and is never re-checked; only new and held orders compete for the rest.
    promised = {ext for ext, (status, _digest) in existing.items() if status == "ready"}
    # Lines cancelled on the channel since staging last saw them (Groupon's look-back finds them).
    late = lines_cancelled_since(cur, channel, account, [o for o in orders if o.external_order_id in existing])
    if free is not None:
        for order, lines, _unknown in mapped:
            if order.external_order_id in promised:
                take_stock(lines, free)
    try:
        for order, lines, unknown in mapped:
            shortage = None
            if (free is not None and not unknown and order.external_order_id not in promised
                    and order.channel_state != CANCEL_REQUESTED and order.external_order_id not in released):
                shortage = stock_shortage(lines, free)
            if order.external_order_id in released:
                order.hold = None  # the operator released it (release_stock): the channel's hold too
            status, reason = decide_status(order, unknown, shortage)
            if status == "awaiting_stock" and order.external_order_id in held_for:
                # Still held: keep the reason it was held with. Which SKUs fall short moves with every
                # other order, and a new reason would rewrite the order at every re-check.
                reason = held_for[order.external_order_id]
            if free is not None and status == "ready" and order.external_order_id not in promised:
                take_stock(lines, free)
            counts.by_status[status] = counts.by_status.get(status, 0) + 1
            row = _order_row(order, status, reason, lines)
            ext = order.external_order_id
            before = existing.get(ext)
            if before and before[0] in WAREHOUSE_STATUSES:
                counts.held_by_warehouse += 1
                owned.append((order, before[0]))
                continue
            decided[ext] = (status, reason)
            if before and before[1] == row[-1]:
                counts.unchanged += 1
                continue
            changed[ext] = (order, status)
            counts.lines += len(lines)
            if before is None:
                history = []  # the import itself is on the order row (IMPORT_COLUMNS), not a history row
                if order.attention:
                    history.append((ext, "needs_attention", order.attention, {}))
                    notes[ext] = order.attention
                new.add(row, lines, history, mapper.acknowledgements(order, status))
                continue
            changed_rows.append(row)
            lines_by_order[ext] = lines
            effects += mapper.acknowledgements(order, status)
            if before[0] != status:
                events.append((ext, "status_changed", f"{before[0]} -> {status}",
                               {"from": before[0], "to": status, "reason": reason}))
            if late.get(ext):
                events.append((ext, "lines_cancelled", f"{describe(channel, late[ext])} before the warehouse "
                               "started: not picked", {"lines": late[ext], "status": status}))
            if order.attention:
                events.append((ext, "needs_attention", order.attention, {}))
                notes[ext] = order.attention
        copied = new.finish(order_ids)
    except BaseException:
        new.abandon()
        raise
    counts.inserted = sum(1 for ext in changed if ext not in existing)
    counts.updated = len(changed) - counts.inserted
    if not copied:  # one of them existed after all: they go the way changed orders go
        changed_rows[:0] = new.rows
        lines_by_order.update(new.lines)
        events[:0] = new.events
        effects[:0] = new.effects
    if changed_rows:
        _upsert(cur, channel, account, changed_rows, lines_by_order, order_ids, run_id)
    effects += _warehouse_owned(cur, mapper, account, owned, events, late, run_id)
    taken = {order.external_order_id: status for order, status in owned}  # overrides come too late for these
    first_applied = [entry if entry[0] not in taken else
                     (entry[0], "override_unusable", f"{entry[2]} (not applied: the warehouse already took the order, "
                      f"status {taken[entry[0]]})", entry[3]) for entry in first_applied]
    _events(cur, channel, account, events + first_applied, run_id, order_ids)
    overrides.mark_applied(cur, first_applied)
    attention.sync_orders(cur, channel, account, decided, notes, run_id, new=set(decided) - existing.keys(),
                          order_ids=order_ids)
    counts.effects = new.effects_written + enqueue(cur, channel, account, effects, order_ids)
    _remember_channel_products(cur, channel, account, orders)
    return counts


def _apply_overrides(cur, channel: str, account: str, orders: list[StagedOrder]) -> tuple[set[str], list[tuple]]:
    """Apply the operators' overrides to the mapped orders (``staging.overrides``); returns the orders
    released from the stock check and the history entries of overrides applied the first time."""
    found = overrides.active(cur, channel, account, [o.external_order_id for o in orders])
    released, history = set(), []
    for order in orders:
        if order.external_order_id in found and not order.invalid_reason:
            release, entries = overrides.apply(order, found[order.external_order_id])
            if release:
                released.add(order.external_order_id)
            history += entries
    return released, history


def _upsert(cur, channel: str, account: str, rows: list[tuple], lines_by_order: dict[str, list[tuple]],
            order_ids: dict[str, int], run_id: str | None) -> None:
    """Insert or update orders that changed, and replace their lines; fills ``order_ids``.

    ``INSERT ... ON CONFLICT DO UPDATE ... WHERE changed`` from a temp table; its ``RETURNING``
    gives the ids of the rows really written, so an order the warehouse took meanwhile keeps its
    row and its lines.
    """
    cur.execute(
        f"""CREATE TEMP TABLE IF NOT EXISTS tmp_orders ON COMMIT DELETE ROWS AS
            SELECT channel, account, {', '.join(ORDER_COLUMNS)} FROM staging.orders WITH NO DATA"""
    )
    db.copy_rows(cur, "tmp_orders", ("channel", "account", *ORDER_COLUMNS), ((channel, account, *row) for row in rows))
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in ORDER_COLUMNS[1:])
    cur.execute(
        f"""INSERT INTO staging.orders (channel, account, {', '.join(ORDER_COLUMNS)}, {', '.join(IMPORT_COLUMNS)})
            SELECT channel, account, {', '.join(ORDER_COLUMNS)}, status, status_reason, %s FROM tmp_orders
            ON CONFLICT (channel, account, external_order_id) DO UPDATE SET {updates}, updated_at = now()
            WHERE staging.orders.content_hash IS DISTINCT FROM EXCLUDED.content_hash
              AND staging.orders.status NOT IN %s
            RETURNING external_order_id, id""",
        (run_id, WAREHOUSE_STATUSES),
    )
    written = dict(cur.fetchall())
    if not written:
        return
    order_ids.update(written)
    cur.execute("DELETE FROM staging.order_lines WHERE order_id = ANY(%s)", (list(written.values()),))
    db.copy_rows(cur, "staging.order_lines", LINE_TABLE_COLUMNS,
                 ((written[ext], *line) for ext, lines in lines_by_order.items() if ext in written for line in lines))


def _remember_channel_products(cur, channel: str, account: str, orders: list[StagedOrder]) -> None:
    seen = {}
    for order in orders:
        for line in order.lines:
            seen.setdefault(line.channel_sku, (line.name, line.kit_spec, line.channel_product_id))
    cur.execute(
        "SELECT channel_sku FROM staging.channel_products"
        " WHERE channel = %s AND account = %s AND channel_sku = ANY(%s)",
        (channel, account, list(seen)),
    )
    for (sku,) in cur.fetchall():
        seen.pop(sku)
    for sku, (name, kit_spec, product_id) in seen.items():
        cur.execute(
            """INSERT INTO staging.channel_products (channel, account, channel_sku, name, kit_spec, external_product_id)
               VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING""",
            (channel, account, sku, name, kit_spec, product_id),
        )
