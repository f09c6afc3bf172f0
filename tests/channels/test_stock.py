"""Stock reconciliation on a real PostgreSQL: reservations, bundles, drift report, outbox pushes."""

from orderbridge import stock
from orderbridge.outbox import Outcome, dispatch


def setup(cur):
    cur.execute("""INSERT INTO staging.products (sku, name) VALUES ('A', 'a'), ('B', 'b');
                   INSERT INTO staging.stock_levels (sku, warehouse, on_hand) VALUES ('A', 'main', 10),
                          ('A', 'second', 5), ('B', 'main', 7);
                   INSERT INTO staging.bundles (channel, bundle_sku, warehouse_sku, quantity)
                          VALUES ('shop', 'PACK', 'A', 2), ('shop', 'PACK', 'B', 3);
                   INSERT INTO staging.sku_aliases (channel, channel_sku, warehouse_sku) VALUES ('shop', 'X-A', 'A');
                   INSERT INTO staging.channel_products (channel, account, channel_sku, confirmed_stock)
                          VALUES ('shop', 'acct', 'X-A', 15), ('shop', 'acct', 'PACK', NULL),
                                 ('shop', 'acct', 'B', 3), ('shop', 'acct', 'NEW', NULL);
                   INSERT INTO staging.orders (channel, account, external_order_id, status, content_hash)
                          VALUES ('shop', 'acct', 'o1', 'ready', 'h'), ('shop', 'acct', 'o2', 'shipped', 'h');
                   INSERT INTO staging.order_lines (order_id, channel_line_id, channel_sku, warehouse_sku, quantity,
                          channel_quantity) SELECT id, '1', 'B', 'B', 4, 4 FROM staging.orders
                          WHERE external_order_id IN ('o1', 'o2');""")


def rows(cur, sql):
    cur.execute(sql)
    return cur.fetchall()


def test_available_is_on_hand_minus_open_reservations_and_bundles_take_the_minimum(conn):
    with conn.cursor() as cur:
        setup(cur)
        assert stock.available(cur) == {"A": 15, "B": 3}  # shipped orders no longer reserve
        # The warehouse ships o1 and takes its goods off the shelf; no channel task has marked it
        # shipped yet, and its goods must not count twice.
        cur.execute("""INSERT INTO staging.shipments (order_id, courier_service, tracking_number)
                       SELECT id, 'DPD UK', 'T1' FROM staging.orders WHERE external_order_id = 'o1';
                       UPDATE staging.stock_levels SET on_hand = on_hand - 4 WHERE sku = 'B'""")
        assert stock.available(cur) == {"A": 15, "B": 3}
        cur.execute("DELETE FROM staging.shipments; UPDATE staging.stock_levels SET on_hand = on_hand + 4"
                    " WHERE sku = 'B'")
        counts = stock.reconcile(cur, "shop", "acct", "run-1", pushes_stock=True)
        report = {r[0]: r[1:] for r in rows(cur, "SELECT channel_sku, channel_value, our_value, difference, action"
                                                  " FROM staging.stock_drift WHERE run_key = 'run-1'")}
    assert report["X-A"] == (15, 15, 0, "in sync")
    assert report["PACK"] == (None, 1, None, "pushed")  # min(15 // 2, 3 // 3)
    assert report["B"] == (3, 3, 0, "in sync")
    assert report["NEW"][3].startswith("unmapped")
    assert (counts.pushed, counts.in_sync, counts.unmapped) == (1, 2, 1)


def test_only_changed_values_are_pushed_once_and_confirmed(conn):
    with conn.cursor() as cur:
        setup(cur)
        stock.reconcile(cur, "shop", "acct", "run-1", pushes_stock=True)
        stock.reconcile(cur, "shop", "acct", "run-1", pushes_stock=True)  # a rerun of the same run
        cur.execute("UPDATE staging.stock_levels SET on_hand = 20 WHERE sku = 'B'")
        stock.reconcile(cur, "shop", "acct", "run-2", pushes_stock=True)
        assert sorted(rows(cur, "SELECT payload->>'channel_sku', payload->>'quantity', status FROM staging.outbox")) \
            == [("B", "16", "pending"), ("PACK", "1", "superseded"), ("PACK", "5", "pending")]
    conn.commit()
    sent = []

    def handler(batch):
        sent.extend(r.payload for r in batch)
        with conn.cursor() as cur:
            for r in batch:
                stock.confirm(cur, "shop", "acct", r.payload["channel_sku"], r.payload["quantity"])
        return {r.id: Outcome("sent") for r in batch}

    assert dispatch(conn, "shop", "acct", "stock", handler).sent == 2
    assert sorted(p["channel_sku"] for p in sent) == ["B", "PACK"]
    with conn.cursor() as cur:
        counts = stock.reconcile(cur, "shop", "acct", "run-3", pushes_stock=True)
    assert counts.pushed == 0 and counts.in_sync == 3


def test_channels_with_infinite_stock_get_a_report_and_no_pushes(conn):
    with conn.cursor() as cur:
        setup(cur)
        counts = stock.reconcile(cur, "shop", "acct", "run-1", pushes_stock=False, not_pushed_reason="infinite")
        assert rows(cur, "SELECT count(*) FROM staging.outbox") == [(0,)]
        assert counts.not_pushed == 3
        assert rows(cur, "SELECT DISTINCT action FROM staging.stock_drift WHERE channel_sku = 'PACK'") == [
            ("not pushed: infinite",)]


def test_available_and_reconcile_count_only_the_chosen_warehouses(conn):
    with conn.cursor() as cur:
        setup(cur)
        assert stock.available(cur, warehouses=["second"]) == {"A": 5, "B": 0}
        assert stock.available(cur, warehouses=["main", "second"]) == stock.available(cur) == {"A": 15, "B": 3}
        stock.reconcile(cur, "shop", "acct", "r1", pushes_stock=True, warehouses=["main"])
        ours = dict(rows(cur, "SELECT channel_sku, our_value FROM staging.stock_drift WHERE run_key = 'r1'"))
        assert ours["X-A"] == 10  # 'second' is not offered on this account
