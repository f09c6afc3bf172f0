"""The channel contract: a channel registered only in the registry gets its DAGs and runs its steps.

A toy channel, defined here and nowhere else, is added to the registry and to the accounts file;
nothing in the product names it. It must get one DAG per account from the factory, and its generic
steps must land, load and acknowledge its orders in a real staging database. A toy fake and a toy
chaos adapter, modules put where the convention looks (``orderbridge_sandbox.toy``,
``orderbridge_chaos.toy``), must plug into the sandbox app, its command line and the chaos harness.
"""

from __future__ import annotations

import json
import sys
import types
from contextlib import nullcontext
from dataclasses import dataclass, field

import pytest

from orderbridge.channels import registry
from orderbridge.channels.base import Channel, Run, Stock, StockPolicy, Stream, iter_tasks
from orderbridge.config import Account
from orderbridge.orders import StagedLine, StagedOrder
from orderbridge.outbox import Effect, Outcome

ACCOUNT = Account(channel="toy", name="a1", conn_id="orderbridge_toy_a1")
ORDERS = [{"id": f"T-{i}", "sku": "WH-1001", "qty": i, "street": "1 Main St", "city": "Leeds", "zip": "LS1",
           "country": "GB"} for i in range(1, 6)]


@dataclass
class ToyClient:
    stats: dict = field(default_factory=lambda: {"requests": 0})
    acknowledged: list = field(default_factory=list)

    def pages(self, window):
        for start in range(0, len(ORDERS), 2):
            self.stats["requests"] += 1
            yield ORDERS[start:start + 2]


class ToyMapper:
    channel = "toy"
    checks_stock = False

    def to_order(self, rows):
        raw_id, order = rows[-1]
        return StagedOrder(external_order_id=order["id"], raw_id=raw_id, ship_name="Toy", ship_address1=order["street"],
                           ship_city=order["city"], ship_postcode=order["zip"], ship_country=order["country"],
                           lines=[StagedLine(f"{order['id']}-1", order["sku"], order["qty"], 1)])

    def acknowledgements(self, order, status):
        return [Effect("ack", order.external_order_id, {"id": order.external_order_id}, order.external_order_id)]


class ToyChannel(Channel):
    name = "toy"
    title = "Toy marketplace"
    doc = "### A toy channel\n\nOnly for the contract test."
    stock = Stock(StockPolicy.REPORT_ONLY, not_pushed_reason="toys are infinite")

    def __init__(self):
        self.the_client = ToyClient()
        self.writebacks = {"ack": self._ack}

    def _ack(self, client):
        def send(rows):
            client.acknowledged += [r.payload["id"] for r in rows]
            return {r.id: Outcome("sent", "acknowledged") for r in rows}
        return send

    @property
    def streams(self):
        return (Stream("orders", lambda client, window: client.pages(window), lambda o: o["id"]),)

    def client(self, account):
        return nullcontext(self.the_client)

    def mapper(self, account):
        return ToyMapper()


@pytest.fixture
def toy(monkeypatch, tmp_path):
    channel = ToyChannel()
    monkeypatch.setitem(registry.CHANNELS, "toy", channel)
    accounts = tmp_path / "accounts.yaml"
    accounts.write_text("toy:\n  - name: a1\n    conn_id: orderbridge_toy_a1\n  - name: a2\n"
                        "    conn_id: orderbridge_toy_a2\n")
    monkeypatch.setenv("ORDERBRIDGE_ACCOUNTS", str(accounts))
    return channel


def test_the_default_flow_is_built_from_the_contract():
    assert [(t.task_id, up) for t, up in iter_tasks(ToyChannel())] == [
        ("extract_orders", ()), ("load_staging", ("extract_orders",)), ("send_ack", ("load_staging",)),
        ("reconcile_stock", ("send_ack",))]


