"""Shoprenter in ``make demo`` (``scripts/demo.py``), and the warehouse the chaos run starts from:
two webshops, their connections, their orders, what happens between the two cycles, their table.

- ``invoiceshop`` is invoice-like: an order is ``ready`` at once, its status is set to 2
  ("Feldolgozás alatt", our "accepted") and the product master is uploaded to the shop.
- ``proformashop`` is pro-forma-like: an order waits for payment (``awaiting_payment``) until the
  shop says 15 "Fizetve"; the garden group "Kert" is excluded; its catalogue is downloaded, and
  the stock it is offered is the sum of the warehouses ``main`` and ``shop``.

Orders are read by the shop's ``dateUpdated`` from the last run's end (``extract_mode: auto``; the
first run looks back a day), so the orders ``add_orders`` creates "now" are read by the first
cycle. Between the cycles the pro-forma shop's customers pay for half of the waiting orders
(status 15, delivered as a webhook to our receiver when one is registered, else read by the next
poll) and the warehouse ships.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import requests

USER, KEY = "orderbridge", "demo-shoprenter-key-0001"
SHOPS = {"invoiceshop": 40, "proformashop": 30}  # shop -> orders created just before cycle 1 (add_orders)
WEBHOOK_SECRET = "demo-shoprenter-hook-0001"
ACCEPTED, PAID = "2", 15
EXCLUDED_GROUP = "Kert"
STOCK_UP = ["main", "shop"]
# The product master's net HUF prices: the catalogue's own, so the upload changes only what differs.
PRICE_SQL = """UPDATE staging.products p SET price = v.price, product_group = v.grp
               FROM (VALUES %s) v(sku, price, grp) WHERE p.sku = v.sku AND p.price IS NULL"""


def sandbox_args() -> list[str]:
    """Both shops with no initial orders: ``add_orders`` creates them now, where the first poll reads."""
    return [arg for shop in SHOPS for arg in ("--shoprenter", f"{shop}:{USER}:{KEY}:0")]


def add_orders(sandbox: str) -> int:
    """Each shop's orders, created now (statuses as a shop draws them: pending, card-paid, a few
    abandoned carts); the shops fire ``order_confirm`` for them."""
    added = 0
    for shop, n in SHOPS.items():
        response = requests.post(f"{sandbox}/_sandbox/shoprenter/{shop}/orders", json={"n": n}, timeout=30)
        response.raise_for_status()
        added += len(response.json()["orders"])
    return added


def extras(shop: str) -> dict:
    """The shop's connection extras beside ``shop`` and ``api_base`` (README, Shoprenter)."""
    if shop == "invoiceshop":
        return {"order_becomes": "ready", "accepted_status": ACCEPTED, "catalogue_upload": True}
    return {"order_becomes": "awaiting_payment", "paid_statuses": [str(PAID)], "excluded_groups": [EXCLUDED_GROUP],
            "catalogue_download": True, "stock_up_warehouses": STOCK_UP, "webhook_secret": WEBHOOK_SECRET}


def connection(base: str, shop: str, **more) -> dict:
    """The shop's Airflow connection; ``base`` is the sandbox's URL (``http://127.0.0.1:8765``)."""
    return {"conn_type": "http", "login": USER, "password": KEY,
            "extra": {"shop": shop, "api_base": f"{base}/shoprenter/{shop}", **extras(shop), **more}}


def connections(base: str, webhook_base: str | None = None) -> dict[str, dict]:
    """The Airflow connections of both shops (conn id -> connection); with ``webhook_base`` (our
    receiver) the pro-forma shop's ``webhook_url``, which its ``sync_catalogue`` registers with the shop."""
    from orderbridge.config import load_accounts

    conns = {a.name: a.conn_id for a in load_accounts("shoprenter")}
    hook = {"webhook_url": f"{webhook_base}/shoprenter/proformashop/{WEBHOOK_SECRET}/order-status"} \
        if webhook_base else {}
    return {conns[shop]: connection(base, shop, **(hook if shop == "proformashop" else {}))
            for shop in SHOPS if shop in conns}


