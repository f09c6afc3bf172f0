"""Stock reconciliation, one mechanism for every channel.

Available per warehouse SKU = on hand (all warehouses) minus what open orders in staging reserve,
per stock owner: a channel account sells and reserves the stock of its owner
(``staging.stock_owners``; ``''``, the warehouse's own, for an account without a row), so two
merchants of a 3PL using the same SKU code never share a figure. What an order reserves is what
its open lines ordered minus what the warehouse's parcels already carry
(``staging.shipment_lines``), even before a channel's task marks the order ``shipped``: the
warehouse took those goods off ``on_hand`` when it wrote the parcel, and the unshipped rest of a
partially shipped order must not be sold twice.
Each channel SKU the channel has shown us is mapped back through the same ``SkuMap`` the orders
use; a bundle offers the minimum its components allow. Every run writes a drift report
(``staging.stock_drift``: the channel's last confirmed value, ours, the difference, what we did),
and only values that differ from what the channel last confirmed are pushed, through the outbox.

A channel that takes no stock (Groupon: "infinite stock") still gets the report, with the action
saying why nothing was pushed.
"""

from __future__ import annotations

from dataclasses import dataclass

from psycopg2.extras import execute_values

from orderbridge.orders import SkuMap
from orderbridge.outbox import Effect, enqueue, idempotency_key

STOCK = "stock"
# Orders that hold stock on the shelf. awaiting_stock does not: it is waiting for stock itself.
# An order held by its channel (awaiting_payment, held, awaiting_channel) is promised to a customer:
# it reserves too.
OPEN_STATUSES = ("ready", "awaiting_mapping", "invalid_address", "awaiting_payment", "held", "awaiting_channel",
                 "in_progress", "partially_shipped")


@dataclass
class DriftCounts:
    skus: int = 0
    in_sync: int = 0
    pushed: int = 0
    not_pushed: int = 0
    unmapped: int = 0


def owner_of(cur, channel: str, account: str) -> str:
    """Whose stock ``account`` sells: its ``staging.stock_owners`` row, else the warehouse's own (``''``)."""
    cur.execute("SELECT owner FROM staging.stock_owners WHERE channel = %s AND account = %s", (channel, account))
    row = cur.fetchone()
    return row[0] if row else ""


def set_owners(cur, channel: str, owners: dict[str, str]) -> None:
    """Record whose stock each account (``account -> owner``) sells; idempotent, writes only changes.

    A row already saying so is not even proposed: ``ON CONFLICT DO UPDATE`` locks the row it
    conflicts with even when its ``WHERE`` updates nothing, which made every concurrent call of one
    account (Merkana's endpoint records the owner with each order) wait for the others to commit.
    """
    if owners:
        execute_values(
            cur,
            """INSERT INTO staging.stock_owners AS so (channel, account, owner)
               SELECT v.channel, v.account, v.owner FROM (VALUES %s) AS v (channel, account, owner)
               WHERE NOT EXISTS (SELECT 1 FROM staging.stock_owners s
                                 WHERE s.channel = v.channel AND s.account = v.account AND s.owner = v.owner)
               ON CONFLICT (channel, account) DO UPDATE SET owner = EXCLUDED.owner, updated_at = now()
               WHERE so.owner IS DISTINCT FROM EXCLUDED.owner""",
            [(channel, account, owner) for account, owner in sorted(owners.items())],
        )


# Orders whose stock is ``owner``'s: an account with no ``stock_owners`` row sells the warehouse's
# own (''). A semi- or anti-join, not a filter on a left join's ``coalesce(owner, '')``: the planner
# gives such a filter a fixed 0.5% selectivity, took ten thousand open orders for a handful, and
# compared each with every open line (4 s a load batch in a 10,000-order bench).
_OWNED = {
    False: """NOT EXISTS (SELECT 1 FROM staging.stock_owners so
                              WHERE so.channel = o.channel AND so.account = o.account AND so.owner <> '')""",
    True: """EXISTS (SELECT 1 FROM staging.stock_owners so
                          WHERE so.channel = o.channel AND so.account = o.account AND so.owner = %(owner)s)""",
}


