"""
### plentymarkets orders, one DAG per system

Every 10 minutes, for one plentymarkets system (listed in `config/accounts.yaml`; ids and status
ids in its Airflow connection):

1. **extract_orders**: land every order in the fetch status (5) and cancellations (8.0) in
   `raw.orders`, and the return orders (type 3) updated since the last run in `raw.return_orders`,
   page by page (a backfill re-reads its window by `updatedAt`).
2. **load_staging**: map SKUs (`variation.number`) and upsert staging; bad addresses wait as
   `invalid_address`, orders the shelf cannot cover as `awaiting_stock`, cancellations cancel
   (or flag an order already in work).
3. **record_returns**: each return order goes to `staging.returns`, what comes back line by line to
   `staging.return_lines`, linked to its sales order (a return whose order is not staged yet waits,
   visible, and is linked when the order arrives).
4. **send_status**: answer each outcome through the outbox: 5.1, 6.2, 6.3 or 8.8.
5. **post_tracking**: for what the warehouse shipped, add the package number, set the shipping
   profile mapped from the courier (`staging.carrier_codes`) and the shipped status.
6. **push_stock**: reconcile and write changed stock into the configured storage location.

Every step is safe to rerun: loads are upserts, write-backs have idempotency keys.
"""

from __future__ import annotations

from airflow.sdk import dag, task

from orderbridge import dagkit
from orderbridge.config import Account, load_accounts


def plentymarkets_account_dag(account: Account):
    @dag(**dagkit.dag_args(
        account, __doc__, f"plentymarkets orders, status, tracking and stock for system {account.name}",
        ("import", "writeback", "stock")))
    def plentymarkets_orders():
        @task
        def extract_orders(**context) -> dict:
            """Land orders in the fetch and cancellation statuses, and recent return orders, in raw."""
            from orderbridge import jobs

            run = context["dag_run"]
            return jobs.plenty_extract(account, run.run_id, run.run_type, context.get("data_interval_start"),
                                       context.get("data_interval_end"))

        @task
        def load_staging(**context) -> dict:
            """Transform raw payloads into staging orders (re-checks held orders too)."""
            from orderbridge import jobs

            return jobs.load_staging(account, jobs.plenty_mapper(account), context["dag_run"].run_id)

        @task
        def record_returns(**context) -> dict:
            """Record return orders per line in staging.returns and link them to their sales orders."""
            from orderbridge import jobs

            return jobs.plenty_record_returns(account, context["dag_run"].run_id)

        @task
        def send_status(**context) -> dict:
            """Send pending status changes (5.1, 6.2, 6.3, 8.8)."""
            from orderbridge import jobs

            return jobs.plenty_send_status(account, context["dag_run"].run_id)

        @task
        def post_tracking(**context) -> dict:
            """Package number, shipping profile and shipped status for new shipments."""
            from orderbridge import jobs

            return jobs.plenty_post_tracking(account, context["dag_run"].run_id)

        @task
        def push_stock(**context) -> dict:
            """Reconcile stock and correct what differs in the storage location."""
            from orderbridge import jobs

            run_key = (context.get("data_interval_end") or context["dag_run"].run_after).isoformat()
            return jobs.plenty_push_stock(account, run_key, context["dag_run"].run_id)

        extract_orders() >> load_staging() >> record_returns() >> send_status() >> post_tracking() >> push_stock()

    return plentymarkets_orders()


for _account in load_accounts("plentymarkets"):
    plentymarkets_account_dag(_account)
