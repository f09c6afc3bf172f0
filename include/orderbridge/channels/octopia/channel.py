"""Octopia (Cdiscount and every Octopia sales channel) as a ``Channel``: orders per sales channel
by update window, acceptance and parcels through the outbox, stock as offer packages polled by
later runs. The wire, mapper and handlers: ``client``, ``mapping``, ``writeback``, ``packages``."""

from __future__ import annotations

from contextlib import closing

from orderbridge.channels.base import Channel, Stock, StockPolicy, Stream, Task, TrackingShape, lazy

DOC = """
### Octopia orders (Cdiscount and the other Octopia sales channels), one DAG per seller

Every `every_minutes` (default 10), for one seller that delegated to our client id (its SellerId
in the connection's extras; our client id and secret are the connection's login and password):

1. **extract_orders**: `GET /orders` of each sales channel (the extra `sales_channels`, or every
   channel the seller subscribes to) updated in the run's window, starting `order_overlap_minutes`
   early, 100 a page until a short page; each page lands in `raw.orders` before the next is read.
2. **load_staging**: map `offer.sellerProductId` (aliases, bundles) and upsert staging, one order
   per delivery address; Fulfillment/Xdock lines are recorded as closed, never picked; orders the
   shelf cannot cover wait as `awaiting_stock`.
3. **send_approval**: accept each order in `WaitingAcceptance` the warehouse can fulfil, once;
   the others are held and flagged (or refused, extra `acceptance: refuse`).
4. **post_tracking**: declare each warehouse parcel once (carrier name from
   `staging.carrier_codes`, tracking URL from the parcel or the courier's template); a line not
   InPreparation yet waits for a later run.
5. **poll_offer_packages**: look once at the stock packages earlier runs set Ready; record what
   Octopia rejected, with its reason.
6. **push_stock**: reconcile and send changed quantities as one offer package per sales channel.

Every step is safe to rerun: loads are upserts, write-backs have idempotency keys and re-read the
order before they write.
"""

WRITEBACK = "orderbridge.channels.octopia.writeback"
MAPPING = "orderbridge.channels.octopia.mapping"


def _orders(client, window):
    from orderbridge.window import resolve_window

    return client.iter_orders(window or resolve_window(None, None, None))


def _land(cur, account: str, items, run_id):
    """Each order under every staging id it makes (one per delivery address, ``mapping.landed``)."""
    from orderbridge.channels.octopia.mapping import landed
    from orderbridge.staging import land_raw

    return land_raw(cur, "octopia", account, landed(items), run_id)


def _stock(client, account):
    from orderbridge.channels.octopia.packages import record
    from orderbridge.channels.octopia.writeback import stock_handler

    return stock_handler(client, account.name, record)


def poll_offer_packages(channel: Channel, account, run) -> dict:
    """Look once at every offer package earlier runs set Ready (``packages.poll``)."""
    from orderbridge import steps
    from orderbridge.channels.octopia import packages

    with channel.client(account) as client, closing(steps.staging_connection()) as conn:
        counts = packages.poll(conn, client, account.name, run.run_id)
    return steps.report("offer packages", account, counts)


class OctopiaChannel(Channel):
    name = "octopia"
    title = "Octopia (Cdiscount)"
    doc = DOC
    writebacks = {"approval": lazy(WRITEBACK, "approval_handler")}
    # One declaration per warehouse parcel, naming its lines (the handler groups a batch by parcel).
    tracking = TrackingShape(payload=lazy(WRITEBACK, "tracking_payload"), handler=lazy(WRITEBACK, "tracking_handler"),
                             per="parcel", tracking_url=True)
    stock = Stock(StockPolicy.ABSOLUTE, handler=_stock)

    @property
    def streams(self) -> tuple[Stream, ...]:
        # No queue on Octopia: always a window, the run's (extract_mode window, or a backfill) or
        # from the last one's end (the watermark) to now.
        return (Stream("orders", _orders, lazy(MAPPING, "order_id"), by_watermark=True, land=_land,
                       watermark_name="orders_window"),)

    def client(self, account):
        from orderbridge.channels.octopia.client import OctopiaClient

        return OctopiaClient(account.conn_id, account.name)

    def mapper(self, account):
        """The mapper with the account's ``acceptance`` setting (from its connection's extras)."""
        from airflow.providers.http.hooks.http import HttpHook

        from orderbridge.channels.octopia.mapping import OctopiaMapper
        from orderbridge.channels.octopia.settings import OctopiaSettings

        settings = OctopiaSettings.from_extra(HttpHook.get_connection(account.conn_id).extra_dejson, account.conn_id)
        return OctopiaMapper(settings.acceptance)

    def tasks(self) -> list[Task]:
        tasks = super().tasks()
        at = [t.task_id for t in tasks].index("push_stock")
        tasks.insert(at, Task("poll_offer_packages", poll_offer_packages,
                              "Check offer packages earlier runs sent; record items Octopia rejected."))
        return tasks
