"""The Groupon fake's in-memory state: each supplier account's entries and lines, and what clients
did to them (exports, tracking, requests per endpoint and status).
"""

from __future__ import annotations

import bisect
import csv
import io
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from importlib import resources

from orderbridge_sandbox.fakedata import GrouponOrderFactory

CHANNEL = "groupon"
CONTENT_TYPE = "text/json"
# What the customer (``cancelled``) or Groupon (``refunded``) turns a line into after the order was
# listed: the words the fake lists lines with (guessed, groupon-api.md §3.2: only ``open`` and
# ``ship`` are documented, and ``ship`` is what an accepted tracking sets).
LATER_STATUSES = ("cancelled", "refunded")


def load_carriers() -> dict[str, str]:
    """Approved carrier codes, lower-cased (either column of a row) -> the row's main code."""
    text = resources.files("orderbridge.data").joinpath("groupon_carriers.csv").read_text(encoding="utf-8")
    codes: dict[str, str] = {}
    for row in csv.DictReader(io.StringIO(text)):
        for key in ("code", "alternate_code"):
            if row.get(key):
                codes[row[key].strip().lower()] = row["code"].strip()
    return codes


@dataclass
class Line:
    """One line item and what clients have done to it."""

    payload: dict
    exported: bool = False
    export_calls: int = 0
    status: str = "open"
    tracking: list[dict] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.status = str(self.payload.get("status") or "open")

    @property
    def quantity(self) -> int:
        return int(self.payload["quantity"])

    def state(self) -> dict:
        p = self.payload
        return {"ci_lineitemid": p["ci_lineitemid"], "fulfillment_lineitem_id": p["fulfillment_lineitem_id"],
                "sku": p["sku"], "quantity": p["quantity"], "exported": self.exported,
                "export_calls": self.export_calls, "status": self.status, "tracking": list(self.tracking)}


@dataclass
class Entry:
    """One ``data`` entry of ``get_orders``; an order split in two has two with the same orderid."""

    orderid: str
    seq: int
    date: datetime
    payload: dict
    lines: list[Line]

    @property
    def key(self) -> tuple[str, int]:
        return (self.orderid, self.seq)

    def to_api(self) -> dict:
        return {**self.payload, "line_items": [{**ln.payload, "status": ln.status} for ln in self.lines]}

    def ship_to(self) -> dict:
        customer = self.payload.get("customer") or {}
        return {k: customer.get(k) for k in ("name", "address1", "address2", "city", "state", "zip", "country")}


class GrouponAccount:
    """One supplier account: its orders, kept sorted by (orderid, entry), and its counters."""

    def __init__(self, supplier_id: str, token: str, factory: GrouponOrderFactory) -> None:
        self.supplier_id, self.token, self.factory = supplier_id, token, factory
        self.entries: list[Entry] = []
        self.by_ci: dict[int, Line] = {}
        self.by_fli: dict[str, Line] = {}
        self.requests: Counter[tuple[str, int]] = Counter()
        self.exports = 0  # bumped whenever a line is marked exported: invalidates the open queue
        # Every windowed get_orders answered: what a look-back or a backfill asked for, page by page.
        self.window_reads: list[dict] = []
        self._open: tuple[tuple[int, int], list[Entry]] | None = None

    def add_orders(self, n: int, anchor: datetime | None = None, days: float | None = None) -> list[str]:
        """Generate ``n`` more orders (continuing the account's stream); returns their orderids."""
        orderids = []
        for order in self.factory.generate(n, anchor=anchor, days=days):
            orderids.append(order[0].orderid)
            for seq, gen in enumerate(order):
                self._add_entry(gen, seq)
        return orderids

    def _add_entry(self, gen, seq: int) -> Entry:
        lines = [Line(dict(li)) for li in gen.payload["line_items"]]
        for line in lines:
            self.by_ci[line.payload["ci_lineitemid"]] = line
            self.by_fli[line.payload["fulfillment_lineitem_id"]] = line
        payload = {k: v for k, v in gen.payload.items() if k != "line_items"}
        entry = Entry(gen.orderid, seq, gen.date, payload, lines)
        bisect.insort(self.entries, entry, key=lambda e: e.key)
        self._open = None
        return entry

    def split_order(self, orderid: str, n_lines: int = 1) -> Entry:
        """Groupon lists one more entry under an existing ``orderid``: new lines, another ship-to.

        Raises:
            KeyError: no such order.
        """
        mine = [e for e in self.entries if e.orderid == orderid]
        if not mine:
            raise KeyError(orderid)
        first = mine[0]
        gen = self.factory.split_entry(orderid, first.payload.get("parent_orderid"), first.date, n_lines)
        return self._add_entry(gen, max(e.seq for e in mine) + 1)

    def set_line_status(self, ci_lineitemid: int, status: str) -> Line:
        """The customer cancelled or Groupon refunded a line (``LATER_STATUSES``), exported or not:
        the queue does not offer it again, a date window lists it with its new status.

        Raises:
            KeyError: no such line.
            ValueError: a word other than ``LATER_STATUSES``.
        """
        if status not in LATER_STATUSES:
            raise ValueError(f"status must be one of {', '.join(LATER_STATUSES)}, not {status!r}")
        line = self.by_ci[ci_lineitemid]
        line.status = status
        return line

    def set_customer(self, orderid: str, customer: dict, entry: int | None = None) -> int:
        """Overwrite customer fields of an order's entries (all, or the one numbered ``entry``)."""
        changed = 0
        for e in self.entries:
            if e.orderid == orderid and entry in (None, e.seq):
                e.payload["customer"] = {**(e.payload.get("customer") or {}), **customer}
                changed += 1
        if not changed:
            raise KeyError(orderid)
        return changed

    def open_entries(self) -> list[Entry]:
        """Entries with a line not exported yet (the default ``get_orders`` queue).

        Kept until a line is exported or an order added, so paging through N orders costs O(N)
        once rather than on every page (which made a 100,000-order extract quadratic).
        """
        key = (len(self.entries), self.exports)
        if self._open is None or self._open[0] != key:
            self._open = (key, [e for e in self.entries if any(not ln.exported for ln in e.lines)])
        return self._open[1]

    def state(self) -> dict:
        orders: dict[str, dict] = {}
        for e in self.entries:
            order = orders.setdefault(e.orderid, {"orderid": e.orderid, "date": e.payload["date"], "entries": []})
            order["entries"].append({"entry": e.seq, "ship_to": e.ship_to(), "lines": [ln.state() for ln in e.lines]})
        lines = list(self.by_ci.values())
        totals = {"orders": len(orders), "entries": len(self.entries), "lines": len(lines),
                  "exported_lines": sum(ln.exported for ln in lines),
                  "shipped_lines": sum(ln.status == "ship" for ln in lines),
                  "cancelled_lines": sum(ln.status in ("cancelled", "refunded") for ln in lines),
                  "split_orders": sum(1 for o in orders.values() if len(o["entries"]) > 1)}
        return {"supplier_id": self.supplier_id, "orders": list(orders.values()), "totals": totals,
                "requests": counters(self.requests), "window_reads": list(self.window_reads)}


def counters(counter: Counter[tuple[str, int]]) -> dict[str, dict[str, int]]:
    """``{(endpoint, status): n}`` as ``{endpoint: {"status": n}}`` for JSON."""
    out: dict[str, dict[str, int]] = {}
    for (endpoint, status), n in sorted(counter.items()):
        out.setdefault(endpoint, {})[str(status)] = n
    return out
