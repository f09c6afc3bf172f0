"""The load's fast paths on a real PostgreSQL: COPY text that round-trips, and the fallback when an
order that looked new is in staging after all."""

import sys
from contextlib import closing
from datetime import UTC, datetime
from decimal import Decimal

from orderbridge import db, outbox, staging
from orderbridge.channels.groupon.mapping import GrouponMapper, entry_id
from orderbridge.outbox import Effect
from orderbridge_sandbox.warehouse import seed_catalogue


class Text(str):
    pass


def test_copy_rows_round_trips_text_that_needs_escaping(conn):
    rows = [
        (1, "tab\there", {"k\t": "back\\slash \"quoted\" Σοφία 中文"}, Decimal("12.50"),
         datetime(2026, 11, 20, tzinfo=UTC)),
        (2, "\\N", {"list": [1, None, "\n"]}, None, None),  # the string \N is text, not NULL
        (3, None, None, Decimal("0"), None),
        (4, "line\nbreak\rreturn", [1, "x"], None, None),
        (5, Text("sub\\class"), {}, None, None),
    ]
    with conn.cursor() as cur:
        cur.execute("CREATE TEMP TABLE t (id int, s text, j jsonb, n numeric, at timestamptz)")
        assert db.copy_rows(cur, "t", ("id", "s", "j", "n", "at"), iter(rows)) == len(rows)
        cur.execute("SELECT id, s, j, n, at FROM t ORDER BY id")
        assert cur.fetchall() == [(r[0], None if r[1] is None else str(r[1]), r[2], r[3], r[4]) for r in rows]


def _entry(orderid, line_id, sku="WH-1001"):
    return {"orderid": orderid, "date": "11/20/2026 09:15AM UTC", "amount": {"total": 10, "shipping": 0},
            "customer": {"name": "Ana Ríos", "address1": "Calle 1", "city": "Madrid", "zip": "28001", "country": "ES"},
            "line_items": [{"ci_lineitemid": line_id, "sku": sku, "quantity": 1, "unit_price": 10, "status": "open"}]}


def _one(conn, sql, *args):
    with conn.cursor() as cur:
        cur.execute(sql, args)
        return cur.fetchone()[0]


def test_an_order_written_meanwhile_sends_the_batch_the_on_conflict_way(conn, staging_dsn, monkeypatch):
    with conn.cursor() as cur:
        seed_catalogue(cur)
        staging.land_raw(cur, "groupon", "acct", [(entry_id(e), e) for e in
                                                  (_entry("O-1", 1), _entry("O-2", 2), _entry("O-3", 3))], "run-1")
    conn.commit()
    real_init = staging._NewOrders.__init__

    def concurrent_load_first(self, *args, **kwargs):
        # Another load commits O-2 after this batch looked staging up and found nothing.
        with closing(db.connect(staging_dsn)) as other, other.cursor() as cur:
            cur.execute("""INSERT INTO staging.orders (channel, account, external_order_id, status, content_hash,
                                                      imported_status, imported_run_id)
                           VALUES ('groupon', 'acct', 'O-2#2', 'ready', 'written by someone else', 'ready',
                                   'run-other')""")
            other.commit()
        real_init(self, *args, **kwargs)

    monkeypatch.setattr(staging._NewOrders, "__init__", concurrent_load_first)
    interval = sys.getswitchinterval()
    counts = staging.transform(conn, GrouponMapper("EUR"), "acct", "run-1")

    assert sys.getswitchinterval() == interval  # the COPY thread's faster switching is undone

    assert (counts.orders, counts.inserted, counts.lines, counts.effects) == (3, 3, 3, 3)
    assert _one(conn, "SELECT count(*) FROM staging.orders") == 3
    assert _one(conn, "SELECT count(*) FROM staging.orders WHERE content_hash = 'written by someone else'") == 0
    assert _one(conn, "SELECT count(*) FROM staging.order_lines") == 3
    assert _one(conn, "SELECT count(DISTINCT order_id) FROM staging.order_lines") == 3
    assert _one(conn, "SELECT count(*) FROM staging.outbox WHERE order_id IS NOT NULL") == 3
    # One import each in the history; O-2's stays the other load's (the update does not rewrite it).
    with conn.cursor() as cur:
        cur.execute("SELECT external_order_id, run_id FROM staging.order_history WHERE event = 'imported' ORDER BY 1")
        assert cur.fetchall() == [("O-1#1", "run-1"), ("O-2#2", "run-other"), ("O-3#3", "run-1")]
    conn.commit()


