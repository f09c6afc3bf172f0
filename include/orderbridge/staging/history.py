"""The history an operator reads: entries in ``staging.order_events``."""


from __future__ import annotations

import json
import logging

from orderbridge import db

log = logging.getLogger(__name__)


EVENT_COLUMNS = ("order_id", "channel", "account", "external_order_id", "event", "message", "detail", "run_id")


def _events(cur, channel: str, account: str, events: list[tuple], run_id: str | None,
            order_ids: dict[str, int]) -> None:
    """Append ``(external_order_id, event, message, detail)`` entries to the history, with ``COPY``."""
    if not events:
        return
    order_ids.update(db.order_ids(cur, channel, account, {ext for ext, *_ in events}, known=order_ids))
    db.copy_rows(cur, "staging.order_events", EVENT_COLUMNS,
                 ((order_ids[ext], channel, account, ext, event, message, detail, run_id)
                  for ext, event, message, detail in events if ext in order_ids))


def record_event(cur, channel: str, account: str, event: str, message: str, *, order_id: int | None = None,
                 external_order_id: str | None = None, detail: dict | None = None, run_id: str | None = None) -> None:
    """Append one entry to ``staging.order_events`` (the history an operator reads)."""
    cur.execute(
        """INSERT INTO staging.order_events (order_id, channel, account, external_order_id, event, message, detail,
           run_id) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)""",
        (order_id, channel, account, external_order_id, event, message, json.dumps(detail or {}), run_id),
    )
