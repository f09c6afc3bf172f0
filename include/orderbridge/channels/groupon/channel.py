"""Groupon Goods as a ``Channel``: two streams (the unexported queue, and a look-back over the last
days that sees lines cancelled after export), mark exported, tracking per parcel and line, and
"infinite" stock (report only). The wire, mapper and handlers: ``client``, ``mapping``, ``writeback``."""

from __future__ import annotations

from contextlib import nullcontext
from datetime import UTC, datetime, timedelta

from orderbridge.channels.base import Channel, Stock, StockPolicy, Stream, TrackingShape, lazy
from orderbridge.window import Window

DOC = """
### Groupon Goods orders, one DAG per account

Every `every_minutes` (default 10, `config/accounts.yaml`), for one Groupon supplier account:

1. **extract_orders**: read every `get_orders` page (the unexported queue; a backfill re-reads
   its date window instead) and land each page in `raw.orders` before asking for the next; then
   re-read the last `lookback_days` (connection extra, default 3) in 24-hour windows, which
   return exported orders too, so a line cancelled or refunded after export is seen.
2. **load_staging**: map SKUs (aliases, bundles, kits) and upsert `staging.orders` and
   `order_lines`, one order per `get_orders` entry (each ships to its own address); unknown SKUs
   wait as `awaiting_mapping`, bad addresses as `invalid_address`; cancelled lines are never picked.
   A line cancelled after the warehouse started flags the order (`cancel_after_pick`).
3. **mark_exported**: tell Groupon, through the outbox, about every line now safe in staging
   (unless the account's `mark_exported` extra is false: then nothing is marked).
4. **post_tracking**: post tracking for each parcel the warehouse shipped, line by line with the
   quantity it carries, with Groupon's carrier code; a partly shipped order is flagged with the
   date Groupon cancels it (14 days after the first parcel).
5. **reconcile_stock**: write the drift report (Groupon stock is infinite: nothing is pushed).

Every step is safe to rerun: loads are upserts, write-backs have idempotency keys.
"""


def _pages(client, window):
    return client.iter_orders(window)


def lookback_window(window: Window | None, days: int, now: datetime) -> Window | None:
    """What the look-back re-reads: the last ``days`` before the run's window, or before now.

    A queue read (``window`` None) sees only unexported orders, so the look-back is the whole span,
    ending at ``now`` rounded up to the minute (get_orders takes minutes: the last request then
    covers up to now). A window read already returns exported orders with their line statuses, so
    only the part of the span before it is read again, and nothing for a window that ended more
    than ``days`` ago (a backfill of the past re-reads its window, not the days before each run).
    None: nothing to read.
    """
    span = timedelta(days=days)
    if days <= 0 or (window is not None and window.end < now - span):
        return None
    if window is None:
        end = now.replace(second=0, microsecond=0)
        end = end + timedelta(minutes=1) if end < now else end
        return Window(end - span, end)
    start = window.end - span
    return Window(start, window.start) if start < window.start else None


def _lookback_pages(client, window):
    """Every page of the look-back window, in 24-hour slices (``GrouponClient.iter_orders``)."""
    span = lookback_window(window, client.settings.lookback_days, datetime.now(UTC))
    return client.iter_orders(span) if span else ()


WRITEBACK = "orderbridge.channels.groupon.writeback"


class GrouponChannel(Channel):
    name = "groupon"
    title = "Groupon Goods"
    doc = DOC
    writebacks = {"mark_exported": lazy(WRITEBACK, "mark_exported_handler")}
    # Groupon cancels an order left partially shipped after 14 days (its fulfilment guide, in the
    # API reference's business rules): the order is flagged for a person with that deadline. The same
    # rules: tracking is due within 1 business day, and an order without tracking is cancelled after 7.
    tracking = TrackingShape(payload=lazy(WRITEBACK, "tracking_payload"), handler=lazy(WRITEBACK, "tracking_handler"),
                             partial_deadline=timedelta(days=14), tracking_due_business_days=1,
                             cancel_unshipped_business_days=7)
    stock = Stock(StockPolicy.REPORT_ONLY, not_pushed_reason="Groupon stock is infinite (seed 000)")

    @property
    def streams(self) -> tuple[Stream, ...]:
        entry_id = lazy("orderbridge.channels.groupon.mapping", "entry_id")
        # The look-back lands what changed since (raw skips an identical payload by its hash), and
        # load_staging applies it: cancelled lines before picking, a flag after (staging.cancellations).
        return (Stream("orders", _pages, entry_id), Stream("lookback", _lookback_pages, entry_id))

    def client(self, account):
        from orderbridge.channels.groupon.client import GrouponClient

        return nullcontext(GrouponClient(account.conn_id, account.name))

    def mapper(self, account):
        """The mapper with the account's ``mark_exported`` option (from its connection's extras)."""
        from airflow.providers.http.hooks.http import HttpHook

        from orderbridge.channels.groupon.mapping import GrouponMapper
        from orderbridge.channels.groupon.settings import GrouponSettings

        settings = GrouponSettings.from_extra(HttpHook.get_connection(account.conn_id).extra_dejson, account.conn_id)
        return GrouponMapper(account.currency, mark_exported=settings.mark_exported)
