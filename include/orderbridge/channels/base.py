"""What a channel is: the contract every channel package fills in, and the one registry reads.

A channel provides, in this order of reading:

- ``name``, ``title`` and ``doc`` (the DAG's documentation in the Airflow UI);
- ``client(account)``: a context manager around its ``ChannelClient`` (login and logout, if any);
- ``mapper(account)``: its pure mapper (``staging.ChannelMapper``: ``to_order``,
  ``acknowledgements``, ``checks_stock``);
- ``streams``: how it extracts, as ``Stream``s read in order (a queue read unless the run is a
  backfill, or a window from a watermark of its own), each with the external-id key of its payloads
  and where it lands; an empty tuple for a channel that pushes orders to us;
- ``writebacks``: each outbox kind its mapper enqueues, with the handler that sends it;
- ``tracking``: how a shipment becomes tracking effects (``TrackingShape``), or None;
- ``stock``: ``StockPolicy`` (absolute, delta or report-only) with its handler;
- ``tasks()``: the DAG's tasks, built from the generic steps by default; a channel whose flow
  differs (Merkana: orders are pushed to us) returns its own list, still of ``Task``s;
- optional parts, declared and None when absent: ``inbound_app`` (a FastAPI app the API server
  serves under ``/<name>``), ``catalogue`` (``CatalogueSync``: its whole catalogue read into
  ``staging.channel_products`` on a slower rhythm, so listings that never sold get stock too).

Nothing here imports Airflow, a client or a mapper: the registry is read at DAG-parse time, and a
channel imports its heavy parts inside its methods.
"""

from __future__ import annotations

import enum
import importlib
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from orderbridge.config import Account
    from orderbridge.http import ChannelClient
    from orderbridge.outbox import Handler
    from orderbridge.staging import ChannelMapper
    from orderbridge.window import Window


@dataclass(frozen=True)
class Run:
    """The Airflow run a step works for: what the task context says, nothing Airflow-typed.

    Attributes:
        run_type: ``scheduled``, ``manual``, ``backfill``, ... (a str enum's value is read).
        start, end: the run's data interval (None on a manual run without one).
        key: identifies this run's stock reconciliation (the DAG gives the interval end, or the
            run's ``run_after``); a rerun rewrites the same drift report. Default: the run id.
        params: the DAG run's params.
    """

    run_id: str
    run_type: Any = None
    start: datetime | None = None
    end: datetime | None = None
    key: str = ""
    params: dict = field(default_factory=dict)

    @property
    def kind(self) -> str | None:
        # The task SDK's DagRunType is a str enum whose str() is "DagRunType.BACKFILL": compare values.
        return getattr(self.run_type, "value", self.run_type)

    @property
    def run_key(self) -> str:
        return self.key or self.run_id


@dataclass(frozen=True)
class Stream:
    """One read of the channel's orders in the extract step.

    Attributes:
        name: names its counts in the task's report (``orders`` gives the top-level counts).
        pages: ``(client, window) -> pages``; window None means "read the queue".
        external_id: the payload's id in ``raw`` (and the staging order's, for ``raw.orders``).
        by_watermark: read by a window always, from this stream's own watermark when the run has
            no window (plentymarkets return orders); otherwise a queue (window only on backfills).
        land: writes one page ``(cur, account, items, run_id) -> new``; None lands in ``raw.orders``.
    """

    name: str
    pages: Callable[[Any, Window | None], Iterable[list[dict]]]
    external_id: Callable[[dict], str]
    by_watermark: bool = False
    land: Callable[[Any, str, list[tuple[str, dict]], str | None], int] | None = None
    watermark_name: str = ""  # staging.sync_state stream of a by_watermark stream (default <name>_window)

    @property
    def watermark(self) -> str:
        if not self.by_watermark:
            return "orders_window"  # every queue stream shares the backfill window's mark
        return self.watermark_name or f"{self.name}_window"


def lazy(module: str, name: str) -> Callable[..., Any]:
    """``module.name``, imported on the first call: a channel's definition names its client, mapper
    and handlers without importing them when the registry is read (DAG-parse time)."""
    resolved: list[Callable[..., Any]] = []

    def call(*args: Any, **kwargs: Any) -> Any:
        if not resolved:  # some are called once per payload: import and look up only once
            resolved.append(getattr(importlib.import_module(module), name))
        return resolved[0](*args, **kwargs)

    call.__name__ = call.__qualname__ = name
    return call


