"""Staging: land raw payloads, resolve SKUs, and load canonical orders set-based.

The flow every channel shares:

1. ``land_raw`` appends each extracted page to ``raw.orders`` (one transaction a page; a payload
   seen before is skipped by its hash, so reruns and backfills add nothing).
2. ``transform`` picks what needs (re)transforming from ``raw`` -- payloads newer than the last
   transform, plus orders still waiting for a mapping or an address fix -- and hands each batch to
   the channel's pure mapper, then to ``load_orders``. Fixing a SKU mapping therefore re-processes
   from ``raw`` without fetching again.
3. ``load_orders`` writes orders new to staging, their lines, history and outbox rows with plain
   ``COPY`` (ids drawn from the sequence first, so nothing is joined back), on a background thread
   while the next orders are mapped; orders that changed go through a temp table and one
   ``INSERT ... ON CONFLICT DO UPDATE ... WHERE changed``. Lines, events, first-seen channel
   products and the channel's acknowledgement effects (outbox) go in the same transaction, so an
   order is never acknowledged before it is committed here.

An order the warehouse cannot take is stored anyway, with a status and a reason
(``awaiting_mapping``, ``invalid_address``, ``invalid_payload``), and re-checked on every run.
"""

from orderbridge.staging.cancellations import CANCEL_AFTER_PICK, cancel_order
from orderbridge.staging.history import EVENT_COLUMNS, record_event
from orderbridge.staging.load import (
    ChannelMapper,
    LoadCounts,
    _order_row,
    load_orders,
)
from orderbridge.staging.raw import RAW_COLUMNS, land_one, land_raw, payload_hash, payload_id, raw_statistics
from orderbridge.staging.retransform import _candidates, _map_safely, _raw_batches, transform
from orderbridge.staging.rows import (
    LINE_COLUMNS,
    LINE_TABLE_COLUMNS,
    ORDER_COLUMNS,
    ORDER_TABLE_COLUMNS,
    _NewOrders,
)

__all__ = ["CANCEL_AFTER_PICK", "EVENT_COLUMNS", "LINE_COLUMNS", "LINE_TABLE_COLUMNS", "ORDER_COLUMNS",
           "ORDER_TABLE_COLUMNS", "RAW_COLUMNS", "ChannelMapper", "LoadCounts", "_NewOrders", "_candidates",
           "_map_safely", "_order_row", "_raw_batches", "cancel_order", "land_one", "land_raw", "load_orders",
           "payload_hash", "payload_id", "raw_statistics", "record_event", "transform"]
