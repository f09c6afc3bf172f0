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
