"""Every DAG file parses cleanly, fast, without I/O, and follows the house rules."""

import socket

import psycopg2
import pytest
from airflow.sdk.definitions.timetables.interval import DeltaDataIntervalTimetable

from conftest import REPO


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    def refuse(*_args, **_kwargs):
        raise AssertionError("DAG files must not open network or database connections at parse time")

    mp = pytest.MonkeyPatch()
    mp.setattr(socket.socket, "connect", refuse)
    mp.setattr(psycopg2, "connect", refuse)
    try:
        return DagBag(dag_folder=str(REPO / "dags"))
    finally:
        mp.undo()


def test_no_import_errors(dagbag):
    assert dagbag.import_errors == {}
    assert dagbag.dags, "no DAGs found"


def test_one_groupon_dag_per_configured_account(dagbag):
    from orderbridge.config import load_accounts

    assert {f"groupon_{a.name}" for a in load_accounts("groupon")} <= set(dagbag.dags)


def test_house_rules(dagbag):
    for dag_id, dag in dagbag.dags.items():
        assert {"orderbridge"} < set(dag.tags), dag_id
        assert dag.doc_md, f"{dag_id} has no doc_md"
        assert dag.catchup is False and dag.max_active_runs == 1, dag_id
        assert isinstance(dag.timetable, DeltaDataIntervalTimetable), f"{dag_id}: schedule has no data interval"
        for task in dag.tasks:
            assert task.retries >= 2, f"{dag_id}.{task.task_id} retries {task.retries}"
            assert task.max_retry_delay is not None, f"{dag_id}.{task.task_id} has no max_retry_delay"
            assert task.retry_policy is not None, f"{dag_id}.{task.task_id} has no retry policy"
            assert task.pool.startswith("orderbridge_"), f"{dag_id}.{task.task_id} runs outside its account pool"


def test_permanent_errors_fail_at_once_and_transient_ones_retry(dagbag):
    from airflow.sdk import RetryAction

    from orderbridge.errors import AuthError, Retryable

    task = next(iter(dagbag.dags.values())).tasks[0]
    assert task.retry_policy.evaluate(AuthError("no"), 1, 4).action is RetryAction.FAIL
    assert task.retry_policy.evaluate(Retryable("later"), 1, 4).action is not RetryAction.FAIL


def test_each_dag_runs_at_its_accounts_every_minutes():
    from datetime import timedelta

    from orderbridge import dagkit
    from orderbridge.channels.registry import get
    from orderbridge.config import Account

    for minutes in (10, 45):
        account = Account("groupon", f"every_{minutes}", f"orderbridge_groupon_every_{minutes}", every_minutes=minutes)
        timetable = dagkit.channel_dag(get("groupon"), account).timetable
        assert isinstance(timetable, DeltaDataIntervalTimetable)
        assert timetable.delta == timedelta(minutes=minutes)
