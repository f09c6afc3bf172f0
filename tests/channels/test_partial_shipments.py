"""Partial shipments, for every channel: an order leaving in two parcels, days apart; and migration 0006.

Against the sandbox over HTTP and a real PostgreSQL: what staging records of each parcel, the stock
the unshipped rest still reserves, ``partially_shipped`` then ``shipped``, what each channel's fake
received, and a parcel for more than remains refused with nothing recorded.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta

import psycopg2
import pytest
import requests
from alembic import command
from alembic.config import Config

from conftest import database_at, rows, run_task
from groupon_support import ACCOUNT as GROUPON
from groupon_support import SUPPLIER, TOKEN, use_sandbox
from merkana_support import OUR_TOKEN, PLATFORM, THEIR_TOKEN, inbound_fixture  # noqa: F401 (fixture `inbound`)
from orderbridge import db
from orderbridge.config import Account
from orderbridge.stock import available, owner_of
from orderbridge_sandbox.merkana import UNKNOWN_SKU_TEMPLATE
from orderbridge_sandbox.merkana import seed_warehouse as seed_merkana
from orderbridge_sandbox.process import start_sandbox
from orderbridge_sandbox.warehouse import seed_catalogue, ship_some

ANCHOR = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
T = 10


def ship(conn, ext: str, tracking: str, lines, courier: str, shipped_at: datetime | None = None) -> None:
    """Write one parcel as the warehouse does, and take what it carries off the shelf."""
    rows(conn, """INSERT INTO staging.shipments (order_id, courier_service, tracking_number, lines, shipped_at)
                  SELECT id, %s, %s, %s, coalesce(%s, now()) FROM staging.orders WHERE external_order_id = %s""",
         courier, tracking, None if lines is None else json.dumps(lines), shipped_at, ext)
    rows(conn, """UPDATE staging.stock_levels s SET on_hand = s.on_hand - q.n
                  FROM (SELECT l.warehouse_sku, sum(l.quantity * sl.quantity / l.channel_quantity) AS n
                        FROM staging.shipment_lines sl JOIN staging.shipments p ON p.id = sl.shipment_id
                        JOIN staging.order_lines l ON l.order_id = p.order_id AND l.channel_line_id = sl.channel_line_id
                        WHERE p.tracking_number = %s AND l.warehouse_sku IS NOT NULL GROUP BY 1) q
                  WHERE s.sku = q.warehouse_sku AND s.warehouse = 'main'""", tracking)


def split_candidate(conn, channel: str) -> tuple[str, str, int, str]:
    """A ready order with a plain line of 2 or more units: (order, line, quantity, warehouse SKU)."""
    found = rows(conn, """SELECT o.external_order_id, l.channel_line_id, l.channel_quantity, l.warehouse_sku
                          FROM staging.orders o JOIN staging.order_lines l ON l.order_id = o.id
                          WHERE o.channel = %s AND o.status = 'ready' AND l.status = 'open' AND l.channel_quantity > 1
                            AND l.quantity = l.channel_quantity AND l.bundle_sku IS NULL
                            AND NOT EXISTS (SELECT 1 FROM staging.order_lines x WHERE x.order_id = o.id
                                            AND x.channel_line_id = l.channel_line_id AND x.component > 0)
                          ORDER BY 1, 2 LIMIT 1""", channel)
    assert found, f"the seeded {channel} sandbox has an order with a line of 2+ units"
    return found[0]


def status_of(conn, ext: str) -> str:
    return rows(conn, "SELECT status FROM staging.orders WHERE external_order_id = %s", ext)[0][0]


def free(conn, sku: str, ext: str) -> int:
    """What the owner of order ``ext``'s account can still sell of ``sku``."""
    with conn.cursor() as cur:
        cur.execute("SELECT channel, account FROM staging.orders WHERE external_order_id = %s", (ext,))
        result = available(cur, owner=owner_of(cur, *cur.fetchone()))[sku]
    conn.rollback()
    return result


def refused(conn, ext: str, tracking: str, lines) -> str:
    """Write a parcel the database must refuse; returns the error text, having checked nothing stayed."""
    with pytest.raises(psycopg2.errors.CheckViolation) as err:
        ship(conn, ext, tracking, lines, "GLS")
    conn.rollback()
    assert rows(conn, "SELECT count(*) FROM staging.shipments WHERE tracking_number = %s", tracking) == [(0,)]
    return str(err.value)


