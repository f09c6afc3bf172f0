"""The steps DAG tasks run: one function per task, returning counts for XCom and the log.

Each function opens what it needs (the staging connection through ``PostgresHook``, the channel
client through its Airflow connection), does one step as its own transactions, and logs a
one-line report in counts, so a task log in the Airflow UI reads like a report. Payloads never go
to XCom.
"""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Callable, Iterable
from contextlib import closing
from dataclasses import asdict
from datetime import datetime

from orderbridge import db, groupon, outbox, shipments, staging, stock
from orderbridge.config import Account
from orderbridge.staging import payload_id
from orderbridge.window import Window, resolve_window

log = logging.getLogger("orderbridge")

CRASH_ENV = "ORDERBRIDGE_CRASH_AT"


def crash_point(name: str) -> None:
    """Test hook: SIGKILL this process at step boundary ``name`` if ``ORDERBRIDGE_CRASH_AT`` names it.

    A no-op unless the variable is set. The chaos suite (``orderbridge.chaos``) uses it to kill a
    worker exactly where a real crash hurts most: ``extract.landed`` (a page is committed in ``raw``,
    nothing acknowledged), ``load.committed`` (orders and their acknowledgement effects committed,
    nothing sent), ``writeback.<kind>`` such as ``writeback.tracking`` (the channel accepted a batch
    of that outbox kind, and the outbox has not recorded it yet).
    """
    if os.environ.get(CRASH_ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)


def staging_connection():
    """A psycopg2 connection to the staging database, from the ``orderbridge_staging`` connection.

    ``PostgresHook.get_conn()`` (provider 7.1) hands out a psycopg 3 connection whenever psycopg 3
    is installed, and it is; our set-based code is written for psycopg2 (``copy_expert``,
    ``execute_values``), so the hook only resolves the Airflow connection here.
    """
    from airflow.providers.postgres.hooks.postgres import PostgresHook

    conn = PostgresHook.get_connection(db.STAGING_CONN_ID)
    return db.connect_params(host=conn.host, port=conn.port, user=conn.login, password=conn.password,
                             dbname=conn.schema)


def _report(step: str, account: Account, counts: dict) -> dict:
    log.info("%s %s/%s: %s", step, account.channel, account.name,
             ", ".join(f"{k}={v}" for k, v in counts.items()))
    return counts


def extract_window(account: Account, run_type, start: datetime | None, end: datetime | None,
                   watermark: str | None) -> Window | None:
    """None to read the channel's queue of new orders; a Window to re-read a date range.

    ``auto`` reads the queue on scheduled and manual runs (Groupon keeps offering an order until
    it is marked exported, so the queue cannot miss one) and the run's date window on backfills.
    """
    mode = account.extract_mode
    # The task SDK's DagRunType is a str enum whose str() is "DagRunType.BACKFILL": compare values.
    run_type = getattr(run_type, "value", run_type)
    if mode == "queue" or (mode == "auto" and run_type != "backfill"):
        return None
    return resolve_window(start, end, watermark)


def land_pages(conn, account: Account, pages: Iterable[list[dict]], external_id: Callable[[dict], str],
               run_id: str | None, land: Callable[[object, list[tuple[str, dict]]], int] | None = None) -> dict:
    """Land each page in ``raw`` in its own transaction, before asking for the next one.

    Args:
        land: writes one page's ``(external_id, payload)`` pairs with the cursor and returns how
            many were new; default ``staging.land_raw`` into ``raw.orders``.
    """
    counts = {"pages": 0, "payloads": 0, "new_payloads": 0}
    statistics = staging.raw_statistics()
    for page in pages:
        with conn.cursor() as cur:
            items = [(external_id(p), p) for p in page]
            if land is None:
                new = staging.land_raw(cur, account.channel, account.name, items, run_id)
                statistics.wrote(cur, new)
            else:
                new = land(cur, items)
        conn.commit()
        counts["new_payloads"] += new
        crash_point("extract.landed")
        counts["pages"] += 1
        counts["payloads"] += len(page)
    return counts


