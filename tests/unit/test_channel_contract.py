"""The channel contract: a channel registered only in the registry gets its DAGs and runs its steps.

A toy channel, defined here and nowhere else, is added to the registry and to the accounts file;
nothing in the product names it. It must get one DAG per account from the factory, and its generic
steps must land, load and acknowledge its orders in a real staging database.
"""

from __future__ import annotations

import json
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


def test_an_unknown_channel_is_refused_naming_the_ones_there_are():
    with pytest.raises(KeyError, match="groupon"):
        registry.get("nope")
