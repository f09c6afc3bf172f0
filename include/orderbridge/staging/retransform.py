"""Re-transform from ``raw``: what is new or still held, mapped and loaded one committed batch at a time."""


from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator

import msgspec

from orderbridge import db, fastpath
from orderbridge.errors import InvalidPayload
from orderbridge.orders import (
    RECHECK_STATUSES,
    SkuMap,
    StagedOrder,
)
from orderbridge.staging.load import ChannelMapper, LoadCounts, load_orders
from orderbridge.staging.raw import raw_statistics

log = logging.getLogger(__name__)


def _candidates(cur, channel: str, account: str, since_raw_id: int) -> list[str]:
    """External ids to transform: new in ``raw``, still held, or with an override not yet applied."""
    cur.execute(
        """SELECT external_id FROM raw.orders WHERE channel = %(c)s AND account = %(a)s AND id > %(since)s
           UNION
           SELECT external_order_id FROM staging.orders WHERE channel = %(c)s AND account = %(a)s
             AND status IN %(recheck)s
           UNION  -- an operator's override not applied yet (the order may be ready, and so not re-checked)
           SELECT external_order_id FROM staging.order_overrides WHERE channel = %(c)s AND account = %(a)s
             AND active AND applied_at IS NULL
           ORDER BY 1""",
        {"c": channel, "a": account, "since": since_raw_id, "recheck": RECHECK_STATUSES},
    )
    return [r[0] for r in cur.fetchall()]


# Payloads are read as text and decoded with msgspec: psycopg2's jsonb caster (json.loads) took
# more than half of reading raw at 100k orders; msgspec is 4-5x faster and gives the same values.
_PAYLOAD = msgspec.json.Decoder()


def _decode(text: str) -> object:
    try:
        return _PAYLOAD.decode(text)
    except msgspec.MsgspecError:  # what only json.loads reads the same way (a number beyond a float: inf)
        return json.loads(text)


def _raw_batches(cur, channel: str, account: str, ids: list[str], size: int) -> Iterator[dict[str, list]]:
    for start in range(0, len(ids), size):
        chunk = ids[start:start + size]
        cur.execute(
            "SELECT external_id, id, payload::text FROM raw.orders WHERE channel = %s AND account = %s"
            " AND external_id = ANY(%s) ORDER BY external_id, id",
            (channel, account, chunk),
        )
        with fastpath.paused_gc():  # decoding a batch of payloads
            grouped: dict[str, list] = {}
            for ext, raw_id, text in cur.fetchall():
                grouped.setdefault(ext, []).append((raw_id, _decode(text)))
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
        raw, staged = raw_statistics(), db.PlannerStatistics("staging.orders", ("channel", "account",
                                                                                  "external_order_id", "status"))
        if len(ids) >= raw.every:  # the extract just landed many rows: autovacuum may not know yet
            raw.refresh(cur)
        conn.commit()
        for grouped in _raw_batches(cur, channel, account, ids, batch_size):
            with fastpath.paused_gc():
                orders = [_map_safely(mapper, ext, rows) for ext, rows in grouped.items()]
                counts = load_orders(cur, mapper, account, orders, skus, run_id)
            staged.wrote(cur, counts.inserted)
            conn.commit()
            total.add(counts)
            if on_batch:
                on_batch(counts)
        db.set_state(cur, channel, account, "transform", str(upto))
        conn.commit()
    return total


def transform_one(conn, mapper: ChannelMapper, account: str, external_order_id: str, run_id: str | None) -> LoadCounts:
    """Re-transform one order from ``raw`` now (a person fixed its cause): the current SKU tables and its
    overrides apply, as in a load, in one committed transaction.

    Raises:
        LookupError: ``raw`` holds no payload of that order, naming it.
    """
    with conn.cursor() as cur:
        grouped = next(_raw_batches(cur, mapper.channel, account, [external_order_id], 1), {})
        if external_order_id not in grouped:
            raise LookupError(f"raw.orders holds no payload of {mapper.channel}/{account} order {external_order_id!r}")
        skus = SkuMap.load(cur, mapper.channel, account)
        counts = load_orders(cur, mapper, account, [_map_safely(mapper, external_order_id, grouped[external_order_id])],
                             skus, run_id)
    conn.commit()
    return counts


def _map_safely(mapper: ChannelMapper, external_id: str, rows: list[tuple[int, dict]]) -> StagedOrder:
    """Map one order, or quarantine it when the channel sent something the mapper refuses.

    Only ``InvalidPayload`` is quarantined: it is what the channel got wrong, with the field named.
    Mappers check every shape they rely on, so any other exception (``KeyError``, ``TypeError``, ...)
    is a bug in our mapper and fails the task: quarantining on it would hide the bug behind a
    green task while every order piles up as ``invalid_payload``.
    """
    # A mapper that lands one payload under several ids (Octopia: one staging order per delivery
    # address) says which of them it maps through ``to_order_of``.
    to_order_of = getattr(mapper, "to_order_of", None)
    try:
        return to_order_of(external_id, rows) if to_order_of else mapper.to_order(rows)
    except InvalidPayload as err:
        return StagedOrder(external_order_id=external_id, raw_id=rows[-1][0], lines=[], invalid_reason=str(err))