# -- Groupon ----------------------------------------------------------------------------------------
@pytest.fixture
def groupon(monkeypatch, warehouse):
    with start_sandbox(["--seed", "42", "--groupon", f"{SUPPLIER}:{TOKEN}:30", "--anchor", ANCHOR.isoformat(),
                        "--days", "2"]) as proc:
        use_sandbox(monkeypatch, proc.port)
        yield proc


def groupon_line(proc, line_id: str) -> dict:
    st = requests.get(f"{proc.url}/_sandbox/groupon/{SUPPLIER}/state", timeout=T).json()
    return next(line for o in st["orders"] for e in o["entries"] for line in e["lines"]
                if str(line["ci_lineitemid"]) == line_id)


def test_groupon_gets_one_tracking_per_parcel_with_its_quantity_and_a_deadline_while_partial(groupon, warehouse):
    for task in ("extract_orders", "load_staging", "mark_exported"):
        run_task("groupon", task, GROUPON, "run-1", "scheduled" if task == "extract_orders" else None)
    ext, line, qty, sku = split_candidate(warehouse, "groupon")
    before = free(warehouse, sku, ext)
    first_parcel = datetime.now(UTC) - timedelta(days=3)

    ship(warehouse, ext, "RM100000001GB", {line: 1}, "Royal Mail Tracked", first_parcel)
    # The rest of the line is still promised to this order: shipping one unit frees nothing.
    assert free(warehouse, sku, ext) == before
    counts = run_task("groupon", "post_tracking", GROUPON, "run-2")
    assert (counts["lines_enqueued"], counts["orders_partially_shipped"], counts["orders_marked_shipped"]) == (1, 1, 0)
    assert status_of(warehouse, ext) == "partially_shipped"
    got = groupon_line(groupon, line)
    assert [(t["tracking"], t["quantity"]) for t in got["tracking"]] == [("RM100000001GB", 1)]
    assert got["status"] == "open"  # Groupon waits for the rest of the line
    deadline = (first_parcel + timedelta(days=14)).isoformat()
    attention, = rows(warehouse, "SELECT attention FROM staging.orders WHERE external_order_id = %s", ext)[0]
    assert deadline in attention and ext in attention
    assert rows(warehouse, "SELECT detail FROM staging.order_events WHERE event = 'needs_attention'"
                           " AND external_order_id = %s", ext) == [({"reason": "partially_shipped_deadline",
                                                                     "deadline": deadline},)]
    assert "remain" in refused(warehouse, ext, "RM-TOO-MANY", {line: qty})

    ship(warehouse, ext, "RM100000002GB", None, "Royal Mail Tracked")  # the rest, days later
    assert free(warehouse, sku, ext) == before
    counts = run_task("groupon", "post_tracking", GROUPON, "run-3")
    assert (counts["orders_partially_shipped"], counts["orders_marked_shipped"]) == (0, 1)
    got = groupon_line(groupon, line)
    assert [(t["tracking"], t["quantity"]) for t in got["tracking"]] == [("RM100000001GB", 1),
                                                                         ("RM100000002GB", qty - 1)]
    assert got["status"] == "ship"
    assert status_of(warehouse, ext) == "shipped"
    assert rows(warehouse, "SELECT attention FROM staging.orders WHERE external_order_id = %s", ext) == [(None,)]
    assert [e for e, in rows(warehouse, "SELECT event FROM staging.order_events WHERE external_order_id = %s"
                                        " AND event IN ('partially_shipped', 'shipped') ORDER BY id", ext)] == [
        "partially_shipped", "shipped"]

    run_task("groupon", "post_tracking", GROUPON, "run-4")  # a rerun posts nothing again
    assert len(groupon_line(groupon, line)["tracking"]) == 2


