"""The generic steps DAG tasks run, for any channel: each takes ``(channel, account, run)``.

Each step opens what it needs (the staging connection through ``PostgresHook``, the channel
client through ``channel.client``), does its work as its own transactions, and logs a one-line
report in counts, so a task log in the Airflow UI reads like a report. Payloads never go to XCom.
Nothing here names a channel: what differs between channels comes from its ``Channel``.
"""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Callable, Iterable
from contextlib import closing
from dataclasses import asdict
from datetime import timedelta

import psycopg2

from orderbridge import attention, db, outbox, shipments, staging, stock
from orderbridge.channels.base import CatalogueProduct, Channel, Run, StockPolicy, Stream, Task
from orderbridge.config import Account
from orderbridge.errors import InvalidPayload
from orderbridge.window import Window, resolve_window

log = logging.getLogger("orderbridge")

CRASH_ENV = "ORDERBRIDGE_CRASH_AT"
_CRASHES_SEEN: dict[str, int] = {}


def crash_point(name: str) -> None:
    """Test hook: SIGKILL this process at step boundary ``name`` if ``ORDERBRIDGE_CRASH_AT`` names it.

    A no-op unless the variable is set. The chaos suite uses it to kill a worker exactly where a
    real crash hurts most: ``extract.landed`` (a page is committed in ``raw``, nothing
    acknowledged), ``load.committed`` (orders and their acknowledgement effects committed, nothing
    sent), ``writeback.<kind>`` such as ``writeback.tracking`` (the channel accepted a batch of that
    outbox kind, and the outbox has not recorded it yet), ``catalogue.chunk`` (Shoprenter: an upload
    chunk answered and recorded). ``<point>#N`` kills at the N-th time the point is reached.
    """
    target, _, nth = os.environ.get(CRASH_ENV, "").partition("#")  # ``name#N``: the N-th time it is reached
    if target == name:
        _CRASHES_SEEN[name] = _CRASHES_SEEN.get(name, 0) + 1
        if _CRASHES_SEEN[name] >= int(nth or 1):
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


def report(step: str, account: Account, counts: dict) -> dict:
    log.info("%s %s/%s: %s", step, account.channel, account.name,
             ", ".join(f"{k}={v}" for k, v in counts.items()))
    return counts


def run_task(task: Task, channel: Channel, account: Account, run: Run) -> dict:
    """Run one task's step; the attention it raised (still open) is logged as one WARNING per reason
    and counted in its result (``attention_<reason>``). Reporting never fails the task."""
    since = None
    try:
        with closing(staging_connection()) as conn, conn.cursor() as cur:
            since = attention.mark(cur)
    except psycopg2.Error as err:
        log.warning("%s %s/%s: new attention will not be reported: %s", task.task_id, account.channel,
                    account.name, err)
    try:
        result = task.run(channel, account, run)
    except BaseException:
        _new_attention(task, account, run, since)  # a failed task still says what it left for a person
        raise
    return {**result, **_new_attention(task, account, run, since)}


def _new_attention(task: Task, account: Account, run: Run, since) -> dict[str, int]:
    if since is None:
        return {}
    try:
        with closing(staging_connection()) as conn, conn.cursor() as cur:
            new = attention.raised_since(cur, account.channel, account.name, since, run.run_id)
    except psycopg2.Error as err:
        log.warning("%s %s/%s: new attention not reported: %s", task.task_id, account.channel, account.name, err)
        return {}
    return attention.report_new(account.channel, account.name, new, task.task_id)


def extract_window(account: Account, run: Run, watermark: str | None) -> Window | None:
    """None to read the channel's queue of new orders; a Window to re-read a date range.

    ``auto`` reads the queue on scheduled and manual runs (a channel keeps offering an order until
    it is acknowledged, so the queue cannot miss one) and the run's date window on backfills.
    """
    mode = account.extract_mode
    if mode == "queue" or (mode == "auto" and run.kind != "backfill"):
        return None
    return resolve_window(run.start, run.end, watermark)


