"""What plentymarkets return orders do to staging: landed as sent, recorded line by line, linked.

A customer's return is an order of its own in plenty (typeId 3) that points at its sales order
(B6/B7). It must never become an order to ship, so it does not go into ``raw.orders`` (every
external id there is staged as an order by ``staging.transform``) but into ``raw.return_orders``:

- ``land`` appends one page of return orders to ``raw.return_orders`` (a payload seen before is
  skipped by its hash, so reruns and backfills add nothing), in the caller's transaction.
- ``record`` maps what landed since its last run (``PlentyMapper.to_return``, pure) into
  ``staging.returns`` (one row per return order, keyed by its id) and ``staging.return_lines``
  (each line that comes back: quantity in channel units and the sales order line it returns),
  then links every return still waiting to its staged sales order and fills the lines the return
  did not name by SKU. One transaction, with its watermark (``return_orders_transform``).

- ``enqueue_received`` turns each return the warehouse received (``staging.returns.received_at``
  set) into one ``return_status`` write-back, keyed by the return order alone: plenty is told once.

A return whose sales order is not staged yet keeps ``order_id`` NULL and one ``return_waiting``
history entry, and is linked (``return_recorded`` on the sales order) by the first run after the
sales order arrives. A return whose payload cannot be read is kept all the same, the reason in
``detail`` and a ``return_invalid`` entry. History is written only when something changed, so
nothing is recorded twice.
"""

from __future__ import annotations

from collections.abc import Iterable

from psycopg2.extras import Json, execute_values

from orderbridge import db, outbox, staging
from orderbridge.channels.plentymarkets.mapping import CHANNEL, PlentyMapper
from orderbridge.channels.plentymarkets.return_mapping import ReturnOrder, parent_order_id
from orderbridge.channels.plentymarkets.settings import status_json
from orderbridge.errors import InvalidPayload

RETURN_STATUS = "return_status"  # the outbox kind: a received return order's status
STREAM = "return_orders_transform"  # staging.sync_state: the last raw.return_orders id recorded
RAW_COLUMNS = ("channel", "account", "external_id", "payload", "payload_hash", "run_id")


def land(cur, account: str, items: Iterable[tuple[str, dict]], run_id: str | None) -> int:
    """Append one page of return orders to ``raw.return_orders``; returns how many were new.

    Args:
        cur: cursor in the caller's transaction (commit it to make the page durable).
        items: ``(external_id, payload)`` pairs as plenty sent them.
    """
    rows = {}
    for ext_id, payload in items:
        digest = staging.payload_hash(payload)
        rows.setdefault((ext_id, digest), (CHANNEL, account, ext_id, Json(payload), digest, run_id))
    if not rows:
        return 0
    new = execute_values(
        cur, f"""INSERT INTO raw.return_orders ({', '.join(RAW_COLUMNS)}) VALUES %s
                 ON CONFLICT (channel, account, external_id, payload_hash) DO NOTHING RETURNING id""",
        list(rows.values()), fetch=True)
    return len(new)


def _map_safely(mapper: PlentyMapper, external_id: str, rows: list[tuple[int, dict]]) -> ReturnOrder:
    """``to_return``, or a return kept with the reason it cannot be read (and its order, if it says)."""
    try:
        return mapper.to_return(rows)
    except InvalidPayload as err:  # what plenty sent wrong; a bug of ours fails the task (staging._map_safely)
        reason = str(err)
    raw_id, latest = max(rows, key=lambda r: r[0])
    try:
        parent = parent_order_id(latest) if isinstance(latest, dict) else None
    except InvalidPayload:
        parent = None
    return ReturnOrder(external_return_id=external_id, external_order_id=parent, raw_id=raw_id,
                       detail={"raw_id": raw_id, "invalid_reason": reason}, invalid_reason=reason)


