"""Merkana as a ``Channel`` whose flow differs: it pushes orders to us (``inbound_app``, served by
the Airflow API server), so its DAG has no extract; it re-checks held orders, posts status updates
and pushes stock, for every merchant of a platform. The platform is the configured account; each
merchant is a staging account ``<platform>/<mid>`` (``merkana.settings``). The wire, mapper,
inbound app and handlers: ``orderbridge.channels.merkana``."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import closing, nullcontext
from dataclasses import replace
from datetime import timedelta

from orderbridge.channels.base import Channel, Run, Stock, StockPolicy, Task

DOC = """
### Merkana fulfilment platform, one DAG per platform

Merkana calls us: product sync, initial stock, order create and cancel are stored by the
endpoints the Airflow API server serves (`plugins/merkana.py`, under `/merkana/<platform>/`),
each in its own transaction before it is answered. Every 10 minutes this DAG does the rest, for
every merchant (`mid`) of one platform (listed in `config/accounts.yaml`):

1. **recheck_orders**: re-check held orders from `raw` (an address or a mapping fixed since).
2. **post_status_updates**: orders that moved (in progress, partly shipped and shipped with each
   parcel, `send` only once every line shipped, cancelled) become status updates, posted to
   `ff-orders-status` in batches through the outbox.
3. **push_stock**: reconcile each merchant's own stock and post what changed to `ff-supplies`
   (levels by default: a post sent again after a lost answer changes nothing).

Write-backs follow the seed's retry policy: 6 attempts 10 minutes apart, then `failed` and left
for a person (`staging.outbox`). The send tasks retry on the same rhythm and stay red while
anything waits. To send failed status updates again after fixing the cause, trigger the DAG with
`{"resend_failed": true}`; what was sent is never sent again.

