"""Groupon end to end against the sandbox over real HTTP and a real PostgreSQL.

Job-level tests call the same functions the DAG tasks call; the DAG tests run the real DAG with
``dag.test()`` on Airflow's own metadata database.
"""

from __future__ import annotations

import csv
import json
import os
from contextlib import closing
from datetime import UTC, datetime, timedelta
from importlib import resources

import pytest
import requests

from conftest import run_task
from groupon_support import ACCOUNT, SUPPLIER, TOKEN, use_sandbox
from orderbridge import db
from orderbridge.errors import AuthError, Retryable
from orderbridge_sandbox.catalogue import GROUPON_OFFERS
from orderbridge_sandbox.process import start_sandbox
from orderbridge_sandbox.warehouse import UNMAPPED_COURIER, ship_some

ORDERS = 30
ANCHOR = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


@pytest.fixture
def sandbox():
    with start_sandbox(["--seed", "42", "--groupon", f"{SUPPLIER}:{TOKEN}:{ORDERS}", "--groupon-page-size", "10",
                        "--anchor", ANCHOR.isoformat(), "--days", "2"]) as proc:
        yield proc


@pytest.fixture
def groupon_conn(sandbox, monkeypatch):
    def use(token: str = TOKEN) -> None:
        use_sandbox(monkeypatch, sandbox.port, token)
    use()
    return use


def state(sandbox) -> dict:
    return requests.get(f"{sandbox.url}/_sandbox/groupon/{SUPPLIER}/state", timeout=10).json()


def lines_of(st: dict) -> list[dict]:
    return [line for o in st["orders"] for e in o["entries"] for line in e["lines"]]


def fault(sandbox, **rule) -> None:
    requests.post(f"{sandbox.url}/_sandbox/faults", json={"channel": "groupon", **rule}, timeout=5).raise_for_status()


def scalar(conn, sql: str, *args):
    with conn.cursor() as cur:
        cur.execute(sql, args)
        return cur.fetchone()[0]


def cycle(run_id: str) -> dict:
    return {
        "extract": run_task("groupon", "extract_orders", ACCOUNT, run_id, "scheduled"),
        "load": run_task("groupon", "load_staging", ACCOUNT, run_id),
        "mark": run_task("groupon", "mark_exported", ACCOUNT, run_id),
        "tracking": run_task("groupon", "post_tracking", ACCOUNT, run_id),
    }


def test_cycle_lands_every_order_once_and_marks_every_open_line(sandbox, groupon_conn, warehouse):
    first = cycle("run-1")
    st = state(sandbox)
    # One staging order per entry: a split orderid ships to two addresses (test_groupon_entries.py).
    assert scalar(warehouse, "SELECT count(*) FROM staging.orders") == st["totals"]["entries"]
    assert len(st["orders"]) == ORDERS
    assert first["extract"]["pages"] >= 3  # 10 entries a page
    assert all(line["exported"] and line["export_calls"] == 1 for line in lines_of(st))
    assert scalar(warehouse, "SELECT count(*) FROM staging.orders WHERE status = 'awaiting_mapping'") >= 1
    # One mark_exported row per staging order, not per line.
    marks = scalar(warehouse, "SELECT count(*) FROM staging.outbox WHERE kind = 'mark_exported'")
    assert marks == st["totals"]["entries"]

    # Groupon now offers nothing: a second cycle changes nothing and posts nothing.
    raw_before = scalar(warehouse, "SELECT count(*) FROM raw.orders")
    second = cycle("run-2")
    assert second["extract"]["payloads"] == 0
    assert (second["load"]["inserted"], second["load"]["updated"], second["mark"]["claimed"]) == (0, 0, 0)
    assert scalar(warehouse, "SELECT count(*) FROM raw.orders") == raw_before
    assert all(line["export_calls"] == 1 for line in lines_of(state(sandbox)))


def test_mark_exported_500_keeps_orders_and_a_rerun_marks_each_line_once(sandbox, groupon_conn, warehouse):
    run_task("groupon", "extract_orders", ACCOUNT, "run-1", "scheduled")
    run_task("groupon", "load_staging", ACCOUNT, "run-1")
    fault(sandbox, match="mark_exported", kind="500", times=50)
    with pytest.raises(Retryable, match="HTTP 500"):
        run_task("groupon", "mark_exported", ACCOUNT, "run-1")
    assert scalar(warehouse, "SELECT count(*) FROM staging.orders") == state(sandbox)["totals"]["entries"]
    assert not any(line["exported"] for line in lines_of(state(sandbox)))
    failed = "SELECT count(*) FROM staging.order_events WHERE event = 'mark_exported_attempt_failed'"
    assert scalar(warehouse, failed) > 0

    requests.delete(f"{sandbox.url}/_sandbox/faults", timeout=5)
    run_task("groupon", "mark_exported", ACCOUNT, "run-1-retry")
    run_task("groupon", "mark_exported", ACCOUNT, "run-1-retry-again")
    assert all(line["exported"] and line["export_calls"] == 1 for line in lines_of(state(sandbox)))
    assert scalar(warehouse, "SELECT count(*) FROM staging.outbox WHERE status <> 'sent'") == 0


