"""Every read the page makes, in one place: plain SQL on the staging schema, rows as dicts."""

from __future__ import annotations

from datetime import datetime

SEND_TASK = {"tracking": "post_tracking"}  # outbox kinds sent by a task not named send_<kind>


def _dicts(cur) -> list[dict]:
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def queue(cur, *, channel: str | None = None, account: str | None = None, reason: str | None = None,
          since: datetime | None = None, until: datetime | None = None, limit: int = 500) -> dict:
    """Open attention rows (filtered), oldest first, and their counts by reason and by channel account."""
    where = """a.cleared_at IS NULL AND (%(c)s::text IS NULL OR a.channel = %(c)s)
               AND (%(a)s::text IS NULL OR a.account = %(a)s) AND (%(r)s::text IS NULL OR a.reason = %(r)s)
               AND (%(since)s::timestamptz IS NULL OR a.raised_at >= %(since)s)
               AND (%(until)s::timestamptz IS NULL OR a.raised_at < %(until)s)"""
    args = {"c": channel, "a": account, "r": reason, "since": since, "until": until, "n": limit}
    cur.execute(f"""SELECT a.id, a.order_id, a.channel, a.account, a.external_order_id, a.reason, a.message,
                           a.detail, a.raised_at, a.raised_run_id, o.status
                    FROM staging.attention a JOIN staging.orders o ON o.id = a.order_id
                    WHERE {where} ORDER BY a.raised_at, a.id LIMIT %(n)s""", args)
    items = _dicts(cur)
    cur.execute(f"SELECT reason, count(*) FROM staging.attention a WHERE {where} GROUP BY reason ORDER BY reason",
                args)
    by_reason = dict(cur.fetchall())
    cur.execute(f"""SELECT channel, account, reason, count(*) AS n FROM staging.attention a WHERE {where}
                    GROUP BY channel, account, reason ORDER BY channel, account, reason""", args)
    return {"items": items, "by_reason": by_reason, "by_account": _dicts(cur)}


def find(cur, term: str) -> list[dict]:
    """Orders a person may mean by ``term``: our id, the channel's order id (or Groupon's ``orderid``),
    a line id or a tracking number."""
    term = term.strip()
    ours = int(term) if term.isascii() and term.isdigit() and len(term) <= 18 else None
    cur.execute(
        """SELECT id, channel, account, external_order_id, status, placed_at FROM staging.orders o
           WHERE o.id = %(ours)s OR o.external_order_id = %(t)s
              OR o.channel_data->>'orderid' = %(t)s
              OR EXISTS (SELECT 1 FROM staging.order_lines l WHERE l.order_id = o.id AND l.channel_line_id = %(t)s)
              OR EXISTS (SELECT 1 FROM staging.shipments s WHERE s.order_id = o.id AND s.tracking_number = %(t)s)
           ORDER BY id LIMIT 50""",
        {"t": term, "ours": ours},
    )
    return _dicts(cur)


def order(cur, order_id: int) -> dict | None:
    """One order's whole story: the row, lines, shipments, open attention, overrides, raw payload and a
    timeline of its history entries and write-backs (oldest first)."""
    cur.execute("SELECT * FROM staging.orders WHERE id = %s", (order_id,))
    found = _dicts(cur)
    if not found:
        return None
    head = found[0]
    cur.execute("""SELECT channel_line_id, component, channel_sku, warehouse_sku, bundle_sku, quantity,
                          channel_quantity, status, channel_status FROM staging.order_lines WHERE order_id = %s
                   ORDER BY channel_line_id, component""", (order_id,))
    lines = _dicts(cur)
    cur.execute("""SELECT s.id, s.courier_service, s.tracking_number, s.tracking_url, s.shipped_at,
                          c.carrier_code
                   FROM staging.shipments s LEFT JOIN staging.carrier_codes c
                     ON c.channel = %s AND c.courier_service = s.courier_service
                   WHERE s.order_id = %s ORDER BY s.id""", (head["channel"], order_id))
    shipments = _dicts(cur)
    cur.execute("""SELECT id, reason, message, detail, raised_at, raised_run_id FROM staging.attention
                   WHERE order_id = %s AND cleared_at IS NULL ORDER BY raised_at, id""", (order_id,))
    attention = _dicts(cur)
    cur.execute("""SELECT id, kind, value, created_by, why, created_at, applied_at, active FROM staging.order_overrides
                   WHERE channel = %s AND account = %s AND external_order_id = %s ORDER BY id""",
                (head["channel"], head["account"], head["external_order_id"]))
    overrides = _dicts(cur)
    cur.execute("""SELECT id, fetched_at, run_id, payload FROM raw.orders
                   WHERE channel = %s AND account = %s AND external_id = %s ORDER BY id DESC LIMIT 1""",
                (head["channel"], head["account"], head["external_order_id"]))
    raw = (_dicts(cur) or [None])[0]
    cur.execute("""SELECT id, kind, status, attempts, last_error, result, payload, created_at, updated_at, sent_at
                   FROM staging.outbox WHERE order_id = %s ORDER BY id""", (order_id,))
    outbox = _dicts(cur)
    for row in outbox:
        row["task_id"] = SEND_TASK.get(row["kind"], f"send_{row['kind']}")
    return {"order": head, "lines": lines, "shipments": shipments, "attention": attention, "overrides": overrides,
            "raw": raw, "outbox": outbox, "timeline": timeline(cur, order_id)}


def timeline(cur, order_id: int) -> list[dict]:
    """History entries, oldest first; a write-back attempt (``detail.outbox_id``) names its task.

    ``staging.order_history``: the stored entries plus the import, read from the order row (id NULL).
    """
    cur.execute("""SELECT id, event, message, detail, run_id, created_at FROM staging.order_history
                   WHERE order_id = %s ORDER BY created_at, id NULLS FIRST""", (order_id,))
    events = _dicts(cur)
    for e in events:
        kind = (e["detail"] or {}).get("kind") if isinstance(e["detail"], dict) else None
        # Other entries link to their run only: several tasks write the same event names.
        e["task_id"] = SEND_TASK.get(kind, f"send_{kind}") if kind and "outbox_id" in e["detail"] else None
    return events
