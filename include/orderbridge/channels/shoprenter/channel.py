"""Shoprenter webshops as a ``Channel``: orders by poll (and webhook, ``inbound``), the "accepted"
status and stock through the outbox, the catalogue both ways (``catalogue``) as its own task.
The wire, mapper and handlers: ``client``, ``mapping``, ``writeback``, ``catalogue``."""

from __future__ import annotations

from contextlib import closing

from orderbridge.channels.base import Channel, Stock, StockPolicy, Stream, Task, lazy

DOC = """
### Shoprenter webshop, one DAG per shop

Every 10 minutes, for one shop (its "Path" in the connection's extra `shop`; API user/key, or an
app's client id/secret with `auth: oauth2`):

1. **extract_orders**: `GET /orderExtend?full=1` updated in the run's window (from
   `order_overlap_minutes` earlier), 200 a page until the last; each page lands in `raw.orders`
   before the next is read. Webhook deliveries (`order_status_change`) land there too, at once.
2. **load_staging**: map SKUs and upsert staging. A new order becomes what the shop's
   `order_becomes` says: `ready` (invoice), `awaiting_payment` (pro-forma: until the shop status
   is one of `paid_statuses`) or `held` (a draft, flagged for a person).
3. **send_accept**: set the shop's order status to `accepted_status`, once per order (if set).
4. **sync_catalogue**: upload the product master (new and changed SKUs, `/batch` chunks,
   resumable) and/or download the shop's products and stock, as the shop's switches say.
5. **push_stock**: the sum of `stock_up_warehouses` for every SKU, as `stock_field`, in batches.

Every request of the shop, from every task, shares its 3 requests a second (`staging.rate_slots`).
"""

WRITEBACK = "orderbridge.channels.shoprenter.writeback"
MAPPING = "orderbridge.channels.shoprenter.mapping"


def _settings(account):
    from airflow.providers.http.hooks.http import HttpHook

    from orderbridge.channels.shoprenter.settings import ShoprenterSettings

    return ShoprenterSettings.from_extra(HttpHook.get_connection(account.conn_id).extra_dejson, account.conn_id)


def _orders(client, window):
    from orderbridge.window import resolve_window

    return client.iter_orders(window or resolve_window(None, None, None))


def _warehouses(account):
    return _settings(account).stock_up_warehouses


def sync_catalogue(channel: Channel, account, run) -> dict:
    """Upload and/or download the catalogue, as the shop's ``catalogue_upload``/``_download`` say."""
    from orderbridge import steps
    from orderbridge.channels.shoprenter import catalogue

    counts: dict = {}
    with channel.client(account) as client, closing(steps.staging_connection()) as conn:
        s = client.settings
        if s.webhook_url:
            counts["webhook_registered"] = client.register_webhook(s.webhook_url, "orderbridge")
        if s.catalogue_download or s.stock_down_warehouse:
            counts.update(catalogue.download(conn, client, account.name, run.run_id))
        if s.catalogue_upload:
            counts.update(catalogue.upload(conn, client, account.name, run.run_id))
    return steps.report("catalogue", account, counts)


class ShoprenterChannel(Channel):
    name = "shoprenter"
    title = "Shoprenter"
    doc = DOC
    writebacks = {"accept": lazy(WRITEBACK, "accept_handler")}
    stock = Stock(StockPolicy.ABSOLUTE, handler=lazy(WRITEBACK, "stock_handler"), warehouses=_warehouses)
    inbound_app = lazy("orderbridge.channels.shoprenter.inbound", "create_app")

    @property
    def streams(self) -> tuple[Stream, ...]:
        # Always a window: the run's, or from the last one's end (the watermark) to now.
        return (Stream("orders", _orders, lazy(MAPPING, "order_id"), by_watermark=True,
                       watermark_name="orders_window"),)

    def client(self, account):
        from orderbridge.channels.shoprenter.client import ShoprenterClient

        return ShoprenterClient(account.conn_id, account.name)

    def mapper(self, account):
        from orderbridge.channels.shoprenter.mapping import ShoprenterMapper

        return ShoprenterMapper(_settings(account))

    def tasks(self) -> list[Task]:
        tasks = super().tasks()
        at = [t.task_id for t in tasks].index("push_stock")
        tasks.insert(at, Task("sync_catalogue", sync_catalogue, "Upload/download the catalogue (resumable "
                              "chunks) and the shop's stock.", options={"retries": 3}))
        return tasks
