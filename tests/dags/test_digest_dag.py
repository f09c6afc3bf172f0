"""The operations digest DAG, run with dag.test() on Airflow's metadata DB: scheduled on every
account's staging-orders Asset, it writes one attention summary per hour however often it runs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from conftest import REPO, rows
from orderbridge import attention

HOUR = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def dagbag(airflow_db):
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(REPO / "dags"))


def test_the_digest_is_scheduled_on_every_accounts_staging_orders_asset(dagbag):
    from airflow.sdk import AssetAny

    from orderbridge import assets, dagkit

    digest = dagbag.get_dag(dagkit.DIGEST_DAG_ID)
    feeds = {a.uri for a in assets.every_staging_orders()}
    assert isinstance(digest.timetable.asset_condition, AssetAny)
    assert {a.uri for a in digest.timetable.asset_condition.objects} == feeds
    # ... and each of those is the outlet of its account's load task, one per channel DAG.
    for uri in feeds:
        _scheme, _empty, _staging, _orders, channel, account = uri.split("/")
        outlets = [(t.task_id, o.uri) for t in dagbag.get_dag(f"{channel}_{account}").tasks for o in t.outlets]
        assert [uri] == [o for _t, o in outlets], (channel, account, outlets)


def test_one_summary_per_hour_however_many_loads_trigger_it(dagbag, conn):
    digest = dagbag.get_dag("orderbridge_attention_digest")
    with conn.cursor() as cur:
        cur.execute("""INSERT INTO staging.orders (channel, account, external_order_id, status, content_hash)
                       VALUES ('groupon', 'demo_uk', 'G-1', 'awaiting_mapping', 'x'),
                              ('groupon', 'demo_uk', 'G-2', 'awaiting_mapping', 'x'),
                              ('octopia', 'demo_fr', 'O-1', 'ready', 'x')""")
        for channel, account, ext in (("groupon", "demo_uk", "G-1"), ("groupon", "demo_uk", "G-2")):
            attention.flag(cur, channel, account, ext, "awaiting_mapping", "unknown SKU. Resolution: map it")
        attention.flag(cur, "octopia", "demo_fr", "O-1", "tracking_blocked", "no carrier. Resolution: add it")
    conn.commit()

    # Three loads in one hour trigger three digest runs: the first writes, the others change nothing.
    for minute in (1, 21, 59):
        run = digest.test(run_after=HOUR + timedelta(minutes=minute), logical_date=None)
        assert str(run.state) == "success"
    attention.flag(conn.cursor(), "octopia", "demo_fr", "O-1", "needs_review", "look. Resolution: look")
    conn.commit()
    assert str(digest.test(run_after=HOUR + timedelta(minutes=61), logical_date=None).state) == "success"

    got = rows(conn, "SELECT hour, open_total, summary, text FROM staging.attention_digests ORDER BY hour")
    assert [(hour, total) for hour, total, _s, _t in got] == [(HOUR, 3), (HOUR + timedelta(hours=1), 4)]
    first = got[0][2]
    assert [(r["channel"], r["account"], r["reason"], r["count"]) for r in first] == [
        ("groupon", "demo_uk", "awaiting_mapping", 2), ("octopia", "demo_fr", "tracking_blocked", 1)]
    assert got[0][3] == "groupon/demo_uk awaiting_mapping 2; octopia/demo_fr tracking_blocked 1"


def test_a_digest_hour_is_a_whole_utc_hour(conn):
    import psycopg2

    with pytest.raises(psycopg2.errors.CheckViolation, match="attention_digests_whole_hour"), conn.cursor() as cur:
        cur.execute("INSERT INTO staging.attention_digests (hour, open_total, summary, text)"
                    " VALUES ('2026-11-20T12:30:00Z', 0, '[]', '')")
    conn.rollback()