def land_pages(conn, account: Account, pages: Iterable[list[dict]], external_id: Callable[[dict], str],
               run_id: str | None, land: Callable | None = None) -> dict:
    """Land each page in its own transaction, before asking for the next one.

    Args:
        land: ``(cur, account name, items, run_id) -> new`` for one page of ``(external_id,
            payload)`` pairs; default ``staging.land_raw`` into ``raw.orders``.
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
                new = land(cur, account.name, items, run_id)
        conn.commit()
        counts["new_payloads"] += new
        crash_point("extract.landed")
        counts["pages"] += 1
        counts["payloads"] += len(page)
    return counts


def extract(channel: Channel, account: Account, run: Run) -> dict:
    """Land every stream of the channel in ``raw``, page by page, and move the watermarks.

    Queue streams read the channel's queue, or the run's window on a backfill (``extract_window``);
    a stream ``by_watermark`` reads from its own watermark, which only scheduled and manual runs
    move: a backfill's window in the past must not make the next run skip what changed since.
    """
    totals: dict = {}
    with channel.client(account) as client, closing(staging_connection()) as conn:
        with conn.cursor() as cur:
            marks = {s.watermark: db.get_state(cur, account.channel, account.name, s.watermark)
                     for s in channel.streams}
        window = extract_window(account, run, marks.get("orders_window"))
        moved: dict[str, str] = {}
        for stream in channel.streams:
            piece = _stream_window(stream, window, marks[stream.watermark])
            counts = land_pages(conn, account, stream.pages(client, piece), stream.external_id, run.run_id,
                                stream.land)
            if stream.by_watermark and run.kind != "backfill":
                moved[stream.watermark] = piece.end.isoformat()
            elif not stream.by_watermark and piece is not None:
                moved[stream.watermark] = piece.end.isoformat()
            if not totals:
                totals.update(counts)
            else:
                totals[stream.name] = counts["payloads"]
                totals["new_payloads"] += counts["new_payloads"]
        with conn.cursor() as cur:
            for name, value in moved.items():
                db.set_state(cur, account.channel, account.name, name, value)
        conn.commit()
    totals["mode"] = "window" if window else "queue"
    if window:
        totals.update(window_start=window.start.isoformat(), window_end=window.end.isoformat())
    totals.update(client.stats)
    return report("extract", account, totals)


def _stream_window(stream: Stream, window: Window | None, watermark: str | None) -> Window | None:
    if stream.by_watermark:
        return window or resolve_window(None, None, watermark)
    return window


def load_staging(account: Account, mapper: staging.ChannelMapper, run_id: str) -> dict:
    """Transform what is new or held in ``raw`` into staging (``staging.transform``)."""
    with closing(staging_connection()) as conn:
        counts = staging.transform(conn, mapper, account.name, run_id)
    crash_point("load.committed")
    result = asdict(counts)
    result.update({f"status_{k}": v for k, v in result.pop("by_status").items()})
    return report("load", account, result)


def load(channel: Channel, account: Account, run: Run) -> dict:
    return load_staging(account, channel.mapper(account), run.run_id)


def send_outbox(account: Account, kind: str, handler: outbox.Handler, run_id: str, **options) -> dict:
    """Send every pending effect of one kind through ``handler``; ``options`` go to ``dispatch``."""
    def send(rows: list[outbox.OutboxRow]) -> dict[int, outbox.Outcome]:
        outcomes = handler(rows)
        crash_point(f"writeback.{kind}")
        return outcomes

    with closing(staging_connection()) as conn:
        counts = outbox.dispatch(conn, account.channel, account.name, kind, send, run_id=run_id, **options)
    return report(f"send {kind}", account, asdict(counts))


def sender(kind: str) -> Callable[[Channel, Account, Run], dict]:
    """The step that sends one write-back kind of a channel."""
    def send(channel: Channel, account: Account, run: Run) -> dict:
        with channel.client(account) as client:
            return send_outbox(account, kind, channel.writebacks[kind](client), run.run_id)

    send.__name__ = f"send_{kind}"
    return send


def enqueue_and_post_tracking(account: Account, run_id: str, payload: Callable[..., dict],
                              handler: outbox.Handler, partial_deadline: timedelta | None = None,
                              tracking_url: bool = False) -> dict:
    """Turn new parcels into tracking effects (one per parcel and line), then send them."""
    with closing(staging_connection()) as conn:
        with conn.cursor() as cur:
            enq = shipments.enqueue_tracking(cur, account.channel, account.name, payload, run_id, partial_deadline,
                                             tracking_url)
        conn.commit()
    report("enqueue tracking", account, asdict(enq))
    sent = send_outbox(account, shipments.TRACKING, handler, run_id)
    return {**asdict(enq), **{f"sent_{k}": v for k, v in sent.items()}}


def post_tracking(channel: Channel, account: Account, run: Run) -> dict:
    shape = channel.tracking
    with channel.client(account) as client:
        return enqueue_and_post_tracking(account, run.run_id, shape.payload, shape.handler(client),
                                         shape.partial_deadline, shape.tracking_url)


def reconcile_stock(account: Account, run_key: str, *, pushes_stock: bool, not_pushed_reason: str = "",
                    warehouses: list[str] | None = None) -> dict:
    """Confirm what the channel accepted since the last run, then write the drift report."""
    with closing(staging_connection()) as conn:
        with conn.cursor() as cur:
            # What the channel accepted since the last run is what it shows now: compare with that.
            stock.confirm_sent(cur, account.channel, account.name)
            counts = stock.reconcile(cur, account.channel, account.name, run_key, pushes_stock=pushes_stock,
                                     not_pushed_reason=not_pushed_reason or "channel takes no stock updates",
                                     warehouses=warehouses)
        conn.commit()
    return report("reconcile stock", account, asdict(counts))


def push_stock(account: Account, run_key: str, handler: outbox.Handler, run_id: str,
               warehouses: list[str] | None = None, **options) -> dict:
    """Reconcile, send the stock values that changed, and confirm what the channel accepted (also
    when a later batch failed: what was sent is what the channel shows). ``options`` go to ``dispatch``."""
    counts = reconcile_stock(account, run_key, pushes_stock=True, warehouses=warehouses)
    try:
        sent = send_outbox(account, stock.STOCK, handler, run_id, **options)
    finally:
        with closing(staging_connection()) as conn:
            with conn.cursor() as cur:
                confirmed = stock.confirm_sent(cur, account.channel, account.name)
            conn.commit()
    return {**counts, **{f"sent_{k}": v for k, v in sent.items()}, "confirmed": confirmed}


def sync_catalogue(channel: Channel, account: Account, run: Run) -> dict:
    """Read the channel's whole catalogue (``channel.catalogue``) into ``staging.channel_products``,
    one transaction per page, when ``catalogue.due(run)``.

    Listings are upserted by channel SKU: new ones get a row (so stock reconciliation offers them
    stock), known ones get their id, name and EAN refreshed; nothing is deleted (a listing gone
    from the channel keeps its confirmed stock). A listing that cannot be read is counted and
    logged, naming the field, and the rest go on.

    Raises:
        AirflowSkipException: not due in this run (the task shows as skipped; the stock task runs).
    """
    sync = channel.catalogue
    if not sync.due(run):
        from airflow.sdk.exceptions import AirflowSkipException

        raise AirflowSkipException(f"the catalogue is read every {sync.every}: not in this run's data interval")
    counts = dict.fromkeys(("pages", "listings", "products", "changed", "not_products", "invalid", "duplicates"), 0)
    with channel.client(account) as client, closing(staging_connection()) as conn:
        for page in sync.pages(client):
            products: dict[str, CatalogueProduct] = {}
            for listing in page:
                try:
                    product = sync.product(listing)
                except InvalidPayload as err:
                    counts["invalid"] += 1
                    log.warning("catalogue %s/%s: a listing skipped: %s", account.channel, account.name, err)
                    continue
                if product is None:
                    counts["not_products"] += 1
                elif product.channel_sku in products:  # two listings, one SKU: the first one is kept
                    counts["duplicates"] += 1
                else:
                    products[product.channel_sku] = product
            with conn.cursor() as cur:
                counts["changed"] += _upsert_products(cur, account, list(products.values()))
            conn.commit()
            counts["pages"] += 1
            counts["listings"] += len(page)
            counts["products"] += len(products)
    counts.update(client.stats)
    return report("catalogue", account, counts)


def _upsert_products(cur, account: Account, products: list[CatalogueProduct]) -> int:
    if not products:
        return 0
    from psycopg2.extras import execute_values

    execute_values(
        cur,
        """INSERT INTO staging.channel_products AS cp (channel, account, channel_sku, external_product_id, name, ean)
           VALUES %s ON CONFLICT (channel, account, channel_sku) DO UPDATE SET
               external_product_id = coalesce(EXCLUDED.external_product_id, cp.external_product_id),
               name = coalesce(EXCLUDED.name, cp.name), ean = coalesce(EXCLUDED.ean, cp.ean), updated_at = now()
           WHERE (cp.external_product_id, cp.name, cp.ean) IS DISTINCT FROM
                 (coalesce(EXCLUDED.external_product_id, cp.external_product_id), coalesce(EXCLUDED.name, cp.name),
                  coalesce(EXCLUDED.ean, cp.ean))""",
        [(account.channel, account.name, p.channel_sku, p.external_product_id, p.name, p.ean) for p in products],
        page_size=len(products),  # one statement, so rowcount counts them all
    )
    return cur.rowcount


def stock_step(channel: Channel, account: Account, run: Run) -> dict:
    """Report-only channels write the drift report; the others push what differs."""
    policy = channel.stock
    warehouses = policy.warehouses(account) if policy.warehouses else None
    if policy.policy is StockPolicy.REPORT_ONLY:
        return reconcile_stock(account, run.run_key, pushes_stock=False, not_pushed_reason=policy.not_pushed_reason,
                               warehouses=warehouses)
    with channel.client(account) as client:
        return push_stock(account, run.run_key, policy.handler(client, account), run.run_id, warehouses=warehouses)

