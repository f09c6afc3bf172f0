"""Staging: land raw payloads, resolve SKUs, and load canonical orders set-based.

The flow every channel shares:

1. ``land_raw`` appends each extracted page to ``raw.orders`` (one transaction a page; a payload
   seen before is skipped by its hash, so reruns and backfills add nothing).
2. ``transform`` picks what needs (re)transforming from ``raw`` -- payloads newer than the last
   transform, plus orders still waiting for a mapping or an address fix -- and hands each batch to
   the channel's pure mapper, then to ``load_orders``. Fixing a SKU mapping therefore re-processes
   from ``raw`` without fetching again.
3. ``load_orders`` upserts ``staging.orders`` through ``COPY`` into temp tables plus one
   ``INSERT ... ON CONFLICT DO UPDATE ... WHERE changed``; lines, events, first-seen channel
   products and the channel's acknowledgement effects (outbox) go in the same transaction, so an
   order is never acknowledged before it is committed here.

An order the warehouse cannot take is stored anyway, with a status and a reason
(``awaiting_mapping``, ``invalid_address``, ``invalid_payload``), and re-checked on every run.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime
from decimal import Decimal
from functools import cache
from importlib import resources
from typing import Any, Protocol

from orderbridge import db
from orderbridge.errors import InvalidPayload
from orderbridge.outbox import Effect, enqueue

log = logging.getLogger(__name__)

# Statuses the warehouse owns: a later channel payload must not overwrite what it is working on.
WAREHOUSE_STATUSES = ("in_progress", "shipped", "cancelled", "closed")
RECHECK_STATUSES = ("awaiting_mapping", "invalid_address", "invalid_payload")
# Countries where addresses have no postcode (the warehouse's carriers accept them without).
NO_POSTCODE_COUNTRIES = frozenset({"AE", "AG", "AO", "BS", "BZ", "HK", "IE", "JM", "MO", "QA"})
COUNTRY_ALIASES = {"UK": "GB", "USA": "US", "GREAT BRITAIN": "GB", "UNITED KINGDOM": "GB"}


@dataclass
class StagedLine:
    channel_line_id: str
    channel_sku: str
    channel_quantity: int
    unit_price: Decimal | float | None
    name: str | None = None
    kit_spec: str | None = None
    open_on_channel: bool = True


@dataclass
class StagedOrder:
    """A channel order in canonical form, as produced by a channel's pure mapper."""

    external_order_id: str
    raw_id: int
    lines: list[StagedLine]
    placed_at: datetime | None = None
    channel_status: str | None = None
    currency: str | None = None
    total: Decimal | float | None = None
    shipping_total: Decimal | float | None = None
    customer_name: str | None = None
    customer_email: str | None = None
    customer_phone: str | None = None
    ship_name: str | None = None
    ship_address1: str | None = None
    ship_address2: str | None = None
    ship_city: str | None = None
    ship_state: str | None = None
    ship_postcode: str | None = None
    ship_country: str | None = None
    ship_phone: str | None = None
    channel_data: dict[str, Any] = field(default_factory=dict)
    # Set by the mapper when the payload cannot be used at all (the field is named).
    invalid_reason: str | None = None


class ChannelMapper(Protocol):
    """What ``transform`` needs from a channel module: a pure mapper and its acknowledgements."""

    channel: str

    def to_order(self, rows: list[tuple[int, dict]]) -> StagedOrder:
        """Map every raw payload of one external order (oldest first) to one ``StagedOrder``."""

    def acknowledgements(self, order: StagedOrder) -> list[Effect]:
        """Effects to send once ``order`` is committed (mark exported, status 5.1, ...)."""


