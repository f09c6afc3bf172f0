"""What we post back to Merkana, end to end: the fake platform (sandbox child process) sends its
calls to our endpoints (uvicorn on loopback), the simulated warehouse works, and the same job
functions the DAG tasks call post status updates and stock to the fake, through the outbox.
"""

from __future__ import annotations

import pytest
import requests

from conftest import run_task
from merkana_support import OUR_TOKEN, PLATFORM, THEIR_TOKEN, inbound_fixture, replayer, sql  # noqa: F401
from orderbridge import stock
from orderbridge.channels.merkana.client import MerkanaClient
from orderbridge.channels.merkana.settings import PlatformSettings
from orderbridge.config import Account
from orderbridge.errors import Permanent, Retryable
from orderbridge_sandbox.merkana import UNKNOWN_SKU_TEMPLATE, catalogue, seed_warehouse
from orderbridge_sandbox.process import start_sandbox

ACCOUNT = Account(channel="merkana", name=PLATFORM, conn_id="orderbridge_merkana_demo")
T = 30


@pytest.fixture
def sandbox(request):
    """The fake platform; ``@pytest.mark.parametrize("sandbox", ["delta"], indirect=True)`` makes it
    apply ``br`` as a change (default: as the level, as orderbridge assumes)."""
    mode = getattr(request, "param", None)
    with start_sandbox(["--seed", "5", "--merkana", f"{PLATFORM}:{OUR_TOKEN}:{THEIR_TOKEN}"]
                       + (["--merkana-stock-mode", mode] if mode else [])) as proc:
        yield proc


@pytest.fixture
def platform(sandbox, inbound, conn):
    """Our endpoints and the fake platform wired both ways; the demo warehouse seeded. Returns a
    replay function: ``replay(mid, **spec)`` sends the platform's calls to us. Our connection's
    ``stock_mode`` is the one the fake applies only when the fake was started with one."""
    mode = requests.get(f"{sandbox.url}/_sandbox/merkana", timeout=T).json()["stock_mode"]
    url = inbound(sandbox.port, unknown_product_sku=UNKNOWN_SKU_TEMPLATE,
                  **({"stock_mode": mode} if mode != PlatformSettings.model_fields["stock_mode"].default else {}))
    with conn.cursor() as cur:
        seed_warehouse(cur, mids=(293, 294, 295, 296, 297))
    conn.commit()
    return replayer(sandbox.url, url)


def state(sandbox) -> dict:
    return requests.get(f"{sandbox.url}/_sandbox/merkana/{PLATFORM}/state", timeout=T).json()


def fault(sandbox, **rule) -> None:
    requests.post(f"{sandbox.url}/_sandbox/faults", json={"channel": "merkana", **rule}, timeout=T).raise_for_status()


def fired(sandbox) -> int:
    return sum(r["fired"] for r in requests.get(f"{sandbox.url}/_sandbox/faults", timeout=T).json()["rules"])


def ship(conn, ext: str, courier: str, tracking: str) -> None:
    sql(conn, "INSERT INTO staging.shipments (order_id, courier_service, tracking_number)"
              " SELECT id, %s, %s FROM staging.orders WHERE external_order_id = %s", courier, tracking, ext)


def order_ids(conn, status: str = "ready") -> list[str]:
    return [r[0] for r in sql(conn, "SELECT external_order_id FROM staging.orders WHERE status = %s ORDER BY 1",
                              status)]


def updates(sandbox) -> set[tuple]:
    return {(u["idextern"], u["status"], u["awb"]) for u in state(sandbox)["status_updates"]}