def groupon_extract(account: Account, run_id: str, run_type=None, start: datetime | None = None,
                    end: datetime | None = None) -> dict:
    client = groupon.GrouponClient(account.conn_id, account.name)
    with closing(staging_connection()) as conn:
        with conn.cursor() as cur:
            watermark = db.get_state(cur, account.channel, account.name, "orders_window")
        window = extract_window(account, run_type, start, end, watermark)
        counts = land_pages(conn, account, client.iter_orders(window), groupon.entry_id, run_id)
        if window is not None:
            with conn.cursor() as cur:
                db.set_state(cur, account.channel, account.name, "orders_window", window.end.isoformat())
            conn.commit()
    counts.update(mode="window" if window else "queue", requests=client.stats["requests"],
                  throttled=client.stats["throttled"], retried=client.stats["retried"])
    if window:
        counts.update(window_start=window.start.isoformat(), window_end=window.end.isoformat())
    return _report("extract", account, counts)


def load_staging(account: Account, mapper: staging.ChannelMapper, run_id: str) -> dict:
    with closing(staging_connection()) as conn:
        counts = staging.transform(conn, mapper, account.name, run_id)
    crash_point("load.committed")
    result = asdict(counts)
    result.update({f"status_{k}": v for k, v in result.pop("by_status").items()})
    return _report("load", account, result)


def send_outbox(account: Account, kind: str, handler: outbox.Handler, run_id: str, **options) -> dict:
    def send(rows: list[outbox.OutboxRow]) -> dict[int, outbox.Outcome]:
        outcomes = handler(rows)
        crash_point(f"writeback.{kind}")
        return outcomes

    with closing(staging_connection()) as conn:
        counts = outbox.dispatch(conn, account.channel, account.name, kind, send, run_id=run_id, **options)
    return _report(f"send {kind}", account, asdict(counts))


def groupon_mark_exported(account: Account, run_id: str) -> dict:
    client = groupon.GrouponClient(account.conn_id, account.name)
    return send_outbox(account, groupon.MARK_EXPORTED, groupon.mark_exported_handler(client), run_id)


def post_tracking(account: Account, run_id: str, payload: Callable[[str, str, str, int], dict],
                  handler: outbox.Handler) -> dict:
    """Turn new shipments into tracking effects (one per line), then send them."""
    with closing(staging_connection()) as conn:
        with conn.cursor() as cur:
            enq = shipments.enqueue_tracking(cur, account.channel, account.name, payload, run_id)
        conn.commit()
    _report("enqueue tracking", account, asdict(enq))
    sent = send_outbox(account, shipments.TRACKING, handler, run_id)
    return {**asdict(enq), **{f"sent_{k}": v for k, v in sent.items()}}


def groupon_post_tracking(account: Account, run_id: str) -> dict:
    client = groupon.GrouponClient(account.conn_id, account.name)
    return post_tracking(account, run_id, groupon.tracking_payload, groupon.tracking_handler(client))


def reconcile_stock(account: Account, run_key: str, *, pushes_stock: bool, not_pushed_reason: str = "") -> dict:
    with closing(staging_connection()) as conn:
        with conn.cursor() as cur:
            # What the channel accepted since the last run is what it shows now: compare with that.
            stock.confirm_sent(cur, account.channel, account.name)
            counts = stock.reconcile(cur, account.channel, account.name, run_key, pushes_stock=pushes_stock,
                                     not_pushed_reason=not_pushed_reason or "channel takes no stock updates")
        conn.commit()
    return _report("reconcile stock", account, asdict(counts))


def push_stock(account: Account, run_key: str, handler: outbox.Handler, run_id: str, **options) -> dict:
    """Reconcile, send the stock values that changed, and confirm what the channel accepted (also
    when a later batch failed: what was sent is what the channel shows). ``options`` go to ``dispatch``."""
    counts = reconcile_stock(account, run_key, pushes_stock=True)
    try:
        sent = send_outbox(account, stock.STOCK, handler, run_id, **options)
    finally:
        with closing(staging_connection()) as conn:
            with conn.cursor() as cur:
                confirmed = stock.confirm_sent(cur, account.channel, account.name)
            conn.commit()
    return {**counts, **{f"sent_{k}": v for k, v in sent.items()}, "confirmed": confirmed}


# -- plentymarkets ------------------------------------------------------------------------------
def plenty_mapper(account: Account):
    """The mapper with this system's status ids (from its connection's extras)."""
    from airflow.providers.http.hooks.http import HttpHook

    from orderbridge.plentymarkets import PlentyMapper, PlentySettings

    return PlentyMapper(PlentySettings.from_extra(HttpHook.get_connection(account.conn_id).extra_dejson))