def test_a_channel_only_in_the_registry_gets_a_dag_per_account(toy):
    from airflow.dag_processing.dagbag import DagBag

    from conftest import REPO

    bag = DagBag(dag_folder=str(REPO / "dags"))
    assert bag.import_errors == {}
    for name in ("a1", "a2"):
        dag = bag.dags[f"toy_{name}"]
        assert dag.doc_md == toy.doc
        assert [t.task_id for t in dag.topological_sort()] == ["extract_orders", "load_staging", "send_ack",
                                                               "reconcile_stock"]
        assert {t.pool for t in dag.tasks} == {f"orderbridge_toy_{name}"}
        assert set(dag.tags) == {"orderbridge", "toy", "import", "writeback", "stock"}


def test_its_generic_steps_land_load_and_acknowledge_in_staging(toy, conn):
    with conn.cursor() as cur:
        cur.execute("INSERT INTO staging.products (sku, name) VALUES ('WH-1001', 'Mug')")
        cur.execute("INSERT INTO staging.stock_levels (sku, on_hand) VALUES ('WH-1001', 100)")
    conn.commit()
    run = Run("run-1", "scheduled")
    extract = toy.run_task("extract_orders", ACCOUNT, run)
    assert (extract["pages"], extract["payloads"], extract["mode"]) == (3, 5, "queue")
    load = toy.run_task("load_staging", ACCOUNT, run)
    assert load["inserted"] == 5 and load["status_ready"] == 5
    sent = toy.run_task("send_ack", ACCOUNT, run)
    assert sent["sent"] == 5 and sorted(toy.the_client.acknowledged) == [o["id"] for o in ORDERS]
    report = toy.run_task("reconcile_stock", ACCOUNT, run)
    assert report["pushed"] == 0
    # Run twice: nothing new lands, loads or is sent.
    assert toy.run_task("extract_orders", ACCOUNT, Run("run-2"))["new_payloads"] == 0
    assert toy.run_task("load_staging", ACCOUNT, Run("run-2"))["inserted"] == 0
    assert toy.run_task("send_ack", ACCOUNT, Run("run-2"))["claimed"] == 0
    with conn.cursor() as cur:
        cur.execute("SELECT count(*), count(DISTINCT external_order_id) FROM staging.orders WHERE channel = 'toy'")
        assert cur.fetchone() == (5, 5)
        cur.execute("SELECT detail FROM staging.order_events WHERE channel = 'toy' AND event = 'ack_sent' LIMIT 1")
        assert json.loads(json.dumps(cur.fetchone()[0]))["kind"] == "ack"


def toy_fake_module() -> types.ModuleType:
    """``orderbridge_sandbox.toy``: a fake serving ``ORDERS`` per ``--toy SHOP``, with a control route."""
    from fastapi import APIRouter, FastAPI

    from orderbridge_sandbox.plugin import Fake

    def add_arguments(parser):
        parser.add_argument("--toy", action="append", default=[], metavar="SHOP", help="a toy shop (repeatable)")
        parser.add_argument("--toy-page-size", type=int, default=2, help="orders per page")

    def build(app: FastAPI, options, seed, anchor, days):
        state = {"shops": {shop: {"seed": seed, "reads": 0} for shop in options.toy},
                 "page_size": options.toy_page_size}
        api, control = APIRouter(prefix="/toy"), APIRouter(prefix="/_sandbox/toy")

        @api.get("/{shop}/orders")
        async def orders(shop: str, page: int = 1) -> dict:
            state["shops"][shop]["reads"] += 1
            size = state["page_size"]
            return {"orders": ORDERS[(page - 1) * size:page * size]}

        @control.get("/{shop}/state")
        async def shop_state(shop: str) -> dict:
            return state["shops"][shop]

        app.include_router(control)
        app.include_router(api)
        return state

    module = types.ModuleType("orderbridge_sandbox.toy")
    module.FAKE = Fake("toy", add_arguments, build, rate_limit_body={"toy": "slow down"},
                       keywords={"toy_shops": ("toy", list)})
    return module


