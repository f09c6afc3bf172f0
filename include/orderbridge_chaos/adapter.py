"""What the chaos harness needs to know about one channel: ``ChannelAdapter``.

A channel's adapter says how to start its sandbox, the Airflow connection that points the real
DAG at it, what of ours must run beside the DAG (``serving``: Merkana calls our endpoints), which
DAG and job steps to run, which faults apply to which of its routes, what to disturb while a run
is under way (new orders that shift pages, expired tokens, orders pushed to us), and how to read,
from the sandbox's own records, what the channel offered and received (``Observed``). The checks
in ``invariants`` and the runs in ``run`` are written once against this interface.

Adding a channel: a module in this package named like the channel, whose ``Adapter`` is its
subclass; ``adapter_for`` finds it for every registered channel.
"""

from __future__ import annotations

import importlib
import json
import random
from collections.abc import Callable, Generator
from contextlib import contextmanager
from dataclasses import dataclass, field

import requests

from orderbridge.channels.registry import CHANNELS, part_module
from orderbridge.config import Account, load_accounts


@dataclass
class Observed:
    """What the channel's sandbox recorded.

    Attributes:
        offered: external ids of every order the channel offered us (must end up in staging).
        acknowledged: external ids of orders the channel received an acknowledgement for
            (Groupon: a line marked exported; plentymarkets: 5.1, 6.2, 6.3, 8.8 set by us).
        tracking: tracking key (see ``ChannelAdapter.tracking_key``) -> times the channel
            applied it; above 1 is a tracking number sent twice (on an ``idempotent_writebacks``
            channel: times received, harmless resends).
        stock: channel SKU -> what the channel shows; None for a channel that takes no stock.
        applied_twice: effects other than tracking that the channel applied more than once and
            that must not be (each described in one line).
        resent: idempotent acknowledgements the channel received again (a line re-marked exported,
            the same status set again after a lost answer): at-least-once delivery, harmless, counted.
        ship_to: external id -> (name, street, city, postcode) the channel gave for that shipment,
            where the sandbox records it: staging must ship there.
    """

    offered: set[str]
    acknowledged: set[str]
    tracking: dict[str, int] = field(default_factory=dict)
    stock: dict[str, float] | None = None
    applied_twice: list[str] = field(default_factory=list)
    resent: int = 0
    ship_to: dict[str, tuple] = field(default_factory=dict)


