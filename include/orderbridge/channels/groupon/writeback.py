"""Groupon write-backs: one handler per outbox kind (mark exported, tracking per parcel and line)."""


from __future__ import annotations

from orderbridge.channels.groupon.client import GrouponClient
from orderbridge.outbox import Handler, OutboxRow, Outcome

# The reason code of a tracking Groupon refused in ``non_open_ids`` (event detail ``reason``).
TRACKING_NOT_OPEN = "tracking_not_open"


def tracking_payload(line_id: str, carrier_code: str, tracking_number: str, quantity: int,
                     complete: bool = True) -> dict:
    """One ``tracking_info`` element: what one parcel carries of one line (``quantity``), so the
    second parcel of a line is a second element with the rest. ``complete`` changes nothing here:
    Groupon sees the order shipped when every line's quantity has its tracking."""
    return {"carrier": carrier_code, "ci_lineitem_id": int(line_id), "tracking": tracking_number,
            "quantity": quantity}


# -- write-back handlers --------------------------------------------------------------------------
def line_ids(payload: dict) -> list[int]:
    """The lines a ``mark_exported`` row covers: ``ci_lineitem_ids`` (one row per order), or the
    ``ci_lineitem_id`` of a row written per line by earlier versions."""
    if "ci_lineitem_ids" in payload:
        return [int(i) for i in payload["ci_lineitem_ids"]]
    return [int(payload["ci_lineitem_id"])]


def mark_exported_handler(client: GrouponClient) -> Handler:
    """One ``mark_exported`` call per batch, every line of every row in it; re-marking is harmless
    on Groupon. A row with a line Groupon does not know is refused, naming the line(s): the others
    were marked, and sending the row again marks nothing twice."""

    def send(rows: list[OutboxRow]) -> dict[int, Outcome]:
        lines = {row.id: line_ids(row.payload) for row in rows}
        body = client.mark_exported(list(dict.fromkeys(i for ids in lines.values() for i in ids)))
        unknown = {int(i) for i in ((body.get("data") or {}).get("unknown_ids") or [])}
        outcomes = {}
        for row in rows:
            missing = [i for i in lines[row.id] if i in unknown]
            if not missing:
                outcomes[row.id] = Outcome("sent", "marked exported")
            elif len(lines[row.id]) == 1:
                outcomes[row.id] = Outcome("rejected", "Groupon does not know this line id")
            else:
                outcomes[row.id] = Outcome(
                    "rejected", f"Groupon does not know line id(s) {', '.join(map(str, missing))}; the order's other "
                    "lines were marked exported")
        return outcomes

    return send


def tracking_handler(client: GrouponClient) -> Handler:
    """One ``tracking_notification`` call per batch.

    A line Groupon reports in ``non_open_ids`` did not take the tracking: it was cancelled,
    refunded or shipped there. That needs a person (a parcel may be on its way for a cancelled
    line), so the row is refused and the order flagged, never counted as sent.
    """

    def send(rows: list[OutboxRow]) -> dict[int, Outcome]:
        body = client.tracking_notification([row.payload for row in rows])
        non_open = {int(i) for i in ((body.get("data") or {}).get("non_open_ids") or [])}
        outcomes = {}
        for row in rows:
            line, tracking = row.payload["ci_lineitem_id"], row.payload["tracking"]
            if line in non_open:
                outcomes[row.id] = Outcome(
                    "rejected", f"Groupon did not take tracking {tracking} for line {line}: the line is not open "
                    "there (cancelled, refunded or already shipped). Resolution: look the line up in "
                    "CommerceInterface; if it was cancelled, stop the parcel or book it as a return; if an earlier "
                    "attempt of this task was cut off after Groupon took the tracking, nothing is wrong. Then "
                    "clear staging.orders.attention.", {"non_open": True}, attention=True, reason=TRACKING_NOT_OPEN)
            else:
                outcomes[row.id] = Outcome("sent", f"tracking {tracking} ({row.payload['carrier']}) posted")
        return outcomes

    return send
