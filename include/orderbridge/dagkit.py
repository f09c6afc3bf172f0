"""What every orderbridge DAG shares: retry policy, default args, schedule.

Imported at DAG-parse time, so it imports nothing heavy.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from airflow.sdk import DeltaDataIntervalTimetable, ExceptionRetryPolicy, RetryAction, RetryRule

START_DATE = datetime(2026, 1, 1, tzinfo=UTC)
# Explicit: in Airflow 3.3 a bare timedelta (like a cron string) becomes a *trigger* timetable whose
# runs have zero-length data intervals; extracts need the real 10-minute interval.
EVERY_10_MINUTES = DeltaDataIntervalTimetable(timedelta(minutes=10))

# Permanent errors (bad credentials, refused payloads) fail at once: a retry cannot fix them.
# RateLimited is a Retryable: the client already waited out the Retry-After it was given.
RETRY_POLICY = ExceptionRetryPolicy(rules=[
    RetryRule(exception="orderbridge.errors.Permanent", action=RetryAction.FAIL,
              reason="needs a person: see the Resolution in the error"),
])


def dag_args(account, doc: str, description: str, steps: tuple[str, ...], **extra) -> dict:
    """The ``@dag`` arguments every channel-account DAG shares (id, schedule, one run at a time, tags).

    Args:
        account: the ``config.Account`` the DAG serves; its pool caps the DAG's concurrency.
        steps: what the DAG does, as tags: ``import``, ``writeback``, ``stock``.
        extra: anything a channel adds or overrides (``params``, ...).
    """
    return {
        "dag_id": f"{account.channel}_{account.name}",
        "description": description,
        "doc_md": doc,
        "schedule": EVERY_10_MINUTES,
        "start_date": START_DATE,
        "catchup": False,
        "max_active_runs": 1,  # the watermark and the outbox move one run at a time
        "default_args": default_args(pool=account.pool),
        "tags": ["orderbridge", account.channel, *steps],
        **extra,
    }


def default_args(pool: str) -> dict:
    return {
        "owner": "orderbridge",
        "retries": 3,
        "retry_delay": timedelta(seconds=30),
        "retry_exponential_backoff": 2.0,
        "max_retry_delay": timedelta(minutes=10),
        "retry_policy": RETRY_POLICY,
        "pool": pool,
        "execution_timeout": timedelta(minutes=30),
    }
