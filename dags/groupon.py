"""
### Groupon Goods orders, one DAG per account

Every 10 minutes, for one Groupon supplier account (listed in `config/accounts.yaml`):

1. **extract_orders**: read every `get_orders` page (the unexported queue; a backfill re-reads
   its date window instead) and land each page in `raw.orders` before asking for the next.
2. **load_staging**: map SKUs (aliases, bundles, kits) and upsert `staging.orders` and
   `order_lines`; unknown SKUs wait as `awaiting_mapping`, bad addresses as `invalid_address`.
3. **mark_exported**: tell Groupon, through the outbox, about every line now safe in staging.
4. **post_tracking**: post tracking for what the warehouse shipped, with Groupon's carrier code.
5. **reconcile_stock**: write the drift report (Groupon stock is infinite: nothing is pushed).

Every step is safe to rerun: loads are upserts, write-backs have idempotency keys.
"""

from __future__ import annotations

from airflow.sdk import dag, task

from orderbridge import dagkit
from orderbridge.config import Account, load_accounts


def groupon_account_dag(account: Account):
    @dag(**dagkit.dag_args(
        account, __doc__, f"Groupon Goods orders, tracking and stock for account {account.name}",
        ("import", "writeback", "stock")))
    def groupon_orders():
        @task
        def extract_orders(**context) -> dict:
            """Land every get_orders page in raw.orders."""
            from orderbridge import jobs

            run = context["dag_run"]
            return jobs.groupon_extract(account, run.run_id, run.run_type, context.get("data_interval_start"),
                                        context.get("data_interval_end"))

        @task
        def load_staging(**context) -> dict:
            """Transform raw payloads into staging orders (re-checks held orders too)."""
            from orderbridge import groupon, jobs

            return jobs.load_staging(account, groupon.GrouponMapper(account.currency), context["dag_run"].run_id)

        @task
        def mark_exported(**context) -> dict:
            """Send pending mark_exported effects."""
            from orderbridge import jobs

            return jobs.groupon_mark_exported(account, context["dag_run"].run_id)

        @task
        def post_tracking(**context) -> dict:
            """Enqueue tracking for new shipments and send it."""
            from orderbridge import jobs

            return jobs.groupon_post_tracking(account, context["dag_run"].run_id)

        @task
        def reconcile_stock(**context) -> dict:
            """Drift report for this account's channel SKUs."""
            from orderbridge import jobs

            run_key = (context.get("data_interval_end") or context["dag_run"].run_after).isoformat()
            return jobs.reconcile_stock(account, run_key, pushes_stock=False,
                                        not_pushed_reason="Groupon stock is infinite (seed 000)")

        extract_orders() >> load_staging() >> mark_exported() >> post_tracking() >> reconcile_stock()

    return groupon_orders()


for _account in load_accounts("groupon"):
    groupon_account_dag(_account)