@cache
def iso_countries() -> frozenset[str]:
    text = resources.files("orderbridge.data").joinpath("iso_countries.txt").read_text(encoding="utf-8")
    return frozenset(line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#"))


def normalize_country(value: str | None) -> str | None:
    """Channel country to ISO 3166 alpha-2 (Groupon sends ``UK`` and ``USA``); None if unknown."""
    if not value:
        return None
    code = COUNTRY_ALIASES.get(value.strip().upper(), value.strip().upper())
    return code if code in iso_countries() else None


def address_problem(order: StagedOrder) -> str | None:
    """Why the warehouse cannot ship to this address, or None when it can."""
    missing = [
        name
        for name, value in (("street", order.ship_address1), ("city", order.ship_city))
        if not (value and value.strip())
    ]
    country = normalize_country(order.ship_country)
    if country is None:
        missing.append(f"country (unknown code {order.ship_country!r})")
    elif not (order.ship_postcode and order.ship_postcode.strip()) and country not in NO_POSTCODE_COUNTRIES:
        missing.append("postcode")
    return "address has no " + ", ".join(missing) if missing else None


@dataclass
class SkuMap:
    """Channel SKU -> warehouse SKUs, from aliases, bundles, the product list and kit specs."""

    products: frozenset[str]
    aliases: dict[str, str] = field(default_factory=dict)
    bundles: dict[str, list[tuple[str, int]]] = field(default_factory=dict)

    @classmethod
    def load(cls, cur, channel: str, account: str) -> SkuMap:
        """Read the mapping tables; account-specific rows win over the channel-wide ``'*'`` ones."""
        cur.execute("SELECT sku FROM staging.products")
        products = frozenset(r[0] for r in cur.fetchall())
        cur.execute(
            "SELECT channel_sku, warehouse_sku FROM staging.sku_aliases"
            " WHERE channel = %s AND account IN (%s, '*') ORDER BY (account = '*') DESC",
            (channel, account),
        )
        aliases = dict(cur.fetchall())
        cur.execute(
            "SELECT bundle_sku, warehouse_sku, quantity, account FROM staging.bundles"
            " WHERE channel = %s AND account IN (%s, '*') ORDER BY bundle_sku, warehouse_sku",
            (channel, account),
        )
        by_account: dict[tuple[str, str], list[tuple[str, int]]] = {}
        for bundle_sku, sku, qty, acct in cur.fetchall():
            by_account.setdefault((bundle_sku, acct), []).append((sku, qty))
        bundles: dict[str, list[tuple[str, int]]] = {}
        for (bundle_sku, _acct), parts in sorted(by_account.items(), key=lambda kv: kv[0][1] != "*"):
            bundles[bundle_sku] = parts  # account rows sort last, so they replace '*' rows
        return cls(products=products, aliases=aliases, bundles=bundles)

    def resolve(self, channel_sku: str, kit_spec: str | None = None) -> list[tuple[str, int]] | None:
        """Warehouse SKUs and quantities per channel unit, or None when nothing maps the SKU.

        Order of precedence: a bundle row, an alias row, the warehouse SKU itself, then the
        channel's own kit description (Groupon ``bom_sku`` such as ``2xWH-1005``).
        """
        if channel_sku in self.bundles:
            return list(self.bundles[channel_sku])
        if channel_sku in self.aliases:
            return [(self.aliases[channel_sku], 1)]
        if channel_sku in self.products:
            return [(channel_sku, 1)]
        parts = parse_kit_spec(kit_spec)
        if parts and all(sku in self.products for sku, _ in parts):
            return parts
        return None


def parse_kit_spec(spec: str | None) -> list[tuple[str, int]] | None:
    """Parse ``2xSKU-A`` or ``2xSKU-A,1xSKU-B`` (also ``+`` or ``;``); None if it is not one."""
    if not spec or not spec.strip():
        return None
    parts = []
    for chunk in spec.replace("+", ",").replace(";", ",").split(","):
        qty, sep, sku = chunk.strip().partition("x")
        if not sep or not qty.isdigit() or int(qty) < 1 or not sku.strip():
            return None
        parts.append((sku.strip(), int(qty)))
    return parts


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


def payload_hash(payload: dict) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def land_raw(cur, channel: str, account: str, items: Iterable[tuple[str, dict]], run_id: str | None) -> int:
    """Append one page of payloads to ``raw.orders``; returns how many were new.

    Args:
        cur: cursor in the caller's transaction (commit it to make the page durable).
        items: ``(external_id, payload)`` pairs as the channel sent them.
    """
    rows = [(channel, account, ext_id, payload, payload_hash(payload), run_id) for ext_id, payload in items]
    if not rows:
        return 0
    cur.execute(
        """CREATE TEMP TABLE IF NOT EXISTS tmp_raw (ord serial, channel text, account text, external_id text,
           payload jsonb, payload_hash text, run_id text) ON COMMIT DELETE ROWS"""
    )
    db.copy_rows(cur, "tmp_raw", ("channel", "account", "external_id", "payload", "payload_hash", "run_id"), rows)
    cur.execute(
        """INSERT INTO raw.orders (channel, account, external_id, payload, payload_hash, run_id)
           SELECT channel, account, external_id, payload, payload_hash, run_id FROM tmp_raw ORDER BY ord
           ON CONFLICT (channel, account, external_id, payload_hash) DO NOTHING"""
    )
    return cur.rowcount


def _line_rows(order: StagedOrder, skus: SkuMap) -> tuple[list[tuple], list[str]]:
    rows, unknown = [], []
    for line in order.lines:
        parts = skus.resolve(line.channel_sku, line.kit_spec)
        if parts is None:
            unknown.append(line.channel_sku)
            parts = [(None, 1)]
        bundle = line.channel_sku if len(parts) > 1 or parts[0][1] > 1 else None
        for component, (sku, per_unit) in enumerate(parts):
            rows.append((line.channel_line_id, component, line.channel_sku, sku, line.channel_quantity * per_unit,
                         line.channel_quantity, line.unit_price, bundle))
    return rows, sorted(set(unknown))


def decide_status(order: StagedOrder, unknown_skus: list[str]) -> tuple[str, str | None]:
    """Where a mapped order stands: ready, or held with the reason a person can act on."""
    if order.invalid_reason:
        return "invalid_payload", order.invalid_reason
    if order.lines and not any(line.open_on_channel for line in order.lines):
        return "closed", "no open lines on the channel (already shipped or cancelled there)"
    if unknown_skus:
        return "awaiting_mapping", "unknown SKU(s): " + ", ".join(unknown_skus)
    problem = address_problem(order)
    if problem:
        return "invalid_address", problem
    return "ready", None


ORDER_COLUMNS = (
    "external_order_id", "status", "status_reason", "channel_status", "customer_name", "customer_email",
    "customer_phone", "ship_name", "ship_address1", "ship_address2", "ship_city", "ship_state", "ship_postcode",
    "ship_country", "ship_phone", "total", "shipping_total", "currency", "placed_at", "channel_data", "raw_id",
    "content_hash",
)
LINE_COLUMNS = ("external_order_id", "channel_line_id", "component", "channel_sku", "warehouse_sku", "quantity",
                "channel_quantity", "unit_price", "bundle_sku")


def _order_row(order: StagedOrder, status: str, reason: str | None, lines: list[tuple]) -> tuple:
    values = {k: getattr(order, k) for k in ORDER_COLUMNS[3:19]}
    values["ship_country"] = normalize_country(order.ship_country) or order.ship_country
    content = json.dumps([status, reason, values, order.channel_data, lines], sort_keys=True, default=str)
    digest = hashlib.sha256(content.encode()).hexdigest()
    return (order.external_order_id, status, reason, *values.values(), order.channel_data, order.raw_id, digest)


def load_orders(cur, mapper: ChannelMapper, account: str, orders: list[StagedOrder], skus: SkuMap,
                run_id: str | None) -> LoadCounts:
    """Upsert a batch of mapped orders, their lines, events and acknowledgement effects.

    Runs in the caller's transaction. Orders whose content did not change write nothing; orders the
    warehouse owns (``in_progress`` and later) keep their staging row.
    """
    channel = mapper.channel
    counts = LoadCounts(orders=len(orders))
    if not orders:
        return counts
    ids = [o.external_order_id for o in orders]
    cur.execute(
        "SELECT external_order_id, status, content_hash FROM staging.orders"
        " WHERE channel = %s AND account = %s AND external_order_id = ANY(%s)",
        (channel, account, ids),
    )
    existing = {ext: (status, digest) for ext, status, digest in cur.fetchall()}
    order_rows, line_rows, events, changed = [], [], [], {}
    for order in orders:
        lines, unknown = _line_rows(order, skus)
        status, reason = decide_status(order, unknown)
        counts.by_status[status] = counts.by_status.get(status, 0) + 1
        row = _order_row(order, status, reason, lines)
        before = existing.get(order.external_order_id)
        if before and before[0] in WAREHOUSE_STATUSES:
            counts.held_by_warehouse += 1
            continue
        if before and before[1] == row[-1]:
            counts.unchanged += 1
            continue
        changed[order.external_order_id] = order
        order_rows.append(row)
        line_rows.extend((order.external_order_id, *line) for line in lines)
        if before is None:
            events.append((order.external_order_id, "imported", f"imported as {status}", {"status": status,
                                                                                         "reason": reason}))
        elif before[0] != status:
            events.append((order.external_order_id, "status_changed", f"{before[0]} -> {status}",
                           {"from": before[0], "to": status, "reason": reason}))
    counts.inserted = sum(1 for ext in changed if ext not in existing)
    counts.updated = len(changed) - counts.inserted
    if changed:
        _upsert(cur, channel, account, order_rows, line_rows)
        counts.lines = len(line_rows)
        _events(cur, channel, account, events, run_id)
        effects = [e for o in changed.values() for e in mapper.acknowledgements(o)]
        counts.effects = enqueue(cur, channel, account, effects)
    _remember_channel_products(cur, channel, account, orders)
    return counts


def _upsert(cur, channel: str, account: str, order_rows: list[tuple], line_rows: list[tuple]) -> None:
    # Column types come from the real tables; constraints and defaults do not.
    cur.execute(
        f"""CREATE TEMP TABLE IF NOT EXISTS tmp_orders ON COMMIT DELETE ROWS AS
            SELECT channel, account, {', '.join(ORDER_COLUMNS)} FROM staging.orders WITH NO DATA"""
    )
    cur.execute(
        f"""CREATE TEMP TABLE IF NOT EXISTS tmp_lines ON COMMIT DELETE ROWS AS
            SELECT o.external_order_id, {', '.join('l.' + c for c in LINE_COLUMNS[1:])}
            FROM staging.order_lines l JOIN staging.orders o ON o.id = l.order_id WITH NO DATA"""
    )
    db.copy_rows(cur, "tmp_orders", ("channel", "account", *ORDER_COLUMNS),
                 ((channel, account, *row) for row in order_rows))
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in ORDER_COLUMNS[1:])
    cur.execute(
        f"""INSERT INTO staging.orders (channel, account, {', '.join(ORDER_COLUMNS)})
            SELECT channel, account, {', '.join(ORDER_COLUMNS)} FROM tmp_orders
            ON CONFLICT (channel, account, external_order_id) DO UPDATE SET {updates}, updated_at = now()
            WHERE staging.orders.content_hash IS DISTINCT FROM EXCLUDED.content_hash
              AND staging.orders.status NOT IN %s""",
        (WAREHOUSE_STATUSES,),
    )
    db.copy_rows(cur, "tmp_lines", LINE_COLUMNS, line_rows)
    cur.execute(
        """DELETE FROM staging.order_lines l USING staging.orders o, (SELECT DISTINCT external_order_id
           FROM tmp_lines) t WHERE l.order_id = o.id AND o.channel = %s AND o.account = %s
           AND o.external_order_id = t.external_order_id""",
        (channel, account),
    )
    cur.execute(
        f"""INSERT INTO staging.order_lines (order_id, {', '.join(LINE_COLUMNS[1:])})
            SELECT o.id, {', '.join('t.' + c for c in LINE_COLUMNS[1:])} FROM tmp_lines t
            JOIN staging.orders o ON o.channel = %s AND o.account = %s AND o.external_order_id = t.external_order_id""",
        (channel, account),
    )


