"""The fake Merkana platform over real HTTP: its API for our posts, faults, and its replay of the
collection's calls against a recording stand-in for our endpoints."""

from __future__ import annotations

import pytest
import requests
from fastapi import FastAPI, Request

from merkana_support import LoopbackServer, collection_bodies
from orderbridge_sandbox.merkana import UNSYNCED, MerkanaOrderFactory, PlatformSpec, catalogue
from orderbridge_sandbox.process import start_sandbox

T = 10
THEIRS = {"api-token": "theirs-1"}


@pytest.fixture(scope="module")
def sandbox():
    with start_sandbox(["--seed", "3", "--merkana", "one:ours-1:theirs-1", "--merkana", "two:ours-2:theirs-2"]) as proc:
        yield proc


@pytest.fixture
def faults(sandbox):
    url = f"{sandbox.url}/_sandbox/faults"
    requests.delete(url, timeout=T)
    yield url
    requests.delete(url, timeout=T)


def state(sandbox, platform: str = "one") -> dict:
    return requests.get(f"{sandbox.url}/_sandbox/merkana/{platform}/state", timeout=T).json()


def test_posts_without_the_platforms_token_get_the_seeds_error_body(sandbox):
    body = collection_bodies()["status"]
    for headers in ({}, {"api-token": "nope"}, {"api-token": "ours-1"}):
        answer = requests.post(f"{sandbox.url}/merkana/v1/ff-orders-status", json=body, headers=headers, timeout=T)
        assert answer.status_code == 401
        assert answer.json()["status"] is False and answer.json()["message"]
    assert state(sandbox)["status_posts"] == 0


def test_status_updates_are_recorded_per_platform_and_repeats_counted(sandbox):
    body = collection_bodies()["status"]  # {"orders": [{"idextern": "244", "status": "send", ...}]}
    for _ in range(2):
        answer = requests.post(f"{sandbox.url}/merkana/v1/ff-orders-status", json=body, headers=THEIRS, timeout=T)
        assert answer.json() == {"status": True}
    st = state(sandbox)
    assert st["status_updates"] == [{"idextern": "244", "status": "send", "awb": None, "times": 2}]
    assert st["posted_twice"] == 1 and state(sandbox, "two")["status_posts"] == 0
    bad = requests.post(f"{sandbox.url}/merkana/v1/ff-orders-status", json={"orders": [{"status": "send"}]},
                        headers=THEIRS, timeout=T)
    assert bad.status_code == 422 and "idextern" in bad.json()["message"]


@pytest.mark.parametrize(("mode", "expected"), [(None, {"BS20950": -3, "CW11006": 1}),
                                                ("delta", {"BS20950": -1, "CW11006": 1})])
def test_supplies_are_applied_as_levels_or_as_deltas_per_merchant(mode, expected):
    body = collection_bodies()["supplies"]  # mid 293: BS20950 2, CW11006 1
    headers = {"api-token": "theirs-2"}
    with start_sandbox(["--seed", "3", "--merkana", "two:ours-2:theirs-2"]
                       + (["--merkana-stock-mode", mode] if mode else [])) as sandbox:
        for products in (body["products"], [{"sku": "BS20950", "br": -3}]):
            answer = requests.post(f"{sandbox.url}/merkana/v1/ff-supplies", json={"mid": 293, "products": products},
                                   headers=headers, timeout=T)
            assert answer.json() == {"status": True}
        assert state(sandbox, "two")["merchants"]["293"]["stock"] == expected


def test_supplies_refuse_a_br_that_is_not_a_number(sandbox):
    headers = {"api-token": "theirs-2"}
    bad = requests.post(f"{sandbox.url}/merkana/v1/ff-supplies", json={"mid": 293, "products": [{"sku": "A",
                        "br": "many"}]}, headers=headers, timeout=T)
    assert bad.status_code == 422 and "br" in bad.json()["message"]


def test_the_platform_can_be_told_to_fail(sandbox, faults):
    requests.post(faults, json={"channel": "merkana", "match": "ff-supplies", "kind": "500", "times": 1}, timeout=T)
    body = {"mid": 7, "products": [{"sku": "A", "br": 1}]}
    first = requests.post(f"{sandbox.url}/merkana/v1/ff-supplies", json=body, headers=THEIRS, timeout=T)
    second = requests.post(f"{sandbox.url}/merkana/v1/ff-supplies", json=body, headers=THEIRS, timeout=T)
    assert (first.status_code, second.status_code) == (500, 200)
    assert state(sandbox)["merchants"]["7"]["stock"] == {"A": 1}


@pytest.fixture
def recorder():
    """A stand-in for our endpoints: records every call and answers like us."""
    calls: list[tuple[str, dict | None, str | None]] = []
    app = FastAPI()

    @app.post("/merkana/one/{path}")
    async def record(path: str, request: Request) -> dict:
        body = await request.json()
        calls.append((path, body, request.headers.get("api-token")))
        if path == "stock":
            return {"status": True, "mid": body["mid"], "stock": [{"sku": p.sku, "br": 5} for p in catalogue()]}
        return {"status": True}

    with LoopbackServer(app) as server:
        yield f"{server.url}/merkana/one", calls


