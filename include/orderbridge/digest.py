"""The operations digest: the open attention, summed per channel, account and reason, written at
most once per hour into ``staging.attention_digests``.

The digest DAG runs after loads (it is scheduled on their Assets), so it may run every few minutes;
the table's key (the hour) makes every run after the first of an hour a no-op. A table rather than
the order history: the summary belongs to no order, and ``staging.order_events`` is per order.
"""

from __future__ import annotations

import json
import logging
from contextlib import closing
from datetime import UTC, datetime

log = logging.getLogger(__name__)


def hour_of(at: datetime) -> datetime:
    """The UTC hour ``at`` falls in (a digest's key)."""
    return at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def summary(cur) -> list[dict]:
    """Open attention per channel, account and reason, with the oldest raised; most first."""
    cur.execute("""SELECT channel, account, reason, count(*), min(raised_at) FROM staging.attention
                   WHERE cleared_at IS NULL GROUP BY 1, 2, 3 ORDER BY 4 DESC, 1, 2, 3""")
    return [{"channel": c, "account": a, "reason": r, "count": n, "oldest": oldest.isoformat()}
            for c, a, r, n, oldest in cur.fetchall()]


def as_text(rows: list[dict]) -> str:
    if not rows:
        return "nothing needs a person"
    return "; ".join(f"{r['channel']}/{r['account']} {r['reason']} {r['count']}" for r in rows)


def write(cur, at: datetime, run_id: str | None) -> bool:
    """Write the digest of ``at``'s hour unless that hour has one; True when this call wrote it."""
    rows = summary(cur)
    cur.execute("""INSERT INTO staging.attention_digests (hour, run_id, open_total, summary, text)
                   VALUES (%s, %s, %s, %s, %s) ON CONFLICT (hour) DO NOTHING RETURNING hour""",
                (hour_of(at), run_id, sum(r["count"] for r in rows), json.dumps(rows), as_text(rows)))
    return cur.fetchone() is not None


def write_hourly(at: datetime, run_id: str | None) -> dict:
    """The digest task: write this hour's digest (once), on the ``orderbridge_staging`` connection."""
    from orderbridge.steps import staging_connection

    with closing(staging_connection()) as conn:
        with conn.cursor() as cur:
            written = write(cur, at, run_id)
            cur.execute("SELECT open_total, text FROM staging.attention_digests WHERE hour = %s", (hour_of(at),))
            total, text = cur.fetchone()
        conn.commit()
    log.info("attention digest %s: %s (%s)", hour_of(at).isoformat(), text,
             "written" if written else "this hour's was already written")
    return {"written": int(written), "open": total}
