"""Schema migrations that move data: run them on a database holding what the previous revision wrote."""

from __future__ import annotations

import json

import psycopg2
import pytest

from conftest import database_at, downgrade
from orderbridge import db, staging
from orderbridge.channels.groupon.mapping import GrouponMapper


def _entry(first_line: int, name: str, city: str) -> dict:
    return {"orderid": "GG-SPLIT-1", "parent_orderid": "77", "date": "11/19/2026 09:56AM UTC",
            "amount": {"total": 10, "shipping": 0},
            "customer": {"name": name, "address1": "1 Main St", "city": city, "zip": "1000", "country": "UK"},
            "line_items": [{"ci_lineitemid": first_line + i, "sku": "WH-1001", "quantity": 1, "unit_price": 5,
                            "status": "open"} for i in range(2)]}


def test_0004_gives_each_groupon_entry_its_own_order_and_flags_taken_merged_orders(pg):
    name = "t_migrate_0004"
    dsn = database_at(pg, name, "0003")
    conn = db.connect(dsn)
    try:
        with conn.cursor() as cur:
            cur.execute("INSERT INTO staging.products (sku, name) VALUES ('WH-1001', 'Mug')")
            # What 0003-era code stored: both entries under the orderid, one order with the
            # second entry's address and every line; and a second such order the warehouse shipped.
            for ext, status in (("GG-SPLIT-1", "ready"), ("GG-SHIPPED", "shipped")):
                for entry in (_entry(100, "Anna Kovács", "Budapest"), _entry(200, "Jean Dupont", "Saint-Etienne")):
                    entry = {**entry, "orderid": ext}
                    cur.execute("INSERT INTO raw.orders (channel, account, external_id, payload, payload_hash)"
                                " VALUES ('groupon', 'uk', %s, %s, %s)",
                                (ext, json.dumps(entry), staging.payload_hash(entry)))
                cur.execute("""INSERT INTO staging.orders (channel, account, external_order_id, status, ship_name,
                                   ship_city, channel_data, content_hash)
                               VALUES ('groupon', 'uk', %s, %s, 'Jean Dupont', 'Saint-Etienne',
                                       '{"entries": 2}', 'x') RETURNING id""", (ext, status))
                order_id = cur.fetchone()[0]
                cur.execute("""INSERT INTO staging.order_lines (order_id, channel_line_id, channel_sku, warehouse_sku,
                                   quantity, channel_quantity) SELECT %s, l::text, 'WH-1001', 'WH-1001', 1, 1
                               FROM unnest(ARRAY[100, 101, 200, 201]) l""", (order_id,))
                cur.execute("INSERT INTO staging.order_events (order_id, channel, account, external_order_id, event)"
                            " VALUES (%s, 'groupon', 'uk', %s, 'imported')", (order_id, ext))
            cur.execute("INSERT INTO staging.sync_state VALUES ('groupon', 'uk', 'transform', '999', now())")
        conn.commit()

        db.migrate(dsn)

        with conn.cursor() as cur:
            cur.execute("SELECT DISTINCT external_id FROM raw.orders ORDER BY 1")
            assert [r[0] for r in cur.fetchall()] == ["GG-SHIPPED#100", "GG-SHIPPED#200", "GG-SPLIT-1#100",
                                                      "GG-SPLIT-1#200"]
            cur.execute("SELECT external_order_id, attention IS NOT NULL FROM staging.orders ORDER BY 1")
            assert cur.fetchall() == [("GG-SHIPPED#100", True), ("GG-SPLIT-1#100", False)]
            cur.execute("SELECT DISTINCT external_order_id FROM staging.order_events ORDER BY 1")
            assert [r[0] for r in cur.fetchall()] == ["GG-SHIPPED#100", "GG-SPLIT-1#100"]
        conn.commit()

        # The next transform stages each entry with its own address; the shipped one keeps its row.
        staging.transform(conn, GrouponMapper("GBP"), "uk", "run-after-migration")
        with conn.cursor() as cur:
            cur.execute("""SELECT o.external_order_id, o.status, o.ship_city,
                                  array_agg(l.channel_line_id ORDER BY l.channel_line_id)
                           FROM staging.orders o JOIN staging.order_lines l ON l.order_id = o.id
                           GROUP BY 1, 2, 3 ORDER BY 1""")
            assert cur.fetchall() == [
                ("GG-SHIPPED#100", "shipped", "Saint-Etienne", ["100", "101", "200", "201"]),
                ("GG-SHIPPED#200", "ready", "Saint-Etienne", ["200", "201"]),
                ("GG-SPLIT-1#100", "ready", "Budapest", ["100", "101"]),
                ("GG-SPLIT-1#200", "ready", "Saint-Etienne", ["200", "201"]),
            ]
    finally:
        conn.close()
        pg.sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def test_0007_makes_existing_stock_the_warehouses_own_and_goes_back_while_no_owner_has_rows(pg):
    import psycopg2
    import pytest

    from orderbridge import stock

    name = "t_migrate_0007"
    dsn = database_at(pg, name, "0005")
    conn = db.connect(dsn)
    try:
        with conn.cursor() as cur:
            cur.execute("INSERT INTO staging.products (sku, name) VALUES ('WH-1001', 'Mug');"
                        " INSERT INTO staging.stock_levels (sku, on_hand) VALUES ('WH-1001', 8)")
        conn.commit()

        db.migrate(dsn)

        with conn.cursor() as cur:
            assert stock.available(cur) == {"WH-1001": 8}  # the warehouse's own, as every account sells
            assert stock.owner_of(cur, "groupon", "uk") == ""
            # Another owner's rows of the same SKU are a figure of their own.
            cur.execute("INSERT INTO staging.products (owner, sku, name) VALUES ('293', 'WH-1001', 'Mug');"
                        " INSERT INTO staging.stock_levels (owner, sku, on_hand) VALUES ('293', 'WH-1001', 3)")
            assert (stock.available(cur), stock.available(cur, owner="293")) == ({"WH-1001": 8}, {"WH-1001": 3})
        conn.commit()
        with pytest.raises(Exception, match="owners other than the warehouse"):
            downgrade(dsn, "0005")
        with conn.cursor() as cur:
            cur.execute("DELETE FROM staging.stock_levels WHERE owner <> '';"
                        " DELETE FROM staging.products WHERE owner <> ''")
        conn.commit()
        downgrade(dsn, "0005")
        with conn.cursor() as cur:
            cur.execute("SELECT sku, on_hand FROM staging.stock_levels")
            assert cur.fetchall() == [("WH-1001", 8)]
            with pytest.raises(psycopg2.errors.UndefinedTable):
                cur.execute("SELECT 1 FROM staging.merkana_order_extras")
        conn.rollback()
    finally:
        conn.close()
        pg.sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def test_0008_moves_free_text_attention_and_holds_into_reason_coded_rows(pg):
    name = "t_migrate_0008"
    dsn = database_at(pg, name, "0005")
    conn = db.connect(dsn)
    try:
        with conn.cursor() as cur:
            # What 0005-era code left: a refused cancellation, a Merkana note, a held order, a failed post.
            cur.execute("""INSERT INTO staging.orders (channel, account, external_order_id, status, status_reason,
                               attention, content_hash) VALUES
                           ('plentymarkets', 'p', 'C-1', 'in_progress', NULL, 'cancellation requested on plentymarkets
                             after the warehouse started (in_progress): not cancelled. Resolution: stop it', 'x'),
                           ('merkana', 'demo/293', 'M-1', 'ready', NULL, 'unknown SKU(s) put on the merchant''s
                             unknown product: 41705 -> 1', 'x'),
                           ('groupon', 'uk', 'G-1', 'awaiting_mapping', 'unknown SKU(s): GG-1', NULL, 'x'),
                           ('merkana', 'demo/293', 'M-2', 'shipped', NULL, NULL, 'x')""")
            cur.execute("""INSERT INTO staging.outbox (channel, account, kind, idempotency_key, order_id, payload,
                               status, attempts, last_error)
                           SELECT 'merkana', 'demo/293', 'order_status', 'k1', id, '{}', 'failed', 6, 'HTTP 503'
                           FROM staging.orders WHERE external_order_id = 'M-2'""")
        conn.commit()

        db.migrate(dsn)

        with conn.cursor() as cur:
            cur.execute("""SELECT external_order_id, reason, cleared_at IS NULL FROM staging.attention
                           ORDER BY external_order_id""")
            assert cur.fetchall() == [("C-1", "cancel_after_pick", True), ("G-1", "awaiting_mapping", True),
                                      ("M-1", "needs_review", True), ("M-2", "writeback_failed", True)]
            cur.execute("SELECT external_order_id, attention FROM staging.orders ORDER BY 1")
            summary = dict(cur.fetchall())
        assert summary["G-1"] == "awaiting_mapping: unknown SKU(s): GG-1"
        assert summary["M-1"].startswith("needs_review: unknown SKU(s) put on the merchant's")
        assert summary["M-2"].startswith("writeback_failed: order_status write-back failed after 6 attempts")
        conn.commit()

        # Down and up again: the tables go, the summary column stays as it was, and 0008 applies anew.
        downgrade(dsn, "0005")
        with conn.cursor() as cur:
            cur.execute("SELECT to_regclass('staging.attention'), to_regclass('staging.order_overrides')")
            assert cur.fetchone() == (None, None)
        conn.commit()
        db.migrate(dsn)
    finally:
        conn.close()
        pg.sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def test_0012_allows_awaiting_channel_and_goes_back_only_when_none_is_left(pg):
    dsn = database_at(pg, "t_migrate_0012", "0011")
    conn = db.connect(dsn)
    insert = ("INSERT INTO staging.orders (channel, account, external_order_id, status, content_hash)"
              " VALUES ('octopia', 'fr', 'SC1', 'awaiting_channel', 'x')")
    try:
        with pytest.raises(psycopg2.errors.CheckViolation), conn.cursor() as cur:
            cur.execute(insert)
        conn.rollback()
        db.migrate(dsn)
        with conn.cursor() as cur:
            cur.execute(insert)
        conn.commit()
        with pytest.raises(Exception, match="awaiting_channel orders"):
            downgrade(dsn, "0011")
        with conn.cursor() as cur:
            cur.execute("UPDATE staging.orders SET status = 'ready'")
        conn.commit()
        downgrade(dsn, "0011")
        with pytest.raises(psycopg2.errors.CheckViolation), conn.cursor() as cur:
            cur.execute(insert)
        conn.rollback()
    finally:
        conn.close()