def available(cur, exclude: tuple[str, str, list[str]] | None = None, owner: str = "",
              warehouses: list[str] | None = None) -> dict[str, int]:
    """Warehouse SKU -> sellable units of ``owner`` (never below zero).

    Args:
        warehouses: count only what these ``stock_levels.warehouse``s hold; None: every warehouse.
        owner: whose stock (``owner_of``); only orders of accounts with that owner reserve it.
        exclude: ``(channel, account, external_order_ids)`` whose reservations do not count (the
            orders being re-checked themselves, so they do not compete with their own stock).
    """
    channel, account, ids = exclude or ("", "", [])
    cur.execute(
        """WITH on_hand AS (SELECT sku, sum(on_hand) AS q FROM staging.stock_levels WHERE owner = %(owner)s
                              AND (%(all)s OR warehouse = ANY(%(warehouses)s)) GROUP BY sku),
                open_orders AS (SELECT o.id FROM staging.orders o
                                WHERE o.status IN %(open)s AND """ + _OWNED[bool(owner)] + """
                                  AND NOT (o.channel = %(c)s AND o.account = %(a)s
                                           AND o.external_order_id = ANY(%(ids)s))),
                -- What parcels already carry, per line of those orders (channel units), in one pass.
                shipped AS (SELECT p.order_id, sl.channel_line_id, sum(sl.quantity) AS q
                            FROM open_orders o JOIN staging.shipments p ON p.order_id = o.id
                            JOIN staging.shipment_lines sl ON sl.shipment_id = p.id GROUP BY 1, 2),
                -- quantity is in warehouse units, channel_quantity in channel units (a bundle line: each
                -- component's quantity is a whole multiple of it).
                reserved AS (SELECT l.warehouse_sku AS sku,
                                    sum(l.quantity * greatest(l.channel_quantity - coalesce(d.q, 0), 0)
                                        / l.channel_quantity) AS q
                             FROM open_orders o JOIN staging.order_lines l ON l.order_id = o.id
                             LEFT JOIN shipped d ON d.order_id = l.order_id AND d.channel_line_id = l.channel_line_id
                             WHERE l.warehouse_sku IS NOT NULL AND l.status = 'open'
                             GROUP BY 1)
           SELECT p.sku, greatest(coalesce(h.q, 0) - coalesce(r.q, 0), 0)::int FROM staging.products p
           LEFT JOIN on_hand h USING (sku) LEFT JOIN reserved r USING (sku) WHERE p.owner = %(owner)s""",
        {"open": OPEN_STATUSES, "c": channel, "a": account, "ids": list(ids), "owner": owner,
         "all": warehouses is None, "warehouses": list(warehouses or [])},
    )
    return dict(cur.fetchall())


