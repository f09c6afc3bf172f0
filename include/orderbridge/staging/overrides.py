"""Operator overrides: corrections of one order kept in ``staging.order_overrides``, applied on every
transform, so fixing an order never means editing ``raw`` and a re-transform from ``raw`` keeps it.

Kinds (the table's CHECK constraints refuse any other shape, naming it):

- ``address``: ``{"ship_address1": "...", "ship_postcode": "...", ...}``, any of ``ADDRESS_FIELDS``
  (null empties a field); replaces what the channel sent for those fields.
- ``sku``: ``{"channel_line_id": "...", "warehouse_sku": "..."}``: that line is picked as that
  warehouse SKU, whatever its channel SKU maps to (the SKU must be in ``staging.products``).
- ``release_stock``: ``{}``: the order goes ``ready`` although the stock check would hold it.

Active rows apply oldest first, so the latest wins where two set the same field or line. The first
time an override is in effect for an order, the order's history gets an ``override_applied`` entry
naming who and why (``override_unusable`` when it cannot be applied, saying why).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from orderbridge.orders import StagedOrder

ADDRESS_FIELDS = ("ship_name", "ship_address1", "ship_address2", "ship_city", "ship_state", "ship_postcode",
                  "ship_country", "ship_phone")


@dataclass(frozen=True)
class Override:
    id: int
    external_order_id: str
    kind: str
    value: dict
    created_by: str
    why: str
    applied_at: datetime | None


def active(cur, channel: str, account: str, external_order_ids: list[str]) -> dict[str, list[Override]]:
    """The active overrides of these orders, oldest first, by external order id."""
    cur.execute(
        """SELECT id, external_order_id, kind, value, created_by, why, applied_at FROM staging.order_overrides
           WHERE channel = %s AND account = %s AND external_order_id = ANY(%s) AND active ORDER BY id""",
        (channel, account, external_order_ids),
    )
    found: dict[str, list[Override]] = {}
    for row in cur.fetchall():
        found.setdefault(row[1], []).append(Override(*row))
    return found


def apply(order: StagedOrder, overrides: list[Override]) -> tuple[bool, list[tuple]]:
    """Apply overrides to a freshly mapped order (in place).

    Returns:
        Whether the stock check is released, and the history entries of overrides applied for the
        first time (``(external_order_id, event, message, detail)``).
    """
    released, history = False, []
    lines = {str(line.channel_line_id): line for line in order.lines}
    for o in overrides:
        problem = None
        if o.kind == "address":
            for name, value in o.value.items():
                setattr(order, name, None if value is None else str(value))
        elif o.kind == "sku":
            line = lines.get(str(o.value["channel_line_id"]))
            if line is None:
                problem = (f"the order has no line {o.value['channel_line_id']!r} (its lines: "
                           f"{', '.join(lines) or 'none'}); not applied")
            else:
                line.warehouse_sku = o.value["warehouse_sku"]
        elif o.kind == "release_stock":
            released = True
        if o.applied_at is None:
            what = json.dumps(o.value, ensure_ascii=False) if o.value else ""
            history.append((order.external_order_id, "override_applied" if problem is None else "override_unusable",
                            f"operator override {o.kind} {what} by {o.created_by}: {o.why}"
                            + (f" ({problem})" if problem else ""),
                            {"override_id": o.id, "kind": o.kind, "value": o.value, "by": o.created_by,
                             "why": o.why}))
    return released, history


def mark_applied(cur, history: list[tuple]) -> None:
    """Stamp ``applied_at`` on the overrides whose first-time entries were just written."""
    ids = [detail["override_id"] for _ext, _event, _message, detail in history]
    if ids:
        cur.execute("UPDATE staging.order_overrides SET applied_at = now() WHERE id = ANY(%s)", (ids,))
