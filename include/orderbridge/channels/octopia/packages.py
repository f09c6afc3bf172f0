"""Offer packages in flight: kept in ``staging.offer_packages`` when set Ready, polled by later runs.

Octopia integrates a package asynchronously (``Ready`` -> ``IntegrationPending`` -> ``Integrated``
or ``Rejected``, octopia-api.md §7). No task sleeps on it: each run's ``poll_offer_packages``
looks once at every package still open and, when one is done, reads its per-item results. An item
Octopia did not integrate is recorded with its result code (``stock_rejected`` in the history, the
package's ``results``), and its SKU's confirmed stock is forgotten (NULL, as of now), so the drift report shows the
channel's figure as unknown and the next reconciliation sends it again.
"""

from __future__ import annotations

import json
import logging
from contextlib import closing

from orderbridge.staging import record_event

log = logging.getLogger(__name__)

CHANNEL = "octopia"
DONE_STATES = frozenset({"Integrated", "Rejected"})
# Per-item ``integrationStatus`` words that mean the offer took the quantity [G: the words are not
# documented beyond the package states]; anything else counts as rejected, with its result code.
ITEM_OK = frozenset({"Integrated", "Success", "Succeeded", "Ok", "OK"})


def record(account: str, sales_channel: str, package_id: str, items: list[dict]) -> None:
    """Keep a package set Ready (its own transaction: the package exists on Octopia now)."""
    from orderbridge.steps import staging_connection

    with closing(staging_connection()) as conn, conn.cursor() as cur:
        cur.execute("""INSERT INTO staging.offer_packages (channel, account, sales_channel, package_id, state, items)
                       VALUES (%s, %s, %s, %s, 'Ready', %s) ON CONFLICT DO NOTHING""",
                    (CHANNEL, account, sales_channel, package_id, json.dumps(items)))
        conn.commit()


def _rejected(results: list[dict], package_state: str) -> list[dict]:
    bad = []
    for item in results:
        status = str(item.get("integrationStatus") or item.get("status") or "")
        if status not in ITEM_OK:
            bad.append(item)
    if package_state == "Rejected" and not results:
        bad.append({"sellerExternalReference": None, "resultCode": "PackageRejected"})
    return bad


def _sku(item: dict) -> str | None:
    offer = item.get("offer") if isinstance(item.get("offer"), dict) else {}
    return item.get("sellerExternalReference") or offer.get("sellerExternalReference")


def poll(conn, client, account: str, run_id: str | None) -> dict:
    """Look once at every open package of the account; close those Octopia is done with."""
    counts = {"open_packages": 0, "integrated": 0, "rejected_packages": 0, "rejected_items": 0, "still_pending": 0}
    with conn.cursor() as cur:
        cur.execute("SELECT id, package_id, sales_channel, items FROM staging.offer_packages WHERE channel = %s"
                    " AND account = %s AND done_at IS NULL ORDER BY id", (CHANNEL, account))
        open_packages = cur.fetchall()
    conn.commit()
    for row_id, package_id, sales_channel, items in open_packages:
        counts["open_packages"] += 1
        state = str(client.package(package_id).get("state") or "")
        with conn.cursor() as cur:
            if state not in DONE_STATES:
                cur.execute("UPDATE staging.offer_packages SET state = %s, checked_at = now() WHERE id = %s",
                            (state or "unknown", row_id))
                conn.commit()
                counts["still_pending"] += 1
                continue
            results = client.package_results(package_id)
            bad = _rejected(results, state)
            cur.execute("""UPDATE staging.offer_packages SET state = %s, results = %s, rejected = %s,
                           checked_at = now(), done_at = now() WHERE id = %s""",
                        (state, json.dumps(results), len(bad), row_id))
            skus = [s for s in map(_sku, bad) if s] or ([i["sellerExternalReference"] for i in items]
                                                        if state == "Rejected" else [])
            for item in bad:
                reason = item.get("resultCode") or item.get("errorCode") or item.get("message") or "no result code"
                what = _sku(item) or "every item"
                record_event(cur, CHANNEL, account, "stock_rejected",
                             f"offer package {package_id} ({sales_channel}) {state}: {what} not updated, Octopia "
                             f"says {reason}. Resolution: fix the offer on {sales_channel} (the reason names what); "
                             "the next runs send the quantity again.",
                             detail={"package_id": package_id, "sales_channel": sales_channel, "item": item},
                             run_id=run_id)
            if skus:
                # confirmed_at now (later than the stock row's sent_at): confirm_sent must not take it back.
                cur.execute("""UPDATE staging.channel_products SET confirmed_stock = NULL, confirmed_at = now()
                               WHERE channel = %s AND account = %s AND channel_sku = ANY(%s)""",
                            (CHANNEL, account, skus))
        conn.commit()
        counts["integrated" if state == "Integrated" else "rejected_packages"] += 1
        counts["rejected_items"] += len(bad)
        if bad:
            log.warning("octopia/%s: offer package %s (%s) %s, %d item(s) not integrated", account, package_id,
                        sales_channel, state, len(bad))
    return counts
