"""Assembles the sandbox ASGI app: channel fakes, fault injection and the ``/_sandbox`` control API.

``create_app`` names no channel: it walks the channel registry and plugs in each channel's fake,
found by convention (``orderbridge_sandbox.<name>`` exposes ``FAKE``, see ``plugin``). Each fake
contributes its marketplace's routes, its in-memory state (``app.state.<name>``) and the control
routes that expose that state to tests and scripts (``/_sandbox/<channel>/...``); ``faults`` wraps
the whole app so any channel route can be made to fail, slow down or drop the connection (never
``/_sandbox`` itself).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI

from orderbridge.channels.registry import CHANNELS as REGISTERED
from orderbridge_sandbox.faults import FaultInjector, FaultMiddleware, fault_router
from orderbridge_sandbox.plugin import Fake, FakeNotFound, fake_for

__all__ = ["Fake", "FakeNotFound", "create_app", "default_anchor", "default_options", "fakes"]


def default_anchor() -> datetime:
    """Now, in UTC, rounded down to the minute."""
    return datetime.now(UTC).replace(second=0, microsecond=0)


def fakes() -> dict[str, Fake]:
    """Every registered channel's fake, in registry order.

    Raises:
        orderbridge_sandbox.plugin.FakeNotFound: a registered channel has no fake (named).
    """
    return {name: fake_for(name) for name in REGISTERED}


def default_options(plugged: dict[str, Fake] | None = None) -> argparse.Namespace:
    """The fakes' options as the command line gives them when none is passed."""
    parser = argparse.ArgumentParser(add_help=False)
    for fake in (fakes() if plugged is None else plugged).values():
        fake.add_arguments(parser)
    return parser.parse_args([])


def _options(plugged: dict[str, Fake], options: argparse.Namespace | None,
             keywords: dict[str, Any]) -> argparse.Namespace:
    """The defaults, then ``options``, then ``keywords`` (an option's dest, or a fake's older name)."""
    merged = default_options(plugged)
    vars(merged).update(vars(options) if options is not None else {})
    renamed = {old: target for fake in plugged.values() for old, target in fake.keywords.items()}
    for keyword, value in keywords.items():
        if keyword in renamed:
            dest, convert = renamed[keyword]
            setattr(merged, dest, convert(value))
        elif hasattr(merged, keyword):
            setattr(merged, keyword, value)
        else:
            raise TypeError(f"create_app() got an unexpected keyword argument {keyword!r} (no registered channel's "
                            f"fake has that option)")
    return merged


def create_app(*, seed: int = 42, days: float = 2.0, anchor: datetime | None = None, faults: Iterable[dict] = (),
               options: argparse.Namespace | None = None, **channel_options: Any) -> FastAPI:
    """Build the sandbox app with its generated data.

    Args:
        seed: drives every generated order and the fault ``rate`` draws.
        days: initial orders are dated over this many days before ``anchor``.
        anchor: end of the order dates (naive means UTC); default now, to the minute.
        faults: fault rules active from the start (see ``faults``).
        options: the fakes' options as parsed by the command line (``__main__``); missing ones
            take their defaults.
        channel_options: single options, by their ``dest`` (``groupon_page_size``,
            ``plenty_read_limit``, ``merkana_stock_mode``, ``groupon=[GrouponAccountSpec]``...) or by
            a fake's older keyword (``groupon_accounts``, ``groupon_raw_utf8``,
            ``plentymarkets_systems``, ``merkana_platforms``); they win over ``options``.

    Returns:
        The app; ``app.state.<channel>`` (``groupon``, ``plentymarkets``, ``merkana``: what each
        fake's ``build`` returned) and ``app.state.faults`` give in-process access.

    Raises:
        orderbridge_sandbox.faults.FaultSpecError: a fault rule is invalid.
        orderbridge_sandbox.plugin.FakeNotFound: a registered channel has no fake.
        TypeError: a keyword no fake knows.
    """
    plugged = fakes()
    merged = _options(plugged, options, channel_options)
    anchor = anchor or default_anchor()
    if anchor.tzinfo is None:
        anchor = anchor.replace(tzinfo=UTC)
    app = FastAPI(title="orderbridge sandbox", description="Local fakes of the marketplace APIs orderbridge talks to.")

    # The channels faults can target: every registered channel (each has its fake).
    injector = FaultInjector(seed, tuple(plugged))
    for rule in faults:
        injector.add(rule)

    @app.get("/_sandbox/health")
    async def health() -> dict:
        # The pid lets process.start_sandbox tell its own child from another server on the port.
        return {"ok": True, "pid": os.getpid()}

    app.include_router(fault_router(injector))
    app.state.faults = injector
    for name, fake in plugged.items():
        setattr(app.state, name, fake.build(app, merged, seed, anchor, days))
    app.add_middleware(
        FaultMiddleware, injector=injector,
        content_types={name: fake.content_type for name, fake in plugged.items() if fake.content_type},
        rate_limit_bodies={name: fake.rate_limit_body for name, fake in plugged.items() if fake.rate_limit_body})
    return app
