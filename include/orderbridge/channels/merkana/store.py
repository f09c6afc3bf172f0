"""What each Merkana call does to staging: one short transaction each, committed before we answer.

The endpoints in ``inbound`` only check, call one of these and answer. Each function takes an
open psycopg2 connection, commits its own work (or rolls it back and raises), and returns what the
answer needs. Nothing heavy happens here: status updates and stock pushes are the DAG's work.
"""

from __future__ import annotations

import logging

from psycopg2.extras import execute_values

from orderbridge import staging, stock
from orderbridge.channels.merkana import CHANNEL
from orderbridge.channels.merkana.mapping import MerkanaMapper, OrderCreate, ProductSync, to_staged
from orderbridge.channels.merkana.settings import PlatformSettings
from orderbridge.orders import SkuMap

log = logging.getLogger(__name__)

CANCEL_REASON = "cancelled at Merkana's request (cancel_order)"


def record_owners(cur, settings: PlatformSettings, mids) -> None:
    """Record whose stock each merchant sells (``settings.owner``) in ``staging.stock_owners``, so its
    orders reserve, and its reconciliation offers, that owner's stock only."""
    stock.set_owners(cur, CHANNEL, {settings.account(mid): settings.owner(mid) for mid in mids})


def sync_products(conn, settings: PlatformSettings, sync: ProductSync) -> int:
    """Upsert the merchant's catalogue into ``staging.channel_products``; returns rows changed."""
    account = settings.account(sync.mid)
    rows = [(CHANNEL, account, p.sku, p.title, p.id, p.ean, p.img) for p in sync.products]
    with conn.cursor() as cur:
        record_owners(cur, settings, [sync.mid])
        if not rows:
            conn.commit()
            return 0
        execute_values(
            cur,
            """INSERT INTO staging.channel_products AS cp (channel, account, channel_sku, name, external_product_id,
                   ean, image_url) VALUES %s
               ON CONFLICT (channel, account, channel_sku) DO UPDATE SET name = EXCLUDED.name,
                   external_product_id = EXCLUDED.external_product_id, ean = EXCLUDED.ean,
                   image_url = EXCLUDED.image_url, updated_at = now()
               WHERE (cp.name, cp.external_product_id, cp.ean, cp.image_url) IS DISTINCT FROM
                     (EXCLUDED.name, EXCLUDED.external_product_id, EXCLUDED.ean, EXCLUDED.image_url)""",
            rows, page_size=1000,
        )
        changed = cur.rowcount
    conn.commit()
    return changed


def initial_stock(conn, settings: PlatformSettings, mid: str) -> list[dict]:
    """Stock of every product of the merchant's catalogue, as ``[{"sku", "br"}]`` (canonical names).

    The value is what stock reconciliation offers (on hand minus open orders, a bundle's scarcest
    component; 0 for a SKU nothing maps yet). It becomes Merkana's baseline, so it is recorded as
    the confirmed stock: the next reconciliation compares with it, and drops any change still
    waiting to be sent that it makes obsolete (``stock.reconcile``).
    """
    account = settings.account(mid)
    with conn.cursor() as cur:
        record_owners(cur, settings, [mid])
        avail = stock.available(cur, owner=settings.owner(mid))
        skus = SkuMap.load(cur, CHANNEL, account)
        cur.execute(
            "SELECT channel_sku, kit_spec FROM staging.channel_products WHERE channel = %s AND account = %s"
            " ORDER BY channel_sku",
            (CHANNEL, account),
        )
        answer = []
        for sku, kit_spec in cur.fetchall():
            parts = skus.resolve(sku, kit_spec)
            answer.append({"sku": sku, "br": stock.offer(parts, avail) if parts else 0})
        cur.execute(
            """UPDATE staging.channel_products cp SET confirmed_stock = v.br, confirmed_at = now()
               FROM unnest(%s::text[], %s::int[]) AS v (sku, br)
               WHERE cp.channel = %s AND cp.account = %s AND cp.channel_sku = v.sku""",
            ([a["sku"] for a in answer], [a["br"] for a in answer], CHANNEL, account),
        )
    conn.commit()
    return answer


def store_order(conn, settings: PlatformSettings, payload: dict, order: OrderCreate, run_id: str) -> str:
    """Land one order create in ``raw`` and load it into staging, in one transaction; commit.

    The same body sent again (Merkana retries up to 5 times) has the same payload hash: ``raw``
    skips it and the staging row is unchanged, so nothing is stored twice. A changed body for the
    same id is the new version of the order (kept unless the warehouse has started on it). Two
    sends of one order at the same moment are serialised by an advisory lock on its key.

    Returns:
        The order's staging status.
    """
    account = settings.account(order.mid)
    with conn.cursor() as cur:
        cur.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
                    (f"{CHANNEL}:{account}:{order.id}",))
        record_owners(cur, settings, [order.mid])  # before the load: SkuMap reads the owner's products
        raw_id = staging.land_one(cur, CHANNEL, account, order.id, payload, run_id)
        staged = to_staged(order, raw_id, settings)
        staging.load_orders(cur, MerkanaMapper(settings), account, [staged], SkuMap.load(cur, CHANNEL, account),
                            run_id)
        cur.execute("SELECT status FROM staging.orders WHERE channel = %s AND account = %s AND external_order_id = %s",
                    (CHANNEL, account, order.id))
        status = cur.fetchone()[0]
    conn.commit()
    return status


def cancel_order(conn, settings: PlatformSettings, mid: str, order_id: str, run_id: str) -> tuple[bool | None, str]:
    """Cancel an order unless the warehouse has started on it; commit.

    Returns:
        ``(True, "cancelled")`` when it is cancelled now or was already (its stock is released);
        ``(False, status)`` when the warehouse is working on it or shipped it (the order is flagged
        for a person); ``(None, "unknown")`` when no such order is in staging for this merchant.
    """
    with conn.cursor() as cur:
        try:
            done, status = staging.cancel_order(cur, CHANNEL, settings.account(mid), order_id, CANCEL_REASON, run_id)
        except KeyError:
            conn.rollback()
            return None, "unknown"
    conn.commit()
    return done, status