def test_a_parcel_for_more_than_remains_or_a_line_the_order_lacks_is_refused_naming_it(groupon, warehouse):
    run_task("groupon", "extract_orders", GROUPON, "run-1", "scheduled")
    run_task("groupon", "load_staging", GROUPON, "run-1")
    ext, line, qty, _sku = split_candidate(warehouse, "groupon")

    message = refused(warehouse, ext, "T-OVER", {line: qty + 1})
    assert ext in message and f"line {line}" in message and f"ship {qty + 1}" in message
    assert f"{qty} were ordered and 0 already shipped" in message
    assert "no line 999999" in refused(warehouse, ext, "T-UNKNOWN", ["999999"])
    assert "whole number above 0" in refused(warehouse, ext, "T-ZERO", {line: 0})
    assert "whole number above 0" in refused(warehouse, ext, "T-TEXT", {line: "two"})
    assert "JSON array" in refused(warehouse, ext, "T-SCALAR", "all")

    ship(warehouse, ext, "T-ALL", None, "GLS")  # the old form: every open line, whole
    assert "carries nothing" in refused(warehouse, ext, "T-AGAIN", None)
    assert "0 remain" in refused(warehouse, ext, "T-LINE-AGAIN", [line])
    assert rows(warehouse, "SELECT count(*) FROM staging.shipment_lines") == rows(
        warehouse, """SELECT count(DISTINCT l.channel_line_id) FROM staging.order_lines l
                      JOIN staging.orders o ON o.id = l.order_id WHERE o.external_order_id = %s
                      AND l.status = 'open'""", ext)
    # A recorded parcel's content is history: it cannot be edited behind the tracking's back.
    with pytest.raises(psycopg2.errors.CheckViolation, match="cannot change"):
        rows(warehouse, "UPDATE staging.shipments SET lines = '[]' WHERE tracking_number = 'T-ALL'")
    warehouse.rollback()


def test_the_simulated_warehouse_ships_some_orders_in_two_parcels_the_rest_on_its_next_call(groupon, warehouse):
    run_task("groupon", "extract_orders", GROUPON, "run-1", "scheduled")
    run_task("groupon", "load_staging", GROUPON, "run-1")
    unshipped = """SELECT o.external_order_id FROM staging.orders o JOIN staging.order_lines l ON l.order_id = o.id
                   AND l.status = 'open' AND l.component = 0 WHERE EXISTS (SELECT 1 FROM staging.shipments s
                   WHERE s.order_id = o.id) AND l.channel_quantity > (SELECT coalesce(sum(sl.quantity), 0)
                   FROM staging.shipment_lines sl JOIN staging.shipments p ON p.id = sl.shipment_id
                   WHERE p.order_id = o.id AND sl.channel_line_id = l.channel_line_id) GROUP BY 1 ORDER BY 1"""
    with warehouse.cursor() as cur:
        first = ship_some(cur, "groupon", GROUPON.name, share=1.0)
    warehouse.commit()
    partial = rows(warehouse, unshipped)
    assert 0 < len(partial) < first
    with warehouse.cursor() as cur:
        assert ship_some(cur, "groupon", GROUPON.name, share=1.0) == len(partial)
    warehouse.commit()
    assert rows(warehouse, unshipped) == []
    assert rows(warehouse, "SELECT max(n) FROM (SELECT count(*) AS n FROM staging.shipments GROUP BY order_id) c") == [
        (2,)]


# -- plentymarkets ----------------------------------------------------------------------------------
PLENTY = Account(channel="plentymarkets", name="demo_de", conn_id="orderbridge_plentymarkets_demo_de")
SYSTEM = "demo"


@pytest.fixture
def plenty(monkeypatch, conn):
    with conn.cursor() as cur:
        seed_catalogue(cur, "plentymarkets")
        cur.execute("INSERT INTO staging.carrier_codes (channel, courier_service, carrier_code)"
                    " VALUES ('plentymarkets', 'GLS', '8')")
    conn.commit()
    with start_sandbox(["--seed", "11", "--plentymarkets", f"{SYSTEM}:rest-user:pw:24", "--anchor",
                        ANCHOR.isoformat(), "--days", "2"]) as proc:
        monkeypatch.setenv("AIRFLOW_CONN_ORDERBRIDGE_PLENTYMARKETS_DEMO_DE", json.dumps({
            "conn_type": "http", "host": "127.0.0.1", "port": proc.port, "schema": "http", "login": "rest-user",
            "password": "pw", "extra": {"api_path": f"/plentymarkets/{SYSTEM}", "timeout": 5, "warehouse_id": 1,
                                        "storage_location_id": 7}}))
        yield proc