def test_mark_exported_sends_every_line_of_a_batch_in_one_call_and_refuses_only_the_row_with_an_unknown_line(
        sandbox, groupon_conn, warehouse):
    from orderbridge.channels.groupon.client import GrouponClient
    from orderbridge.channels.groupon.writeback import mark_exported_handler
    from orderbridge.outbox import OutboxRow

    known = [line["ci_lineitemid"] for line in lines_of(state(sandbox))][:4]
    client = GrouponClient(ACCOUNT.conn_id, ACCOUNT.name)
    rows = [OutboxRow(1, None, "A", {"ci_lineitem_ids": known[:2]}, 0),
            OutboxRow(2, None, "B", {"ci_lineitem_ids": [known[2], 99999999]}, 0),
            OutboxRow(3, None, "C", {"ci_lineitem_id": known[3]}, 0)]  # a per-line row of earlier versions
    outcomes = mark_exported_handler(client)(rows)
    assert client.stats["requests"] == 1
    assert [outcomes[i].status for i in (1, 2, 3)] == ["sent", "rejected", "sent"]
    assert "99999999" in outcomes[2].message and str(known[2]) not in outcomes[2].message
    marked = {line["ci_lineitemid"]: line["export_calls"] for line in lines_of(state(sandbox))}
    assert [marked[i] for i in known] == [1, 1, 1, 1]


def test_429_waits_for_retry_after_without_failing(sandbox, groupon_conn, warehouse):
    fault(sandbox, match="get_orders", kind="429", retry_after=1, times=2)
    counts = run_task("groupon", "extract_orders", ACCOUNT, "run-1", "scheduled")
    assert counts["throttled"] == 2 and counts["retried"] == 0
    assert counts["payloads"] >= ORDERS


def test_wrong_token_fails_fast_without_leaking_it(sandbox, groupon_conn, warehouse, caplog):
    groupon_conn("wrong-token-that-must-not-leak")
    with pytest.raises(AuthError) as err:
        run_task("groupon", "extract_orders", ACCOUNT, "run-1", "scheduled")
    assert "Resolution" in str(err.value)
    assert "wrong-token-that-must-not-leak" not in str(err.value)
    assert "wrong-token-that-must-not-leak" not in caplog.text


def test_tracking_posts_each_line_once_and_blocks_unmapped_couriers(sandbox, groupon_conn, warehouse):
    cycle("run-1")
    with warehouse.cursor() as cur:
        shipped = ship_some(cur, "groupon", ACCOUNT.name, share=1.0)
    warehouse.commit()
    assert shipped > 0
    cycle("run-2")
    cycle("run-3")
    st = state(sandbox)
    posted = [line for line in lines_of(st) if line["tracking"]]
    assert posted and all(len(line["tracking"]) == 1 for line in posted)
    blocked = scalar(warehouse, "SELECT count(*) FROM staging.shipments WHERE courier_service = %s", UNMAPPED_COURIER)
    assert blocked > 0  # the simulator uses one courier service nobody mapped
    message = scalar(warehouse, "SELECT message FROM staging.order_events WHERE event = 'tracking_blocked' LIMIT 1")
    assert "Resolution" in message and UNMAPPED_COURIER in message
    events = "SELECT count(*) FROM staging.order_events WHERE event = 'tracking_blocked'"
    assert scalar(warehouse, events) == blocked  # told once per shipment, not once per run