class StockPolicy(enum.Enum):
    """What the channel's stock takes: the level (``ABSOLUTE``), the change (``DELTA``), or nothing
    (``REPORT_ONLY``: the drift report is written, with the reason nothing was pushed)."""

    ABSOLUTE = "absolute"
    DELTA = "delta"
    REPORT_ONLY = "report_only"


@dataclass(frozen=True)
class Stock:
    policy: StockPolicy
    handler: Callable[[Any, Account], Handler] | None = None  # (client, account) -> Handler
    not_pushed_reason: str = ""
    # account -> the warehouses (``stock_levels.warehouse``) whose sum it offers; None: every one.
    warehouses: Callable[[Account], list[str] | None] | None = None


@dataclass(frozen=True)
class CatalogueProduct:
    """One listing of the channel's catalogue, as ``staging.channel_products`` keeps it."""

    channel_sku: str
    external_product_id: str | None = None
    name: str | None = None
    ean: str | None = None


@dataclass(frozen=True)
class CatalogueSync:
    """Reading the channel's whole catalogue (task ``sync_catalogue``, before the stock task).

    Orders only show the SKUs that sold; stock is pushed for every SKU in
    ``staging.channel_products``. This fills it from the channel's own listing, on a slower rhythm
    than orders, as its own task that runs in the DAG runs ``due`` picks and is skipped in the others.

    Attributes:
        pages: ``client -> pages`` of listings as the channel sends them.
        product: ``listing -> CatalogueProduct`` (pure); None for a listing that is no product to
            stock; raises ``InvalidPayload`` naming the field for one it cannot read (counted, skipped).
        every: how often it runs: in the run whose data interval holds a multiple of ``every``
            since the epoch (UTC; hourly by default), and in every run without an interval.
    """

    pages: Callable[[Any], Iterable[list[dict]]]
    product: Callable[[dict], CatalogueProduct | None]
    every: timedelta = timedelta(hours=1)

    def due(self, run: Run) -> bool:
        if run.start is None or run.end is None:
            return True  # a manual run without an interval: a person asked for it
        step = self.every.total_seconds()
        epoch = datetime(1970, 1, 1, tzinfo=UTC)
        # A boundary k * every in (start, end]: exactly one run of a series of back-to-back intervals.
        return (run.end - epoch).total_seconds() // step > (run.start - epoch).total_seconds() // step


@dataclass(frozen=True)
class TrackingShape:
    """How a shipment becomes tracking effects: one per line of each parcel (every channel so far),
    with the channel's payload ``(line_id, carrier_code, tracking, quantity, complete) -> dict``
    (``quantity``: what this parcel carries of the line, in channel units; ``complete``: the order
    is fully shipped with this parcel) and its handler. ``partial_deadline``: how long the channel
    lets an order stay partially shipped before it cancels it, or None (``shipments.mark_shipped``)."""

    payload: Callable[[str, str, str, int, bool], dict]
    handler: Callable[[Any], Handler]
    per: str = "line"
    partial_deadline: timedelta | None = None
    # The channel's deadlines an operator watches (``orderbridge.operator.deadlines``), in business days
    # after the order was placed: tracking due, and the channel cancelling an order still without tracking.
    tracking_due_business_days: int | None = None
    cancel_unshipped_business_days: int | None = None
    tracking_url: bool = False  # the payload also takes ``tracking_url=`` (``shipments.enqueue_tracking``)


@dataclass(frozen=True)
class Task:
    """One task of a channel account's DAG.

    Attributes:
        task_id: the Airflow task id (also the chaos suite's step name).
        run: ``(channel, account, run) -> counts`` (a generic step, or the channel's own).
        doc: the task's one-line description in the UI.
        after: task ids it runs after; None means "after the previous task in the list".
        options: ``@task`` arguments that differ from the DAG's defaults (retries, ...).
        loads_orders: the task that writes the account's staging orders: its DAG task emits the
            account's Asset event with the counts it returns (``orderbridge.assets``).
    """

    task_id: str
    run: Callable[[Channel, Account, Run], dict]
    doc: str
    after: tuple[str, ...] | None = None
    options: dict = field(default_factory=dict)
    loads_orders: bool = False