def plenty_order(proc, ext: str) -> dict:
    st = requests.get(f"{proc.url}/_sandbox/plentymarkets/{SYSTEM}/state", timeout=T).json()
    return next(o for o in st["orders"] if str(o["id"]) == ext)


def plenty_cycle(run_id: str) -> None:
    run_task("plentymarkets", "extract_orders", PLENTY, run_id, "scheduled")
    for task in ("load_staging", "send_status", "post_tracking"):
        run_task("plentymarkets", task, PLENTY, run_id)


def test_plentymarkets_gets_a_package_per_parcel_and_status_7_only_when_complete(plenty, conn):
    plenty_cycle("run-1")
    ext, line, qty, sku = split_candidate(conn, "plentymarkets")
    before = free(conn, sku, ext)

    ship(conn, ext, "PKG-1", {line: 1}, "GLS", datetime.now(UTC) - timedelta(days=2))
    assert free(conn, sku, ext) == before
    plenty_cycle("run-2")
    order = plenty_order(plenty, ext)
    assert [p["packageNumber"] for p in order["packages"]] == ["PKG-1"]
    ours = [float(h["to"]) for h in order["history"] if h.get("source") != "backend"]
    assert 7.0 not in ours and ours[-1] == 5.1  # no "partly shipped" status by default
    assert status_of(conn, ext) == "partially_shipped"
    assert rows(conn, "SELECT attention FROM staging.orders WHERE external_order_id = %s", ext) == [(None,)]

    ship(conn, ext, "PKG-2", None, "GLS")
    assert free(conn, sku, ext) == before
    plenty_cycle("run-3")
    plenty_cycle("run-4")
    order = plenty_order(plenty, ext)
    assert [p["packageNumber"] for p in order["packages"]] == ["PKG-1", "PKG-2"]
    ours = [float(h["to"]) for h in order["history"] if h.get("source") != "backend"]
    assert ours.count(7.0) == 1 and ours[-1] == 7.0
    assert status_of(conn, ext) == "shipped"


def test_plentymarkets_partly_shipped_status_is_set_when_configured(plenty, conn, monkeypatch):
    plenty_cycle("run-1")
    ext, line, _qty, _sku = split_candidate(conn, "plentymarkets")
    extra = json.loads(os.environ["AIRFLOW_CONN_ORDERBRIDGE_PLENTYMARKETS_DEMO_DE"])
    extra["extra"]["status_partly_shipped"] = 6  # "Gerade im Versand"
    monkeypatch.setenv("AIRFLOW_CONN_ORDERBRIDGE_PLENTYMARKETS_DEMO_DE", json.dumps(extra))
    ship(conn, ext, "PKG-1", {line: 1}, "GLS")
    plenty_cycle("run-2")
    ours = [float(h["to"]) for h in plenty_order(plenty, ext)["history"] if h.get("source") != "backend"]
    assert ours[-1] == 6.0 and 7.0 not in ours


# -- Merkana ----------------------------------------------------------------------------------------
MERKANA = Account(channel="merkana", name=PLATFORM, conn_id="orderbridge_merkana_demo")


@pytest.fixture
def merkana(inbound, conn):
    with start_sandbox(["--seed", "5", "--merkana", f"{PLATFORM}:{OUR_TOKEN}:{THEIR_TOKEN}"]) as proc:
        url = inbound(proc.port, unknown_product_sku=UNKNOWN_SKU_TEMPLATE)
        with conn.cursor() as cur:
            seed_merkana(cur, mids=(293,))
        conn.commit()
        answer = requests.post(f"{proc.url}/_sandbox/merkana/{PLATFORM}/replay", timeout=30,
                               json={"target": url, "mid": 293, "orders": 12, "duplicates": 0, "cancels": 0,
                                     "unknown_rate": 0})
        answer.raise_for_status()
        yield proc


def merkana_updates(proc, ext: str) -> list[tuple]:
    st = requests.get(f"{proc.url}/_sandbox/merkana/{PLATFORM}/state", timeout=T).json()
    return sorted((u["status"], u["awb"]) for u in st["status_updates"] if u["idextern"] == ext)