Scheduled rather than triggered by an Asset event: the endpoints run in the API server, not in a
task, and have no supported way to emit asset events there; 10 minutes is the seed's own retry step.
"""

# The seed's policy for a failed job: 5 retries at 10-minute intervals (orderbridge.channels.merkana.client).
SEND_RETRIES = {"retries": 5, "retry_delay": timedelta(minutes=10), "retry_exponential_backoff": 0,
                "max_retry_delay": timedelta(minutes=10)}


def most_serious(errors: list[Exception]) -> Exception:
    """The error the task should raise for several merchants': one a person must fix (``Permanent``)
    before one a retry may fix, so the retry policy fails the task instead of retrying it."""
    from orderbridge.errors import Permanent

    return next((e for e in errors if isinstance(e, Permanent)), errors[0])


def for_each_merchant(account, client, step: Callable) -> dict:
    """Run ``step`` for every merchant of ``client``'s platform; one merchant's failure does not stop
    the others. Raises the most serious of their errors after all ran."""
    from orderbridge import steps
    from orderbridge.channels.merkana.client import merchant_accounts
    from orderbridge.channels.merkana.settings import merchant_of
    from orderbridge.channels.merkana.store import record_owners
    from orderbridge.errors import OrderbridgeError

    with closing(steps.staging_connection()) as conn, conn.cursor() as cur:
        names = merchant_accounts(cur, client.settings)
        # Owners may have changed in the connection since the endpoints last wrote them.
        record_owners(cur, client.settings, [merchant_of(name) for name in names])
        conn.commit()
    totals: dict = {"merchants": 0}
    errors: list[OrderbridgeError] = []
    for merchant in (replace(account, name=name) for name in names):
        totals["merchants"] += 1
        try:
            counts = step(merchant)
        except OrderbridgeError as err:
            errors.append(err)
            continue
        for key, value in counts.items():
            if isinstance(value, int | float):
                totals[key] = totals.get(key, 0) + value
    steps.report("merkana", account, totals)
    if errors:
        raise most_serious(errors)
    return totals


def recheck_orders(channel: Channel, account, run: Run) -> dict:
    """Re-check held orders of every merchant (an address fixed, a mapping added) from ``raw``."""
    from orderbridge import steps
    from orderbridge.channels.merkana.mapping import MerkanaMapper

    with channel.client(account) as client:
        mapper = MerkanaMapper(client.settings)  # the client's settings: one connection read per task
        return for_each_merchant(account, client, lambda merchant: steps.load_staging(merchant, mapper, run.run_id))


def post_status_updates(channel: Channel, account, run: Run) -> dict:
    """Enqueue status updates (shipped, in progress, cancelled, ...) and post them, batched; with the
    DAG param ``resend_failed``, failed ones are queued again first."""
    from orderbridge import outbox, steps
    from orderbridge.channels.merkana import writeback as merkana
    from orderbridge.channels.merkana.client import MAX_ATTEMPTS

    resend_failed = bool(run.params.get("resend_failed"))
    with channel.client(account) as client:
        def step(merchant) -> dict:
            with closing(steps.staging_connection()) as conn:
                with conn.cursor() as cur:
                    requeued = outbox.requeue_failed(cur, merchant.channel, merchant.name, merkana.ORDER_STATUS,
                                                     run.run_id) if resend_failed else 0
                    counts = merkana.enqueue_status_updates(cur, client.settings, merchant.name, run.run_id)
                conn.commit()
                sent = steps.send_outbox(merchant, merkana.ORDER_STATUS, merkana.status_handler(client), run.run_id,
                                         batch_size=client.settings.status_batch_size,
                                         max_attempts=MAX_ATTEMPTS, retry_delay=client.settings.retry_delay)
                with conn.cursor() as cur:
                    outbox.raise_if_waiting(cur, merchant.channel, merchant.name, merkana.ORDER_STATUS,
                                            MAX_ATTEMPTS)
            return {**counts, "requeued": requeued, **{f"sent_{k}": v for k, v in sent.items()}}

        return for_each_merchant(account, client, step)


def push_stock(channel: Channel, account, run: Run) -> dict:
    """Reconcile each merchant's stock and post what changed to ff-supplies (levels by default)."""
    from orderbridge import outbox, steps
    from orderbridge import stock as stock_levels
    from orderbridge.channels.merkana import writeback as merkana
    from orderbridge.channels.merkana.client import MAX_ATTEMPTS

    with channel.client(account) as client:
        def step(merchant) -> dict:
            counts = steps.push_stock(merchant, run.run_key, merkana.stock_handler(client, merchant.name), run.run_id,
                                      batch_size=client.settings.stock_batch_size,
                                      max_attempts=MAX_ATTEMPTS, retry_delay=client.settings.retry_delay)
            with closing(steps.staging_connection()) as conn, conn.cursor() as cur:
                outbox.raise_if_waiting(cur, merchant.channel, merchant.name, stock_levels.STOCK,
                                        MAX_ATTEMPTS)
            return counts

        return for_each_merchant(account, client, step)


def _inbound_app():
    from orderbridge.channels.merkana.inbound import create_app

    return create_app()


class MerkanaChannel(Channel):
    name = "merkana"
    title = "Merkana fulfilment"
    doc = DOC
    tags = ("writeback", "stock")
    # Stock goes as levels by default, deltas with the extra stock_mode (a guess: README).
    stock = Stock(StockPolicy.ABSOLUTE)
    inbound_app = staticmethod(_inbound_app)
    dag_params = {"resend_failed": {"default": False, "type": "boolean",
                                    "description": "queue failed status updates again (a person fixed the cause)"}}

    def client(self, account):
        from orderbridge.channels.merkana.client import MerkanaClient

        return nullcontext(MerkanaClient(account.conn_id, account.name))

    def mapper(self, account):
        from orderbridge.channels.merkana.client import MerkanaClient
        from orderbridge.channels.merkana.mapping import MerkanaMapper

        return MerkanaMapper(MerkanaClient(account.conn_id, account.name).settings)

    def tasks(self) -> list[Task]:
        return [
            # The endpoints write orders as they arrive; this run's load is what the Asset event counts.
            Task("recheck_orders", recheck_orders, "Re-transform held orders of every merchant from raw.",
                 loads_orders=True),
            Task("post_status_updates", post_status_updates, "Enqueue and post order status updates "
                 "(ff-orders-status).", after=("recheck_orders",), options=SEND_RETRIES),
            Task("push_stock", push_stock, "Reconcile stock and post the changes (ff-supplies).",
                 after=("recheck_orders",), options=SEND_RETRIES),
        ]