class ChannelAdapter:
    """Base: override what differs. ``seed`` drives the sandbox data and its fault schedule."""

    channel = ""
    #: a path fragment only the order reads have (fault rules' ``match``)
    orders_route = ""
    #: multiplies every fault rate of ``faults``; share of calls answered 503
    fault_scale, server_error_rate = 1.0, 0.10
    #: outbox kinds whose rows ``tracking_key`` maps to what ``observe().tracking`` counts
    tracking_kinds: tuple[str, ...] = ("tracking",)
    #: True when the channel's write-backs set a state (Merkana: an order's status), so one received
    #: again after a lost answer or a killed worker changes nothing: counted as resent, not sent twice
    idempotent_writebacks = False

    def __init__(self, seed: int = 7, orders: int = 40, timeout: float = 2.0):
        self.seed, self.orders, self.timeout = seed, orders, timeout
        self.account: Account = load_accounts(self.channel)[0]
        self.rng = random.Random(f"chaos:{self.channel}:{seed}")

    @property
    def dag_id(self) -> str:
        from orderbridge import dagkit  # the Airflow SDK: only where a DAG is run

        return dagkit.dag_id(self.account)

    @property
    def conn_env_name(self) -> str:
        return f"AIRFLOW_CONN_{self.account.conn_id.upper()}"

    @property
    def staging_account(self) -> str:
        """The staging account the checks read (the configured account, unless the channel splits it)."""
        return self.account.name

    # -- the sandbox -----------------------------------------------------------------------------
    def sandbox_args(self) -> list[str]:
        """``python -m orderbridge_sandbox`` arguments serving this channel's account."""
        raise NotImplementedError

    def connection(self, sandbox, secret: str | None = None) -> dict:
        """The Airflow connection (as JSON-able dict) pointing the account at ``sandbox``."""
        raise NotImplementedError

    def env(self, sandbox, secret: str | None = None) -> dict[str, str]:
        return {self.conn_env_name: json.dumps(self.connection(sandbox, secret))}

    @contextmanager
    def serving(self, sandbox, staging_dsn: str) -> Generator[None]:
        """Run what of ours must serve the channel during a fault run (Merkana calls our endpoints)."""
        yield

    def control(self, sandbox, path: str, method: str = "GET", body=None) -> dict:
        response = requests.request(method, f"{sandbox.url}/_sandbox/{path}", json=body, timeout=30)
        response.raise_for_status()
        return response.json()

    # -- the warehouse and the run ---------------------------------------------------------------
    def seed_warehouse(self, cur) -> None:
        """Products, stock and mappings in staging, as the warehouse would have them."""

    def between_runs(self, cur, run: int) -> None:
        """What the warehouse (and the channel's own users) do between two DAG runs: ship half."""
        from orderbridge_sandbox.warehouse import ship_some

        ship_some(cur, self.channel, self.staging_account, share=0.5)

    def faults(self, intensity: float) -> list[dict]:
        """The seeded fault rules for this channel (``rate`` rules drawn by the sandbox's own RNG):
        every kind on every route, truncated JSON on the order reads, scaled by ``fault_scale``."""
        r, ch = self.fault_scale * intensity, self.channel
        return [
            {"channel": ch, "kind": "429", "retry_after": 1, "rate": 0.10 * r},
            {"channel": ch, "kind": "503", "rate": self.server_error_rate * r},
            {"channel": ch, "kind": "slow", "delay": self.timeout + 0.5, "rate": 0.04 * r},
            {"channel": ch, "kind": "reset", "rate": 0.05 * r},
            {"channel": ch, "kind": "cut", "rate": 0.05 * r},
            {"channel": ch, "kind": "malformed", "match": self.orders_route, "rate": 0.08 * r},
        ]

    def disturb(self, sandbox, run: int) -> str | None:
        """Something to do while a run is under way; returns what was done, for the log."""
        return None

    @property
    def task_ids(self) -> tuple[str, ...]:
        """The DAG's tasks in order, from the channel's contract."""
        from orderbridge.channels.registry import get

        return tuple(task.task_id for task in get(self.channel).tasks())

    def steps(self) -> dict[str, Callable[..., dict]]:
        """What each of the DAG's tasks runs, by task id: ``step(run_id, run_type, start, end)``,
        the channel's own task from the registry (the DAG factory builds the DAG from the same)."""
        from orderbridge.channels.base import Run
        from orderbridge.channels.registry import get

        channel, account = get(self.channel), self.account

        def step(task_id: str) -> Callable[..., dict]:
            return lambda run_id, run_type="manual", start=None, end=None: channel.run_task(
                task_id, account, Run(run_id, run_type, start, end))

        return {task_id: step(task_id) for task_id in self.task_ids}

    # -- what the channel saw --------------------------------------------------------------------
    def observe(self, sandbox) -> Observed:
        raise NotImplementedError

    def tracking_key(self, payload: dict, external_order_id: str | None) -> str:
        """The key under which ``observe().tracking`` counts the effect of one outbox tracking row."""
        raise NotImplementedError


def adapter_for(channel: str, **kwargs) -> ChannelAdapter:
    """The chaos adapter of a registered channel: ``orderbridge_chaos.<channel>``'s ``Adapter``
    (``<package>.chaos``'s for a plug-in channel)."""
    if channel not in CHANNELS:
        raise KeyError(f"no channel {channel!r} in the registry ({', '.join(CHANNELS)})")
    return importlib.import_module(part_module(channel, "chaos")).Adapter(**kwargs)
