"""
### Merkana fulfilment platform, one DAG per platform

Merkana calls us: product sync, initial stock, order create and cancel are stored by the
endpoints the Airflow API server serves (`plugins/merkana.py`, under `/merkana/<platform>/`),
each in its own transaction before it is answered. Every 10 minutes this DAG does the rest, for
every merchant (`mid`) of one platform (listed in `config/accounts.yaml`):

1. **recheck_orders**: re-check held orders from `raw` (an address or a mapping fixed since).
2. **post_status_updates**: orders that moved (in progress, shipped with their parcel, cancelled)
   become status updates, posted to `ff-orders-status` in batches through the outbox.
3. **push_stock**: reconcile stock and post what changed to `ff-supplies` (deltas by default).

Write-backs follow the seed's retry policy: 6 attempts 10 minutes apart, then `failed` and left
for a person (`staging.outbox`). The send tasks retry on the same rhythm and stay red while
anything waits. To send failed status updates again after fixing the cause, trigger the DAG with
`{"resend_failed": true}`; what was sent is never sent again.

Scheduled rather than triggered by an Asset event: the endpoints run in the API server, not in a
task, and have no supported way to emit asset events there; 10 minutes is the seed's own retry step.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import Param, dag, task

from orderbridge import dagkit
from orderbridge.config import Account, load_accounts

# The seed's policy for a failed job: 5 retries at 10-minute intervals (orderbridge.merkana.client).
SEND_RETRIES = {"retries": 5, "retry_delay": timedelta(minutes=10), "retry_exponential_backoff": 0,
                "max_retry_delay": timedelta(minutes=10)}


def merkana_platform_dag(account: Account):
    @dag(**dagkit.dag_args(
        account, __doc__, f"Merkana fulfilment: status updates and stock for platform {account.name}",
        ("writeback", "stock"),
        params={"resend_failed": Param(False, type="boolean",
                                       description="queue failed status updates again (a person fixed the cause)")}))
    def merkana_platform():
        @task
        def recheck_orders(**context) -> dict:
            """Re-transform held orders of every merchant from raw."""
            from orderbridge import jobs

            return jobs.merkana_recheck_orders(account, context["dag_run"].run_id)

        @task(**SEND_RETRIES)
        def post_status_updates(**context) -> dict:
            """Enqueue and post order status updates (ff-orders-status)."""
            from orderbridge import jobs

            return jobs.merkana_post_status(account, context["dag_run"].run_id,
                                            resend_failed=bool(context["params"].get("resend_failed")))

        @task(**SEND_RETRIES)
        def push_stock(**context) -> dict:
            """Reconcile stock and post the changes (ff-supplies)."""
            from orderbridge import jobs

            run_key = (context.get("data_interval_end") or context["dag_run"].run_after).isoformat()
            return jobs.merkana_push_stock(account, run_key, context["dag_run"].run_id)

        recheck_orders() >> [post_status_updates(), push_stock()]

    return merkana_platform()


for _account in load_accounts("merkana"):
    merkana_platform_dag(_account)