def test_enqueue_counts_only_new_effects_and_finds_their_orders(conn):
    with conn.cursor() as cur:
        cur.execute("""INSERT INTO staging.orders (channel, account, external_order_id, status, content_hash)
                       VALUES ('groupon', 'acct', 'O-7', 'ready', 'h') RETURNING id""")
        order_id = cur.fetchone()[0]
        first = [Effect("k", "1", {"n": 1}, "O-7"), Effect("k", "1", {"n": 1}, "O-7"), Effect("k", "2", {}, None)]
        assert outbox.enqueue(cur, "groupon", "acct", first) == 2
        assert outbox.enqueue(cur, "groupon", "acct", [Effect("k", "1", {"n": 1}, "O-7"),
                                                       Effect("k", "3", {}, "O-7")], {"O-7": order_id}) == 1
        cur.execute("SELECT idempotency_key, order_id FROM staging.outbox ORDER BY 1")
        assert cur.fetchall() == [("groupon:acct:k:1", order_id), ("groupon:acct:k:2", None),
                                  ("groupon:acct:k:3", order_id)]


def test_a_page_landed_meanwhile_by_another_run_is_kept_once(conn, staging_dsn):
    """land_raw COPYs payloads it has not seen straight into raw.orders; when a concurrent run lands
    the same page between its look-up and its COPY, the page goes the ON CONFLICT way instead."""
    import threading

    page = [(entry_id(e), e) for e in (_entry("O-1", 1), _entry("O-2", 2))]
    with closing(db.connect(staging_dsn)) as other:
        with other.cursor() as cur:
            assert staging.land_raw(cur, "groupon", "acct", page, "run-other") == 2  # not committed yet
        landed = []
        ours = threading.Thread(target=lambda: landed.append(_land(conn, page + page[:1])))
        ours.start()  # looks up (sees nothing committed), then its COPY waits on the other's rows
        ours.join(timeout=1.0)
        assert ours.is_alive()
        other.commit()
    ours.join(timeout=30)
    assert landed == [0]  # both were the other run's: nothing new, no error
    assert _one(conn, "SELECT count(*) FROM raw.orders") == 2
    assert _land(conn, [(entry_id(e), e) for e in (_entry("O-2", 2), _entry("O-3", 3))]) == 1  # O-2 seen before


def _land(conn, page) -> int:
    with conn.cursor() as cur:
        n = staging.land_raw(cur, "groupon", "acct", page, "run-1")
    conn.commit()
    return n


def test_a_big_load_refreshes_the_planner_statistics_it_relies_on(conn):
    """While one account's first big load runs, autovacuum has not analyzed yet; without fresh
    statistics PostgreSQL scans every row of the account for each page's id lookup."""
    statistics = db.PlannerStatistics("raw.orders", ("channel", "account", "external_id"), every=30)

    def reltuples():
        return _one(conn, "SELECT reltuples FROM pg_class WHERE oid = 'raw.orders'::regclass")

    with conn.cursor() as cur:
        for start in range(0, 40, 20):
            page = [(f"O-{i}", _entry(f"O-{i}", i)) for i in range(start, start + 20)]
            statistics.wrote(cur, staging.land_raw(cur, "groupon", "acct", page, "run-1"))
            if start == 0:
                assert reltuples() < 20  # not analyzed after 20 rows
    assert reltuples() == 40  # analyzed after 40 (every=30), in the same transaction
    conn.commit()
