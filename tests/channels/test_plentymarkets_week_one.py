"""plentymarkets in a real warehouse's first week (issue 17): returns told back to plenty, one
client and warehouse of a shared system, and stock for listings that never sold.

Same sandbox, PostgreSQL and helpers as ``test_plentymarkets_pipeline``; every exchange is also
checked against plentymarkets' OpenAPI spec where ``../shared/reference`` has it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import requests
from airflow.sdk.exceptions import AirflowSkipException
from test_plentymarkets_pipeline import (  # noqa: F401 (fixtures)
    ACCOUNT,
    control,
    orders_by_id,
    plenty,
    point_at,
    rows,
    sandbox,
    staged,
    validate_against_spec,
    warehouse,
)

from conftest import database_at, downgrade, run_task

TASKS = ("extract_orders", "load_staging", "record_returns", "send_status", "send_return_status", "post_tracking")


def cycle(run_id: str, *tasks: str) -> dict:
    """The DAG's tasks in order (all but the stock ones unless named), as the scheduled run does."""
    counts = {}
    for task_id in tasks or TASKS:
        counts[task_id] = run_task("plentymarkets", task_id, ACCOUNT, run_id, "scheduled", key=f"key-{run_id}")
    return counts


def return_history(proc, return_id) -> list[float]:
    """The statuses set on one sandbox return order after it was made, in order."""
    (ret,) = [r for r in control(proc)["returns"] if str(r["id"]) == str(return_id)]
    return [float(h["to"]) for h in ret["history"]]


def receive(conn, return_id) -> None:
    """What the warehouse does when a return's parcel is booked in."""
    with conn.cursor() as cur:
        cur.execute("UPDATE staging.returns SET received_at = now() WHERE external_return_id = %s", (str(return_id),))
        cur.execute("""UPDATE staging.return_lines rl SET received_quantity = rl.quantity FROM staging.returns r
                       WHERE r.id = rl.return_id AND r.external_return_id = %s""", (str(return_id),))
    conn.commit()


def test_a_received_return_is_set_to_9_01_once_even_when_the_answer_is_lost(plenty, warehouse):  # noqa: F811
    cycle("run-1", "extract_orders", "load_staging")
    first_of, second_of = sorted(e for e, (s, *_) in staged(warehouse).items() if s == "ready")[:2]
    first = control(plenty, f"orders/{first_of}/returns", "POST")["id"]
    second = control(plenty, f"orders/{second_of}/returns", "POST")["id"]
    cycle("run-2")
    assert return_history(plenty, first) == return_history(plenty, second) == []  # expected, not received

    receive(warehouse, first)
    third = cycle("run-3")
    assert third["record_returns"]["received_enqueued"] == 1 and third["send_return_status"]["sent"] == 1
    assert return_history(plenty, first) == [9.01] and return_history(plenty, second) == []
    events = rows(warehouse, "SELECT external_order_id, message FROM staging.order_events"
                             " WHERE event = 'return_status_sent'")
    assert events == [(first_of, f"return order {first}: status 9.01 set (return received)")]

    again = cycle("run-4")  # a rerun sends nothing
    assert again["record_returns"]["received_enqueued"] == 0 and again["send_return_status"]["claimed"] == 0
    assert return_history(plenty, first) == [9.01]

    # The answer to the second PUT is lost after plenty applied it: the retry asks first, sets nothing twice.
    receive(warehouse, second)
    requests.post(f"{plenty.url}/_sandbox/faults", json={"channel": "plentymarkets", "kind": "cut", "times": 1,
                                                         "match": f"/rest/orders/{second}"},
                  timeout=5).raise_for_status()
    lost = cycle("run-5")
    assert lost["send_return_status"]["sent"] == 1
    assert return_history(plenty, second) == [9.01]
    (message,) = rows(warehouse, "SELECT message FROM staging.order_events WHERE event = 'return_status_sent'"
                                 " AND external_order_id = %s", second_of)[0]
    assert message == f"return order {second}: status 9.01 was already set"
    assert rows(warehouse, "SELECT count(*) FROM staging.outbox WHERE kind = 'return_status'") == [(2,)]
    validate_against_spec(plenty)