class Channel:
    """Base of every channel: fill in the attributes, override the methods that differ.

    Attributes:
        name: the channel's id (connection ids, DAG ids, staging rows, config section).
        title: a human name for the UI.
        doc: the DAG's ``doc_md``.
        tags: what its DAGs do (``import``, ``writeback``, ``stock``).
        writebacks: outbox kind -> ``client -> Handler``, each sent by its own task.
        tracking: None for a channel that takes tracking another way.
        stock: the stock policy.
        inbound_app: ``() -> FastAPI`` for a channel that calls us; None otherwise.
        catalogue: ``CatalogueSync`` for a channel whose catalogue we read; None otherwise.
        dag_params: ``name -> Param kwargs`` the DAG takes (resend buttons, ...).
    """

    name: str = ""
    title: str = ""
    doc: str = ""
    tags: tuple[str, ...] = ("import", "writeback", "stock")
    writebacks: dict[str, Callable[[Any], Handler]] = {}
    tracking: TrackingShape | None = None
    stock: Stock = Stock(StockPolicy.REPORT_ONLY, not_pushed_reason="channel takes no stock updates")
    inbound_app: Callable[[], Any] | None = None
    catalogue: CatalogueSync | None = None
    dag_params: dict[str, dict] = {}

    def client(self, account: Account) -> AbstractContextManager[ChannelClient]:
        raise NotImplementedError

    def mapper(self, account: Account) -> ChannelMapper:
        raise NotImplementedError

    @property
    def streams(self) -> tuple[Stream, ...]:
        return ()

    def tasks(self) -> list[Task]:
        """The DAG: extract, load, one send task per write-back kind, tracking, stock."""
        from orderbridge import steps

        tasks = []
        if self.streams:
            tasks.append(Task("extract_orders", steps.extract, "Land every page of new orders in raw."))
        tasks.append(Task("load_staging", steps.load, "Transform raw payloads into staging orders "
                                                      "(re-checks held orders too).", loads_orders=True))
        for kind in self.writebacks:
            tasks.append(Task(SEND_TASK_IDS.get(kind, f"send_{kind}"), steps.sender(kind),
                              f"Send pending {kind} write-backs."))
        if self.tracking is not None:
            tasks.append(Task("post_tracking", steps.post_tracking, "Enqueue tracking for new shipments and "
                                                                     "send it."))
        # After a skipped catalogue run the stock task still runs (none_failed), not after a failed one.
        after_catalogue = {}
        if self.catalogue is not None:
            tasks.append(Task("sync_catalogue", steps.sync_catalogue, "Read the channel's whole catalogue into "
                                                                      "staging.channel_products (hourly)."))
            after_catalogue = {"trigger_rule": "none_failed"}
        if self.stock.policy is StockPolicy.REPORT_ONLY:
            tasks.append(Task("reconcile_stock", steps.stock_step, "Drift report for this account's channel SKUs.",
                              options=after_catalogue))
        else:
            tasks.append(Task("push_stock", steps.stock_step, "Reconcile stock and push what differs.",
                              options=after_catalogue))
        return tasks

    def task(self, task_id: str) -> Task:
        """One of ``tasks()`` by id.

        Raises:
            KeyError: the channel has no such task.
        """
        for task in self.tasks():
            if task.task_id == task_id:
                return task
        raise KeyError(f"channel {self.name} has no task {task_id!r}")

    def run_task(self, task_id: str, account: Account, run: Run) -> dict:
        """Run one task's step, as the DAG task does (also for tests, chaos, demo): the step, then a
        report of the attention it raised (``steps.run_task``)."""
        from orderbridge.steps import run_task

        return run_task(self.task(task_id), self, account, run)


# Task ids kept from before the contract (DAG history and the chaos suite name them).
SEND_TASK_IDS = {"mark_exported": "mark_exported", "status": "send_status"}


def iter_tasks(channel: Channel) -> Iterator[tuple[Task, tuple[str, ...]]]:
    """``(task, upstream task ids)`` in order: ``after`` or, by default, the previous task."""
    previous: tuple[str, ...] = ()
    for task in channel.tasks():
        upstream = task.after if task.after is not None else previous
        yield task, upstream
        previous = (task.task_id,)

