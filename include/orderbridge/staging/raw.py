"""Landing: each page of payloads appended to ``raw.orders`` as the channel sent it, once."""


from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable

from orderbridge import db, fastpath

log = logging.getLogger(__name__)


# The canonical text of a payload: ``json.dumps(payload, sort_keys=True, separators=(",", ":"))``.
_PAYLOAD_JSON = fastpath.json_encoder(sort_keys=True, separators=(",", ":"))


def payload_hash(payload: dict) -> str:
    return hashlib.sha256(_PAYLOAD_JSON(payload).encode()).hexdigest()


def payload_id(payload: dict, key: str) -> str:
    """The channel's id of a payload; one without it is still landed (and later quarantined), never dropped."""
    value = payload.get(key) if isinstance(payload, dict) else None
    return str(value) if value not in (None, "") else f"missing-{key}:{payload_hash(payload)[:16]}"


RAW_COLUMNS = ("channel", "account", "external_id", "payload", "payload_hash", "run_id")


def raw_statistics() -> db.PlannerStatistics:
    """What keeps ``raw.orders``' lookups by external id fast during a big load (``PlannerStatistics``)."""
    return db.PlannerStatistics("raw.orders", ("channel", "account", "external_id"))


@fastpath.paused_gc()
def land_raw(cur, channel: str, account: str, items: Iterable[tuple[str, dict]], run_id: str | None) -> int:
    """Append one page of payloads to ``raw.orders``; returns how many were new.

    Args:
        cur: cursor in the caller's transaction (commit it to make the page durable).
        items: ``(external_id, payload)`` pairs as the channel sent them.
    """
    rows: dict[tuple[str, str], tuple] = {}
    for ext_id, payload in items:
        # One encoding serves the hash and the COPY: jsonb reads it back to the same value.
        text = _PAYLOAD_JSON(payload)
        digest = hashlib.sha256(text.encode()).hexdigest()
        rows.setdefault((ext_id, digest), (channel, account, ext_id, text, digest, run_id))
    if not rows:
        return 0
    # Payloads landed before (reruns, backfills, an entry split over two pages) are left out here,
    # so the rest can go in by plain COPY; a concurrent run landing the same ones meanwhile sends
    # the page the conflict-proof way.
    cur.execute("SELECT external_id, payload_hash FROM raw.orders WHERE channel = %s AND account = %s"
                " AND external_id = ANY(%s)", (channel, account, list({ext for ext, _ in rows})))
    for key in cur.fetchall():
        rows.pop(key, None)
    if not rows or db.copy_if_new(cur, "raw.orders", RAW_COLUMNS, rows.values()):
        return len(rows)
    cur.execute(
        """CREATE TEMP TABLE IF NOT EXISTS tmp_raw (ord serial, channel text, account text, external_id text,
           payload jsonb, payload_hash text, run_id text) ON COMMIT DELETE ROWS"""
    )
    db.copy_rows(cur, "tmp_raw", RAW_COLUMNS, rows.values())
    cur.execute(
        """INSERT INTO raw.orders (channel, account, external_id, payload, payload_hash, run_id)
           SELECT channel, account, external_id, payload, payload_hash, run_id FROM tmp_raw ORDER BY ord
           ON CONFLICT (channel, account, external_id, payload_hash) DO NOTHING"""
    )
    return cur.rowcount


def land_one(cur, channel: str, account: str, ext_id: str, payload: dict, run_id: str | None) -> int:
    """Append one payload to ``raw.orders`` unless landed before; returns its raw id either way.

    For calls that bring one order each (Merkana's endpoint): one statement instead of a page's
    look-up, savepoint and ``COPY``, and safe against the same payload landing concurrently.
    """
    text = _PAYLOAD_JSON(payload)
    digest = hashlib.sha256(text.encode()).hexdigest()
    cur.execute(
        """WITH new AS (INSERT INTO raw.orders (channel, account, external_id, payload, payload_hash, run_id)
                        VALUES (%s, %s, %s, %s, %s, %s)
                        ON CONFLICT (channel, account, external_id, payload_hash) DO NOTHING RETURNING id)
           SELECT id FROM new UNION ALL
           SELECT id FROM raw.orders WHERE channel = %s AND account = %s AND external_id = %s AND payload_hash = %s""",
        (channel, account, ext_id, text, digest, run_id, channel, account, ext_id, digest),
    )
    row = cur.fetchone()
    if row is None:  # landed by a concurrent transaction that committed while we waited: a new snapshot sees it
        cur.execute("SELECT id FROM raw.orders WHERE channel = %s AND account = %s AND external_id = %s"
                    " AND payload_hash = %s", (channel, account, ext_id, digest))
        row = cur.fetchone()
    return row[0]
