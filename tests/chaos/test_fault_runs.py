"""Real DAG runs (``dag.test()``) of every channel against its sandbox under seeded faults.

429 bursts with Retry-After, 5xx, answers slower than the client timeout, connections reset before
and in the middle of the body, truncated JSON, orders repeated across pages (split entries), pages
that shift while we read (new orders inserted mid-run), expired tokens (plentymarkets), orders
and cancels pushed to our endpoints mid-run (Merkana, whose endpoints ``adapter.serving`` runs).
After the faulted runs the marketplace recovers and the next scheduled runs catch up; then the
promise is checked from the sandbox's records and from staging (``orderbridge_chaos.invariants``).
"""

from __future__ import annotations

import pytest
from chaos_support import FAULT_CHANNELS, PROFILE, append_json, channel_fixture, results_path  # noqa: F401 (fixture)

from conftest import REPO
from orderbridge_chaos.run import details, fault_run, plain_table, table_rows


@pytest.fixture(scope="module")
def dagbag(airflow_db):
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(REPO / "dags"))


@pytest.mark.slow
@pytest.mark.parametrize("channel", FAULT_CHANNELS, indirect=True)
def test_faults_lose_nothing_duplicate_nothing_and_send_nothing_twice(channel, dagbag, conn, staging_dsn):
    adapter, sandbox = channel
    dag = dagbag.get_dag(adapter.dag_id)
    with adapter.serving(sandbox, staging_dsn):
        result = fault_run(adapter, dag, sandbox, conn, runs=PROFILE.runs, clean_runs=PROFILE.clean_runs,
                           intensity=PROFILE.intensity)
    print(plain_table([result]))
    print(details([result]))
    if results_path():
        append_json(results_path(), {"row": table_rows([result])[0], "details": details([result])})
    f = result.findings
    assert sum(result.faults.values()) > 0 and {"429", "5xx"} <= set(result.faults)
    assert result.problems == []
    assert f.offered > 0 and f.staged >= f.offered
    assert f.stock_checked > 0 or not f.takes_stock, "a channel that shows stock had none of it checked"
    # within each task's own retries: 3 in dagkit.default_args, 5 on Merkana's send tasks (the seed's policy)
    assert result.max_tries <= 1 + max(task.retries for task in dag.tasks)


@pytest.mark.slow
def test_a_plugged_in_channel_gets_the_same_fault_run(toy_plugin, airflow_db, conn, staging_dsn, monkeypatch):
    """The toy of ``tests/toy_channel`` (a plug-in nothing in ``include/`` names) under the same faults."""
    from airflow.dag_processing.dagbag import DagBag

    from orderbridge_chaos import adapter_for
    from orderbridge_sandbox.process import start_sandbox

    adapter = adapter_for("toy", orders=PROFILE.orders)
    with start_sandbox(adapter.sandbox_args()) as sandbox:  # a child process: it finds the toy's fake by the plug-in
        for name, value in adapter.env(sandbox).items():
            monkeypatch.setenv(name, value)
        dag = DagBag(dag_folder=str(REPO / "dags")).get_dag(adapter.dag_id)
        result = fault_run(adapter, dag, sandbox, conn, runs=3, clean_runs=1, intensity=2.0)
        seen = adapter.observe(sandbox)
    print(plain_table([result]))
    print(details([result]))
    f = result.findings
    fired = {kind for kind, n in result.faults.items() if n}
    assert {"429", "5xx"} <= fired and fired & {"reset", "cut", "malformed", "slow"} and result.problems == []
    assert f.offered >= PROFILE.orders and f.staged == f.offered and f.acked_uncommitted == []
    assert seen.acknowledged == seen.offered  # after the recovery run every order is acknowledged, once