def test_only_our_clients_orders_of_our_warehouse_are_staged_and_answered(plenty, warehouse, monkeypatch):  # noqa: F811
    own = control(plenty)["plenty_id"]
    point_at(monkeypatch, plenty, plenty_id=own)  # warehouse_id 1, the fulfilment warehouse
    other_client = control(plenty, "orders", "POST", n=3, statusId=5, plentyId=own + 1)["ids"]
    other_warehouse = control(plenty, "orders", "POST", n=3, statusId=5, warehouseId=2)["ids"]
    neither = control(plenty, "orders", "POST", n=2, statusId=5, plentyId=own + 1, warehouseId=2)["ids"]
    control(plenty, f"orders/{other_client[0]}/status", "POST", statusId=8.0)  # their cancellation
    for sale in (other_client[1], other_warehouse[0]):  # and their customers' returns
        control(plenty, f"orders/{sale}/returns", "POST")
    foreign = {str(i) for i in other_client + other_warehouse + neither}
    before = {i: (o["status_id"], o["history"]) for i, o in orders_by_id(plenty).items() if i in foreign}

    counts = cycle("run-1")
    cycle("run-2")
    ours = {i for i, o in orders_by_id(plenty).items() if o["plenty_id"] == own and o["warehouse_id"] == 1}
    assert set(staged(warehouse)) <= ours and len(staged(warehouse)) > 10
    assert not foreign & {e for (e,) in rows(warehouse, "SELECT external_id FROM raw.orders")}
    assert rows(warehouse, "SELECT count(*) FROM raw.return_orders") == [(0,)]
    # left out by plentyId: two in 5, the cancellation, the return; the other warehouse by warehouseId
    assert counts["extract_orders"]["other_clients"] == 4
    after = {i: (o["status_id"], o["history"]) for i, o in orders_by_id(plenty).items() if i in foreign}
    assert after == before  # untouched: never acknowledged, cancelled or answered
    assert all(any(o["history"]) for i, o in orders_by_id(plenty).items() if i in staged(warehouse)
               and staged(warehouse)[i][0] == "ready")
    lists = [dict(e["query"]) for e in control(plenty, "exchanges")["exchanges"]
             if e["method"] == "GET" and e["path"] == "/rest/orders" and "orderIds" not in dict(e["query"])]
    assert lists and all(q.get("warehouseId") == "1" for q in lists)
    validate_against_spec(plenty)


def test_a_plenty_id_no_order_has_drops_them_all_with_a_warning_naming_the_ones_seen(plenty, warehouse,  # noqa: F811
                                                                                       monkeypatch, caplog):
    own = control(plenty)["plenty_id"]
    point_at(monkeypatch, plenty, plenty_id=own + 7)  # a typo in the connection
    with caplog.at_level("WARNING", logger="orderbridge.channels.plentymarkets.client"):
        counts = cycle("run-1", "extract_orders")
    assert counts["extract_orders"]["other_clients"] > 0 and counts["extract_orders"]["new_payloads"] == 0
    [warning] = [r.getMessage() for r in caplog.records if "plenty_id" in r.getMessage()]
    assert f"belong to plenty_id {own + 7} (they are of plentyId {own})" in warning and "Resolution" in warning


def pushed_variations(proc) -> set[int]:
    return {c["variationId"] for c in control(proc)["stock_corrections"]}