def test_status_updates_are_batched_carry_the_parcel_and_are_posted_once(sandbox, platform, conn):
    replay = platform(293, orders=6, duplicates=2, cancels=1)
    assert all(o["answer"] == {"status": True} for o in replay["orders"])
    cancelled = replay["cancels"][0]["id"]
    a, b, c = order_ids(conn)[:3]
    sql(conn, "UPDATE staging.orders SET status = 'in_progress' WHERE external_order_id = %s", a)
    ship(conn, b, "DPD UK", "TRK-B")
    ship(conn, c, "GLS", "TRK-C")

    counts = run_task("merkana", "post_status_updates", ACCOUNT, "run-1")
    assert (counts["orders_marked_shipped"], counts["sent_sent"], counts["sent_batches"]) == (2, 4, 1)
    st = state(sandbox)
    assert st["status_posts"] == 1  # one ff-orders-status call carried all four orders
    assert {(u["idextern"], u["status"], u["awb"]) for u in st["status_updates"]} == {
        (cancelled, "cancelled", None), (a, "processing", None), (b, "send", "TRK-B"), (c, "send", "TRK-C")}
    couriers = {u["idextern"]: u for u in st["status_updates"]}
    assert {sql(conn, "SELECT payload->>'courier' FROM staging.outbox o JOIN staging.orders d ON d.id = o.order_id"
                      " WHERE d.external_order_id = %s", x)[0][0] for x in (b, c)} == {"dpd", "gls"}
    assert couriers[b]["times"] == 1

    # Our settings travel in the connection's extras; none of them (the inbound secret!) is a header.
    session = MerkanaClient(ACCOUNT.conn_id, ACCOUNT.name).session
    assert OUR_TOKEN not in session.headers.values()
    assert not {h.lower() for h in session.headers} & {"inbound_token", "merchants", "unknown_product_sku",
                                                       "stock_mode", "api_path", "timeout"}

    again = run_task("merkana", "post_status_updates", ACCOUNT, "run-2")
    assert (again["status_updates_enqueued"], again["sent_claimed"]) == (0, 0)
    assert state(sandbox)["status_posts"] == 1 and state(sandbox)["posted_twice"] == 0
    assert sql(conn, "SELECT status FROM staging.orders WHERE external_order_id = %s", b) == [("shipped",)]


def blocked_events(conn) -> list[tuple]:
    return sql(conn, "SELECT external_order_id, message FROM staging.order_events WHERE event = 'tracking_blocked'"
                     " ORDER BY id")


def test_an_unmapped_courier_holds_back_the_parcel_with_a_resolution_while_the_status_goes(sandbox, platform, conn):
    platform(293, orders=2, duplicates=0, cancels=0, unknown_rate=0)
    a, b = order_ids(conn)
    ship(conn, a, "Local Van Courier", "TRK-LV")  # seed_warehouse maps DPD UK, DHL Germany and GLS only
    ship(conn, b, "GLS", "TRK-G")

    counts = run_task("merkana", "post_status_updates", ACCOUNT, "run-1")
    assert counts["orders_marked_shipped"] == 2
    # a is shipped on Merkana at once, without a parcel; the warehouse's name is never posted.
    assert updates(sandbox) == {(a, "send", None), (b, "send", "TRK-G")}
    assert sql(conn, "SELECT count(*) FROM staging.outbox WHERE payload->>'courier' = 'Local Van Courier'"
                     " OR payload->>'awb' = 'TRK-LV'") == [(0,)]
    [(order, message)] = blocked_events(conn)
    assert order == a and "Local Van Courier" in message and "Resolution: INSERT INTO staging.carrier_codes" in message
    assert "('merkana', 'Local Van Courier', " in message

    run_task("merkana", "post_status_updates", ACCOUNT, "run-2")  # told once, not once per run; nothing posted again
    assert len(blocked_events(conn)) == 1 and state(sandbox)["status_posts"] == 1

    sql(conn, "INSERT INTO staging.carrier_codes (channel, courier_service, carrier_code)"
              " VALUES ('merkana', 'Local Van Courier', 'local-van')")
    counts = run_task("merkana", "post_status_updates", ACCOUNT, "run-3")
    assert counts["sent_sent"] == 1  # the parcel follows, with Merkana's name for the courier
    assert updates(sandbox) == {(a, "send", None), (a, "send", "TRK-LV"), (b, "send", "TRK-G")}
    assert sql(conn, "SELECT payload->>'courier' FROM staging.outbox WHERE payload->>'awb' = 'TRK-LV'") \
        == [("local-van",)]
    assert state(sandbox)["posted_twice"] == 0 and len(blocked_events(conn)) == 1


def test_platforms_that_take_any_courier_name_get_the_warehouse_service_name(sandbox, platform, inbound, conn):
    platform(293, orders=1, duplicates=0, cancels=0, unknown_rate=0)
    inbound(sandbox.port, unknown_product_sku=UNKNOWN_SKU_TEMPLATE, unmapped_courier="service_name")
    [a] = order_ids(conn)
    ship(conn, a, "Local Van Courier", "TRK-LV")
    run_task("merkana", "post_status_updates", ACCOUNT, "run-1")
    assert updates(sandbox) == {(a, "send", "TRK-LV")}
    assert sql(conn, "SELECT payload->>'courier' FROM staging.outbox") == [("Local Van Courier",)]
    assert blocked_events(conn) == []