def _upsert(cur, account: str, ret: ReturnOrder) -> tuple[int, str | None]:
    """Write one return and its lines; returns its id and "inserted", "updated" or None (unchanged)."""
    cur.execute(
        """INSERT INTO staging.returns AS r (channel, account, external_order_id, external_return_id, channel_status,
               detail) VALUES (%s, %s, %s, %s, %s, %s)
           ON CONFLICT (channel, account, external_return_id) DO UPDATE SET
               order_id = CASE WHEN r.external_order_id IS DISTINCT FROM EXCLUDED.external_order_id THEN NULL
                               ELSE r.order_id END,
               external_order_id = EXCLUDED.external_order_id, channel_status = EXCLUDED.channel_status,
               detail = EXCLUDED.detail
           WHERE (r.external_order_id, r.channel_status, r.detail)
                 IS DISTINCT FROM (EXCLUDED.external_order_id, EXCLUDED.channel_status, EXCLUDED.detail)
           RETURNING id, xmax = 0""",
        (CHANNEL, account, ret.external_order_id, ret.external_return_id, ret.channel_status, Json(ret.detail)),
    )
    written = cur.fetchone()
    if written is None:
        cur.execute("SELECT id FROM staging.returns WHERE channel = %s AND account = %s AND external_return_id = %s",
                    (CHANNEL, account, ret.external_return_id))
        return cur.fetchone()[0], None
    return_id, inserted = written
    if ret.lines:  # an unreadable version keeps the lines last read
        execute_values(
            cur, """INSERT INTO staging.return_lines AS rl (return_id, channel_line_id, order_channel_line_id,
                        channel_sku, channel_product_id, quantity) VALUES %s
                    ON CONFLICT (return_id, channel_line_id) DO UPDATE SET
                        order_channel_line_id = coalesce(EXCLUDED.order_channel_line_id, rl.order_channel_line_id),
                        channel_sku = EXCLUDED.channel_sku, channel_product_id = EXCLUDED.channel_product_id,
                        quantity = EXCLUDED.quantity""",
            [(return_id, line.channel_line_id, line.order_channel_line_id, line.channel_sku, line.channel_product_id,
              line.quantity) for line in ret.lines])
        cur.execute("DELETE FROM staging.return_lines WHERE return_id = %s AND NOT channel_line_id = ANY(%s)",
                    (return_id, [line.channel_line_id for line in ret.lines]))
    return return_id, "inserted" if inserted else "updated"


def _link(cur, account: str, run_id: str | None) -> int:
    """Link waiting returns to their staged sales orders, fill unnamed lines by SKU; returns how many linked."""
    cur.execute(
        """UPDATE staging.returns r SET order_id = o.id FROM staging.orders o
           WHERE r.channel = %(c)s AND r.account = %(a)s AND r.order_id IS NULL
             AND o.channel = r.channel AND o.account = r.account AND o.external_order_id = r.external_order_id
           RETURNING r.id""",
        {"c": CHANNEL, "a": account},
    )
    linked = [row[0] for row in cur.fetchall()]
    # A returned line that does not say which line it returns: the order's only line with its SKU.
    cur.execute(
        """UPDATE staging.return_lines rl SET order_channel_line_id = m.channel_line_id
           FROM (SELECT rl2.id, min(l.channel_line_id) AS channel_line_id
                 FROM staging.return_lines rl2 JOIN staging.returns r ON r.id = rl2.return_id
                 JOIN staging.order_lines l ON l.order_id = r.order_id AND l.component = 0
                      AND l.channel_sku = rl2.channel_sku
                 WHERE r.channel = %(c)s AND r.account = %(a)s AND rl2.order_channel_line_id IS NULL
                 GROUP BY rl2.id HAVING count(DISTINCT l.channel_line_id) = 1) m
           WHERE rl.id = m.id""",
        {"c": CHANNEL, "a": account},
    )
    if not linked:
        return 0
    cur.execute(
        """SELECT r.id, r.order_id, r.external_order_id, r.external_return_id, r.detail->>'invalid_reason',
                  coalesce(json_agg(json_build_object('line', rl.order_channel_line_id, 'sku', rl.channel_sku,
                      'quantity', rl.quantity, 'on_order', l.id IS NOT NULL) ORDER BY rl.channel_line_id)
                      FILTER (WHERE rl.id IS NOT NULL), '[]')
           FROM staging.returns r LEFT JOIN staging.return_lines rl ON rl.return_id = r.id
           LEFT JOIN staging.order_lines l ON l.order_id = r.order_id AND l.component = 0
                AND l.channel_line_id = rl.order_channel_line_id
           WHERE r.id = ANY(%s) GROUP BY r.id ORDER BY r.id""",
        (linked,),
    )
    for _id, order_id, order_ext, return_ext, invalid, lines in cur.fetchall():
        said = ", ".join(f"{x['quantity']} x {x['sku']} (line {x['line']}"
                         + (")" if x["on_order"] else ", not a line of this order)") for x in lines)
        message = (f"return {return_ext} could not be read: {invalid}" if invalid
                   else f"return {return_ext}: {said}")
        staging.record_event(cur, CHANNEL, account, "return_recorded", message, order_id=order_id,
                             external_order_id=order_ext, detail={"return": return_ext, "lines": lines},
                             run_id=run_id)
    return len(linked)


