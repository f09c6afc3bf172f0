"""Octopia in ``make demo`` (``scripts/demo.py``): one seller on two sales channels, delegated to
our demo client id, its connection, its orders, what happens between the two cycles, its table.

Octopia is read by window only (no queue), so the demo's orders are dated inside the first
cycle's window; between the cycles ten minutes pass on the fake's clock (accepted orders pass the
marketplace's controls, the first cycle's stock packages integrate) and the warehouse ships.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import requests

CLIENT, SECRET, SELLER = "orderbridge-demo", "demo-octopia-secret-0001", "98979"
SALES_CHANNELS = ("CDISFR", "RAKUFR")
ACCOUNT = "demo_fr"
ORDERS = 60
# The simulated warehouse's couriers under Octopia's carrier names (GLS is seeded by migration
# 0010); Hermes and the local van stay unmapped, so the demo shows parcels blocked with a Resolution.
CARRIERS = {"DHL Germany": ("DHL", "https://www.dhl.com/track?id={tracking}"),
            "DPD UK": ("DPD", "https://track.dpd.co.uk/parcels/{tracking}"),
            "Royal Mail Tracked": ("Royal Mail", "https://www.royalmail.com/track-your-item#/{tracking}")}


def sandbox_args() -> list[str]:
    """The seller, with no initial orders: ``add_orders`` dates them where the first cycle reads."""
    return ["--octopia", f"{CLIENT}:{SECRET}:{SELLER}:0:{'+'.join(SALES_CHANNELS)}"]


def connection(host: str, port: int, token_url: str) -> dict:
    """The demo account's Airflow connection; ``sales_channels`` absent: every channel subscribed."""
    return {"conn_type": "http", "host": host, "port": port, "schema": "http", "login": CLIENT, "password": SECRET,
            "extra": {"api_path": "/octopia/seller/v2", "token_url": token_url, "seller_id": SELLER}}


def seed_warehouse(cur) -> None:
    """The catalogue, and the simulated couriers' Octopia names and tracking URLs (also the chaos run's)."""
    from orderbridge_sandbox.warehouse import seed_catalogue

    seed_catalogue(cur, "octopia")
    for courier, (name, template) in CARRIERS.items():
        cur.execute("INSERT INTO staging.carrier_codes (channel, courier_service, carrier_code, carrier_name)"
                    " VALUES ('octopia', %s, %s, %s) ON CONFLICT DO NOTHING", (courier, name, name))
        cur.execute("INSERT INTO staging.tracking_url_templates (courier_service, url_template) VALUES (%s, %s)"
                    " ON CONFLICT DO NOTHING", (courier, template))


def add_orders(sandbox: str, window_end: datetime, minutes: int = 20) -> int:
    """``ORDERS`` orders over both channels, last updated in the ``minutes`` before ``window_end``."""
    body = {"n": ORDERS, "anchor": (window_end - timedelta(minutes=1)).isoformat(), "days": minutes / 1440}
    response = requests.post(f"{sandbox}/_sandbox/octopia/{SELLER}/orders", json=body, timeout=30)
    response.raise_for_status()
    return len(response.json()["orderIds"])


def between_cycles(cur, sandbox: str) -> int:
    """Ten minutes pass on the fake's clock, then the warehouse ships half of what is ready."""
    from orderbridge_sandbox.warehouse import ship_some

    requests.post(f"{sandbox}/_sandbox/octopia/clock", json={"advance": 600}, timeout=10).raise_for_status()
    return ship_some(cur, "octopia", ACCOUNT)


def summary_rows(cur, sandbox: str) -> list[dict]:
    """One row: the fake's orders, what staging made of them, what went back."""
    state = requests.get(f"{sandbox}/_sandbox/octopia/state", timeout=10).json()
    orders = state["sellers"][SELLER]["orders"]
    cur.execute("""SELECT count(*),
                          (SELECT count(*) FROM staging.order_lines l JOIN staging.orders o ON o.id = l.order_id
                           WHERE o.channel = 'octopia' AND o.account = %s AND l.status = 'closed'
                             AND split_part(l.channel_status, ':', 1) IN ('Fulfillment', 'Xdock')),
                          (SELECT count(*) FILTER (WHERE state = 'Integrated') || ' / '
                                  || count(*) FILTER (WHERE state = 'Rejected') || ' / ' || count(*)
                           FROM staging.offer_packages WHERE channel = 'octopia' AND account = %s),
                          (SELECT count(*) FROM staging.outbox WHERE channel = 'octopia' AND account = %s
                             AND kind = 'tracking' AND status = 'pending')
                   FROM staging.orders WHERE channel = 'octopia' AND account = %s""",
                (ACCOUNT, ACCOUNT, ACCOUNT, ACCOUNT))
    staged, fbo, packages, waiting = cur.fetchone()
    return [{"channel": "octopia", "account": ACCOUNT, "sales channels": "+".join(SALES_CHANNELS),
             "orders in sandbox": len(orders), "staged": staged, "FBO/Xdock lines skipped": fbo,
             "accepted": sum(1 for o in orders if "Accepted" in o["approvals"]),
             "parcels declared": sum(len(body) for o in orders for body in o["shipments"]),
             "parcels waiting": waiting, "stock packages integrated / rejected / all": packages,
             "tokens issued": state["tokens_issued"]}]
