"""What every orderbridge DAG shares: retry policy, default args, schedule (from the account).

Imported at DAG-parse time, so it imports nothing heavy.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from airflow.sdk import (
    BaseNotifier,
    CronDataIntervalTimetable,
    DeltaDataIntervalTimetable,
    ExceptionRetryPolicy,
    RetryAction,
    RetryRule,
)

START_DATE = datetime(2026, 1, 1, tzinfo=UTC)


def every(minutes: int) -> CronDataIntervalTimetable | DeltaDataIntervalTimetable:
    """A schedule with real data intervals of ``minutes``, shown as cron where cron can say it.

    Explicit timetables: in Airflow 3.3 a bare cron string or timedelta becomes a *trigger*
    timetable whose runs have zero-length data intervals (unless ``[scheduler]
    create_cron_data_intervals`` is set); extracts need the real interval. A step that divides an
    hour (or a day, in whole hours) is a cron expression the UI shows as it is (``*/10 * * * *``);
    any other (45, 90 minutes) would drift against cron's hour and day boundaries, so it stays a
    fixed delta from the previous run.
    """
    if minutes < 60 and 60 % minutes == 0:
        return CronDataIntervalTimetable("* * * * *" if minutes == 1 else f"*/{minutes} * * * *", timezone="UTC")
    hours, rest = divmod(minutes, 60)
    if not rest and 24 % hours == 0:
        step = {1: "*", 24: "0"}.get(hours, f"*/{hours}")
        return CronDataIntervalTimetable(f"0 {step} * * *", timezone="UTC")
    return DeltaDataIntervalTimetable(timedelta(minutes=minutes))


# Permanent errors (bad credentials, refused payloads) fail at once: a retry cannot fix them.
# RateLimited is a Retryable: the client already waited out the Retry-After it was given.
RETRY_POLICY = ExceptionRetryPolicy(rules=[
    RetryRule(exception="orderbridge.errors.Permanent", action=RetryAction.FAIL,
              reason="needs a person: see the Resolution in the error"),
])


class AttentionNotifier(BaseNotifier):
    """The DAG's callback after each run, failed or not: reports the attention the run raised where
    the deployment's ``[orderbridge] attention_notify`` points (webhook or e-mail; off by default).
    Everything happens in ``orderbridge.notify`` when the callback runs, nothing at parse time."""

    template_fields = ()

    def __init__(self, channel: str, account: str):
        super().__init__()
        self.channel, self.account = channel, account

    def render_template_fields(self, context, jinja_env=None) -> None:
        # Nothing is templated, and `airflow dags test` runs the callback with a SerializedDAG,
        # which has no template environment: rendering would fail the callback.
        return

    def notify(self, context) -> None:
        from orderbridge.notify import send_new_attention

        send_new_attention(self.channel, self.account, context)


def dag_id(account) -> str:
    """The id of the DAG that serves ``account`` (a ``config.Account``)."""
    return f"{account.channel}_{account.name}"


def dag_args(account, doc: str, description: str, steps: tuple[str, ...], **extra) -> dict:
    """The ``@dag`` arguments every channel-account DAG shares (id, schedule, one run at a time, tags).

    Args:
        account: the ``config.Account`` the DAG serves; its pool caps the DAG's concurrency.
        steps: what the DAG does, as tags: ``import``, ``writeback``, ``stock``.
        extra: anything a channel adds or overrides (``params``, ...).
    """
    return {
        "dag_id": dag_id(account),
        "description": description,
        "doc_md": doc,
        "schedule": every(account.every_minutes),  # the account's import delay (accounts.yaml)
        "start_date": START_DATE,
        "catchup": False,
        "max_active_runs": 1,  # the watermark and the outbox move one run at a time
        "default_args": default_args(pool=account.pool),
        "tags": ["orderbridge", account.channel, *steps],
        "on_success_callback": AttentionNotifier(account.channel, account.name),
        "on_failure_callback": AttentionNotifier(account.channel, account.name),
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
        # Depth first: a later task of a run outranks the first tasks of other accounts' runs. With
        # Airflow's default (downstream) every account's extract went first, then every load, ...:
        # at 200 accounts due at once, 1 run of 200 had finished after 10 minutes (bench/accounts.py).
        "weight_rule": "upstream",
    }


def channel_dag(channel, account):
    """One account's DAG, built from its channel (``channels.base.Channel``): the channel's tasks in
    its order, each calling its step with a ``Run`` read from the task context.

    Imports only the task SDK: the steps themselves import their channel's client and mapper when
    the task runs, never at parse time.
    """
    from airflow.sdk import DAG, Param, task

    from orderbridge import assets
    from orderbridge.channels.base import Run, iter_tasks

    orders_asset = assets.staging_orders(channel.name, account.name)

    params = {name: Param(**spec) for name, spec in channel.dag_params.items()}
    with DAG(**dag_args(account, channel.doc, f"{channel.title} for account {account.name}", channel.tags,
                        **({"params": params} if params else {}))) as dag:
        made = {}
        for spec, upstream in iter_tasks(channel):
            def run_step(spec=spec, **context) -> dict:
                from orderbridge import fastpath

                fastpath.enable()  # a task process, never the API server: the process-wide speed tricks are safe
                run = context["dag_run"]
                start, end = context.get("data_interval_start"), context.get("data_interval_end")
                result = channel.run_task(spec.task_id, account, Run(
                    run_id=run.run_id, run_type=run.run_type, start=start, end=end,
                    key=(end or run.run_after).isoformat(), params=dict(context.get("params") or {})))
                if spec.loads_orders:
                    context["outlet_events"][orders_asset].extra = assets.event_extra(
                        account.channel, account.name, run.run_id, result)
                return result

            outlets = {"outlets": [orders_asset]} if spec.loads_orders else {}
            made[spec.task_id] = task(task_id=spec.task_id, doc_md=spec.doc, **outlets, **spec.options)(run_step)()
            for name in upstream:
                made[name] >> made[spec.task_id]
    return dag


DIGEST_DAG_ID = "orderbridge_attention_digest"


def digest_dag():
    """The operations digest DAG: scheduled on every account's staging-orders Asset (any of them),
    it writes the open attention summary into ``staging.attention_digests`` at most once an hour
    (``orderbridge.digest``)."""
    from airflow.sdk import DAG, AssetAny, task

    from orderbridge import assets

    feeds = assets.every_staging_orders()
    with DAG(dag_id=DIGEST_DAG_ID, description="Hourly summary of what needs a person, after loads",
             doc_md=DIGEST_DOC, schedule=AssetAny(*feeds) if feeds else None, start_date=START_DATE,
             catchup=False, max_active_runs=1, tags=["orderbridge", "digest"],
             default_args=default_args(pool="orderbridge_digest")) as dag:
        @task(task_id="write_digest", doc_md="Write this hour's attention summary unless it has one.")
        def write_digest(**context) -> dict:
            from orderbridge import digest

            run = context["dag_run"]
            return digest.write_hourly(run.run_after, run.run_id)

        write_digest()
    return dag


DIGEST_DOC = """Operations digest: after any account's load (its `staging.orders/<channel>/<account>`
Asset event), writes the open `staging.attention` counts per channel, account and reason into
`staging.attention_digests`, once per hour (later runs in the same hour change nothing).

```sql
SELECT hour, open_total, text FROM staging.attention_digests ORDER BY hour DESC LIMIT 24;
```
"""