def test_0013_adds_the_hourly_attention_digests_and_goes_back(pg):
    name = "t_migrate_0013"
    dsn = database_at(pg, name, "0012")
    conn = db.connect(dsn)
    try:
        db.migrate(dsn)
        with conn.cursor() as cur:
            cur.execute("INSERT INTO staging.attention_digests (hour, open_total, summary, text)"
                        " VALUES ('2026-11-20T12:00:00Z', 0, '[]', 'nothing needs a person')")
        conn.commit()
        downgrade(dsn, "0012")
        with conn.cursor() as cur:
            cur.execute("SELECT to_regclass('staging.attention_digests')")
            assert cur.fetchone() == (None,)
        conn.commit()
        db.migrate(dsn)
    finally:
        conn.close()
        pg.sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def test_0014_keeps_one_import_entry_per_order_and_its_downgrade_writes_the_synthesized_ones_back(pg):
    from orderbridge_sandbox.warehouse import seed_catalogue

    name = "t_migrate_0014"
    dsn = database_at(pg, name, "0013")
    conn = db.connect(dsn)
    history = ("SELECT external_order_id, event, message, run_id FROM {} WHERE event = 'imported'"
               " ORDER BY external_order_id")
    try:
        with conn.cursor() as cur:
            seed_catalogue(cur)
            # What pre-0014 code stored: the import as a history row.
            cur.execute("""INSERT INTO staging.orders (channel, account, external_order_id, status, content_hash)
                           VALUES ('groupon', 'uk', 'OLD#1', 'ready', 'x') RETURNING id""")
            cur.execute("""INSERT INTO staging.order_events (order_id, channel, account, external_order_id, event,
                               message, detail, run_id)
                           VALUES (%s, 'groupon', 'uk', 'OLD#1', 'imported', 'imported as ready',
                                   '{"status": "ready", "reason": null}', 'run-old')""", (cur.fetchone()[0],))
        conn.commit()

        db.migrate(dsn)

        entry = _entry(300, "Anna Kovács", "Budapest")
        with conn.cursor() as cur:
            staging.land_raw(cur, "groupon", "uk", [("GG-SPLIT-1#300", entry)], "run-new")
        conn.commit()
        staging.transform(conn, GrouponMapper("GBP"), "uk", "run-new")
        expected = [("GG-SPLIT-1#300", "imported", "imported as ready", "run-new"),
                    ("OLD#1", "imported", "imported as ready", "run-old")]
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM staging.order_events WHERE event = 'imported'")
            assert cur.fetchone()[0] == 1  # only the old one is a row
            cur.execute(history.format("staging.order_history"))
            assert cur.fetchall() == expected
        conn.commit()

        downgrade(dsn, "0013")
        with conn.cursor() as cur:
            cur.execute(history.format("staging.order_events"))
            assert cur.fetchall() == expected
            cur.execute("SELECT count(*) FROM information_schema.columns WHERE table_schema = 'staging'"
                        " AND table_name = 'orders' AND column_name LIKE 'imported%'")
            assert cur.fetchone()[0] == 0
        conn.commit()
    finally:
        conn.close()
        pg.sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
