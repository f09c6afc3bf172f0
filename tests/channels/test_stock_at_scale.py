"""The stock check's plan knows how many orders are open.

``stock.available`` sums what every open order of the owner reserves. It used to pick the owner's
orders with ``coalesce(stock_owners.owner, '') = owner`` over a left join, a filter PostgreSQL gives a
fixed 0.5% selectivity: with 10,503 open orders it planned for 4, compared each with every one of
25,027 open lines (262 million comparisons) and took 4 s per load batch of a 10,000-order
plentymarkets bench. What is checked here is the executed plan (auto_explain, sent to this session
as a notice): the open orders it planned for against those it found, with fresh statistics.
"""

from __future__ import annotations

import json

import pytest

from conftest import rows
from orderbridge import stock

ORDERS = 3000


def _nodes(plan: dict):
    yield plan
    for child in plan.get("Plans", []):
        yield from _nodes(child)


@pytest.mark.parametrize("owner", ["", "merchant-7"])
def test_the_stock_check_plans_for_the_open_orders_it_finds(conn, owner):
    rows(conn, "INSERT INTO staging.products (sku, name, owner) SELECT 'WH-' || g, 'p', %s"
               " FROM generate_series(0, 19) g", owner)
    rows(conn, "INSERT INTO staging.stock_levels (sku, on_hand, owner) SELECT 'WH-' || g, 10000, %s"
               " FROM generate_series(0, 19) g", owner)
    if owner:
        rows(conn, "INSERT INTO staging.stock_owners (channel, account, owner) VALUES ('plentymarkets', 'shop', %s)",
             owner)
    rows(conn, """INSERT INTO staging.orders (channel, account, external_order_id, status, content_hash)
                  SELECT 'plentymarkets', 'shop', g::text, 'ready', 'h' FROM generate_series(1, %s) g""", ORDERS)
    rows(conn, """INSERT INTO staging.order_lines (order_id, channel_line_id, channel_sku, warehouse_sku, quantity,
                                                   channel_quantity)
                  SELECT o.id, l::text, 'C-' || l, 'WH-' || (o.id %% 20), 1, 1
                  FROM staging.orders o, generate_series(1, 2) l""")
    rows(conn, "ANALYZE")

    with conn.cursor() as cur:
        for setting in ("LOAD 'auto_explain'", "SET auto_explain.log_min_duration = 0",
                        "SET auto_explain.log_analyze = on", "SET auto_explain.log_format = json",
                        "SET auto_explain.log_level = notice"):
            cur.execute(setting)
        del conn.notices[:]
        free = stock.available(cur, exclude=("plentymarkets", "shop", ["1"]), owner=owner)
    conn.rollback()

    [plan] = [json.loads(n[n.index("{"):])["Plan"] for n in conn.notices if "Query Text" in n and "on_hand" in n]
    [open_orders] = [n for n in _nodes(plan) if n.get("Subplan Name") == "CTE open_orders"]
    assert open_orders["Actual Rows"] == ORDERS - 1
    assert open_orders["Plan Rows"] >= open_orders["Actual Rows"] / 10, \
        f"planned for {open_orders['Plan Rows']} open orders, found {open_orders['Actual Rows']}"
    # And the figure is right: the lines of every open order but the excluded "1" are reserved.
    assert sum(10000 - units for units in free.values()) == 2 * (ORDERS - 1)
