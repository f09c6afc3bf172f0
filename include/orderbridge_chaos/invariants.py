"""The promise, as checks: from the sandbox's own records (``ChannelAdapter.observe``) and staging.

``check`` returns ``Findings`` with every figure the results table shows and a list of
``problems`` (empty when the promise held):

- every order the channel offered is in staging exactly once (or quarantined with a reason), and
  ships to the address the channel gave for it;
- every acknowledgement the channel received refers to an order committed in staging;
- every tracking effect the outbox holds reached the channel exactly once, none twice (on a channel
  whose write-backs set a state, ``idempotent_writebacks``, one received again is counted as resent:
  it changes nothing there, and no one can tell a lost answer from a lost request);
- stock on the channel equals what the warehouse can sell (channels that take stock);
- nothing waits in the outbox, and no order line is stored twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from orderbridge.orders import SkuMap
from orderbridge.stock import available, offer, owner_of
from orderbridge_chaos.adapter import ChannelAdapter, Observed


@dataclass
class Findings:
    channel: str
    offered: int = 0
    staged: int = 0
    quarantined: int = 0
    lost: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)
    acked_uncommitted: list[str] = field(default_factory=list)
    sent_twice: list[str] = field(default_factory=list)
    tracking_sent: int = 0
    tracking_missing: list[str] = field(default_factory=list)
    stock_checked: int = 0
    takes_stock: bool = False  # the channel shows stock: then a run that checked none proves nothing
    stock_mismatch: list[str] = field(default_factory=list)
    unsent: list[str] = field(default_factory=list)
    silent_quarantine: list[str] = field(default_factory=list)
    resent: int = 0
    wrong_address: list[str] = field(default_factory=list)

    @property
    def problems(self) -> list[str]:
        out = []
        for name in ("lost", "duplicated", "acked_uncommitted", "sent_twice", "tracking_missing", "stock_mismatch",
                     "unsent", "silent_quarantine", "wrong_address"):
            items = getattr(self, name)
            if items:
                out.append(f"{self.channel}: {len(items)} {name.replace('_', ' ')}: {', '.join(items[:5])}"
                           + (" ..." if len(items) > 5 else ""))
        return out


def _rows(cur, sql: str, *args) -> list[tuple]:
    cur.execute(sql, args)
    return cur.fetchall()


def expected_stock(cur, channel: str, account: str) -> dict[str, int]:
    """Channel SKU -> what the warehouse can sell now (the reconciliation's own rule)."""
    avail, skus = available(cur, owner=owner_of(cur, channel, account)), SkuMap.load(cur, channel, account)
    out = {}
    for channel_sku, kit_spec in _rows(cur, "SELECT channel_sku, kit_spec FROM staging.channel_products"
                                            " WHERE channel = %s AND account = %s AND external_product_id IS NOT NULL",
                                       channel, account):
        parts = skus.resolve(channel_sku, kit_spec)
        if parts:
            out[channel_sku] = offer(parts, avail)
    return out


def check(adapter: ChannelAdapter, sandbox, conn, observed: Observed | None = None) -> Findings:
    """Compare what the channel's sandbox recorded with staging; read-only (rolls back)."""
    seen = observed or adapter.observe(sandbox)
    channel, account = adapter.channel, adapter.staging_account
    found = Findings(channel, offered=len(seen.offered))
    with conn.cursor() as cur:
        staged = {ext: (n, status, reason) for ext, n, status, reason in _rows(
            cur, "SELECT external_order_id, count(*) OVER (PARTITION BY external_order_id), status, status_reason"
                 " FROM staging.orders WHERE channel = %s AND account = %s", channel, account)}
        found.staged = len(staged)
        found.quarantined = sum(1 for _, status, _ in staged.values() if status == "invalid_payload")
        found.silent_quarantine = sorted(e for e, (_, s, reason) in staged.items()
                                         if s == "invalid_payload" and not (reason or "").strip())
        found.lost = sorted(seen.offered - staged.keys())
        found.duplicated = sorted(e for e, (n, *_) in staged.items() if n > 1)
        found.duplicated += [f"line {o}/{line}/{c}" for o, line, c in _rows(
            cur, """SELECT o.external_order_id, l.channel_line_id, l.component FROM staging.order_lines l
                    JOIN staging.orders o ON o.id = l.order_id WHERE o.channel = %s AND o.account = %s
                    GROUP BY 1, 2, 3 HAVING count(*) > 1""", channel, account)]
        found.acked_uncommitted = sorted(seen.acknowledged - staged.keys())
        addresses = {ext: tuple(rest) for ext, *rest in _rows(
            cur, "SELECT external_order_id, ship_name, ship_address1, ship_city, ship_postcode FROM staging.orders"
                 " WHERE channel = %s AND account = %s AND status <> 'invalid_payload'", channel, account)}
        found.wrong_address = sorted(ext for ext, where in seen.ship_to.items()
                                     if ext in addresses and addresses[ext] != tuple(where))

        found.resent = seen.resent
        tracked = _rows(cur, "SELECT b.payload, o.external_order_id, b.status FROM staging.outbox b"
                             " LEFT JOIN staging.orders o ON o.id = b.order_id"
                             " WHERE b.channel = %s AND b.account = %s AND b.kind = ANY(%s)", channel, account,
                        list(adapter.tracking_kinds))
        for payload, ext, status in tracked:
            key = adapter.tracking_key(payload, ext)
            if status == "sent":
                found.tracking_sent += 1
            if status == "sent" and seen.tracking.get(key, 0) == 0:
                found.tracking_missing.append(key)
        for key, n in sorted(seen.tracking.items()):
            if n > 1 and adapter.idempotent_writebacks:
                found.resent += n - 1  # a status set again after a lost answer or a killed worker: no effect
            elif n > 1:
                found.sent_twice.append(f"tracking {key} x{n}")
        found.sent_twice += seen.applied_twice
        found.unsent = [f"{kind} {key} ({status})" for kind, key, status in _rows(
            cur, "SELECT kind, idempotency_key, status FROM staging.outbox WHERE channel = %s AND account = %s"
                 " AND status IN ('pending', 'failed')", channel, account)]

        if seen.stock is not None:
            found.takes_stock = True
            for sku, ours in sorted(expected_stock(cur, channel, account).items()):
                found.stock_checked += 1
                theirs = seen.stock.get(sku)
                if theirs is None or float(theirs) != float(ours):
                    found.stock_mismatch.append(f"{sku}: channel {theirs}, warehouse {ours}")
    conn.rollback()
    return found
