"""Which window an extract reads, for every kind of run Airflow makes."""

from datetime import UTC, datetime, timedelta

import pytest
from airflow.sdk.api.datamodels._generated import DagRunType

from orderbridge.channels.base import Run
from orderbridge.config import Account
from orderbridge.steps import extract_window
from orderbridge.window import Window

START, END = datetime(2026, 11, 21, 10, 0, tzinfo=UTC), datetime(2026, 11, 21, 10, 10, tzinfo=UTC)


def account(mode="auto"):
    return Account(channel="groupon", name="a", conn_id="orderbridge_groupon_a", extract_mode=mode)


@pytest.mark.parametrize("run_type", [DagRunType.BACKFILL, "backfill"])
def test_backfill_runs_reread_their_data_interval(run_type):
    assert extract_window(account(), Run("r", run_type, START, END), None) == Window(START, END)


@pytest.mark.parametrize("run_type", [DagRunType.SCHEDULED, DagRunType.MANUAL, "scheduled", None])
def test_other_runs_read_the_queue(run_type):
    assert extract_window(account(), Run("r", run_type, START, END), None) is None


def test_window_mode_without_an_interval_falls_back_to_the_watermark():
    window = extract_window(account("window"), Run("r", DagRunType.MANUAL), END.isoformat())
    assert window.start == END - timedelta(minutes=10)


def test_long_windows_are_cut_into_slices_groupon_accepts():
    pieces = Window(START, START + timedelta(hours=50)).slices(timedelta(hours=24))
    assert [p.end - p.start for p in pieces] == [timedelta(hours=24), timedelta(hours=24), timedelta(hours=2)]
    assert pieces[0].end == pieces[1].start
