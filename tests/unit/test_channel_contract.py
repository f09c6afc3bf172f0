"""The channel contract: a channel plugged in from outside the product gets its DAGs, steps, sandbox and chaos run.

The toy marketplace in ``tests/toy_channel`` is a plug-in (``ORDERBRIDGE_CHANNEL_PLUGINS``);
nothing in ``include/`` names it. It must get one DAG per account from the factory; its generic
steps must land, load and acknowledge its orders in a real staging database over real HTTP; its
fake must plug into the sandbox app and command line; and the chaos harness must find its adapter
(its fault run is in ``tests/chaos/test_fault_runs.py``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from conftest import REPO
from orderbridge.channels import registry
from orderbridge.channels.base import Run, iter_tasks
from orderbridge.config import Account
from toy_channel.channel import CHANNEL as TOY

ACCOUNT = Account(channel="toy", name="a1", conn_id="orderbridge_toy_a1")
TOKEN = "toy-token"


@pytest.fixture
def toy(toy_plugin):
    return toy_plugin


def test_the_default_flow_is_built_from_the_contract():
    assert [(t.task_id, up) for t, up in iter_tasks(TOY)] == [
        ("extract_orders", ()), ("load_staging", ("extract_orders",)), ("send_ack", ("load_staging",)),
        ("reconcile_stock", ("send_ack",))]


def _plugged(env: dict, code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)


def test_the_plugin_variable_registers_a_channel_and_a_wrong_one_is_refused_naming_it(toy):
    code = ("from orderbridge.channels.registry import CHANNELS, part_module; "
            "print(list(CHANNELS), part_module('toy', 'sandbox'), part_module('groupon', 'chaos'))")
    done = _plugged(dict(os.environ), code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["['groupon',", "'plentymarkets',", "'merkana',", "'octopia',", "'shoprenter',",
                                   "'toy']", "toy_channel.sandbox", "orderbridge_chaos.groupon"]
    missing = _plugged({**os.environ, registry.PLUGINS_ENV: "toy_channel, no_such_plugin"}, code)
    assert missing.returncode != 0 and "ORDERBRIDGE_CHANNEL_PLUGINS names 'no_such_plugin'" in missing.stderr
    not_a_channel = _plugged({**os.environ, registry.PLUGINS_ENV: "orderbridge"}, code)
    assert "orderbridge.channel" in not_a_channel.stderr and not_a_channel.returncode != 0


def test_a_plugged_in_channel_gets_a_dag_per_account(toy):
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(REPO / "dags"))
    assert bag.import_errors == {}
    for name in ("a1", "a2"):
        dag = bag.dags[f"toy_{name}"]
        assert dag.doc_md == toy.doc
        assert [t.task_id for t in dag.topological_sort()] == ["extract_orders", "load_staging", "send_ack",
                                                               "reconcile_stock"]
        assert {t.pool for t in dag.tasks} == {f"orderbridge_toy_{name}"}
        assert set(dag.tags) == {"orderbridge", "toy", "import", "writeback", "stock"}


@pytest.fixture
def toy_sandbox(toy, monkeypatch):
    from orderbridge_sandbox.process import start_sandbox

    with start_sandbox(["--toy", f"a1:{TOKEN}:5", "--toy-page-size", "2"]) as sandbox:
        monkeypatch.setenv("AIRFLOW_CONN_ORDERBRIDGE_TOY_A1", json.dumps({
            "conn_type": "http", "host": "127.0.0.1", "port": sandbox.port, "schema": "http", "password": TOKEN,
            "extra": {"api_path": "/toy/a1"}}))
        yield sandbox


def test_its_generic_steps_land_load_and_acknowledge_over_http(toy_sandbox, conn):
    import requests

    offered = requests.get(f"{toy_sandbox.url}/_sandbox/toy/a1/state", timeout=10).json()["orders"]
    with conn.cursor() as cur:
        cur.execute("INSERT INTO staging.products (sku, name) SELECT DISTINCT l->>'sku', 'x' FROM"
                    " jsonb_array_elements(%s::jsonb) o, jsonb_array_elements(o->'lines') l", (json.dumps(offered),))
    conn.commit()
    run = Run("run-1", "scheduled")
    extract = TOY.run_task("extract_orders", ACCOUNT, run)
    assert (extract["pages"], extract["payloads"], extract["mode"]) == (3, 5, "queue")
    load = TOY.run_task("load_staging", ACCOUNT, run)
    assert load["inserted"] == 5 and load["status_ready"] == 5
    assert TOY.run_task("send_ack", ACCOUNT, run)["sent"] == 5
    state = requests.get(f"{toy_sandbox.url}/_sandbox/toy/a1/state", timeout=10).json()
    assert state["acks"] == {o["id"]: 1 for o in state["orders"]}
    assert TOY.run_task("reconcile_stock", ACCOUNT, run)["pushed"] == 0
    # Run again: the queue is empty now; nothing new lands, loads or is sent.
    assert TOY.run_task("extract_orders", ACCOUNT, Run("run-2"))["new_payloads"] == 0
    assert TOY.run_task("load_staging", ACCOUNT, Run("run-2"))["inserted"] == 0
    assert TOY.run_task("send_ack", ACCOUNT, Run("run-2"))["claimed"] == 0
    with conn.cursor() as cur:
        cur.execute("SELECT count(*), count(DISTINCT external_order_id) FROM staging.orders WHERE channel = 'toy'")
        assert cur.fetchone() == (5, 5)
        cur.execute("SELECT detail FROM staging.order_events WHERE channel = 'toy' AND event = 'ack_sent' LIMIT 1")
        assert cur.fetchone()[0]["kind"] == "ack"


def test_its_fake_plugs_into_the_sandbox_app_and_its_command_line(toy):
    from fastapi.testclient import TestClient

    from orderbridge_sandbox.__main__ import build_parser
    from orderbridge_sandbox.app import create_app

    assert "--toy-page-size" in build_parser().format_help()
    args = build_parser().parse_args(["--seed", "5", "--toy", f"a1:{TOKEN}:4", "--toy-page-size", "3",
                                      "--groupon", "1001:t:2"])
    app = create_app(seed=args.seed, options=args)
    client = TestClient(app)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    assert [len(client.get(f"/toy/a1/orders?page={p}", headers=auth).json()["orders"]) for p in (1, 2)] == [3, 1]
    assert client.get("/toy/a1/orders", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert set(app.state.toy) == {"a1"} and set(app.state.groupon.accounts) == {"1001"}
    # Faults reach it like any channel, answering with its own 429 body; control routes are never faulted.
    assert client.post("/_sandbox/faults", json={"channel": "toy", "kind": "429", "times": 1}).status_code == 200
    limited = client.get("/toy/a1/orders", headers=auth)
    assert (limited.status_code, limited.json(), limited.headers["retry-after"]) == (429, {"error": "slow down"}, "1")
    assert client.get("/toy/a1/orders", headers=auth).status_code == 200
    with pytest.raises(TypeError, match="toy_colour"):
        create_app(toy_colour="red")


def test_a_registered_channel_without_a_fake_is_refused_naming_it(toy, monkeypatch):
    from orderbridge_sandbox.app import create_app
    from orderbridge_sandbox.plugin import FakeNotFound

    monkeypatch.setitem(registry.CHANNELS, "toyless", TOY)
    with pytest.raises(FakeNotFound, match="'toyless'.*orderbridge_sandbox.toyless"):
        create_app()


def test_the_chaos_adapter_of_a_plugin_is_found_and_runs_its_contract(toy, monkeypatch):
    from orderbridge_chaos import adapter as chaos
    from orderbridge_sandbox.__main__ import build_parser
    from toy_channel.chaos import Adapter

    adapter = chaos.adapter_for("toy", seed=3)
    assert type(adapter) is Adapter and adapter.dag_id == "toy_a1"
    assert adapter.task_ids == tuple(t.task_id for t in TOY.tasks()) == (
        "extract_orders", "load_staging", "send_ack", "reconcile_stock")
    calls = []
    monkeypatch.setattr(TOY, "run_task", lambda task_id, account, run: calls.append((task_id, account, run)) or {})
    steps = adapter.steps()
    assert list(steps) == list(adapter.task_ids)
    steps["send_ack"]("run-7", "scheduled")
    assert [(t, a.name, r.run_id, r.run_type) for t, a, r in calls] == [("send_ack", "a1", "run-7", "scheduled")]
    assert build_parser().parse_args(adapter.sandbox_args()).toy[0][0] == "a1"


def test_an_unknown_channel_is_refused_naming_the_ones_there_are():
    with pytest.raises(KeyError, match="groupon"):
        registry.get("nope")