def offer(parts: list[tuple[str, int]], avail: dict[str, int]) -> int:
    """Units of one channel SKU the warehouse can sell: the scarcest component decides."""
    return min(avail.get(sku, 0) // qty for sku, qty in parts)


def reconcile(cur, channel: str, account: str, run_key: str, *, pushes_stock: bool,
              not_pushed_reason: str = "channel takes no stock updates",
              warehouses: list[str] | None = None) -> DriftCounts:
    """Write the drift report for one channel account and enqueue the stock values that changed.

    Args:
        run_key: identifies this reconciliation (the run's interval end); a rerun rewrites the same
            report and enqueues nothing new.
        pushes_stock: False for channels with infinite stock: report only.
        warehouses: the warehouses whose sum the account offers (``available``); None: all.
    """
    counts = DriftCounts()
    avail = available(cur, owner=owner_of(cur, channel, account), warehouses=warehouses)
    skus = SkuMap.load(cur, channel, account)
    cur.execute(
        "SELECT channel_sku, kit_spec, confirmed_stock, external_product_id FROM staging.channel_products"
        " WHERE channel = %s AND account = %s ORDER BY channel_sku",
        (channel, account),
    )
    report, effects, settled = [], [], []
    for channel_sku, kit_spec, confirmed, product_id in cur.fetchall():
        counts.skus += 1
        parts = skus.resolve(channel_sku, kit_spec)
        ours = offer(parts, avail) if parts else None
        diff = None if ours is None or confirmed is None else ours - confirmed
        if ours is None:
            action = "unmapped: nothing to offer until the SKU is mapped"
            counts.unmapped += 1
        elif not pushes_stock:
            action = f"not pushed: {not_pushed_reason}"
            counts.not_pushed += 1
        elif confirmed == ours:
            action = "in sync"
            counts.in_sync += 1
            settled.append(channel_sku)
        else:
            action = "pushed"
            counts.pushed += 1
            # ``confirmed`` lets channels that take changes rather than levels (Merkana) send the delta.
            effects.append(Effect(STOCK, f"{channel_sku}:{run_key}", {"channel_sku": channel_sku, "quantity": ours,
                                                                     "confirmed": confirmed,
                                                                     "product_id": product_id}))
        report.append((run_key, channel, account, channel_sku, confirmed, ours, diff, action))
    if report:
        execute_values(
            cur,
            """INSERT INTO staging.stock_drift (run_key, channel, account, channel_sku, channel_value, our_value,
               difference, action) VALUES %s ON CONFLICT (run_key, channel, account, channel_sku) DO NOTHING""",
            report,
        )
    if effects or settled:
        # A newer value replaces any older one still waiting: only the latest truth is worth sending.
        # A SKU back in sync needs no value at all (a stale one would even be wrong as a delta).
        cur.execute(
            """UPDATE staging.outbox SET status = 'superseded', updated_at = now()
               WHERE channel = %s AND account = %s AND kind = %s AND status = 'pending'
                 AND payload->>'channel_sku' = ANY(%s) AND NOT (idempotency_key = ANY(%s))""",
            (channel, account, STOCK, [e.payload["channel_sku"] for e in effects] + settled,
             [idempotency_key(channel, account, e) for e in effects]),
        )
        enqueue(cur, channel, account, effects)
    return counts


def confirm_sent(cur, channel: str, account: str) -> int:
    """Take every stock value the channel accepted (outbox ``sent``) as what it now shows.

    Set-based and idempotent: run it after each dispatch, in its own transaction; a crash between
    the two is caught up by the next run, before the next reconciliation compares.
    """
    cur.execute(
        """UPDATE staging.channel_products cp SET confirmed_stock = s.quantity, confirmed_at = s.sent_at
           FROM (SELECT DISTINCT ON (payload->>'channel_sku') payload->>'channel_sku' AS sku,
                        (payload->>'quantity')::int AS quantity, sent_at
                 FROM staging.outbox WHERE channel = %s AND account = %s AND kind = %s AND status = 'sent'
                 ORDER BY payload->>'channel_sku', sent_at DESC, id DESC) s
           WHERE cp.channel = %s AND cp.account = %s AND cp.channel_sku = s.sku
             AND (cp.confirmed_at IS NULL OR cp.confirmed_at < s.sent_at)""",
        (channel, account, STOCK, channel, account),
    )
    return cur.rowcount


def confirm(cur, channel: str, account: str, channel_sku: str, quantity: int) -> None:
    """Record that the channel now shows ``quantity`` (called when a stock effect was accepted)."""
    cur.execute(
        """UPDATE staging.channel_products SET confirmed_stock = %s, confirmed_at = now()
           WHERE channel = %s AND account = %s AND channel_sku = %s""",
        (quantity, channel, account, channel_sku),
    )
