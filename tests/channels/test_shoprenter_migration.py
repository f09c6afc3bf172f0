"""Migration 0011 (Shoprenter) on a database holding what 0010 wrote, up and down again."""

from __future__ import annotations

import psycopg2
import pytest

from conftest import database_at, downgrade
from orderbridge import db


def _scalar(conn, sql: str, *args):
    with conn.cursor() as cur:
        cur.execute(sql, args)
        return cur.fetchone()[0]


def test_0011_adds_held_statuses_prices_rate_slots_and_chunks_and_goes_back(pg):
    dsn = database_at(pg, "t_migrate_0011", "0010")
    conn = db.connect(dsn)
    try:
        with conn.cursor() as cur:
            cur.execute("INSERT INTO staging.products (sku, name) VALUES ('WH-1', 'One')")
        conn.commit()
        with pytest.raises(psycopg2.errors.CheckViolation), conn.cursor() as cur:
            cur.execute("INSERT INTO staging.orders (channel, account, external_order_id, status, content_hash)"
                        " VALUES ('shoprenter', 'a', '1', 'awaiting_payment', 'x')")
        conn.rollback()

        db.migrate(dsn)

        with conn.cursor() as cur:
            cur.execute("INSERT INTO staging.orders (channel, account, external_order_id, status, content_hash)"
                        " VALUES ('shoprenter', 'a', '1', 'awaiting_payment', 'x'),"
                        " ('shoprenter', 'a', '2', 'held', 'x')")
            cur.execute("INSERT INTO staging.catalogue_chunks (channel, account, direction, sync_id, chunk, items)"
                        " VALUES ('shoprenter', 'a', 'upload', 's1', 0, '[]')")
            cur.execute("INSERT INTO staging.rate_slots VALUES ('shoprenter/a', now())")
        conn.commit()
        assert _scalar(conn, "SELECT price IS NULL AND product_group IS NULL FROM staging.products")  # kept as it was

        with pytest.raises(Exception, match="awaiting_payment or held"):
            downgrade(dsn, "0010")
        with conn.cursor() as cur:
            cur.execute("DELETE FROM staging.orders")
        conn.commit()
        downgrade(dsn, "0010")

        assert _scalar(conn, "SELECT to_regclass('staging.rate_slots') IS NULL AND "
                             "to_regclass('staging.catalogue_chunks') IS NULL")
        assert _scalar(conn, "SELECT count(*) FROM information_schema.columns WHERE table_schema = 'staging' "
                             "AND table_name = 'products' AND column_name IN ('price', 'product_group')") == 0
        assert _scalar(conn, "SELECT count(*) FROM staging.products") == 1
    finally:
        conn.close()
        pg.sql("DROP DATABASE IF EXISTS t_migrate_0011 WITH (FORCE)")