def test_merkana_hears_each_parcel_with_its_awb_and_send_only_when_complete(merkana, conn):
    ext, line, _qty, sku = split_candidate(conn, "merkana")
    before = free(conn, sku, ext)

    ship(conn, ext, "AWB-1", {line: 1}, "GLS", datetime.now(UTC) - timedelta(days=1))
    assert free(conn, sku, ext) == before
    counts = run_task("merkana", "post_status_updates", MERKANA, "run-1")
    assert counts["orders_partially_shipped"] == 1
    assert merkana_updates(merkana, ext) == [("processing", "AWB-1")]
    assert rows(conn, "SELECT DISTINCT payload->>'courier' FROM staging.outbox WHERE kind = 'order_status'") == [
        ("gls",)]
    assert status_of(conn, ext) == "partially_shipped"

    ship(conn, ext, "AWB-2", None, "GLS")
    assert free(conn, sku, ext) == before
    run_task("merkana", "post_status_updates", MERKANA, "run-2")
    run_task("merkana", "post_status_updates", MERKANA, "run-3")
    assert merkana_updates(merkana, ext) == [("processing", "AWB-1"), ("send", "AWB-1"), ("send", "AWB-2")]
    assert status_of(conn, ext) == "shipped"


# -- migration 0006 on what 0005-era code wrote ---------------------------------------------------
def test_0006_resolves_old_parcels_into_lines_and_rekeys_posted_tracking_so_nothing_is_posted_again(pg):
    name = "t_migrate_0006"
    dsn = database_at(pg, name, "0005")
    conn = db.connect(dsn)
    try:
        order_id = rows(conn, """INSERT INTO staging.orders (channel, account, external_order_id, status, content_hash)
                                  VALUES ('groupon', 'uk', 'GG-1#10', 'shipped', 'x') RETURNING id""")[0][0]
        rows(conn, """INSERT INTO staging.order_lines (order_id, channel_line_id, channel_sku, warehouse_sku,
                           quantity, channel_quantity, status)
                       VALUES (%s, '10', 'A', 'A', 2, 2, 'open'), (%s, '11', 'B', 'B', 1, 1, 'open'),
                              (%s, '12', 'C', 'C', 1, 1, 'cancelled')""", order_id, order_id, order_id)
        # 0005-era parcels: the whole order, then the same line again (it was ignored then).
        rows(conn, """INSERT INTO staging.shipments (order_id, courier_service, tracking_number, lines)
                       VALUES (%s, 'DPD UK', 'T1', NULL), (%s, 'DPD UK', 'T2', %s)""",
              order_id, order_id, json.dumps(["10"]))
        for line in ("10", "11"):
            rows(conn, """INSERT INTO staging.outbox (channel, account, kind, idempotency_key, order_id, payload,
                               status) VALUES ('groupon', 'uk', 'tracking', %s, %s, '{}', 'sent')""",
                  f"groupon:uk:tracking:{line}", order_id)

        db.migrate(dsn)

        assert rows(conn, """SELECT s.tracking_number, sl.channel_line_id, sl.quantity FROM staging.shipment_lines sl
                              JOIN staging.shipments s ON s.id = sl.shipment_id ORDER BY 1, 2""") == [
            ("T1", "10", 2), ("T1", "11", 1)]
        assert [k for k, in rows(conn, "SELECT idempotency_key FROM staging.outbox ORDER BY 1")] == [
            "groupon:uk:tracking:10:T1", "groupon:uk:tracking:11:T1"]
        rows(conn, "UPDATE staging.orders SET status = 'partially_shipped' WHERE id = %s", order_id)

        cfg = Config()
        cfg.set_main_option("script_location", str(db.resources.files("orderbridge") / "migrations"))
        cfg.set_main_option("sqlalchemy.url", db.sqlalchemy_url(dsn).replace("%", "%%"))
        command.downgrade(cfg, "0005")
        assert [k for k, in rows(conn, "SELECT idempotency_key FROM staging.outbox ORDER BY 1")] == [
            "groupon:uk:tracking:10", "groupon:uk:tracking:11"]
        assert rows(conn, "SELECT status FROM staging.orders") == [("shipped",)]
        db.migrate(dsn)
    finally:
        conn.close()
        pg.sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
