"""Groupon Goods as a ``Channel``: one stream (the unexported queue), mark exported, tracking per
line, and "infinite" stock (report only). The wire, mapper and handlers: ``orderbridge.groupon``."""

from __future__ import annotations

from contextlib import nullcontext

from orderbridge.channels.base import Channel, Stock, StockPolicy, Stream, TrackingShape

DOC = """
### Groupon Goods orders, one DAG per account

Every 10 minutes, for one Groupon supplier account (listed in `config/accounts.yaml`):

1. **extract_orders**: read every `get_orders` page (the unexported queue; a backfill re-reads
   its date window instead) and land each page in `raw.orders` before asking for the next.
2. **load_staging**: map SKUs (aliases, bundles, kits) and upsert `staging.orders` and
   `order_lines`, one order per `get_orders` entry (each ships to its own address); unknown SKUs
   wait as `awaiting_mapping`, bad addresses as `invalid_address`; cancelled lines are never picked.
3. **mark_exported**: tell Groupon, through the outbox, about every line now safe in staging.
4. **post_tracking**: post tracking for what the warehouse shipped, with Groupon's carrier code.
5. **reconcile_stock**: write the drift report (Groupon stock is infinite: nothing is pushed).

Every step is safe to rerun: loads are upserts, write-backs have idempotency keys.
"""


def _pages(client, window):
    return client.iter_orders(window)


def _entry_id(entry: dict) -> str:
    from orderbridge.groupon import entry_id

    return entry_id(entry)


def _mark_exported(client):
    from orderbridge.groupon import mark_exported_handler

    return mark_exported_handler(client)


def _tracking_payload(line_id: str, carrier_code: str, tracking: str, quantity: int) -> dict:
    from orderbridge.groupon import tracking_payload

    return tracking_payload(line_id, carrier_code, tracking, quantity)


def _tracking(client):
    from orderbridge.groupon import tracking_handler

    return tracking_handler(client)


class GrouponChannel(Channel):
    name = "groupon"
    title = "Groupon Goods"
    doc = DOC
    writebacks = {"mark_exported": _mark_exported}
    tracking = TrackingShape(payload=_tracking_payload, handler=_tracking)
    stock = Stock(StockPolicy.REPORT_ONLY, not_pushed_reason="Groupon stock is infinite (seed 000)")

    @property
    def streams(self) -> tuple[Stream, ...]:
        return (Stream("orders", _pages, _entry_id),)

    def client(self, account):
        from orderbridge.groupon import GrouponClient

        return nullcontext(GrouponClient(account.conn_id, account.name))

    def mapper(self, account):
        from orderbridge.groupon import GrouponMapper

        return GrouponMapper(account.currency)