def _events(cur, channel: str, account: str, events: list[tuple], run_id: str | None) -> None:
    if not events:
        return
    cur.execute(
        """CREATE TEMP TABLE IF NOT EXISTS tmp_events (external_order_id text, event text, message text,
           detail jsonb) ON COMMIT DELETE ROWS"""
    )
    db.copy_rows(cur, "tmp_events", ("external_order_id", "event", "message", "detail"), events)
    cur.execute(
        """INSERT INTO staging.order_events (order_id, channel, account, external_order_id, event, message,
           detail, run_id) SELECT o.id, o.channel, o.account, t.external_order_id, t.event, t.message, t.detail, %s
           FROM tmp_events t JOIN staging.orders o ON o.channel = %s AND o.account = %s
           AND o.external_order_id = t.external_order_id""",
        (run_id, channel, account),
    )


def record_event(cur, channel: str, account: str, event: str, message: str, *, order_id: int | None = None,
                 external_order_id: str | None = None, detail: dict | None = None, run_id: str | None = None) -> None:
    """Append one entry to ``staging.order_events`` (the history an operator reads)."""
    cur.execute(
        """INSERT INTO staging.order_events (order_id, channel, account, external_order_id, event, message, detail,
           run_id) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)""",
        (order_id, channel, account, external_order_id, event, message, json.dumps(detail or {}), run_id),
    )