def start_receiver(env: dict[str, str], log_path: Path, timeout: float = 30.0):
    """Our webhook receiver alone (``python -m orderbridge.channels.shoprenter.inbound``, as the API
    server's plugin serves it), for ``make demo``, which runs no API server. Stop it with ``.stop()``.

    Raises:
        SandboxStartError: it exited or did not answer within ``timeout``.
    """
    from orderbridge_sandbox.process import SandboxProcess, SandboxStartError, free_port

    port = free_port()
    with open(log_path, "ab") as log:
        popen = subprocess.Popen([sys.executable, "-m", "orderbridge.channels.shoprenter.inbound", "--port", str(port)],
                                 stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                 env={**os.environ, **env}, start_new_session=True)
    proc = SandboxProcess(popen, "127.0.0.1", port, log_path, False)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and popen.poll() is None:
        try:
            if requests.get(f"{proc.url}/shoprenter/openapi.json", timeout=1).ok:
                return proc
        except requests.RequestException:
            pass
        time.sleep(0.2)
    proc.stop()
    raise SandboxStartError(f"the Shoprenter webhook receiver did not start; log: {log_path}")


def seed_warehouse(cur) -> None:
    """The catalogue with its aliases, net HUF prices and groups, and a second warehouse ``shop``."""
    from psycopg2.extras import execute_values

    from orderbridge_sandbox.catalogue import SHOPRENTER_GROUP_OF, SHOPRENTER_OFFERS
    from orderbridge_sandbox.warehouse import seed_catalogue

    seed_catalogue(cur, "shoprenter")
    execute_values(cur, PRICE_SQL, [(o.components[0][0], o.unit_price, SHOPRENTER_GROUP_OF[o.channel_sku])
                                    for o in SHOPRENTER_OFFERS if o.kind == "direct"])
    cur.execute("INSERT INTO staging.stock_levels (sku, warehouse, on_hand) SELECT sku, 'shop', 3 FROM "
                "staging.stock_levels WHERE warehouse = 'main' AND owner = '' ON CONFLICT DO NOTHING")


def state(sandbox: str) -> dict:
    response = requests.get(f"{sandbox}/_sandbox/shoprenter/state", timeout=10)
    response.raise_for_status()
    return response.json()


def between_cycles(cur, sandbox: str) -> int:
    """Half of the pro-forma shop's unpaid orders are paid; the warehouse ships. Returns parcels."""
    from orderbridge_sandbox.warehouse import ship_some

    unpaid = [o["innerId"] for o in state(sandbox)["shops"]["proformashop"]["orders"] if o["status"] == 1]
    for inner in unpaid[::2]:
        requests.post(f"{sandbox}/_sandbox/shoprenter/proformashop/orders/{inner}/status", json={"status": PAID},
                      timeout=10).raise_for_status()
    return sum(ship_some(cur, "shoprenter", shop) for shop in SHOPS)


def summary_rows(cur, sandbox: str) -> list[dict]:
    """One row a shop: the fake's orders, what staging made of them, what went both ways."""
    shops = state(sandbox)["shops"]
    rows = []
    for name in SHOPS:
        shop = shops[name]
        cur.execute("SELECT status, count(*) FROM staging.orders WHERE channel = 'shoprenter' AND account = %s"
                    " GROUP BY 1 ORDER BY 1", (name,))
        by_status = ", ".join(f"{s} {n}" for s, n in cur.fetchall())
        cur.execute("""SELECT (SELECT count(*) FROM staging.order_events e WHERE e.channel = 'shoprenter'
                                 AND e.account = %s AND e.event = 'status_changed'
                                 AND e.detail->>'from' = 'awaiting_payment' AND e.detail->>'to' = 'ready'),
                              (SELECT count(*) FROM raw.orders r WHERE r.channel = 'shoprenter' AND r.account = %s
                                 AND r.run_id LIKE 'shoprenter-webhook:%%')""", (name, name))
        released, webhooks = cur.fetchone()
        cur.execute("""SELECT coalesce(sum(jsonb_array_length(items)) FILTER (WHERE direction = 'upload'), 0),
                              coalesce(sum(jsonb_array_length(items)) FILTER (WHERE direction = 'download'), 0)
                       FROM staging.catalogue_chunks WHERE channel = 'shoprenter' AND account = %s""", (name,))
        uploaded, downloaded = cur.fetchone()
        excluded = sum(1 for p in shop["products"] if p["group"] == EXCLUDED_GROUP) if "excluded_groups" in extras(
            name) else 0
        accepted = sum(1 for o in shop["orders"] if any(str(h["status"]) == ACCEPTED for h in o["history"]))
        rows.append({"channel": "shoprenter", "account": name, "orders in shop": len(shop["orders"]),
                     "staged by status": by_status or "none", "released when paid": released,
                     "webhooks received": webhooks, "accepted statuses written": accepted,
                     "products uploaded / downloaded / excluded": f"{uploaded} / {downloaded} / {excluded}",
                     "429s seen": shop["refused"]})
    return rows