PLENTY_RETURNS_WINDOW = "return_orders_window"  # staging.sync_state: updatedAt read up to, scheduled runs


def plenty_extract(account: Account, run_id: str, run_type=None, start: datetime | None = None,
                   end: datetime | None = None) -> dict:
    """Land orders in the fetch status, cancellations (8.0) and return orders updated since the last run.

    The fetch and cancellation statuses are queues: an order leaves them when we answer 5.1 or
    8.8, so reading the whole status cannot miss one (scheduled runs); a backfill re-reads its
    window by ``updatedAt`` instead. Return orders (typeId 3) are read by their own type, whatever
    their status, from their own ``updatedAt`` watermark (``return_orders_window``, set once their
    last page has landed), and land in ``raw.return_orders``, never among the orders
    to ship. A backfill reads them in its window and leaves that watermark alone: a window in the
    past must not make the next scheduled run skip what changed since.
    """
    from orderbridge.plentymarkets import PlentyClient
    from orderbridge.plentymarkets import returns as plenty_returns

    def ext_id(entry: dict) -> str:
        return payload_id(entry, "id")

    with PlentyClient(account.conn_id, account.name) as client, closing(staging_connection()) as conn:
        settings = client.settings
        with conn.cursor() as cur:
            watermark = db.get_state(cur, account.channel, account.name, "orders_window")
            returns_mark = db.get_state(cur, account.channel, account.name, PLENTY_RETURNS_WINDOW)
        window = extract_window(account, run_type, start, end, watermark)
        counts = land_pages(conn, account, client.iter_orders(settings.fetch_status, settings.fetch_status, window),
                            ext_id, run_id)
        cancels = land_pages(conn, account, client.iter_orders(settings.cancel_status, settings.cancel_status,
                                                               window), ext_id, run_id)
        returns_window = window or resolve_window(None, None, returns_mark)
        returns = land_pages(conn, account, client.iter_returns(returns_window), ext_id, run_id,
                             land=lambda cur, items: plenty_returns.land(cur, account.name, items, run_id))
        with conn.cursor() as cur:
            if window is not None:
                db.set_state(cur, account.channel, account.name, "orders_window", window.end.isoformat())
            if getattr(run_type, "value", run_type) != "backfill":
                db.set_state(cur, account.channel, account.name, PLENTY_RETURNS_WINDOW, returns_window.end.isoformat())
        conn.commit()
    counts.update(mode="window" if window else "queue", cancellations=cancels["payloads"],
                  returns=returns["payloads"], new_payloads=counts["new_payloads"] + cancels["new_payloads"]
                  + returns["new_payloads"], returns_from=returns_window.start.isoformat(),
                  **{k: client.stats[k] for k in ("requests", "throttled", "retried", "logins", "relogins",
                                                  "budget_waits")})
    return _report("extract", account, counts)


def plenty_record_returns(account: Account, run_id: str) -> dict:
    """Record the return orders landed since the last run in ``staging.returns``, line by line, and link
    every return still waiting to its staged sales order (``plentymarkets.returns.record``)."""
    from orderbridge.plentymarkets import returns

    with closing(staging_connection()) as conn:
        counts = returns.record(conn, plenty_mapper(account), account.name, run_id)
    return _report("returns", account, counts)


def plenty_send_status(account: Account, run_id: str) -> dict:
    from orderbridge.plentymarkets import STATUS, PlentyClient
    from orderbridge.plentymarkets.writeback import status_handler

    with PlentyClient(account.conn_id, account.name) as client:
        return send_outbox(account, STATUS, status_handler(client), run_id)


def plenty_post_tracking(account: Account, run_id: str) -> dict:
    from orderbridge.plentymarkets import PlentyClient
    from orderbridge.plentymarkets.writeback import tracking_handler, tracking_payload

    with PlentyClient(account.conn_id, account.name) as client:
        return post_tracking(account, run_id, tracking_payload, tracking_handler(client))


def plenty_push_stock(account: Account, run_key: str, run_id: str) -> dict:
    from orderbridge.plentymarkets import PlentyClient
    from orderbridge.plentymarkets.writeback import stock_handler

    with PlentyClient(account.conn_id, account.name) as client:
        return push_stock(account, run_key, stock_handler(client), run_id)


