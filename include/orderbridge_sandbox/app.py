"""Assembles the sandbox ASGI app: channel fakes, fault injection and the ``/_sandbox`` control API.

``create_app`` is the one place that knows which channels exist. Each channel package contributes
its fake marketplace's routes, its in-memory state and the control routes that expose that state
to tests and scripts (``/_sandbox/<channel>/...``); ``faults`` wraps the whole app so any channel
route can be made to fail, slow down or drop the connection (never ``/_sandbox`` itself).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from fastapi import FastAPI

from orderbridge.channels.registry import CHANNELS as REGISTERED
from orderbridge_sandbox import groupon, merkana, plentymarkets
from orderbridge_sandbox.fakedata import GrouponOrderFactory
from orderbridge_sandbox.faults import FaultInjector, FaultMiddleware, fault_router
from orderbridge_sandbox.plentyfake import PlentyOrderFactory

# The channels faults can target: every registered channel (each has its fake here).
CHANNELS = tuple(REGISTERED)


@dataclass(frozen=True)
class GrouponAccountSpec:
    """One ``--groupon SUPPLIER_ID:TOKEN:N_ORDERS`` account."""

    supplier_id: str
    token: str
    n_orders: int

    @classmethod
    def parse(cls, text: str) -> GrouponAccountSpec:
        """Parse ``SUPPLIER_ID:TOKEN:N_ORDERS`` (the token may itself contain ``:``).

        Raises:
            ValueError: not three parts, an empty id or token, or N_ORDERS not a number >= 0.
        """
        supplier_id, sep, rest = text.partition(":")
        token, sep2, n = rest.rpartition(":")
        if not (sep and sep2 and supplier_id and token and n.isdigit()):
            raise ValueError(f"expected SUPPLIER_ID:TOKEN:N_ORDERS, got {text.split(':')[0]}:...")
        return cls(supplier_id, token, int(n))


def default_anchor() -> datetime:
    """Now, in UTC, rounded down to the minute."""
    return datetime.now(UTC).replace(second=0, microsecond=0)


def create_app(*, seed: int = 42, groupon_accounts: Iterable[GrouponAccountSpec] = (),
               groupon_page_size: int = 250, groupon_auth_failure_status: int = 401,
               groupon_split_rate: float = 0.03, groupon_cancel_rate: float = 0.03, groupon_raw_utf8: bool = True,
               days: float = 2.0, anchor: datetime | None = None,
               faults: Iterable[dict] = (),
               plentymarkets_systems: Iterable[plentymarkets.PlentySystemSpec] = (), plenty_token_ttl: int = 86_400,
               plenty_max_sessions: int = 3, plenty_read_limit: int = 200, plenty_write_limit: int = 80,
               plenty_rate_window: float = 60.0, plenty_numbers_as_strings: bool = False,
               plenty_max_items_per_page: int = 250,
               merkana_platforms: Iterable[merkana.PlatformSpec] = (), merkana_stock_mode: str = "delta") -> FastAPI:
    """Build the sandbox app with its generated data.

    Args:
        seed: drives every generated order and the fault ``rate`` draws.
        groupon_accounts: the Groupon supplier accounts to serve, each with its initial orders.
        groupon_page_size: ``max_items_per_page`` of ``get_orders``.
        groupon_auth_failure_status: HTTP status answered for bad credentials.
        groupon_split_rate: share of orders sent as two entries sharing one ``orderid``.
        groupon_cancel_rate: share of lines already cancelled or refunded when first listed.
        groupon_raw_utf8: answer raw UTF-8 under ``text/json`` (False: ``\\u`` escapes).
        days: initial orders are dated over this many days before ``anchor``.
        anchor: end of the order dates (naive means UTC); default now, to the minute.
        faults: fault rules active from the start (see ``faults``).
        plentymarkets_systems: the plentymarkets systems to serve, each with its user and initial orders.
        plenty_token_ttl, plenty_max_sessions, plenty_read_limit, plenty_write_limit, plenty_rate_window,
            plenty_numbers_as_strings, plenty_max_items_per_page: see ``plentymarkets.PlentySettings``.
        merkana_platforms: the fake Merkana platforms (``merkana.PlatformSpec``).
        merkana_stock_mode: how the fake applies ff-supplies ``br``: ``delta`` or ``absolute``.

    Returns:
        The app; ``app.state.groupon``, ``app.state.plentymarkets`` and ``app.state.faults`` give
        in-process access.

    Raises:
        orderbridge_sandbox.faults.FaultSpecError: a fault rule is invalid.
    """
    anchor = anchor or default_anchor()
    if anchor.tzinfo is None:
        anchor = anchor.replace(tzinfo=UTC)
    app = FastAPI(title="orderbridge sandbox", description="Local fakes of the marketplace APIs orderbridge talks to.")

    sandbox = groupon.GrouponSandbox(page_size=groupon_page_size, auth_failure_status=groupon_auth_failure_status,
                                     raw_utf8=groupon_raw_utf8)
    for spec in groupon_accounts:
        factory = GrouponOrderFactory(seed, spec.supplier_id, anchor, days=days, split_rate=groupon_split_rate,
                                      cancel_rate=groupon_cancel_rate)
        sandbox.add_account(spec.supplier_id, spec.token, factory, spec.n_orders)

    plenty = plentymarkets.PlentySandbox(plentymarkets.PlentySettings(
        token_ttl=plenty_token_ttl, max_sessions=plenty_max_sessions, read_limit=plenty_read_limit,
        write_limit=plenty_write_limit, rate_window=plenty_rate_window,
        numbers_as_strings=plenty_numbers_as_strings, max_items_per_page=plenty_max_items_per_page))
    for spec in plentymarkets_systems:
        plenty.add_system(spec, PlentyOrderFactory(seed, spec.system, anchor, days=days))

    merkana_sandbox = merkana.MerkanaSandbox(seed, merkana_stock_mode)
    for spec in merkana_platforms:
        merkana_sandbox.add_platform(spec)

    injector = FaultInjector(seed, CHANNELS)
    for rule in faults:
        injector.add(rule)

    @app.get("/_sandbox/health")
    async def health() -> dict:
        # The pid lets process.start_sandbox tell its own child from another server on the port.
        return {"ok": True, "pid": os.getpid()}

    app.include_router(fault_router(injector))
    app.include_router(groupon.control_router(sandbox))
    app.include_router(groupon.api_router(sandbox))
    app.include_router(plentymarkets.control_router(plenty))
    app.include_router(plentymarkets.api_router(plenty))
    app.include_router(merkana.control_router(merkana_sandbox))
    app.include_router(merkana.api_router(merkana_sandbox))
    app.add_middleware(FaultMiddleware, injector=injector, content_types={groupon.CHANNEL: groupon.CONTENT_TYPE},
                       rate_limit_bodies={
                           # each fake's own 429 body (plentymarkets: B3's error shape; Merkana: the seed's)
                           plentymarkets.CHANNEL: {"error": {"message": "Too Many Requests", "code": 429}},
                           merkana.CHANNEL: {"status": False, "message": "Too many requests"}})
    app.state.groupon, app.state.faults = sandbox, injector
    app.state.plentymarkets = plenty
    app.state.merkana = merkana_sandbox
    return app
