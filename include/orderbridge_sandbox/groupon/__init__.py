"""Groupon Goods "CommerceInterface" fake: in-memory accounts, the API routes that serve them, control routes.

Behaviour follows the Groupon API notes (groupon-api.md §1-5, 8, 9; see the README); where they
mark a rule as a guess, the choice made here is noted next to the code. The fake also records what
a client did (exports per line, accepted tracking, requests per endpoint and status) for the
``/_sandbox/groupon`` control routes, so tests can verify a client from the outside.

Routes: ``/groupon/api/{v2,v3,v4}/get_orders`` (GET), ``mark_exported``, ``tracking_notification``
and, on v4 only, ``lineitem_tracking_notification`` (POST). Every answer is JSON sent as
``text/json`` with a top-level ``success``, as recorded traffic shows.

Modules, by role: ``state`` (accounts, entries, lines and their counters), ``routes``
(``GrouponSandbox``, the API's behaviour, and ``api_router``) and ``control`` (``/_sandbox/groupon``).
``FAKE`` plugs it into the sandbox app and its command line (``orderbridge_sandbox.plugin``).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from datetime import datetime

from fastapi import FastAPI

from orderbridge_sandbox.fakedata import GrouponOrderFactory
from orderbridge_sandbox.groupon.control import control_router
from orderbridge_sandbox.groupon.routes import GrouponSandbox, api_router, read_params
from orderbridge_sandbox.groupon.state import CHANNEL, CONTENT_TYPE, GrouponAccount, counters
from orderbridge_sandbox.plugin import Fake, spec_type


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


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--groupon", action="append", type=spec_type(GrouponAccountSpec.parse), default=[],
                        metavar="SUPPLIER_ID:TOKEN:N",
                        help="a Groupon supplier account with N initial orders (repeatable)")
    parser.add_argument("--groupon-page-size", type=int, default=250, help="get_orders max_items_per_page")
    parser.add_argument("--groupon-auth-failure-status", type=int, default=401,
                        help="HTTP status for bad credentials (the live value is unknown; 401 or 200)")
    parser.add_argument("--groupon-split-rate", type=float, default=0.03,
                        help="share of orders sent as two entries with the same orderid (each with its own ship-to)")
    parser.add_argument("--groupon-cancel-rate", type=float, default=0.03,
                        help="share of lines already cancelled or refunded when first listed")
    parser.add_argument("--groupon-ascii-json", action="store_true",
                        help="answer with \\u escapes instead of raw UTF-8 under text/json")


def build(app: FastAPI, options: argparse.Namespace, seed: int, anchor: datetime, days: float) -> GrouponSandbox:
    """The accounts of ``--groupon``, each with its generated orders, and their routes on ``app``."""
    sandbox = GrouponSandbox(page_size=options.groupon_page_size,
                             auth_failure_status=options.groupon_auth_failure_status,
                             raw_utf8=not options.groupon_ascii_json)
    for spec in options.groupon:
        factory = GrouponOrderFactory(seed, spec.supplier_id, anchor, days=days, split_rate=options.groupon_split_rate,
                                      cancel_rate=options.groupon_cancel_rate)
        sandbox.add_account(spec.supplier_id, spec.token, factory, spec.n_orders)
    app.include_router(control_router(sandbox))
    app.include_router(api_router(sandbox))
    return sandbox


def _check(options: argparse.Namespace) -> str | None:
    return "--groupon-page-size must be at least 1" if options.groupon_page_size < 1 else None


def _summary(options: argparse.Namespace) -> str:
    return f"groupon accounts: {', '.join(a.supplier_id for a in options.groupon) or 'none'}"


# Its 429 body is the fault middleware's default (Groupon's shape); ``keywords``: create_app's older names.
FAKE = Fake(CHANNEL, add_arguments, build, content_type=CONTENT_TYPE, check=_check, summary=_summary,
            keywords={"groupon_accounts": ("groupon", list),
                      "groupon_raw_utf8": ("groupon_ascii_json", lambda raw: not raw)})

__all__ = ["CHANNEL", "CONTENT_TYPE", "FAKE", "GrouponAccount", "GrouponAccountSpec", "GrouponSandbox", "api_router",
           "build", "control_router", "counters", "read_params"]
