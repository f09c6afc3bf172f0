"""Every DAG file parses cleanly, fast, without I/O, and follows the house rules."""

import socket

import psycopg2
import pytest
from airflow.sdk.definitions.timetables.interval import CronDataIntervalTimetable, DeltaDataIntervalTimetable

from conftest import REPO


def _channel_dag_ids() -> set[str]:
    from orderbridge.channels.registry import CHANNELS
    from orderbridge.config import load_accounts

    return {f"{c}_{a.name}" for c in CHANNELS for a in load_accounts(c)}


CHANNEL_DAG_IDS = _channel_dag_ids()


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
        if dag_id in CHANNEL_DAG_IDS:
            assert isinstance(dag.timetable, CronDataIntervalTimetable | DeltaDataIntervalTimetable), (
                f"{dag_id}: schedule has no data interval")
        else:
            assert dag_id == "orderbridge_attention_digest", f"{dag_id}: a DAG of no channel account"
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


def _timetable(minutes: int):
    from orderbridge import dagkit
    from orderbridge.channels.registry import get
    from orderbridge.config import Account

    account = Account("groupon", f"every_{minutes}", f"orderbridge_groupon_every_{minutes}", every_minutes=minutes)
    return dagkit.channel_dag(get("groupon"), account).timetable


@pytest.mark.parametrize(("minutes", "cron"), [(1, "* * * * *"), (10, "*/10 * * * *"), (15, "*/15 * * * *"),
                                               (60, "0 * * * *"), (120, "0 */2 * * *"), (1440, "0 0 * * *")])
def test_a_step_that_divides_the_hour_or_day_is_shown_as_cron(minutes, cron):
    timetable = _timetable(minutes)
    assert isinstance(timetable, CronDataIntervalTimetable) and timetable.expression == cron


@pytest.mark.parametrize("minutes", [7, 45, 90, 1000])
def test_any_other_step_stays_a_fixed_delta(minutes):
    from datetime import timedelta

    timetable = _timetable(minutes)
    assert isinstance(timetable, DeltaDataIntervalTimetable) and timetable.delta == timedelta(minutes=minutes)


@pytest.mark.parametrize("minutes", [10, 45])
def test_scheduled_and_manual_runs_have_a_data_interval_as_wide_as_the_step(minutes):
    """What the scheduler makes of the DAG (the core timetable it deserializes): every run, the
    first one, the next and a manual one, reads a window of ``every_minutes`` (a trigger
    timetable's would be zero-length)."""
    from datetime import timedelta

    import pendulum
    from airflow.serialization.encoders import coerce_to_core_timetable
    from airflow.timetables.base import DataInterval, TimeRestriction

    timetable = coerce_to_core_timetable(_timetable(minutes))
    width = timedelta(minutes=minutes)
    start = pendulum.datetime(2026, 11, 20, 12, 0, tz="UTC")  # what the scheduler hands a timetable
    first = timetable.next_dagrun_info(last_automated_data_interval=None,
                                       restriction=TimeRestriction(earliest=start, latest=None, catchup=True))
    following = timetable.next_dagrun_info(last_automated_data_interval=first.data_interval,
                                           restriction=TimeRestriction(earliest=start, latest=None, catchup=True))
    manual = timetable.infer_manual_data_interval(run_after=start + timedelta(minutes=3))
    for interval in (first.data_interval, following.data_interval, manual):
        assert interval.end - interval.start == width, interval
    assert following.data_interval == DataInterval(first.data_interval.end, first.data_interval.end + width)


def test_a_run_already_under_way_outranks_the_first_tasks_of_other_accounts(dagbag):
    """Depth first: when hundreds of accounts fall due at once, each run's next task goes before
    other runs' extracts, so accounts finish one after another instead of all together, late."""
    from types import SimpleNamespace

    from airflow.serialization.serialized_objects import DagSerialization
    from airflow.task.priority_strategy import validate_and_load_priority_weight_strategy

    def weight(task) -> int:  # as the scheduler computes it when it creates the task instance
        rule = task.weight_rule
        rule = rule if hasattr(rule, "get_weight") else validate_and_load_priority_weight_strategy(rule)
        return rule.get_weight(SimpleNamespace(task=task))

    for dag_id in CHANNEL_DAG_IDS & set(dagbag.dags):
        dag = DagSerialization.from_dict(DagSerialization.to_dict(dagbag.dags[dag_id]))  # as the scheduler reads it
        for task in dag.tasks:
            for upstream in task.upstream_list:
                assert weight(task) > weight(upstream), (
                    f"{dag_id}: {task.task_id} does not outrank its upstream {upstream.task_id}")
