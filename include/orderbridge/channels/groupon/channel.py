"""Groupon Goods as a ``Channel``: one stream (the unexported queue), mark exported, tracking per
parcel and line, and "infinite" stock (report only). The wire, mapper and handlers: ``client``,
``mapping``, ``writeback``."""

from __future__ import annotations

from contextlib import nullcontext
from datetime import timedelta

from orderbridge.channels.base import Channel, Stock, StockPolicy, Stream, TrackingShape, lazy

DOC = """
### Groupon Goods orders, one DAG per account

Every 10 minutes, for one Groupon supplier account (listed in `config/accounts.yaml`):

1. **extract_orders**: read every `get_orders` page (the unexported queue; a backfill re-reads
   its date window instead) and land each page in `raw.orders` before asking for the next.
2. **load_staging**: map SKUs (aliases, bundles, kits) and upsert `staging.orders` and
   `order_lines`, one order per `get_orders` entry (each ships to its own address); unknown SKUs
   wait as `awaiting_mapping`, bad addresses as `invalid_address`; cancelled lines are never picked.
3. **mark_exported**: tell Groupon, through the outbox, about every line now safe in staging.
4. **post_tracking**: post tracking for each parcel the warehouse shipped, line by line with the
   quantity it carries, with Groupon's carrier code; a partly shipped order is flagged with the
   date Groupon cancels it (14 days after the first parcel).
5. **reconcile_stock**: write the drift report (Groupon stock is infinite: nothing is pushed).

Every step is safe to rerun: loads are upserts, write-backs have idempotency keys.
"""


def _pages(client, window):
    return client.iter_orders(window)


WRITEBACK = "orderbridge.channels.groupon.writeback"


class GrouponChannel(Channel):
    name = "groupon"
    title = "Groupon Goods"
    doc = DOC
    writebacks = {"mark_exported": lazy(WRITEBACK, "mark_exported_handler")}
    # Groupon cancels an order left partially shipped after 14 days (its fulfilment guide, in the
    # API reference's business rules): the order is flagged for a person with that deadline.
    tracking = TrackingShape(payload=lazy(WRITEBACK, "tracking_payload"), handler=lazy(WRITEBACK, "tracking_handler"),
                             partial_deadline=timedelta(days=14))
    stock = Stock(StockPolicy.REPORT_ONLY, not_pushed_reason="Groupon stock is infinite (seed 000)")

    @property
    def streams(self) -> tuple[Stream, ...]:
        return (Stream("orders", _pages, lazy("orderbridge.channels.groupon.mapping", "entry_id")),)

    def client(self, account):
        from orderbridge.channels.groupon.client import GrouponClient

        return nullcontext(GrouponClient(account.conn_id, account.name))

    def mapper(self, account):
        from orderbridge.channels.groupon.mapping import GrouponMapper

        return GrouponMapper(account.currency)
