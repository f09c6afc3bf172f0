"""What needs a person: reason-coded rows in ``staging.attention``, raised and cleared by the code
that knows, and reported by the tasks that left them.

Each row is one order and one ``reason`` from ``REASONS``, with a message that ends in a Resolution
(what to add or fix, as SQL or a setting). At most one row per order and reason is open: raising it
again only refreshes its message. A hold or block raises its reason when it starts and clears it
when it is resolved (``clear``); a person clears what only a person can resolve (``clear`` with
``by``, or ``UPDATE staging.attention SET cleared_at = now(), cleared_by = '<name>'``).
``staging.orders.attention`` is kept, by a trigger, as the readable summary of the open rows.

Everything here runs in the caller's transaction, set-based: a load raises one statement's worth
per batch, not one per order.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from psycopg2.extras import execute_values

from orderbridge import db

log = logging.getLogger(__name__)

# The fixed list (the table's CHECK constraint holds the same): reason -> what it means.
REASONS = {
    "awaiting_mapping": "an order line's SKU maps to no warehouse SKU; the order is held",
    "invalid_address": "the ship-to address lacks a street, city, postcode or known country; the order is held",
    "awaiting_stock": "the shelf cannot cover the order's lines; the order is held (plentymarkets 6.3)",
    "tracking_blocked": "a shipment's courier service has no carrier code for the channel; its tracking waits",
    "cancel_after_pick": "the channel cancelled an order the warehouse had already started or shipped",
    "writeback_refused": "the channel refused a write-back (HTTP 400/422); it will not be sent again by itself",
    "writeback_failed": "a write-back failed on every attempt and was given up",
    "tracking_not_open": "the channel did not take tracking: the line is not open there (cancelled, refunded)",
    "partially_shipped_deadline": "part of the order shipped; the rest must ship before the channel's deadline",
    "needs_review": "the channel's mapper noted something a person should check (or an older free-text note)",
}
# Holds: an order's status is its reason, set while the status lasts (``staging/load.py``).
HOLDS = ("awaiting_mapping", "invalid_address", "awaiting_stock")
# Each names the fix on the operator's page (Airflow nav: Orders, ``orderbridge/operator``) and the SQL
# that does the same for a warehouse system.
HOLD_RESOLUTIONS = {
    "awaiting_mapping": "Resolution: map the SKU (the order's page: Add alias / Add bundle, then Re-transform; or "
                        "INSERT INTO staging.sku_aliases (channel, account, channel_sku, warehouse_sku) VALUES "
                        "(...), or staging.bundles), or override this line's SKU (INSERT INTO "
                        "staging.order_overrides ... kind 'sku'); the next run re-transforms it.",
    "invalid_address": "Resolution: have the channel correct the address, or override it (the order's page: "
                       "Correct address; or INSERT INTO staging.order_overrides ... kind 'address'); the next run "
                       "re-checks it.",
    "awaiting_stock": "Resolution: book the stock in (staging.stock_levels), or release the order despite the "
                      "stock check (the order's page: Release stock hold; or INSERT INTO staging.order_overrides "
                      "... kind 'release_stock').",
}
ORDERBRIDGE = "orderbridge"  # ``cleared_by`` when the code saw the cause go away
EXAMPLES = 5  # order ids named per reason in a task's warning


@dataclass(frozen=True)
class Flag:
    """One thing a person must act on, about one order."""

    external_order_id: str
    reason: str
    message: str
    detail: dict = field(default_factory=dict)


def hold_message(reason: str, status_reason: str | None) -> str:
    """The message of a hold: why (``status_reason``) and its Resolution."""
    return f"{status_reason or reason}. {HOLD_RESOLUTIONS[reason]}"


def raise_(cur, channel: str, account: str, flags: Iterable[Flag], run_id: str | None = None, *,
           append: bool = False, order_ids: Mapping[str, int] | None = None) -> int:
    """Open each flag's row, or refresh the message and detail of the one already open; returns how
    many rows are new. Flags of orders not in staging are skipped.

    Args:
        append: add the message to an open row's message unless it is in there already (several
            refused write-backs of one order), instead of replacing it (a hold's current reason).
        order_ids: staging order id by external order id, where the caller knows it (a load does).

    Raises:
        ValueError: a reason not in ``REASONS``, naming it.
    """
    rows: dict[tuple[str, str], Flag] = {}
    for f in flags:
        if f.reason not in REASONS:
            raise ValueError(f"unknown attention reason {f.reason!r}; known: {', '.join(REASONS)}")
        key = (f.external_order_id, f.reason)
        rows[key] = _merged(rows[key], f) if append and key in rows else f  # else the last word wins
    # Order ids first, in one lookup keyed like every other (``db.order_ids``): joining the flags to
    # staging.orders inside a statement let the planner scan the account once per 100 flags whenever
    # the table's statistics were stale (a first big load), which made holds cost orders x flags.
    ids = db.order_ids(cur, channel, account, {ext for ext, _reason in rows}, known=order_ids)
    if not ids:
        return 0
    if append:
        ext_of = {order_id: ext for ext, order_id in ids.items()}
        cur.execute(
            """SELECT order_id, reason, message, detail FROM staging.attention
               WHERE order_id = ANY(%s) AND cleared_at IS NULL
                 AND (order_id, reason) IN (SELECT * FROM unnest(%s::bigint[], %s::text[]))""",
            (list(ext_of), [ids[k[0]] for k in rows if k[0] in ids], [k[1] for k in rows if k[0] in ids]),
        )
        for order_id, reason, message, detail in cur.fetchall():
            key = (ext_of[order_id], reason)
            rows[key] = _merged(Flag(key[0], reason, message, detail), rows[key])
    values = sorted((ids[f.external_order_id], f.reason, f.external_order_id, f.message, json.dumps(f.detail))
                    for f in rows.values() if f.external_order_id in ids)  # by order, as rows are locked
    inserted = execute_values(
        cur,
        """INSERT INTO staging.attention (order_id, reason, external_order_id, message, detail, channel, account,
                                          raised_run_id)
           VALUES %s
           ON CONFLICT (order_id, reason) WHERE cleared_at IS NULL DO UPDATE
               SET message = EXCLUDED.message, detail = EXCLUDED.detail
               WHERE staging.attention.message IS DISTINCT FROM EXCLUDED.message
                  OR staging.attention.detail IS DISTINCT FROM EXCLUDED.detail
           RETURNING xmax = 0""",
        [(*v, channel, account, run_id) for v in values],
        template="(%s, %s, %s, %s, %s::jsonb, %s, %s, %s)",
        page_size=1000,
        fetch=True,
    )
    return sum(1 for (new,) in inserted if new)


def _merged(before: Flag, after: Flag) -> Flag:
    """Two flags of one order and reason as one: messages joined (once each), detail lists joined."""
    message = before.message if after.message in before.message else f"{before.message}; {after.message}"
    detail = dict(before.detail)
    for key, value in after.detail.items():
        old = detail.get(key)
        detail[key] = old + [v for v in value if v not in old] if isinstance(value, list) and isinstance(old, list) \
            else value
    return Flag(before.external_order_id, before.reason, message, detail)


def flag(cur, channel: str, account: str, external_order_id: str, reason: str, message: str, *,
         detail: dict | None = None, run_id: str | None = None) -> bool:
    """Raise one reason on one order (``raise_`` for one); True when the row is new."""
    return raise_(cur, channel, account, [Flag(external_order_id, reason, message, detail or {})], run_id) == 1


def clear(cur, channel: str, account: str, reasons: Iterable[str], *, external_order_ids: Iterable[str] | None = None,
          order_ids: Iterable[int] | None = None, keep: Iterable[tuple[str, str]] = (),
          run_id: str | None = None, by: str = ORDERBRIDGE) -> list[tuple[int, str]]:
    """Clear the open rows of ``reasons`` on the orders named (by external or staging id; neither:
    every order of the account), except the ``(external_order_id, reason)`` pairs in
    ``keep`` (what is still true).

    Args:
        by: who resolved it: ``orderbridge`` when the code saw the cause go away, else a person.

    Returns:
        ``(order_id, reason)`` of every row cleared.
    """
    keep = list(keep)
    cur.execute(
        """UPDATE staging.attention a SET cleared_at = now(), cleared_run_id = %(run)s, cleared_by = %(by)s
           FROM staging.orders o
           WHERE o.id = a.order_id AND a.cleared_at IS NULL AND a.channel = %(c)s AND a.account = %(a)s
             AND a.reason = ANY(%(reasons)s)
             AND (%(ext)s::text[] IS NULL OR o.external_order_id = ANY(%(ext)s))
             AND (%(ids)s::bigint[] IS NULL OR a.order_id = ANY(%(ids)s))
             AND (o.external_order_id, a.reason) NOT IN (SELECT * FROM unnest(%(keep_ext)s::text[],
                                                                               %(keep_reasons)s::text[]))
           RETURNING a.order_id, a.reason""",
        {"run": run_id, "by": by, "c": channel, "a": account, "reasons": list(reasons),
         "ext": None if external_order_ids is None else list(external_order_ids),
         "ids": None if order_ids is None else list(order_ids),
         "keep_ext": [k[0] for k in keep], "keep_reasons": [k[1] for k in keep]},
    )
    return cur.fetchall()


def sync_orders(cur, channel: str, account: str, decided: dict[str, tuple[str, str | None]], notes: dict[str, str],
                run_id: str | None, new: set[str] = frozenset(), order_ids: Mapping[str, int] | None = None) -> None:
    """What a load decided, in ``staging.attention``: a held order's hold is raised (its message kept
    current), a hold that ended is cleared, and the mapper's notes are raised as ``needs_review``.

    Args:
        decided: ``external_order_id -> (status, status_reason)`` of every order the load decided on.
        notes: the mapper's notes (``StagedOrder.attention``) of the orders it wrote.
        new: orders new to staging in this load: they have no rows to clear.
        order_ids: staging order id by external order id, as far as the load knows them.
    """
    if not decided:
        return
    holds = [Flag(ext, status, hold_message(status, reason), {"status": status})
             for ext, (status, reason) in decided.items() if status in HOLDS]
    raise_(cur, channel, account, holds + [Flag(ext, "needs_review", note, {"source": "mapper"})
                                           for ext, note in notes.items()], run_id, order_ids=order_ids)
    known = [ext for ext in decided if ext not in new]
    if known:
        clear(cur, channel, account, HOLDS, external_order_ids=known,
              keep=[(f.external_order_id, f.reason) for f in holds], run_id=run_id)


def open_reasons(cur, order_id: int) -> dict[str, str]:
    """The open reasons of one staged order, with their messages, oldest first."""
    cur.execute("SELECT reason, message FROM staging.attention WHERE order_id = %s AND cleared_at IS NULL"
                " ORDER BY raised_at, id", (order_id,))
    return dict(cur.fetchall())


def mark(cur) -> object:
    """The database's clock now: pass it to ``raised_since`` to see what a piece of work raised."""
    cur.execute("SELECT clock_timestamp()")
    return cur.fetchone()[0]


