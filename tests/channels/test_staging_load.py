"""raw -> staging on a real PostgreSQL: idempotent loads, held orders, re-transform without refetch."""

from orderbridge import staging
from orderbridge.channels.groupon.mapping import GrouponMapper, entry_id
from orderbridge_sandbox.warehouse import seed_catalogue


def _entry(orderid, sku, line_id, zip_="N1 9GU"):
    return {"orderid": orderid, "date": "11/20/2026 09:15AM UTC", "amount": {"total": 10, "shipping": 0},
            "customer": {"name": "Σοφία Παπαδοπούλου", "address1": "Οδός 1", "city": "Αθήνα", "zip": zip_,
                         "country": "GR", "state": None},
            "line_items": [{"ci_lineitemid": line_id, "sku": sku, "quantity": 1, "unit_price": 10, "status": "open"}]}


def _land(conn, entries):
    with conn.cursor() as cur:
        n = staging.land_raw(cur, "groupon", "acct", [(entry_id(e), e) for e in entries], "run-1")
    conn.commit()
    return n


def _count(conn, sql, *args):
    with conn.cursor() as cur:
        cur.execute(sql, args)
        return cur.fetchone()[0]


def test_load_twice_writes_nothing_the_second_time(conn):
    with conn.cursor() as cur:
        seed_catalogue(cur)
    conn.commit()
    entries = [_entry("O-1", "WH-1001", 1), _entry("O-2", "GG-9012", 2), _entry("O-3", "GG-NEW-7741", 3)]
    assert _land(conn, entries) == 3
    assert _land(conn, entries) == 0  # same payloads: raw stays append-only without duplicates
    first = staging.transform(conn, GrouponMapper("EUR"), "acct", "run-1")
    assert (first.inserted, first.by_status) == (3, {"ready": 2, "awaiting_mapping": 1})
    assert first.effects == 3  # mark_exported for every line now committed
    second = staging.transform(conn, GrouponMapper("EUR"), "acct", "run-2")
    # Only the held order is looked at again, and it writes nothing.
    assert (second.orders, second.inserted, second.updated, second.effects) == (1, 0, 0, 0)
    assert _count(conn, "SELECT count(*) FROM staging.orders") == 3
    assert _count(conn, "SELECT count(*) FROM staging.outbox") == 3
    assert _count(conn, "SELECT warehouse_sku FROM staging.order_lines l JOIN staging.orders o ON o.id = l.order_id"
                        " WHERE o.external_order_id = 'O-2#2'") == "WH-1013"


def test_mapping_added_later_retransforms_from_raw(conn):
    with conn.cursor() as cur:
        seed_catalogue(cur)
    _land(conn, [_entry("O-9", "GG-NEW-7742", 9)])
    staging.transform(conn, GrouponMapper(), "acct", "run-1")
    assert _count(conn, "SELECT status_reason FROM staging.orders") == "unknown SKU(s): GG-NEW-7742"
    with conn.cursor() as cur:
        cur.execute("INSERT INTO staging.sku_aliases (channel, channel_sku, warehouse_sku)"
                    " VALUES ('groupon', 'GG-NEW-7742', 'WH-1020')")
    conn.commit()
    raw_before = _count(conn, "SELECT count(*) FROM raw.orders")
    counts = staging.transform(conn, GrouponMapper(), "acct", "run-2")
    assert (counts.updated, counts.by_status) == (1, {"ready": 1})
    assert _count(conn, "SELECT count(*) FROM raw.orders") == raw_before
    assert _count(conn, "SELECT warehouse_sku FROM staging.order_lines") == "WH-1020"
    assert _count(conn, "SELECT message FROM staging.order_events WHERE event = 'status_changed'") == \
        "awaiting_mapping -> ready"


def test_a_broken_payload_is_quarantined_and_the_rest_still_loads(conn):
    with conn.cursor() as cur:
        seed_catalogue(cur)
    bad = _entry("O-BAD", "WH-1001", 5)
    bad["line_items"][0]["quantity"] = -1
    _land(conn, [bad, _entry("O-OK", "WH-1001", 6)])
    counts = staging.transform(conn, GrouponMapper(), "acct", "run-1")
    assert counts.by_status == {"invalid_payload": 1, "ready": 1}
    assert "quantity" in _count(conn, "SELECT status_reason FROM staging.orders WHERE external_order_id = 'O-BAD#5'")


