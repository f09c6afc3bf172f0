"""plentymarkets as a ``Channel``: three streams (the fetch status and the cancellation status as
queues, return orders by their own watermark), the status machine through the outbox, a package
per shipment, absolute stock, and one task of its own, ``record_returns``. The wire, mapper and
handlers: ``orderbridge.channels.plentymarkets``."""

from __future__ import annotations

from orderbridge.channels.base import (
    CatalogueSync,
    Channel,
    Stock,
    StockPolicy,
    Stream,
    Task,
    TrackingShape,
    lazy,
)

DOC = """
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
   visible, and is linked when the order arrives); each return the warehouse received
   (`received_at`) is queued to be told to plenty.
4. **send_status**: answer each outcome through the outbox: 5.1, 6.2, 6.3 or 8.8.
   **send_return_status**: set each received return order to 9.01, once.
5. **post_tracking**: for each parcel the warehouse shipped, add a package with its number, set the
   shipping profile mapped from the courier (`staging.carrier_codes`) and, once every line
   shipped, the shipped status (a partial parcel: extra `status_partly_shipped`, none by default).
6. **sync_catalogue** (hourly: skipped in the other runs): read every variation
   (`GET /rest/items/variations`) into `staging.channel_products`, so a listing that never sold
   gets its stock too.
7. **push_stock**: reconcile and write changed stock into the configured storage location.

Every step is safe to rerun: loads are upserts, write-backs have idempotency keys.
"""


def _orders(client, window):
    return client.iter_orders(client.settings.fetch_status, client.settings.fetch_status, window)


def _cancellations(client, window):
    return client.iter_orders(client.settings.cancel_status, client.settings.cancel_status, window)


def _returns(client, window):
    return client.iter_returns(window)


WRITEBACK = "orderbridge.channels.plentymarkets.writeback"


def _order_id(entry: dict) -> str:
    from orderbridge.staging import payload_id

    return payload_id(entry, "id")


def _stock(client, account):
    from orderbridge.channels.plentymarkets.writeback import stock_handler

    return stock_handler(client)


def _variations(client):
    return client.iter_variations()


def record_returns(channel: Channel, account, run) -> dict:
    """Record the return orders landed since the last run in ``staging.returns``, line by line, and
    link every return still waiting to its staged sales order (``plentymarkets.returns.record``)."""
    from contextlib import closing

    from orderbridge import steps
    from orderbridge.channels.plentymarkets import returns

    mapper = channel.mapper(account)
    with closing(steps.staging_connection()) as conn:
        counts = returns.record(conn, mapper, account.name, run.run_id)
        counts["received_enqueued"] = returns.enqueue_received(conn, account.name,
                                                               mapper.settings.return_received_status)
    return steps.report("returns", account, counts)


class PlentymarketsChannel(Channel):
    name = "plentymarkets"
    title = "plentymarkets"
    doc = DOC
    writebacks = {"status": lazy(WRITEBACK, "status_handler"),
                  "return_status": lazy(WRITEBACK, "return_status_handler")}
    tracking = TrackingShape(payload=lazy(WRITEBACK, "tracking_payload"), handler=lazy(WRITEBACK, "tracking_handler"))
    stock = Stock(StockPolicy.ABSOLUTE, handler=_stock)
    # Hourly: the catalogue changes slowly, and a big one costs a read per page of the budget.
    catalogue = CatalogueSync(_variations, lazy("orderbridge.channels.plentymarkets.mapping", "catalogue_product"))

    @property
    def streams(self) -> tuple[Stream, ...]:
        return (Stream("orders", _orders, _order_id), Stream("cancellations", _cancellations, _order_id),
                Stream("returns", _returns, _order_id, by_watermark=True,
                       land=lazy("orderbridge.channels.plentymarkets.returns", "land"),
                       watermark_name="return_orders_window"))

    def client(self, account):
        from orderbridge.channels.plentymarkets.client import PlentyClient

        return PlentyClient(account.conn_id, account.name)  # logs in lazily, out on exit

    def mapper(self, account):
        """The mapper with this system's status ids (from its connection's extras)."""
        from airflow.providers.http.hooks.http import HttpHook

        from orderbridge.channels.plentymarkets.mapping import PlentyMapper
        from orderbridge.channels.plentymarkets.settings import PlentySettings

        return PlentyMapper(PlentySettings.from_extra(HttpHook.get_connection(account.conn_id).extra_dejson,
                                                       account.conn_id))

    def tasks(self) -> list[Task]:
        tasks = super().tasks()
        at = [t.task_id for t in tasks].index("load_staging") + 1
        tasks.insert(at, Task("record_returns", record_returns, "Record return orders per line in "
                                                                "staging.returns and link them to their sales orders."))
        return tasks