def test_every_carrier_of_the_seed_table_maps_and_is_accepted(sandbox, groupon_conn, warehouse):
    with resources.files("orderbridge.data").joinpath("groupon_carriers.csv").open() as f:
        carriers = list(csv.DictReader(f))
    assert len(carriers) == 58
    cycle("run-1")
    with warehouse.cursor() as cur:
        cur.execute("""SELECT o.id, l.channel_line_id FROM staging.orders o JOIN staging.order_lines l
                       ON l.order_id = o.id WHERE o.status = 'ready' AND l.component = 0 AND l.status = 'open'
                       ORDER BY l.id""")
        targets = cur.fetchall()
        assert len(targets) >= 20
        for i, (order_id, line_id) in enumerate(targets):
            carrier = carriers[i % len(carriers)]
            cur.execute("INSERT INTO staging.shipments (order_id, courier_service, tracking_number, lines)"
                        " VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING",
                        (order_id, carrier["carrier_name"], f"T{i:05d}", json.dumps([line_id])))
    warehouse.commit()
    if len(targets) < len(carriers):  # the rest of the table still has to be in the mapping table
        codes = dict(db_rows(warehouse, "SELECT courier_service, carrier_code FROM staging.carrier_codes"
                                         " WHERE channel = 'groupon'"))
        assert all(codes[c["carrier_name"]] == c["code"] for c in carriers)
    run_task("groupon", "post_tracking", ACCOUNT, "run-2")
    posted = {line["ci_lineitemid"]: line["tracking"] for line in lines_of(state(sandbox)) if line["tracking"]}
    assert len(posted) == len(targets)
    assert scalar(warehouse, "SELECT count(*) FROM staging.outbox WHERE kind = 'tracking' AND status <> 'sent'") == 0


def db_rows(conn, sql):
    with conn.cursor() as cur:
        cur.execute(sql)
        return cur.fetchall()


def test_unknown_sku_then_mapping_then_retransform_without_refetch(sandbox, groupon_conn, warehouse):
    cycle("run-1")
    held = scalar(warehouse, "SELECT count(*) FROM staging.orders WHERE status = 'awaiting_mapping'")
    assert held > 0
    # Product sync: every Groupon SKU seen is listed for the operator, with how it maps (or not).
    mappings = dict(db_rows(warehouse, "SELECT channel_sku, mapping FROM staging.channel_product_mappings"))
    expected = {o.channel_sku: None if o.kind == "unknown" else o.kind for o in GROUPON_OFFERS}
    assert len(mappings) > 10 and all(mappings[sku] == expected[sku] for sku in mappings)
    with warehouse.cursor() as cur:
        cur.execute("INSERT INTO staging.sku_aliases (channel, channel_sku, warehouse_sku) VALUES"
                    " ('groupon', 'GG-NEW-7741', 'WH-1021'), ('groupon', 'GG-NEW-7742', 'WH-1022')")
    warehouse.commit()
    requests_before = state(sandbox)["requests"]
    counts = run_task("groupon", "load_staging", ACCOUNT, "run-2")
    assert counts["updated"] == held
    assert scalar(warehouse, "SELECT count(*) FROM staging.orders WHERE status = 'awaiting_mapping'") == 0
    assert state(sandbox)["requests"] == requests_before  # nothing fetched again


def test_backfill_rereads_its_window_and_loads_nothing_twice(sandbox, groupon_conn, warehouse):
    cycle("run-1")  # everything imported and exported
    before = scalar(warehouse, "SELECT count(*) FROM staging.orders")
    start = ANCHOR - timedelta(days=2)
    counts = run_task("groupon", "extract_orders", ACCOUNT, "backfill-1", "backfill", start, ANCHOR)
    assert counts["mode"] == "window" and counts["payloads"] >= ORDERS  # exported orders come back
    assert counts["new_payloads"] == 0
    load = run_task("groupon", "load_staging", ACCOUNT, "backfill-1")
    assert (load["inserted"], load["updated"]) == (0, 0)
    assert scalar(warehouse, "SELECT count(*) FROM staging.orders") == before
    with closing(db.connect(jobs_dsn(warehouse))) as other, other.cursor() as cur:
        assert db.get_state(cur, "groupon", ACCOUNT.name, "orders_window") == ANCHOR.isoformat()


def jobs_dsn(conn) -> str:
    return conn.dsn


@pytest.mark.parametrize("rule", [{"kind": "slow", "delay": 2.5}, {"kind": "malformed"}, {"kind": "503"}])
def test_transient_faults_back_off_and_the_extract_still_completes(sandbox, groupon_conn, warehouse, monkeypatch,
                                                                    rule):
    conn = json.loads(os.environ["AIRFLOW_CONN_ORDERBRIDGE_GROUPON_DEMO_UK"])
    conn["extra"]["timeout"] = 1  # so the slow answer is a timeout
    monkeypatch.setenv("AIRFLOW_CONN_ORDERBRIDGE_GROUPON_DEMO_UK", json.dumps(conn))
    fault(sandbox, match="get_orders", times=2, **rule)
    counts = run_task("groupon", "extract_orders", ACCOUNT, "run-1", "scheduled")
    assert counts["retried"] == 2
    assert counts["payloads"] >= ORDERS


