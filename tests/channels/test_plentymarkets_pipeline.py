"""plentymarkets end to end against its sandbox over real HTTP and a real PostgreSQL.

The functions under test are the ones the DAG tasks call. Every exchange of a test is also
checked against plentymarkets' OpenAPI spec (when ../shared/reference has it), so the client's
requests and the sandbox's answers both follow the real API.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import requests

from conftest import run_task
from orderbridge.channels.plentymarkets.client import PlentyClient
from orderbridge.config import Account
from orderbridge.errors import AuthError
from orderbridge_sandbox.process import start_sandbox
from orderbridge_sandbox.warehouse import seed_catalogue

SYSTEM, USER, PASSWORD, ORDERS = "demo", "rest-user", "sandbox-secret-pw", 24
ANCHOR = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
ACCOUNT = Account(channel="plentymarkets", name="demo_de", conn_id="orderbridge_plentymarkets_demo_de")
EXTRA = {"api_path": f"/plentymarkets/{SYSTEM}", "timeout": 5, "warehouse_id": 1, "storage_location_id": 7,
         "items_per_page": 10}


def start(*extra_args: str):
    return start_sandbox(["--seed", "11", "--plentymarkets", f"{SYSTEM}:{USER}:{PASSWORD}:{ORDERS}",
                          "--anchor", ANCHOR.isoformat(), "--days", "2", *extra_args])


@pytest.fixture
def sandbox():
    with start() as proc:
        yield proc


def point_at(monkeypatch, proc, password: str = PASSWORD, **extra) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_ORDERBRIDGE_PLENTYMARKETS_DEMO_DE", json.dumps({
        "conn_type": "http", "host": "127.0.0.1", "port": proc.port, "schema": "http", "login": USER,
        "password": password, "extra": {**EXTRA, **extra}}))


@pytest.fixture
def plenty(sandbox, monkeypatch):
    point_at(monkeypatch, sandbox)
    return sandbox


@pytest.fixture
def warehouse(conn):
    with conn.cursor() as cur:
        seed_catalogue(cur, "plentymarkets")
        # plenty shipping profiles (the sandbox's presets) for the simulator's couriers
        cur.execute("""INSERT INTO staging.carrier_codes (channel, courier_service, carrier_code)
                       VALUES ('plentymarkets', 'DHL Germany', '6'), ('plentymarkets', 'GLS', '8')""")
    conn.commit()
    return conn


def control(proc, path: str = "state", method: str = "GET", **body):
    response = requests.request(method, f"{proc.url}/_sandbox/plentymarkets/{SYSTEM}{'/' + path if path else ''}",
                                json=body or None, timeout=10)
    response.raise_for_status()
    return response.json()


def orders_by_id(proc) -> dict[str, dict]:
    return {str(o["id"]): o for o in control(proc)["orders"]}


def history(order: dict) -> list[float]:
    """The statuses orderbridge (not the backend) set on one sandbox order, in order."""
    return [float(h["to"]) for h in order["history"] if h.get("source") != "backend"]


def rows(conn, sql: str, *args) -> list[tuple]:
    with conn.cursor() as cur:
        cur.execute(sql, args)
        return cur.fetchall()


def cycle(run_id: str) -> dict:
    return {
        "extract": run_task("plentymarkets", "extract_orders", ACCOUNT, run_id, "scheduled"),
        "load": run_task("plentymarkets", "load_staging", ACCOUNT, run_id),
        "returns": run_task("plentymarkets", "record_returns", ACCOUNT, run_id),
        "status": run_task("plentymarkets", "send_status", ACCOUNT, run_id),
        "tracking": run_task("plentymarkets", "post_tracking", ACCOUNT, run_id),
        "stock": run_task("plentymarkets", "push_stock", ACCOUNT, run_id, key=f"key-{run_id}"),
    }


def validate_against_spec(proc) -> int:
    from plentyspec import validate_exchanges

    exchanges = control(proc, "exchanges")
    return validate_exchanges(exchanges["exchanges"] if isinstance(exchanges, dict) else exchanges)


def staged(conn) -> dict[str, tuple]:
    return {r[0]: r[1:] for r in rows(conn, "SELECT external_order_id, status, status_reason, attention"
                                            " FROM staging.orders WHERE channel = 'plentymarkets'")}


def test_each_outcome_answers_its_status_once_and_orders_in_5_1_are_not_fetched_again(plenty, warehouse):
    first = cycle("run-1")
    sandbox_orders = orders_by_id(plenty)
    in_fetch_status = {i for i, o in sandbox_orders.items() if o["history"] and float(o["history"][0]["from"]) == 5}
    ours = staged(warehouse)
    assert in_fetch_status and in_fetch_status <= set(ours)  # every order offered in status 5 is staged
    expected = {"ready": 5.1, "invalid_address": 6.2, "awaiting_stock": 6.3}
    seen = set()
    for ext, (status, _reason, _attention) in ours.items():
        if status in expected:
            assert history(sandbox_orders[ext]) == [expected[status]], (ext, status)
            seen.add(status)
        elif status == "awaiting_mapping":
            assert history(sandbox_orders[ext]) == []  # stays in 5 until someone maps the SKU
    assert {"ready", "invalid_address"} <= seen
    assert first["status"]["sent"] == sum(1 for s, *_ in ours.values() if s in expected)

    second = cycle("run-2")
    assert second["extract"]["new_payloads"] == 0
    assert second["load"]["inserted"] == second["load"]["updated"] == 0
    assert second["status"]["claimed"] == 0
    # nothing in 5.1 comes back: only awaiting_mapping orders are still in the fetch status
    still_in_5 = {e for e, (s, *_) in ours.items() if s == "awaiting_mapping"}
    assert second["extract"]["payloads"] == len(still_in_5)
    assert all(len(history(o)) <= 1 for o in orders_by_id(plenty).values())
    validate_against_spec(plenty)


def test_not_enough_stock_sets_6_3_and_new_stock_releases_the_order_with_5_1(plenty, warehouse):
    with warehouse.cursor() as cur:
        cur.execute("UPDATE staging.stock_levels SET on_hand = 0 WHERE sku = 'WH-1001'")
    warehouse.commit()
    cycle("run-1")
    held = [e for e, (s, reason, _) in staged(warehouse).items() if s == "awaiting_stock"]
    assert held, "the sandbox's orders include WH-1001, so some must wait for stock"
    assert all("WH-1001" in staged(warehouse)[e][1] for e in held)
    assert all(history(orders_by_id(plenty)[e]) == [6.3] for e in held)

    with warehouse.cursor() as cur:
        cur.execute("UPDATE staging.stock_levels SET on_hand = 1000 WHERE sku = 'WH-1001'")
    warehouse.commit()
    cycle("run-2")
    after = orders_by_id(plenty)
    assert all(staged(warehouse)[e][0] == "ready" and history(after[e]) == [6.3, 5.1] for e in held)


def test_cancellation_before_picking_cancels_and_releases_stock_after_picking_flags_a_person(plenty, warehouse):
    cycle("run-1")
    ready = sorted(e for e, (s, *_) in staged(warehouse).items() if s == "ready")
    early, late = ready[0], ready[1]
    with warehouse.cursor() as cur:
        cur.execute("UPDATE staging.orders SET status = 'in_progress' WHERE external_order_id = %s", (late,))
    warehouse.commit()
    for ext in (early, late):
        control(plenty, f"orders/{ext}/status", "POST", statusId=8.0)
    reserved_before = rows(warehouse, """SELECT count(*) FROM staging.order_lines l JOIN staging.orders o
                                         ON o.id = l.order_id WHERE o.external_order_id = %s""", early)[0][0]
    assert reserved_before > 0

    cycle("run-2")
    now = staged(warehouse)
    assert now[early][0] == "cancelled" and now[early][2] is None
    assert now[late][0] == "in_progress" and "after the warehouse started" in now[late][2]
    after = orders_by_id(plenty)
    assert history(after[early])[-1] == 8.8 and history(after[late])[-1] == 8.8
    events = rows(warehouse, "SELECT external_order_id, event FROM staging.order_events WHERE event = 'cancel_refused'")
    assert events == [(late, "cancel_refused")]
    # the cancelled order no longer holds stock
    from orderbridge.stock import available

    with warehouse.cursor() as cur:
        free_with = available(cur)
        cur.execute("UPDATE staging.orders SET status = 'ready' WHERE external_order_id = %s", (early,))
        free_without = available(cur)
    warehouse.rollback()
    assert free_with != free_without

    cycle("run-3")  # nothing new: 8.8 was answered once
    assert history(orders_by_id(plenty)[early]).count(8.8) == 1


def test_a_cancellation_after_picking_is_answered_8_8_and_joins_the_attention_list_cancel_after_pick(plenty,
                                                                                                       warehouse):
    """Seed 003: 8.8 is set even when the order cannot be stopped. plenty then shows the order as
    cancelled while the warehouse still ships it: a person must stop the parcel, so it is flagged."""
    cycle("run-1")
    picked, shipped = sorted(e for e, (s, *_) in staged(warehouse).items() if s == "ready")[:2]
    with warehouse.cursor() as cur:
        cur.execute("UPDATE staging.orders SET status = 'in_progress' WHERE external_order_id = %s", (picked,))
        cur.execute("""INSERT INTO staging.shipments (order_id, courier_service, tracking_number)
                       SELECT id, 'GLS', 'PKG-LATE' FROM staging.orders WHERE external_order_id = %s""", (shipped,))
    warehouse.commit()
    cycle("run-2")  # the second one leaves as shipped
    for ext in (picked, shipped):
        control(plenty, f"orders/{ext}/status", "POST", statusId=8.0)

    cycle("run-3")
    now = staged(warehouse)
    assert (now[picked][0], now[shipped][0]) == ("in_progress", "shipped")
    assert all("Resolution" in now[ext][2] for ext in (picked, shipped))
    after = orders_by_id(plenty)
    assert history(after[picked])[-1] == history(after[shipped])[-1] == 8.8
    events = rows(warehouse, "SELECT external_order_id, detail FROM staging.order_events"
                             " WHERE event = 'cancel_refused' ORDER BY external_order_id")
    assert events == sorted([(picked, {"status": "in_progress", "reason": "cancel_after_pick"}),
                             (shipped, {"status": "shipped", "reason": "cancel_after_pick"})])


def test_shipped_orders_get_package_profile_and_shipped_status_once(plenty, warehouse):
    cycle("run-1")
    ready = sorted(e for e, (s, *_) in staged(warehouse).items() if s == "ready")[:3]
    with warehouse.cursor() as cur:
        for i, ext in enumerate(ready):
            cur.execute("""INSERT INTO staging.shipments (order_id, courier_service, tracking_number)
                           SELECT id, %s, %s FROM staging.orders WHERE external_order_id = %s""",
                        ("GLS" if i else "DHL Germany", f"PKG{i:04d}", ext))
    warehouse.commit()
    cycle("run-2")
    cycle("run-3")
    after = orders_by_id(plenty)
    for i, ext in enumerate(ready):
        assert [p["packageNumber"] for p in after[ext]["packages"]] == [f"PKG{i:04d}"]
        assert history(after[ext]) == [5.1, 7.0]
    assert all(staged(warehouse)[e][0] == "shipped" for e in ready)

    # A sales order the merchant moves to 9 by hand is not a return: returns are orders of their own.
    control(plenty, f"orders/{ready[0]}/status", "POST", statusId=9.0)
    cycle("run-4")
    assert staged(warehouse)[ready[0]][0] == "shipped"
    assert rows(warehouse, "SELECT 1 FROM staging.returns") == []


def payload(conn, external_id: str) -> dict:
    return rows(conn, "SELECT payload FROM raw.orders WHERE external_id = %s ORDER BY id DESC LIMIT 1",
                external_id)[0][0]


def returns_of(conn) -> list[tuple]:
    """(return id, sales order id it names, sales order it is linked to, channel status), by return id."""
    return rows(conn, """SELECT r.external_return_id, r.external_order_id, o.external_order_id, r.channel_status
                         FROM staging.returns r LEFT JOIN staging.orders o ON o.id = r.order_id
                         WHERE r.channel = 'plentymarkets' ORDER BY r.external_return_id::bigint""")


def returned_lines(conn, return_id: int) -> list[tuple]:
    """(staged sales order line, warehouse SKU, returned quantity) of one return, in channel units."""
    return rows(conn, """SELECT l.channel_line_id, l.warehouse_sku, rl.quantity
                         FROM staging.return_lines rl JOIN staging.returns r ON r.id = rl.return_id
                         JOIN staging.order_lines l ON l.order_id = r.order_id
                          AND l.channel_line_id = rl.order_channel_line_id AND l.component = 0
                         WHERE r.external_return_id = %s ORDER BY 1""", str(return_id))


def test_return_orders_are_read_by_their_own_type_and_linked_per_line_to_their_sales_orders(plenty, warehouse):
    run_task("plentymarkets", "extract_orders", ACCOUNT, "run-1", "scheduled")
    run_task("plentymarkets", "load_staging", ACCOUNT, "run-1")
    partial_of, full_of = sorted(e for e, (s, *_) in staged(warehouse).items() if s == "ready")[:2]
    with warehouse.cursor() as cur:  # the warehouse shipped both
        cur.execute("UPDATE staging.orders SET status = 'shipped' WHERE external_order_id IN (%s, %s)",
                    (partial_of, full_of))
    warehouse.commit()
    products = {ext: [i for i in payload(warehouse, ext)["orderItems"] if i["typeId"] == 1]
                for ext in (partial_of, full_of)}
    first = products[partial_of][0]
    partial = control(plenty, f"orders/{partial_of}/returns", "POST", returnPackageNumber="RET-0001",
                      quantities=[{"orderItemId": first["id"], "quantity": 1}])
    full = control(plenty, f"orders/{full_of}/returns", "POST")  # everything comes back

    extract = run_task("plentymarkets", "extract_orders", ACCOUNT, "run-2", "scheduled")
    assert extract["returns"] == 2  # read as return orders (orderType=3), not only as sales orders
    assert rows(warehouse, "SELECT external_id FROM raw.return_orders ORDER BY 1") == sorted(
        [(str(partial["id"]),), (str(full["id"]),)])
    before = staged(warehouse)
    run_task("plentymarkets", "load_staging", ACCOUNT, "run-2")
    assert staged(warehouse) == before  # a return order never becomes an order to ship
    recorded = run_task("plentymarkets", "record_returns", ACCOUNT, "run-2")
    assert (recorded["recorded"], recorded["linked"], recorded["waiting"]) == (2, 2, 0)
    assert returns_of(warehouse) == [(str(partial["id"]), partial_of, partial_of, "9"),
                                     (str(full["id"]), full_of, full_of, "9")]
    assert [(line, qty) for line, _sku, qty in returned_lines(warehouse, partial["id"])] == [(str(first["id"]), 1)]
    assert [(line, qty) for line, _sku, qty in returned_lines(warehouse, full["id"])] == sorted(
        (str(i["id"]), int(i["quantity"])) for i in products[full_of])
    assert all(sku for _line, sku, _qty in returned_lines(warehouse, full["id"]))
    assert {staged(warehouse)[e][0] for e in (partial_of, full_of)} == {"shipped"}

    # A return whose sales order is not staged yet (here: still waiting for payment) is kept, named,
    # and linked once the sales order arrives.
    later = control(plenty, "orders", "POST", n=1, statusId=3.0)["ids"][0]
    early = control(plenty, f"orders/{later}/returns", "POST")
    third = cycle("run-3")
    assert (third["returns"]["recorded"], third["returns"]["waiting"]) == (1, 1)
    assert returns_of(warehouse)[-1] == (str(early["id"]), str(later), None, "9")
    assert rows(warehouse, "SELECT event FROM staging.order_events WHERE external_order_id = %s",
                str(later)) == [("return_waiting",)]
    control(plenty, f"orders/{later}/status", "POST", statusId=5.0)
    fourth = cycle("run-4")
    assert (fourth["returns"]["recorded"], fourth["returns"]["linked"], fourth["returns"]["waiting"]) == (0, 1, 0)
    assert returns_of(warehouse)[-1] == (str(early["id"]), str(later), str(later), "9")
    assert returned_lines(warehouse, early["id"])

    # Reruns and a backfill over the whole period record nothing twice, and leave the watermark alone.
    history = rows(warehouse, "SELECT count(*) FROM staging.order_events")
    again = cycle("run-5")
    mark = rows(warehouse, "SELECT watermark FROM staging.sync_state WHERE stream = 'return_orders_window'")
    backfill = run_task("plentymarkets", "extract_orders", ACCOUNT, "backfill-1", "backfill",
                        ANCHOR - timedelta(days=3), datetime.now(UTC))
    assert backfill["returns"] == 3 and backfill["new_payloads"] == again["extract"]["new_payloads"] == 0
    assert rows(warehouse, "SELECT watermark FROM staging.sync_state WHERE stream = 'return_orders_window'") == mark
    replay = run_task("plentymarkets", "record_returns", ACCOUNT, "backfill-1")
    assert again["returns"]["recorded"] == replay["recorded"] == replay["linked"] == 0
    assert len(returns_of(warehouse)) == len(rows(warehouse, "SELECT DISTINCT external_id FROM raw.return_orders")) == 3
    assert rows(warehouse, "SELECT count(*) FROM staging.order_events") == history
    returned = {str(r["id"]) for r in (partial, full, early)}
    assert not returned & set(staged(warehouse))  # never staged as orders
    validate_against_spec(plenty)


def test_stock_is_written_as_absolute_levels_into_the_configured_storage_location(plenty, warehouse):
    cycle("run-1")
    st = control(plenty)
    corrections = [c for batch in st["stock_corrections"] for c in (batch.get("corrections") or [batch])]
    assert corrections and all(c["storageLocationId"] == 7 for c in corrections)
    pushed = dict(rows(warehouse, """SELECT payload->>'product_id', (payload->>'quantity')::int FROM staging.outbox
                                     WHERE channel = 'plentymarkets' AND kind = 'stock' AND status = 'sent'"""))
    assert {str(c["variationId"]): c["quantity"] for c in corrections} == {k: v for k, v in pushed.items()}
    # confirmed: the next reconciliation finds everything in sync and sends nothing
    again = cycle("run-2")["stock"]
    assert again["pushed"] == 0 and again["sent_claimed"] == 0


def test_an_expired_token_mid_run_means_one_fresh_login(plenty, warehouse):
    with PlentyClient(ACCOUNT.conn_id, ACCOUNT.name, backoff=0) as client:
        pages = client.iter_orders(client.settings.fetch_status, client.settings.fetch_status)
        first = next(pages)
        control(plenty, "expire-tokens", "POST")
        rest = [entry for page in pages for entry in page]
        assert client.stats["logins"] == 2 and client.stats["relogins"] == 1
    assert len(first) + len(rest) >= ORDERS - 3  # a few sandbox orders start outside status 5
    assert control(plenty)["sessions"]["live"] == 0  # close() logged out


def test_wrong_password_fails_at_once_with_a_resolution(sandbox, monkeypatch, warehouse):
    point_at(monkeypatch, sandbox, password="wrong")
    with pytest.raises(AuthError, match="Resolution") as err:
        run_task("plentymarkets", "extract_orders", ACCOUNT, "run-1", "scheduled")
    assert "wrong" not in str(err.value)


def test_429_waits_retry_after_without_spending_a_retry(plenty, warehouse):
    requests.post(f"{plenty.url}/_sandbox/faults", json={"channel": "plentymarkets", "kind": "429", "times": 2,
                                                         "retry_after": 1, "match": "/rest/orders"},
                  timeout=5).raise_for_status()
    first = run_task("plentymarkets", "extract_orders", ACCOUNT, "run-1", "scheduled")
    assert first["throttled"] == 2 and first["retried"] == 0 and first["payloads"] > 0


def test_the_read_budget_in_the_headers_is_respected_without_429(monkeypatch, conn):
    with start("--plenty-read-limit", "4", "--plenty-rate-window", "2") as proc:
        point_at(monkeypatch, proc, items_per_page=3)
        with PlentyClient(ACCOUNT.conn_id, ACCOUNT.name) as client:
            entries = [e for page in client.iter_orders(client.settings.fetch_status, client.settings.fetch_status)
                       for e in page]
            assert client.stats["budget_waits"] >= 1 and client.stats["throttled"] == 0
        assert len(entries) > 9  # more pages than one window's budget
        assert control(proc)["requests"]["429"] == 0


def test_an_order_told_5_1_keeps_its_stock_when_everything_is_transformed_again(plenty, warehouse):
    cycle("run-1")
    before = staged(warehouse)
    assert any(s == "ready" for s, *_ in before.values())
    with warehouse.cursor() as cur:  # the shelf empties, and a mapping fix re-reads all of raw
        cur.execute("UPDATE staging.stock_levels SET on_hand = 0")
        cur.execute("DELETE FROM staging.sync_state WHERE stream = 'transform'")
    warehouse.commit()
    again = run_task("plentymarkets", "load_staging", ACCOUNT, "run-2")
    assert again["updated"] == again["effects"] == 0
    assert staged(warehouse) == before  # promised orders stay ready: no 6.3 after a 5.1


def test_a_held_order_keeps_its_reason_while_other_skus_run_short_too(plenty, warehouse):
    with warehouse.cursor() as cur:
        cur.execute("UPDATE staging.stock_levels SET on_hand = 0 WHERE sku = 'WH-1001'")
    warehouse.commit()
    cycle("run-1")
    before = staged(warehouse)
    held = {e: reason for e, (s, reason, _) in before.items() if s == "awaiting_stock"}
    assert held and all(reason.count("needs") == 1 for reason in held.values())  # WH-1001 alone
    with warehouse.cursor() as cur:  # every shelf empties, and a mapping fix re-reads all of raw
        cur.execute("UPDATE staging.stock_levels SET on_hand = 0")
        cur.execute("DELETE FROM staging.sync_state WHERE stream = 'transform'")
    warehouse.commit()
    again = run_task("plentymarkets", "load_staging", ACCOUNT, "run-2")
    assert again["updated"] == again["effects"] == 0  # nothing rewritten, no second 6.3
    assert staged(warehouse) == before


def test_an_unreadable_return_is_kept_visible_and_a_readable_version_replaces_it(plenty, warehouse):
    from orderbridge.channels.plentymarkets import returns
    from orderbridge.channels.plentymarkets.mapping import PlentyMapper

    cycle("run-1")
    sale = sorted(staged(warehouse))[0]
    item = next(i for i in payload(warehouse, sale)["orderItems"] if i["typeId"] == 1)
    parent = {"originOrderId": int(sale), "referenceOrderId": int(sale), "referenceType": "parent"}
    broken = {"id": 777001, "typeId": 3, "statusId": 9, "orderItems": 5, "orderReferences": [parent]}
    with warehouse.cursor() as cur:
        assert returns.land(cur, ACCOUNT.name, [("777001", broken)], "run-2") == 1
    warehouse.commit()
    first = returns.record(warehouse, PlentyMapper(), ACCOUNT.name, "run-2")
    assert (first["recorded"], first["invalid"], first["linked"]) == (1, 1, 1)
    (detail,) = rows(warehouse, "SELECT detail FROM staging.returns WHERE external_return_id = '777001'")[0]
    assert detail["invalid_reason"] == "orderItems is not a list of objects: '5'"
    assert returns_of(warehouse) == [("777001", sale, sale, None)]  # on its order, for a person to see
    assert [e for (e,) in rows(warehouse, "SELECT event FROM staging.order_events WHERE event LIKE 'return%%'"
                                          " ORDER BY id")] == ["return_invalid", "return_recorded"]

    fixed = {**broken, "orderItems": [{"id": 777002, "typeId": 1, "quantity": 1, "itemVariationId":
                                       item["itemVariationId"], "variation": item["variation"]}]}
    with warehouse.cursor() as cur:  # no references[]: the line is found by its SKU on the staged order
        returns.land(cur, ACCOUNT.name, [("777001", fixed), ("777001", broken)], "run-3")
    warehouse.commit()
    second = returns.record(warehouse, PlentyMapper(), ACCOUNT.name, "run-3")
    assert (second["recorded"], second["updated"], second["invalid"]) == (0, 1, 0)
    assert returns_of(warehouse) == [("777001", sale, sale, "9")]
    assert [(line, qty) for line, _sku, qty in returned_lines(warehouse, 777001)] == [(str(item["id"]), 1)]
    assert returns.record(warehouse, PlentyMapper(), ACCOUNT.name, "run-4")["payloads"] == 0