def test_replay_sends_the_collections_four_calls_with_generated_orders(sandbox, recorder):
    target, calls = recorder
    answer = requests.post(f"{sandbox.url}/_sandbox/merkana/one/replay", timeout=60, json={
        "target": target, "mid": 4755, "orders": 30, "duplicates": 3, "cancels": 2, "unknown_rate": 0.3}).json()
    assert answer["ok"] is True
    assert {token for _, _, token in calls} == {"ours-1"}
    paths = [path for path, _, _ in calls]
    assert paths[:2] == ["sync_products", "stock"] and paths.count("save_order") == 33 and paths[-2:] == [
        "cancel_order", "cancel_order"]
    sync = calls[0][1]
    assert sync["mid"] == 4755 and {p["sku"] for p in sync["products"]} == {p.sku for p in catalogue()}
    assert set(collection_bodies()["product_sync"]["products"][0]) <= set(sync["products"][0])

    orders = [body for path, body, _ in calls if path == "save_order"]
    seed_keys = set(collection_bodies()["order_create"])
    assert all(seed_keys <= set(o) and set(collection_bodies()["order_create"]["shipping"]) <= set(o["shipping"])
               for o in orders)
    distinct = {o["id"]: o for o in orders}
    assert len(distinct) == 30 and sum(1 for o in orders if orders.count(o) == 2) == 6  # 3 bodies, each twice
    countries = {o["shipping"]["shipping_country"] for o in orders}
    assert countries == {"BG", "RO"}
    assert any(any("\u0400" <= ch <= "\u04ff" for ch in o["shipping"]["shipping_city"]) for o in orders
               if o["shipping"]["shipping_country"] == "BG")
    assert {o["currency"] for o in orders} == {"BGN", "RON"}
    assert "COD" in {o["payment_method"] for o in orders}
    assert {ln["sku"] for o in orders for ln in o["line_items"]} & {p.sku for p in UNSYNCED}
    assert all(o["mid"] == 4755 and o["unknownproductid"] == 1 for o in orders)
    assert [body for path, body, _ in calls if path == "cancel_order"] == [
        {"mid": 4755, "id": o["id"]} for o in list(distinct.values())[:2]]

    st = state(sandbox)["merchants"]["4755"]
    assert (st["orders_sent"], st["sends"], st["orders_accepted"]) == (30, 33, 30)
    assert st["stock"] == {p.sku: 5 for p in catalogue()}  # the initial-stock answer is its view


def test_generated_orders_are_deterministic_per_seed_platform_and_merchant():
    first = [MerkanaOrderFactory(1, "one", 293).order() for _ in range(1)]
    again = MerkanaOrderFactory(1, "one", 293)
    assert [again.order()] == first
    assert MerkanaOrderFactory(1, "one", 294).order() != first[0]
    assert PlatformSpec.parse("p:a:b") == PlatformSpec("p", "a", "b")
    with pytest.raises(ValueError):
        PlatformSpec.parse("p:a")


def test_replay_on_concurrent_connections_sends_every_order_with_retries_arriving_together(sandbox):
    """``connections``: the orders go out on that many connections at once. The stand-in holds each
    call until another one is in flight beside it (or gives up after 5 s and says so), so a sender
    that is not concurrent shows up as calls answered alone."""
    import asyncio

    calls: list[dict] = []
    in_flight: list[asyncio.Event] = []
    app = FastAPI()

    @app.post("/merkana/one/save_order")
    async def save_order(request: Request) -> dict:
        body = await request.json()
        mine = asyncio.Event()
        for other in in_flight:
            other.set()
        if in_flight:
            mine.set()
        in_flight.append(mine)
        try:
            await asyncio.wait_for(mine.wait(), 5)
            calls.append({"id": body["id"], "alone": False})
        except TimeoutError:
            calls.append({"id": body["id"], "alone": True})
        finally:
            in_flight.remove(mine)
        return {"status": True}

    with LoopbackServer(app) as server:
        answer = requests.post(f"{sandbox.url}/_sandbox/merkana/one/replay", timeout=60, json={
            "target": f"{server.url}/merkana/one", "mid": 77, "steps": ["orders"], "orders": 40, "duplicates": 5,
            "connections": 4}).json()
    assert answer["ok"] is True and answer["send_s"] > 0
    assert len(answer["orders"]) == len(calls) == 45
    assert all(o["answer"] == {"status": True} and o["seconds"] > 0 for o in answer["orders"])
    assert not [c for c in calls if c["alone"]][:-1]  # only the very last call may have found nobody beside it
    ids = [o["id"] for o in answer["orders"]]
    twice = {i for i in ids if ids.count(i) == 2}
    assert len(twice) == 5 and all(ids[ids.index(i) + 1] == i for i in twice)  # a retry right after its first send
