"""A simulated warehouse: what the real WMS writes into staging, for the demo and the tests.

It seeds the product list, stock and the SKU mappings of ``catalogue``, and ships a
deterministic share of the orders that are ready (one shipment per order, courier and tracking
number derived from the order id, so running it twice ships nothing twice). One courier service
is deliberately not mapped to any Groupon carrier code, so the demo shows a blocked shipment.
"""

from __future__ import annotations

import hashlib

from psycopg2.extras import execute_values

from orderbridge.stock import owner_of
from orderbridge_sandbox.catalogue import GROUPON_OFFERS, PLENTY_OFFERS, WAREHOUSE_PRODUCTS

COURIER_SERVICES = ("Royal Mail Tracked", "DPD UK", "Hermes", "DHL Germany", "GLS", "Local Van Courier")
UNMAPPED_COURIER = "Local Van Courier"


def _digest(text: str) -> int:
    return int(hashlib.sha256(text.encode()).hexdigest()[:12], 16)


CHANNEL_OFFERS = {"groupon": GROUPON_OFFERS, "plentymarkets": PLENTY_OFFERS}


def seed_catalogue(cur, channel: str = "groupon") -> None:
    """Products, stock on hand and the alias/bundle rows the demo merchant has set up on ``channel``."""
    offers = CHANNEL_OFFERS[channel]
    execute_values(cur, "INSERT INTO staging.products (sku, name) VALUES %s ON CONFLICT DO NOTHING",
                   [(p.sku, p.name) for p in WAREHOUSE_PRODUCTS])
    execute_values(cur, "INSERT INTO staging.stock_levels (sku, on_hand) VALUES %s ON CONFLICT DO NOTHING",
                   [(p.sku, p.on_hand) for p in WAREHOUSE_PRODUCTS])
    aliases = [(channel, o.channel_sku, o.components[0][0]) for o in offers if o.kind == "alias"]
    execute_values(cur, "INSERT INTO staging.sku_aliases (channel, channel_sku, warehouse_sku) VALUES %s"
                        " ON CONFLICT DO NOTHING", aliases)
    bundles = [(channel, o.channel_sku, sku, qty) for o in offers if o.kind == "bundle"
               for sku, qty in o.components]
    execute_values(cur, "INSERT INTO staging.bundles (channel, bundle_sku, warehouse_sku, quantity) VALUES %s"
                        " ON CONFLICT DO NOTHING", bundles)


def ship_some(cur, channel: str, account: str, share: float = 0.5) -> int:
    """Ship about ``share`` of the ready orders of one account; returns how many shipments were new."""
    cur.execute(
        """SELECT o.id, o.external_order_id FROM staging.orders o
           WHERE o.channel = %s AND o.account = %s AND o.status = 'ready'
             AND NOT EXISTS (SELECT 1 FROM staging.shipments s WHERE s.order_id = o.id)""",
        (channel, account),
    )
    chosen = [(oid, ext) for oid, ext in cur.fetchall() if _digest(f"{account}:{ext}") % 1000 < share * 1000]
    if not chosen:
        return 0
    rows = []
    for oid, ext in chosen:
        h = _digest(ext)
        rows.append((oid, COURIER_SERVICES[h % len(COURIER_SERVICES)], f"TRK{h % 10**12:012d}"))
    execute_values(cur, "INSERT INTO staging.shipments (order_id, courier_service, tracking_number) VALUES %s"
                        " ON CONFLICT DO NOTHING", rows)
    shipped = cur.rowcount
    # What left the shelf: the order's lines, by warehouse SKU, from the stock of the account's owner.
    cur.execute(
        """UPDATE staging.stock_levels s SET on_hand = s.on_hand - q.qty, updated_at = now()
           FROM (SELECT l.warehouse_sku, sum(l.quantity) AS qty FROM staging.order_lines l
                 WHERE l.order_id = ANY(%s) AND l.warehouse_sku IS NOT NULL AND l.status = 'open'
                 GROUP BY 1) q
           WHERE s.sku = q.warehouse_sku AND s.warehouse = 'main' AND s.owner = %s""",
        ([oid for oid, _ in chosen], owner_of(cur, channel, account)),
    )
    return shipped