# -- Merkana --------------------------------------------------------------------------------------
# The account in config is the platform; each merchant is its own staging account (``<platform>/<mid>``,
# see ``merkana.settings``). Inbound calls are stored by the API-server plugin; these tasks re-check
# held orders and send what goes back. Send tasks raise while rows wait for a retry, so a task is
# green only when nothing it was meant to send is still waiting.
def _merkana_merchants(account: Account, settings) -> list[Account]:
    from dataclasses import replace

    from orderbridge.merkana.client import merchant_accounts

    with closing(staging_connection()) as conn, conn.cursor() as cur:
        names = merchant_accounts(cur, settings)
    return [replace(account, name=name) for name in names]


def _merkana_each(account: Account, client, step: Callable[[Account], dict]) -> dict:
    """Run ``step`` for every merchant of ``client``'s platform; one merchant's failure does not stop
    the others (raised after)."""
    from orderbridge.errors import OrderbridgeError

    totals: dict = {"merchants": 0}
    errors: list[OrderbridgeError] = []
    for merchant in _merkana_merchants(account, client.settings):
        totals["merchants"] += 1
        try:
            counts = step(merchant)
        except OrderbridgeError as err:
            errors.append(err)
            continue
        for key, value in counts.items():
            if isinstance(value, int | float):
                totals[key] = totals.get(key, 0) + value
    _report("merkana", account, totals)
    if errors:
        raise errors[0]
    return totals


def merkana_recheck_orders(account: Account, run_id: str) -> dict:
    """Re-check held orders of every merchant (an address fixed, a mapping added) from ``raw``."""
    from orderbridge.merkana.client import MerkanaClient
    from orderbridge.merkana.mapping import MerkanaMapper

    client = MerkanaClient(account.conn_id, account.name)
    mapper = MerkanaMapper(client.settings)
    return _merkana_each(account, client, lambda merchant: load_staging(merchant, mapper, run_id))


def merkana_post_status(account: Account, run_id: str, resend_failed: bool = False) -> dict:
    """Enqueue status updates (shipped, in progress, cancelled, ...) and post them, batched."""
    from orderbridge.merkana import client as merkana

    client = merkana.MerkanaClient(account.conn_id, account.name)

    def step(merchant: Account) -> dict:
        with closing(staging_connection()) as conn:
            with conn.cursor() as cur:
                requeued = outbox.requeue_failed(cur, merchant.channel, merchant.name, merkana.ORDER_STATUS,
                                                 run_id) if resend_failed else 0
                counts = merkana.enqueue_status_updates(cur, client.settings, merchant.name, run_id)
            conn.commit()
            sent = send_outbox(merchant, merkana.ORDER_STATUS, merkana.status_handler(client), run_id,
                               batch_size=int(client.extra.get("status_batch_size", 100)),
                               max_attempts=merkana.MAX_ATTEMPTS, retry_delay=client.settings.retry_delay)
            with conn.cursor() as cur:
                outbox.raise_if_waiting(cur, merchant.channel, merchant.name, merkana.ORDER_STATUS,
                                        merkana.MAX_ATTEMPTS)
        return {**counts, "requeued": requeued, **{f"sent_{k}": v for k, v in sent.items()}}

    return _merkana_each(account, client, step)


def merkana_push_stock(account: Account, run_key: str, run_id: str) -> dict:
    """Reconcile each merchant's stock and post what changed to ff-supplies (deltas by default)."""
    from orderbridge.merkana import client as merkana

    client = merkana.MerkanaClient(account.conn_id, account.name)

    def step(merchant: Account) -> dict:
        counts = push_stock(merchant, run_key, merkana.stock_handler(client, merchant.name), run_id,
                            batch_size=int(client.extra.get("stock_batch_size", 500)),
                            max_attempts=merkana.MAX_ATTEMPTS, retry_delay=client.settings.retry_delay)
        with closing(staging_connection()) as conn, conn.cursor() as cur:
            outbox.raise_if_waiting(cur, merchant.channel, merchant.name, stock.STOCK, merkana.MAX_ATTEMPTS)
        return counts

    return _merkana_each(account, client, step)