def record(conn, mapper: PlentyMapper, account: str, run_id: str | None) -> dict:
    """Record the return orders landed since the last run and link every waiting return; one transaction.

    Returns:
        counts: ``payloads`` read, returns ``recorded`` (new), ``updated`` (status or lines changed),
        ``invalid`` (kept unread), ``linked`` (to their sales order, in this run) and ``waiting``
        (for a sales order not staged yet, after this run).
    """
    counts = dict.fromkeys(("payloads", "recorded", "updated", "invalid", "linked", "waiting"), 0)
    with conn.cursor() as cur:
        since = int(db.get_state(cur, CHANNEL, account, STREAM) or 0)
        cur.execute("SELECT coalesce(max(id), 0) FROM raw.return_orders WHERE channel = %s AND account = %s",
                    (CHANNEL, account))
        upto = cur.fetchone()[0]
        cur.execute(
            """SELECT external_id, id, payload FROM raw.return_orders
               WHERE channel = %(c)s AND account = %(a)s AND id <= %(upto)s AND external_id IN (
                   SELECT external_id FROM raw.return_orders
                   WHERE channel = %(c)s AND account = %(a)s AND id > %(since)s AND id <= %(upto)s)
               ORDER BY external_id, id""",
            {"c": CHANNEL, "a": account, "since": since, "upto": upto},
        )
        grouped: dict[str, list[tuple[int, dict]]] = {}
        for ext, raw_id, payload in cur.fetchall():
            grouped.setdefault(ext, []).append((raw_id, payload))
            counts["payloads"] += 1
        new: dict[int, ReturnOrder] = {}
        for ext, rows in grouped.items():
            ret = _map_safely(mapper, ext, rows)
            return_id, change = _upsert(cur, account, ret)
            if change:
                counts["recorded" if change == "inserted" else "updated"] += 1
            if change == "inserted" and not ret.invalid_reason:
                new[return_id] = ret
            if change and ret.invalid_reason:
                counts["invalid"] += 1
                staging.record_event(cur, CHANNEL, account, "return_invalid",
                                     f"return {ext} could not be read: {ret.invalid_reason}",
                                     external_order_id=ret.external_order_id,
                                     detail={"return": ext, "raw_id": ret.raw_id}, run_id=run_id)
        counts["linked"] = _link(cur, account, run_id)
        cur.execute("SELECT id FROM staging.returns WHERE id = ANY(%s) AND order_id IS NULL", (list(new),))
        for (return_id,) in cur.fetchall():  # new, and its sales order is not staged yet: say so, once
            ret = new[return_id]
            staging.record_event(cur, CHANNEL, account, "return_waiting",
                                 f"return {ret.external_return_id} names sales order {ret.external_order_id}, which "
                                 "is not in staging yet: it is linked once that order is imported",
                                 external_order_id=ret.external_order_id,
                                 detail={"return": ret.external_return_id}, run_id=run_id)
        cur.execute("SELECT count(*) FROM staging.returns WHERE channel = %s AND account = %s AND order_id IS NULL"
                    " AND external_order_id IS NOT NULL", (CHANNEL, account))
        counts["waiting"] = cur.fetchone()[0]
        db.set_state(cur, CHANNEL, account, STREAM, str(upto))
    conn.commit()
    return counts


def enqueue_received(conn, account: str, status) -> int:
    """One ``return_status`` effect per return the warehouse received and plenty was not told of; one
    transaction. Keyed by the return order alone, so a rerun, or a status id changed later, sends
    nothing again. Returns how many were new.

    Args:
        status: the "return received" status id (``PlentySettings.return_received_status``).
    """
    with conn.cursor() as cur:
        cur.execute(
            """SELECT r.external_return_id, r.external_order_id, r.received_at,
                      coalesce(json_agg(json_build_object('line', rl.channel_line_id, 'sku', rl.channel_sku,
                          'quantity', rl.quantity, 'received', rl.received_quantity) ORDER BY rl.channel_line_id)
                          FILTER (WHERE rl.id IS NOT NULL), '[]')
               FROM staging.returns r LEFT JOIN staging.return_lines rl ON rl.return_id = r.id
               WHERE r.channel = %(c)s AND r.account = %(a)s AND r.received_at IS NOT NULL
                 AND r.external_return_id ~ '^[0-9]+$'
                 AND NOT EXISTS (SELECT 1 FROM staging.outbox ob WHERE ob.channel = r.channel
                                 AND ob.account = r.account AND ob.kind = %(k)s
                                 AND ob.idempotency_key = %(c)s || ':' || %(a)s || ':' || %(k)s || ':'
                                                          || r.external_return_id)
               GROUP BY r.id ORDER BY r.id""",
            {"c": CHANNEL, "a": account, "k": RETURN_STATUS},
        )
        effects = [outbox.Effect(RETURN_STATUS, return_id, {
            "order_id": int(return_id), "statusId": status_json(status), "because": "return received",
            "received_at": received_at.isoformat(), "lines": lines}, order_id)
            for return_id, order_id, received_at, lines in cur.fetchall()]
        new = outbox.enqueue(cur, CHANNEL, account, effects)
    conn.commit()
    return new


__all__ = ["RETURN_STATUS", "STREAM", "enqueue_received", "land", "record"]