def test_a_listing_that_never_sold_gets_stock_after_the_catalogue_task_ran_and_not_before(plenty, warehouse):  # noqa: F811
    from orderbridge_sandbox.catalogue import PLENTY_OFFERS
    from orderbridge_sandbox.plentymarkets.common import LISTED_ONLY

    listed_only = {o.variation_id for o in LISTED_ONLY}
    sold = {v for o in control(plenty)["orders"] for v in o["skus"]}
    assert not {o.channel_sku for o in LISTED_ONLY} & sold  # never on an order
    cycle("run-1", "extract_orders", "load_staging", "push_stock")
    assert pushed_variations(plenty) and not pushed_variations(plenty) & listed_only

    # A 10-minute run whose interval holds no full hour: the catalogue task is skipped, stock runs.
    hour = datetime(2026, 11, 20, 13, tzinfo=UTC)
    with pytest.raises(AirflowSkipException, match="every 1:00:00"):
        run_task("plentymarkets", "sync_catalogue", ACCOUNT, "run-2", "scheduled", hour - timedelta(minutes=20),
                 hour - timedelta(minutes=10))
    run_task("plentymarkets", "push_stock", ACCOUNT, "run-2", "scheduled", key="key-run-2")
    assert not pushed_variations(plenty) & listed_only

    # The run whose interval ends on the hour reads the catalogue; its push_stock then offers them stock.
    synced = run_task("plentymarkets", "sync_catalogue", ACCOUNT, "run-3", "scheduled", hour - timedelta(minutes=10),
                      hour)
    assert synced["products"] == len(PLENTY_OFFERS) + len(LISTED_ONLY) and synced["pages"] > 1  # 10 a page
    assert rows(warehouse, "SELECT channel_sku, external_product_id FROM staging.channel_products"
                           " WHERE external_product_id = ANY(%s) ORDER BY 1", [str(v) for v in listed_only]) == [
        (o.channel_sku, str(o.variation_id)) for o in LISTED_ONLY]
    stock = run_task("plentymarkets", "push_stock", ACCOUNT, "run-3", "scheduled", key="key-run-3")
    assert listed_only <= pushed_variations(plenty) and stock["pushed"] >= len(listed_only)
    on_hand = dict(rows(warehouse, "SELECT sku, on_hand FROM staging.stock_levels"))
    levels = {s["variationId"]: s["quantity"] for s in control(plenty)["stock"] if s["storageLocationId"] == 7}
    assert {levels[o.variation_id] for o in LISTED_ONLY} == {float(on_hand[o.channel_sku]) for o in LISTED_ONLY}

    again = run_task("plentymarkets", "sync_catalogue", ACCOUNT, "run-4", "manual")  # a manual run reads it too
    assert again["changed"] == 0 and again["products"] == synced["products"]  # nothing changed, nothing rewritten
    validate_against_spec(plenty)


def test_0009_adds_what_the_warehouse_received_of_a_return_and_downgrades_cleanly(pg):
    from orderbridge import db

    name = "t_migrate_0009"
    dsn = database_at(pg, name, "0005")
    conn = db.connect(dsn)
    try:
        with conn.cursor() as cur:  # a return recorded before 0009
            cur.execute("""INSERT INTO staging.returns (channel, account, external_order_id, external_return_id)
                           VALUES ('plentymarkets', 'de', '630', '631') RETURNING id""")
            cur.execute("INSERT INTO staging.return_lines (return_id, channel_line_id, quantity) VALUES (%s, '1', 2)",
                        (cur.fetchone()[0],))
        conn.commit()
        db.migrate(dsn, "0009")
        with conn.cursor() as cur:
            cur.execute("SELECT r.received_at, rl.received_quantity FROM staging.returns r"
                        " JOIN staging.return_lines rl ON rl.return_id = r.id")
            assert cur.fetchall() == [(None, None)]  # still expected: nothing is told to the channel
            cur.execute("UPDATE staging.returns SET received_at = now()")
            cur.execute("UPDATE staging.return_lines SET received_quantity = 2")
        conn.commit()
        downgrade(dsn, "0005")
        with conn.cursor() as cur:
            cur.execute("SELECT column_name FROM information_schema.columns WHERE table_schema = 'staging'"
                        " AND column_name IN ('received_at', 'received_quantity')")
            assert cur.fetchall() == []
            cur.execute("SELECT count(*) FROM staging.return_lines")
            assert cur.fetchone() == (1,)
    finally:
        conn.close()
        pg.sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
