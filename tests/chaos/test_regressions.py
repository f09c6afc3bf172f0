"""Bugs the chaos suite found, each pinned by the smallest test that shows it."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from chaos_support import channel_fixture  # noqa: F401 (fixture `channel`)

from orderbridge_chaos.run import set_faults


@pytest.mark.parametrize("channel", ["groupon"], indirect=True)
def test_a_connection_cut_in_the_middle_of_the_body_is_retried_by_the_client(channel, conn):
    # requests raises ChunkedEncodingError (not ConnectionError) there: it used to escape unclassified.
    adapter, sandbox = channel
    set_faults(sandbox, [{"channel": "groupon", "kind": "cut", "match": "get_orders", "times": 2}])
    counts = adapter.steps()["extract_orders"]("run-1")
    assert counts["retried"] == 2 and counts["payloads"] >= adapter.orders


@pytest.mark.parametrize("channel", ["plentymarkets"], indirect=True)
def test_a_lost_answer_to_the_package_post_adds_no_second_package(channel, conn):
    # The package was created, the answer cut: the client used to POST it again (two packages).
    adapter, sandbox = channel
    with conn.cursor() as cur:
        adapter.seed_warehouse(cur)
    conn.commit()
    steps = adapter.steps()
    for step in steps.values():
        step("run-1")
    with conn.cursor() as cur:
        adapter.between_runs(cur, 1)
    conn.commit()
    set_faults(sandbox, [{"channel": "plentymarkets", "kind": "cut", "match": "shipping/packages", "times": 3}])
    counts = steps["post_tracking"]("run-2")
    assert counts["sent_sent"] > 0
    observed = adapter.observe(sandbox)
    assert observed.tracking and set(observed.tracking.values()) == {1}


def test_groupon_sandbox_data_is_the_same_in_every_process():
    # Faker's it_IT city() draws from a list built from a set: the order changed with the hash seed.
    code = ("import hashlib; from datetime import datetime, UTC;"
            "from orderbridge_sandbox.fakedata import GrouponOrderFactory as F;"
            "orders = F(7, '1001', datetime(2026, 11, 20, tzinfo=UTC)).generate(300);"
            "print(hashlib.sha256(str([[e.payload for e in o] for o in orders]).encode()).hexdigest())")
    outputs = {subprocess.run([sys.executable, "-c", code], env={**os.environ, "PYTHONHASHSEED": seed},
                              capture_output=True, text=True, check=True).stdout for seed in ("1", "2", "3")}
    assert len(outputs) == 1


def test_one_plenty_order_with_a_nonsense_status_is_quarantined_and_the_load_goes_on(conn):
    # parse_status raises Permanent (meant for configuration): from the mapper it stopped the whole load.
    from test_mapper_properties import PLENTY_SAMPLES

    from orderbridge import staging
    from orderbridge.channels.plentymarkets.mapping import PlentyMapper

    good, bad = PLENTY_SAMPLES[0], {**PLENTY_SAMPLES[1], "statusId": "9.0.1"}
    with conn.cursor() as cur:
        staging.land_raw(cur, "plentymarkets", "demo_de", [(str(good["id"]), good), (str(bad["id"]), bad)], "run")
    conn.commit()
    counts = staging.transform(conn, PlentyMapper(), "demo_de", "run")
    assert counts.orders == 2
    with conn.cursor() as cur:
        cur.execute("SELECT status, status_reason FROM staging.orders WHERE external_order_id = %s", (str(bad["id"]),))
        status, reason = cur.fetchone()
    assert status == "invalid_payload" and "statusId" in reason and "9.01" in reason
