"""Raising attention on many orders reads the account's orders at most once, whatever the planner
believes about the table.

A 10,000-order plentymarkets bench spent most of its staging time raising holds. Each statement of
100 flags joined them to ``staging.orders``, and while the table's statistics still described an
earlier load (an account freshly filled after other data was analyzed), PostgreSQL scanned the
account for every statement: the cost grew with the account's orders times its flags. What is
counted here is the rows PostgreSQL read from ``staging.orders`` in the raising transaction
(``pg_stat_xact_user_tables``), not time.
"""

from __future__ import annotations

from conftest import rows
from orderbridge import attention

ORDERS, FLAGS = 3000, 1000


def _fill(conn, channel: str, account: str, n: int) -> None:
    rows(conn, """INSERT INTO staging.orders (channel, account, external_order_id, status, content_hash)
                  SELECT %s, %s, g::text, 'awaiting_stock', 'h' FROM generate_series(1, %s) g""", channel, account, n)


def _orders_rows_read_in_this_transaction(cur) -> int:
    cur.execute("""SELECT seq_tup_read + coalesce(idx_tup_fetch, 0) FROM pg_stat_xact_user_tables
                   WHERE schemaname = 'staging' AND relname = 'orders'""")
    return cur.fetchone()[0]


def test_flags_on_a_freshly_filled_account_read_its_orders_at_most_once(conn):
    # Statistics that know another channel's orders only; this account's orders are not analyzed.
    rows(conn, "ALTER TABLE staging.orders SET (autovacuum_enabled = off)")
    _fill(conn, "groupon", "other", ORDERS)
    rows(conn, "ANALYZE staging.orders")
    _fill(conn, "plentymarkets", "fresh", ORDERS)

    flags = [attention.Flag(str(i), "awaiting_stock", f"not enough stock for order {i}") for i in range(1, FLAGS + 1)]
    flags.append(attention.Flag("not-in-staging", "awaiting_stock", "skipped: no such order"))
    with conn.cursor() as cur:
        assert attention.raise_(cur, "plentymarkets", "fresh", flags, "run-1") == FLAGS
        read = _orders_rows_read_in_this_transaction(cur)
    conn.commit()

    # One lookup (at worst a scan of the table), then each flagged order's summary update by its id.
    # Joined per statement, it was a scan of the table for each 100 flags: 10 x 6,000 rows and more.
    assert read <= 2 * ORDERS + 2 * FLAGS, f"raising {FLAGS} flags read {read} rows of staging.orders"
    [(summaries,)] = rows(conn, "SELECT count(*) FROM staging.orders WHERE account = 'fresh' AND attention IS NOT NULL")
    assert summaries == FLAGS