@pytest.mark.parametrize("value", ["send", "", 1])
def test_unmapped_courier_accepts_block_or_service_name_only(value):
    extra = {"unmapped_courier": value}
    with pytest.raises(Permanent, match="extra unmapped_courier .*Resolution"):
        PlatformSettings.from_extra(PLATFORM, ACCOUNT.conn_id, extra)
    assert PlatformSettings.from_extra(PLATFORM, ACCOUNT.conn_id, {}).unmapped_courier == "block"


def test_a_failing_platform_gets_six_attempts_then_rows_fail_visibly_and_a_rerun_sends_only_the_unsent(
        sandbox, platform, conn):
    platform(294, orders=3, duplicates=0, cancels=0)
    first, second, third = order_ids(conn)
    ship(conn, first, "GLS", "TRK-1")
    run_task("merkana", "post_status_updates", ACCOUNT, "run-0")  # first update goes through
    fault(sandbox, match="ff-orders-status", kind="500")
    ship(conn, second, "GLS", "TRK-2")

    with pytest.raises(Retryable, match="HTTP 500"):
        run_task("merkana", "post_status_updates", ACCOUNT, "run-1")
    assert fired(sandbox) == 1  # one request per attempt: the outbox counts them
    # A rerun before the 10 minutes are up sends nothing, and the task stays red: the row waits.
    with pytest.raises(Retryable, match="wait for attempt 2 of 6"):
        run_task("merkana", "post_status_updates", ACCOUNT, "run-1")
    assert fired(sandbox) == 1
    for attempt in range(2, 7):  # the 10 minutes pass
        sql(conn, "UPDATE staging.outbox SET next_attempt_at = now() - interval '1 second' WHERE status = 'pending'")
        with pytest.raises(Retryable):
            run_task("merkana", "post_status_updates", ACCOUNT, f"run-{attempt}")
    assert fired(sandbox) == 6
    row = sql(conn, "SELECT status, attempts, last_error FROM staging.outbox WHERE payload->>'awb' = 'TRK-2'")
    assert row[0][:2] == ("failed", 6) and "HTTP 500" in row[0][2]
    history = [r[0] for r in sql(conn, "SELECT message FROM staging.order_events WHERE event = "
                                       "'order_status_attempt_failed' ORDER BY id")]
    assert len(history) == 6 and history[-1].startswith("gave up after 6 attempts")
    # failed rows are left for a person: nothing more is tried
    run_task("merkana", "post_status_updates", ACCOUNT, "run-7")
    assert fired(sandbox) == 6

    requests.delete(f"{sandbox.url}/_sandbox/faults", timeout=T).raise_for_status()
    ship(conn, third, "GLS", "TRK-3")
    counts = run_task("merkana", "post_status_updates", ACCOUNT, "run-8")
    assert counts["sent_sent"] == 1
    assert updates(sandbox) == {(first, "send", "TRK-1"), (third, "send", "TRK-3")}
    # A person fixed the cause and triggers the DAG with resend_failed: only the failed row goes.
    counts = run_task("merkana", "post_status_updates", ACCOUNT, "run-9", resend_failed=True)
    assert (counts["requeued"], counts["sent_sent"]) == (1, 1)
    assert updates(sandbox) == {(first, "send", "TRK-1"), (second, "send", "TRK-2"), (third, "send", "TRK-3")}
    assert state(sandbox)["posted_twice"] == 0


def ours(conn, mid: int) -> dict[str, int]:
    """What the warehouse can offer merchant ``mid`` per Merkana SKU of the demo catalogue."""
    with conn.cursor() as cur:
        avail = stock.available(cur, owner=str(mid))
    conn.commit()
    return {p.sku: avail[p.warehouse_sku] for p in catalogue()}


