"""Migration 0010 (Octopia) on a database holding what 0009 wrote, up and down again."""

from __future__ import annotations

from conftest import database_at, downgrade
from orderbridge import db


def _scalar(conn, sql: str, *args):
    with conn.cursor() as cur:
        cur.execute(sql, args)
        return cur.fetchone()[0]


def test_0010_adds_tracking_urls_templates_tokens_and_packages_and_goes_back(pg):
    dsn = database_at(pg, "t_migrate_0010", "0009")
    conn = db.connect(dsn)
    try:
        with conn.cursor() as cur:
            cur.execute("""INSERT INTO staging.orders (channel, account, external_order_id, status, content_hash)
                           VALUES ('groupon', 'uk', 'GG-1#1', 'ready', 'x') RETURNING id""")
            order_id = cur.fetchone()[0]
            cur.execute("INSERT INTO staging.order_lines (order_id, channel_line_id, channel_sku, warehouse_sku, "
                        "quantity, channel_quantity) VALUES (%s, '1', 'WH-1', 'WH-1', 1, 1)", (order_id,))
            cur.execute("INSERT INTO staging.shipments (order_id, courier_service, tracking_number) "
                        "VALUES (%s, 'Colissimo', '6A1')", (order_id,))
        conn.commit()
        groupon_codes = _scalar(conn, "SELECT count(*) FROM staging.carrier_codes WHERE channel = 'groupon'")

        db.migrate(dsn)

        assert _scalar(conn, "SELECT tracking_url FROM staging.shipments") is None  # the parcel is kept as it was
        assert _scalar(conn, "SELECT replace(url_template, '{tracking}', '6A1') FROM staging.tracking_url_templates "
                             "WHERE lower(courier_service) = 'colissimo'") == \
            "https://www.laposte.fr/outils/suivre-vos-envois?code=6A1"
        assert _scalar(conn, "SELECT carrier_code FROM staging.carrier_codes WHERE channel = 'octopia' "
                             "AND courier_service = 'DHL Express'") == "DHL Express"
        assert _scalar(conn, "SELECT count(*) FROM staging.oauth_tokens") == 0
        assert _scalar(conn, "SELECT count(*) FROM staging.offer_packages") == 0
        conn.commit()

        downgrade(dsn, "0009")

        assert _scalar(conn, "SELECT to_regclass('staging.tracking_url_templates') IS NULL AND "
                             "to_regclass('staging.oauth_tokens') IS NULL AND to_regclass('staging.offer_packages') "
                             "IS NULL")
        assert _scalar(conn, "SELECT count(*) FROM staging.carrier_codes WHERE channel = 'octopia'") == 0
        assert _scalar(conn, "SELECT count(*) FROM staging.carrier_codes WHERE channel = 'groupon'") == groupon_codes
        assert _scalar(conn, "SELECT count(*) FROM staging.shipments") == 1
    finally:
        conn.close()
        pg.sql("DROP DATABASE IF EXISTS t_migrate_0010 WITH (FORCE)")
