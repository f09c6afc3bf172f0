"""A simulated warehouse: what the real WMS writes into staging, for the demo and the tests.

It seeds the product list, stock and the SKU mappings of ``catalogue``, and ships a
deterministic share of the orders that are ready (some in two parcels; courier and tracking
number derived from the order id, so running it twice ships nothing twice). One courier service
is deliberately not mapped to any Groupon carrier code, so the demo shows a blocked shipment.
"""

from __future__ import annotations

import hashlib
import json

from psycopg2.extras import execute_values

from orderbridge.stock import owner_of
from orderbridge_sandbox.catalogue import (
    GROUPON_OFFERS,
    OCTOPIA_OFFERS,
    PLENTY_OFFERS,
    SHOPRENTER_OFFERS,
    WAREHOUSE_PRODUCTS,
)

COURIER_SERVICES = ("Royal Mail Tracked", "DPD UK", "Hermes", "DHL Germany", "GLS", "Local Van Courier")
UNMAPPED_COURIER = "Local Van Courier"


def _digest(text: str) -> int:
    return int(hashlib.sha256(text.encode()).hexdigest()[:12], 16)


CHANNEL_OFFERS = {"groupon": GROUPON_OFFERS, "plentymarkets": PLENTY_OFFERS, "octopia": OCTOPIA_OFFERS,
                  "shoprenter": SHOPRENTER_OFFERS}


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
    """Ship about ``share`` of the ready orders of one account; returns how many parcels were new.

    About a third of those with two lines or more (by order id, so deterministically) leave in two
    parcels: the first carries the first line (``lines`` ``["<line id>"]``); the next call ships
    the rest of every order shipped in part, as a whole-order parcel (``lines`` NULL: what
    remains). Others go in one parcel. Lines are not split by quantity here: a Groupon tracking
    for part of a line whose answer was lost cannot be told from a new one (README, Groupon
    guesses), and ``make chaos`` loses answers on purpose; ``tests/channels`` splits quantities.
    """
    # Orders shipped in part by an earlier call: their second parcel carries what remains.
    cur.execute(
        """SELECT o.id, o.external_order_id FROM staging.orders o
           WHERE o.channel = %s AND o.account = %s AND o.status IN ('ready', 'in_progress', 'partially_shipped')
             AND EXISTS (SELECT 1 FROM staging.shipments s WHERE s.order_id = o.id)
             AND EXISTS (SELECT 1 FROM staging.order_lines l WHERE l.order_id = o.id AND l.status = 'open'
                           AND l.channel_quantity > (SELECT coalesce(sum(sl.quantity), 0)
                                                     FROM staging.shipment_lines sl
                                                     JOIN staging.shipments p ON p.id = sl.shipment_id
                                                     WHERE p.order_id = o.id
                                                       AND sl.channel_line_id = l.channel_line_id))""",
        (channel, account),
    )
    parcels = [(oid, ext, 2, None) for oid, ext in cur.fetchall()]
    cur.execute(
        """SELECT o.id, o.external_order_id, min(l.channel_line_id), count(DISTINCT l.channel_line_id)
           FROM staging.orders o JOIN staging.order_lines l ON l.order_id = o.id AND l.status = 'open'
           WHERE o.channel = %s AND o.account = %s AND o.status = 'ready'
             AND NOT EXISTS (SELECT 1 FROM staging.shipments s WHERE s.order_id = o.id)
           GROUP BY o.id, o.external_order_id""",
        (channel, account),
    )
    for oid, ext, first_line, n_lines in cur.fetchall():
        if _digest(f"{account}:{ext}") % 1000 >= share * 1000:
            continue
        if _digest(f"split:{ext}") % 3 == 0 and n_lines > 1:
            parcels.append((oid, ext, 1, [first_line]))
        else:
            parcels.append((oid, ext, 1, None))
    if not parcels:
        return 0
    rows = []
    for oid, ext, n, lines in parcels:
        h = _digest(ext)
        rows.append((oid, COURIER_SERVICES[h % len(COURIER_SERVICES)], f"TRK{(h + n - 1) % 10**12:012d}",
                     None if lines is None else json.dumps(lines)))
    new = execute_values(cur, "INSERT INTO staging.shipments (order_id, courier_service, tracking_number, lines)"
                              " VALUES %s ON CONFLICT DO NOTHING RETURNING id", rows, fetch=True)
    # What left the shelf: what each new parcel carries of the open lines, in warehouse units.
    cur.execute(
        """UPDATE staging.stock_levels s SET on_hand = s.on_hand - q.qty, updated_at = now()
           FROM (SELECT l.warehouse_sku, sum(l.quantity * sl.quantity / l.channel_quantity) AS qty
                 FROM staging.shipment_lines sl JOIN staging.shipments p ON p.id = sl.shipment_id
                 JOIN staging.order_lines l ON l.order_id = p.order_id AND l.channel_line_id = sl.channel_line_id
                 WHERE sl.shipment_id = ANY(%s) AND l.warehouse_sku IS NOT NULL AND l.status = 'open'
                 GROUP BY 1) q
           WHERE s.sku = q.warehouse_sku AND s.warehouse = 'main' AND s.owner = %s""",
        ([r[0] for r in new], owner_of(cur, channel, account)),
    )
    return len(new)