@pytest.mark.parametrize("sandbox", ["delta"], indirect=True)
def test_stock_changes_post_deltas_and_an_audit_posts_a_negative_one(sandbox, platform, conn):
    answer = platform(295, steps=["products", "stock"])
    baseline = {s["sku"]: s["br"] for s in answer["stock"][1]["stock"]}
    assert baseline == ours(conn, 295)
    assert state(sandbox)["merchants"]["295"]["stock"] == baseline
    platform(295, steps=["orders"], orders=5, duplicates=1, unknown_rate=0)

    counts = run_task("merkana", "push_stock", ACCOUNT, "run-1", key="k1")
    assert counts["sent_batches"] == 1 and counts["sent_sent"] == counts["pushed"] > 0
    st = state(sandbox)
    assert all(p["br"] < 0 for p in st["supplies"][0]["products"])  # orders reserve stock: deltas down
    assert st["merchants"]["295"]["stock"] == ours(conn, 295)
    assert dict(sql(conn, "SELECT channel_sku, confirmed_stock FROM staging.channel_products")) == ours(conn, 295)

    sql(conn, "UPDATE staging.stock_levels SET on_hand = on_hand - 3 WHERE sku = 'WH-1012'")  # audit: 3 missing
    run_task("merkana", "push_stock", ACCOUNT, "run-2", key="k2")
    st = state(sandbox)
    assert st["supplies"][-1] == {"mid": 295, "products": [{"sku": "MK-2002", "br": -3}]}
    assert st["merchants"]["295"]["stock"] == ours(conn, 295)

    run_task("merkana", "push_stock", ACCOUNT, "run-2-rerun", key="k2")
    run_task("merkana", "push_stock", ACCOUNT, "run-3", key="k3")
    assert len(state(sandbox)["supplies"]) == 2  # nothing changed: nothing posted


@pytest.mark.parametrize("sandbox", ["delta"], indirect=True)
def test_a_refused_stock_post_is_not_confirmed_and_the_retry_applies_it_once(sandbox, platform, conn):
    platform(296, steps=["products", "stock"])
    before = dict(sql(conn, "SELECT channel_sku, confirmed_stock FROM staging.channel_products"))
    sql(conn, "UPDATE staging.stock_levels SET on_hand = on_hand + 10 WHERE sku = 'WH-1001'")  # goods received
    fault(sandbox, match="ff-supplies", kind="500", times=1)
    with pytest.raises(Retryable):
        run_task("merkana", "push_stock", ACCOUNT, "run-1", key="k1")
    assert dict(sql(conn, "SELECT channel_sku, confirmed_stock FROM staging.channel_products")) == before
    with pytest.raises(Retryable, match="wait for attempt 2"):
        run_task("merkana", "push_stock", ACCOUNT, "run-1", key="k1")
    sql(conn, "UPDATE staging.outbox SET next_attempt_at = now() WHERE status = 'pending'")
    counts = run_task("merkana", "push_stock", ACCOUNT, "run-1", key="k1")
    assert counts["sent_sent"] == 1
    st = state(sandbox)
    assert st["supplies"] == [{"mid": 296, "products": [{"sku": "WH-1001", "br": 10}]}]
    assert st["merchants"]["296"]["stock"] == ours(conn, 296)
    assert dict(sql(conn, "SELECT channel_sku, confirmed_stock FROM staging.channel_products"))["WH-1001"] \
        == before["WH-1001"] + 10


@pytest.mark.parametrize("sandbox", ["delta"], indirect=True)
def test_changes_waiting_to_be_sent_are_dropped_once_merkana_shows_the_level_anyway(sandbox, platform, conn):
    platform(297, steps=["products", "stock"])
    fault(sandbox, match="ff-supplies", kind="500")

    def waiting_push(run: str) -> None:
        with pytest.raises(Retryable):
            run_task("merkana", "push_stock", ACCOUNT, run, key=run)

    # Goods arrive, the post fails and waits; then Merkana asks for the initial stock again: the
    # answer carries the new level, so the waiting +5 must not be applied on top of it.
    sql(conn, "UPDATE staging.stock_levels SET on_hand = on_hand + 5 WHERE sku = 'WH-1001'")
    waiting_push("k1")
    platform(297, steps=["stock"])
    # Another arrival waits, then the goods are found to be wrong and go back: back in sync.
    sql(conn, "UPDATE staging.stock_levels SET on_hand = on_hand + 4 WHERE sku = 'WH-1002'")
    waiting_push("k2")
    sql(conn, "UPDATE staging.stock_levels SET on_hand = on_hand - 4 WHERE sku = 'WH-1002'")

    requests.delete(f"{sandbox.url}/_sandbox/faults", timeout=T).raise_for_status()
    sql(conn, "UPDATE staging.outbox SET next_attempt_at = now() WHERE status = 'pending'")
    counts = run_task("merkana", "push_stock", ACCOUNT, "run-3", key="k3")
    assert counts["sent_claimed"] == 0
    assert state(sandbox)["supplies"] == []
    assert state(sandbox)["merchants"]["297"]["stock"] == ours(conn, 297)
    assert {r[0] for r in sql(conn, "SELECT status FROM staging.outbox")} == {"superseded"}