def aliased_kit() -> tuple[str, str, str, int]:
    """The catalogue's kit whose ``bom_sku`` names an aliased Groupon SKU: (kit SKU, component,
    the component's warehouse SKU, units per kit)."""
    aliases = {o.channel_sku: o.components[0][0] for o in GROUPON_OFFERS if o.kind == "alias"}
    for offer in GROUPON_OFFERS:
        qty, _, component = (offer.bom_sku or "").partition("x")
        if offer.kind == "kit" and component in aliases:
            return offer.channel_sku, component, aliases[component], int(qty)
    raise AssertionError("the sandbox catalogue has no kit with an aliased component")


def open_lines_of(sandbox, sku: str) -> set[int]:
    """Groupon line ids of open ``sku`` lines, adding orders to the sandbox until there is one."""
    for _ in range(40):
        found = {line["ci_lineitemid"] for line in lines_of(state(sandbox))
                 if line["sku"] == sku and line["status"] == "open"}
        if found:
            return found
        requests.post(f"{sandbox.url}/_sandbox/groupon/{SUPPLIER}/orders", json={"n": 25},
                      timeout=10).raise_for_status()
    raise AssertionError(f"the sandbox generated no open {sku} line in 1,000 orders")


def kit_orders(conn, kit: str) -> list[tuple]:
    """(order status, reason, line's warehouse SKU, quantity, channel quantity) of every staged kit line."""
    with conn.cursor() as cur:
        cur.execute("""SELECT o.status, o.status_reason, l.warehouse_sku, l.quantity, l.channel_quantity
                       FROM staging.order_lines l JOIN staging.orders o ON o.id = l.order_id
                       WHERE l.channel_sku = %s ORDER BY l.id""", (kit,))
        return cur.fetchall()


def map_unknown_offers(conn) -> None:
    """Alias the catalogue's unmapped deals, so a kit order can only wait for its kit."""
    with conn.cursor() as cur:
        cur.execute("INSERT INTO staging.sku_aliases (channel, channel_sku, warehouse_sku) VALUES"
                    " ('groupon', 'GG-NEW-7741', 'WH-1021'), ('groupon', 'GG-NEW-7742', 'WH-1022')")
    conn.commit()


def test_a_kit_whose_bom_sku_names_an_aliased_sku_is_staged_ready_with_the_component(sandbox, groupon_conn,
                                                                                     warehouse):
    kit, _component, warehouse_sku, per_kit = aliased_kit()
    open_lines_of(sandbox, kit)
    map_unknown_offers(warehouse)
    run_task("groupon", "extract_orders", ACCOUNT, "run-1", "scheduled")
    run_task("groupon", "load_staging", ACCOUNT, "run-1")
    rows = kit_orders(warehouse, kit)
    assert rows
    assert [(sku, qty) for _, _, sku, qty, _ in rows] == [(warehouse_sku, r[4] * per_kit) for r in rows]
    assert not [r for r in rows if r[0] == "awaiting_mapping"]
    assert "ready" in {status for status, *_ in rows}


def test_a_kit_held_for_its_component_is_released_by_the_alias_on_retransform(sandbox, groupon_conn, warehouse):
    kit, component, warehouse_sku, per_kit = aliased_kit()
    open_lines_of(sandbox, kit)
    map_unknown_offers(warehouse)
    with warehouse.cursor() as cur:  # the merchant's own code for the component is not mapped yet
        cur.execute("DELETE FROM staging.sku_aliases WHERE channel = 'groupon' AND channel_sku = %s", (component,))
    warehouse.commit()
    run_task("groupon", "extract_orders", ACCOUNT, "run-1", "scheduled")
    run_task("groupon", "load_staging", ACCOUNT, "run-1")
    held = kit_orders(warehouse, kit)
    assert held and all(status == "awaiting_mapping" and kit in reason and sku is None
                        for status, reason, sku, _, _ in held)

    with warehouse.cursor() as cur:
        cur.execute("INSERT INTO staging.sku_aliases (channel, channel_sku, warehouse_sku) VALUES ('groupon', %s, %s)",
                    (component, warehouse_sku))
    warehouse.commit()
    requests_before = state(sandbox)["requests"]
    run_task("groupon", "load_staging", ACCOUNT, "run-2")
    released = kit_orders(warehouse, kit)
    assert len(released) == len(held)
    assert [(sku, qty) for _, _, sku, qty, _ in released] == [(warehouse_sku, r[4] * per_kit) for r in released]
    assert not [r for r in released if r[0] == "awaiting_mapping"]
    assert "ready" in {status for status, *_ in released}
    assert state(sandbox)["requests"] == requests_before  # re-transformed from raw, nothing fetched again