def test_orders_the_warehouse_owns_are_not_overwritten(conn):
    with conn.cursor() as cur:
        seed_catalogue(cur)
    _land(conn, [_entry("O-5", "WH-1001", 5)])
    staging.transform(conn, GrouponMapper(), "acct", "run-1")
    with conn.cursor() as cur:
        cur.execute("UPDATE staging.orders SET status = 'in_progress'")
    conn.commit()
    _land(conn, [_entry("O-5", "WH-1002", 5)])  # the channel changed the order after picking began
    counts = staging.transform(conn, GrouponMapper(), "acct", "run-2")
    assert counts.held_by_warehouse == 1
    assert _count(conn, "SELECT channel_sku FROM staging.order_lines") == "WH-1001"


def test_a_load_writes_one_outbox_row_per_order_and_reads_the_import_from_the_order_row(conn):
    from orderbridge.operator import queries

    with conn.cursor() as cur:
        seed_catalogue(cur)
    conn.commit()
    three_lines = _entry("O-1", "WH-1001", 11)
    three_lines["line_items"] += [{**three_lines["line_items"][0], "ci_lineitemid": i} for i in (12, 13)]
    _land(conn, [three_lines, _entry("O-2", "GG-NEW-7741", 21)])
    counts = staging.transform(conn, GrouponMapper("EUR"), "acct", "run-1")

    # One mark_exported row per order carrying its lines (the handler puts a batch in one call).
    assert counts.effects == 2
    with conn.cursor() as cur:
        cur.execute("""SELECT o.external_order_id, b.idempotency_key, b.payload FROM staging.outbox b
                       JOIN staging.orders o ON o.id = b.order_id ORDER BY 1""")
        assert cur.fetchall() == [("O-1#11", "groupon:acct:mark_exported:11,12,13", {"ci_lineitem_ids": [11, 12, 13]}),
                                  ("O-2#21", "groupon:acct:mark_exported:21", {"ci_lineitem_ids": [21]})]
    # A plain import stores no history row; the history view and the operator's timeline show it.
    assert _count(conn, "SELECT count(*) FROM staging.order_events") == 0
    with conn.cursor() as cur:
        cur.execute("""SELECT external_order_id, message, detail, run_id FROM staging.order_history
                       WHERE event = 'imported' ORDER BY 1""")
        assert cur.fetchall() == [("O-1#11", "imported as ready", {"status": "ready", "reason": None}, "run-1"),
                                  ("O-2#21", "imported as awaiting_mapping",
                                   {"status": "awaiting_mapping", "reason": "unknown SKU(s): GG-NEW-7741"}, "run-1")]
        cur.execute("SELECT id FROM staging.orders WHERE external_order_id = 'O-2#21'")
        timeline = queries.timeline(cur, cur.fetchone()[0])
    assert [(e["event"], e["run_id"]) for e in timeline][:1] == [("imported", "run-1")]
    conn.commit()


def test_raw_payloads_read_back_exactly_as_json_reads_their_stored_text(conn):
    import json

    payloads = {"P-1": {"orderid": "P-1", "name": "Σοφία 😀 \"quoted\"\\tab", "n": 10**30, "price": 10.5,
                        "neg": -0.0, "nested": [{"a": None, "b": True}, []]}}
    with conn.cursor() as cur:
        staging.land_raw(cur, "groupon", "acct", list(payloads.items()), "run-1")
        # A number beyond a float with a fraction: only json.loads reads it (as inf); the reader falls back.
        huge = "1" + "0" * 400 + ".5"
        cur.execute("""INSERT INTO raw.orders (channel, account, external_id, payload, payload_hash)
                       VALUES ('groupon', 'acct', 'P-2', %s, 'h')""", (f'{{"orderid": "P-2", "huge": {huge}}}',))
        grouped = next(staging._raw_batches(cur, "groupon", "acct", ["P-1", "P-2"], 10))
        cur.execute("SELECT external_id, payload::text FROM raw.orders ORDER BY 1")
        stored = {ext: json.loads(text) for ext, text in cur.fetchall()}
    conn.rollback()
    assert {ext: rows[0][1] for ext, rows in grouped.items()} == stored
    assert stored["P-1"] == payloads["P-1"] and stored["P-2"]["huge"] == float("inf")