def toy_adapter_module() -> types.ModuleType:
    """``orderbridge_chaos.toy``: the toy's chaos adapter (its sandbox arguments only)."""
    from orderbridge_chaos.adapter import ChannelAdapter

    class Adapter(ChannelAdapter):
        channel = "toy"
        orders_route = "/orders"

        def sandbox_args(self) -> list[str]:
            return ["--seed", str(self.seed), "--toy", self.account.name]

    module = types.ModuleType("orderbridge_chaos.toy")
    module.Adapter = Adapter
    return module


@pytest.fixture
def toy_fake(toy, monkeypatch):
    monkeypatch.setitem(sys.modules, "orderbridge_sandbox.toy", toy_fake_module())
    monkeypatch.setitem(sys.modules, "orderbridge_chaos.toy", toy_adapter_module())
    return toy


def test_a_toy_fake_plugs_into_the_sandbox_app_and_its_command_line(toy_fake):
    from fastapi.testclient import TestClient

    from orderbridge_sandbox.__main__ import build_parser
    from orderbridge_sandbox.app import create_app

    assert "--toy-page-size" in build_parser().format_help()
    args = build_parser().parse_args(["--seed", "5", "--toy", "a1", "--toy-page-size", "3", "--groupon", "1001:t:2"])
    app = create_app(seed=args.seed, options=args)
    client = TestClient(app)
    assert client.get("/toy/a1/orders").json() == {"orders": ORDERS[:3]}
    assert client.get("/_sandbox/toy/a1/state").json() == {"seed": 5, "reads": 1}
    assert app.state.toy["page_size"] == 3 and set(app.state.groupon.accounts) == {"1001"}
    # Faults reach it like any channel, answering with its own 429 body; control routes are never faulted.
    assert client.post("/_sandbox/faults", json={"channel": "toy", "kind": "429", "times": 1}).status_code == 200
    limited = client.get("/toy/a1/orders")
    assert (limited.status_code, limited.json(), limited.headers["retry-after"]) == (429, {"toy": "slow down"}, "1")
    assert client.get("/toy/a1/orders").status_code == 200
    # create_app's keywords: an option's dest, or the fake's older name; defaults for the rest.
    app = create_app(toy_shops=("x", "y"))
    assert set(app.state.toy["shops"]) == {"x", "y"} and app.state.toy["page_size"] == 2
    with pytest.raises(TypeError, match="toy_colour"):
        create_app(toy_colour="red")


def test_a_registered_channel_without_a_fake_is_refused_naming_it(toy_fake, monkeypatch):
    from orderbridge_sandbox.app import create_app
    from orderbridge_sandbox.plugin import FakeNotFound

    monkeypatch.setitem(registry.CHANNELS, "toyless", ToyChannel())
    with pytest.raises(FakeNotFound, match="'toyless'.*orderbridge_sandbox.toyless"):
        create_app()


def test_the_chaos_adapter_of_a_toy_is_found_by_name_and_runs_its_contract(toy_fake, monkeypatch):
    from orderbridge_chaos import adapter as chaos
    from orderbridge_sandbox.__main__ import build_parser

    adapter = chaos.adapter_for("toy", seed=3)
    assert type(adapter) is sys.modules["orderbridge_chaos.toy"].Adapter
    assert adapter.dag_id == "toy_a1"
    assert adapter.task_ids == tuple(t.task_id for t in toy_fake.tasks()) == (
        "extract_orders", "load_staging", "send_ack", "reconcile_stock")
    calls = []
    monkeypatch.setattr(toy_fake, "run_task", lambda task_id, account, run: calls.append((task_id, account, run)) or {})
    steps = adapter.steps()
    assert list(steps) == list(adapter.task_ids)
    steps["send_ack"]("run-7", "scheduled")
    assert [(t, a.name, r.run_id, r.run_type) for t, a, r in calls] == [("send_ack", "a1", "run-7", "scheduled")]
    assert build_parser().parse_args(adapter.sandbox_args()).toy == ["a1"]


def test_an_unknown_channel_is_refused_naming_the_ones_there_are():
    with pytest.raises(KeyError, match="groupon"):
        registry.get("nope")