def raised_since(cur, channel: str, account: str, since, run_id: str | None = None) -> dict[str, tuple[int, list[str]]]:
    """Rows still open that were raised since ``since`` (a ``mark``; None: ever) on ``account`` or its
    sub-accounts (``<account>/<sub>``: Merkana's merchants), by run ``run_id`` when given.

    Returns:
        reason -> (count, up to ``EXAMPLES`` external order ids).
    """
    cur.execute(
        """SELECT reason, count(*), (array_agg(external_order_id ORDER BY id))[1:%(n)s]
           FROM staging.attention
           WHERE channel = %(c)s AND (account = %(a)s OR account LIKE %(prefix)s)
             AND (%(since)s::timestamptz IS NULL OR raised_at >= %(since)s) AND cleared_at IS NULL
             AND (%(run)s::text IS NULL OR raised_run_id = %(run)s)
           GROUP BY reason ORDER BY reason""",
        {"n": EXAMPLES, "c": channel, "a": account, "prefix": account.replace("%", r"\%").replace("_", r"\_") + "/%",
         "since": since, "run": run_id},
    )
    return {reason: (n, list(examples)) for reason, n, examples in cur.fetchall()}


def report_new(channel: str, account: str, new: dict[str, tuple[int, list[str]]], where: str) -> dict[str, int]:
    """Log one WARNING per reason (count and example order ids); returns ``attention_<reason>`` counts."""
    for reason, (n, examples) in new.items():
        more = f" (first {EXAMPLES})" if n > EXAMPLES else ""
        log.warning("%s %s/%s: %d order(s) need a person, reason %s: %s; e.g.%s %s. See staging.attention.",
                    where, channel, account, n, reason, REASONS[reason], more, ", ".join(examples))
    return {f"attention_{reason}": n for reason, (n, _examples) in new.items()}