def _remember_channel_products(cur, channel: str, account: str, orders: list[StagedOrder]) -> None:
    seen = {}
    for order in orders:
        for line in order.lines:
            seen.setdefault(line.channel_sku, (line.name, line.kit_spec))
    cur.execute(
        "SELECT channel_sku FROM staging.channel_products"
        " WHERE channel = %s AND account = %s AND channel_sku = ANY(%s)",
        (channel, account, list(seen)),
    )
    for (sku,) in cur.fetchall():
        seen.pop(sku)
    for sku, (name, kit_spec) in seen.items():
        cur.execute(
            """INSERT INTO staging.channel_products (channel, account, channel_sku, name, kit_spec)
               VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING""",
            (channel, account, sku, name, kit_spec),
        )


def _candidates(cur, channel: str, account: str, since_raw_id: int) -> list[str]:
    cur.execute(
        """SELECT external_id FROM raw.orders WHERE channel = %(c)s AND account = %(a)s AND id > %(since)s
           UNION
           SELECT external_order_id FROM staging.orders WHERE channel = %(c)s AND account = %(a)s
             AND status IN %(recheck)s
           ORDER BY 1""",
        {"c": channel, "a": account, "since": since_raw_id, "recheck": RECHECK_STATUSES},
    )
    return [r[0] for r in cur.fetchall()]


def _raw_batches(cur, channel: str, account: str, ids: list[str], size: int) -> Iterator[dict[str, list]]:
    for start in range(0, len(ids), size):
        chunk = ids[start:start + size]
        cur.execute(
            "SELECT external_id, id, payload FROM raw.orders WHERE channel = %s AND account = %s"
            " AND external_id = ANY(%s) ORDER BY external_id, id",
            (channel, account, chunk),
        )
        grouped: dict[str, list] = {}
        for ext, raw_id, payload in cur.fetchall():
            grouped.setdefault(ext, []).append((raw_id, payload))
        yield grouped


def transform(conn, mapper: ChannelMapper, account: str, run_id: str | None, batch_size: int = 2000,
              on_batch: Callable[[LoadCounts], None] | None = None) -> LoadCounts:
    """Re-transform from ``raw`` everything new or still held, one committed batch at a time.

    Returns the summed counts. A payload the mapper rejects becomes an ``invalid_payload`` order
    naming the field, so one bad order never stops its channel.
    """
    channel = mapper.channel
    total = LoadCounts()
    with conn.cursor() as cur:
        since = int(db.get_state(cur, channel, account, "transform") or 0)
        cur.execute("SELECT coalesce(max(id), 0) FROM raw.orders WHERE channel = %s AND account = %s",
                    (channel, account))
        upto = cur.fetchone()[0]
        ids = _candidates(cur, channel, account, since)
        skus = SkuMap.load(cur, channel, account)
        conn.commit()
        for grouped in _raw_batches(cur, channel, account, ids, batch_size):
            orders = [_map_safely(mapper, ext, rows) for ext, rows in grouped.items()]
            counts = load_orders(cur, mapper, account, orders, skus, run_id)
            conn.commit()
            total.add(counts)
            if on_batch:
                on_batch(counts)
        db.set_state(cur, channel, account, "transform", str(upto))
        conn.commit()
    return total


def _map_safely(mapper: ChannelMapper, external_id: str, rows: list[tuple[int, dict]]) -> StagedOrder:
    try:
        return mapper.to_order(rows)
    except InvalidPayload as err:
        return StagedOrder(external_order_id=external_id, raw_id=rows[-1][0], lines=[], invalid_reason=str(err))
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        # Any shape the mapper did not foresee: quarantine the order, name what broke, keep going.
        return StagedOrder(external_order_id=external_id, raw_id=rows[-1][0], lines=[],
                           invalid_reason=f"payload not understood: {type(err).__name__}: {err}")


def as_dict(counts: LoadCounts) -> dict:
    return asdict(counts)
