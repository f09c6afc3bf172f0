"""plentymarkets REST API fake: in-memory systems, the ``/rest`` routes and their control API.

Follows the reference notes (shoprenter-plenty-api.md B1-B9) and the official OpenAPI subset
(plentymarkets-openapi-subset.json); the business flow is the wemalo one of seed 003 (fetch status 5,
set 5.1, 6.2/6.3 on errors, 8.0 -> 8.8 for cancellations, a package number per shipment). A
customer's return is a return order (typeId 3, B6/B7), made by ``POST /rest/orders/{id}/returns``.
Every choice the reference marks as a guess [G] says so next to the code and, where it matters to
a client, is a command-line option. Orders come from ``plentyfake``.

One fake plenty *system* per path, ``/plentymarkets/{system}/rest/...``, each with one back-end user:

- ``POST /rest/login`` (JSON or form), ``/rest/login/refresh``, ``/rest/logout``: Bearer tokens,
  answered with both key sets (B1), at most ``max_sessions`` live sessions per user (429 beyond).
- ``GET /rest/orders`` (status, date, type and parent filters, ``with[]``, 1-based paging, B4/B5),
  ``GET|PUT /rest/orders/{id}``, ``GET /rest/orders/{id}/status-history``,
  ``POST /rest/orders/{id}/returns`` (a return order of a sales order, B7),
  ``GET|POST /rest/orders/{id}/shipping/packages``, ``GET /rest/orders/{id}/packagenumbers``,
  ``GET /rest/orders/shipping/presets`` (B7, B8);
- ``PUT /rest/stockmanagement/warehouses/{id}/stock/correction`` and ``GET .../stock`` (B9).

Every answer to an authenticated user carries the B2 rate headers of its read (GET) or write budget;
a spent budget gives 429 with ``Retry-After``. Error bodies are the B3 shapes. Each ``/rest``
exchange is logged (secrets redacted) for ``/_sandbox/plentymarkets/{system}/exchanges``, which the
tests validate against the OpenAPI spec (``tests/plentyspec.py``). Requests answered by a fault rule
never reach this package, so they are not in that log.

Modules, by role: ``common`` (status ids, the B3 error, field checks, settings), ``state`` (the
systems in memory), ``wire`` (rendering answers, reading requests, the exchange log), ``routes``
(the ``/rest`` handlers and ``ROUTES``), ``dispatch`` (``PlentySandbox``: auth, budgets and
permissions around each handler; ``api_router``) and ``control`` (``/_sandbox/plentymarkets``).
``FAKE`` plugs it into the sandbox app and its command line (``orderbridge_sandbox.plugin``).
"""

from __future__ import annotations

import argparse
from datetime import datetime

from fastapi import FastAPI

from orderbridge_sandbox.plentyfake import PlentyOrderFactory
from orderbridge_sandbox.plentymarkets.common import (
    CHANNEL,
    CONTENT_TYPE,
    STATUSES,
    PlentySettings,
    PlentySystemSpec,
)
from orderbridge_sandbox.plentymarkets.control import control_router
from orderbridge_sandbox.plentymarkets.dispatch import PlentySandbox, api_router
from orderbridge_sandbox.plentymarkets.state import PlentySystem
from orderbridge_sandbox.plugin import Fake, spec_type


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--plentymarkets", action="append", type=spec_type(PlentySystemSpec.parse), default=[],
                        metavar="SYSTEM:USERNAME:PASSWORD:N",
                        help="a plentymarkets system (served under /plentymarkets/SYSTEM) with its REST user and "
                             "N initial orders (repeatable; the password may contain ':')")
    parser.add_argument("--plenty-token-ttl", type=int, default=86_400, help="login expires_in, seconds")
    parser.add_argument("--plenty-max-sessions", type=int, default=3, help="concurrent sessions per user")
    parser.add_argument("--plenty-read-limit", type=int, default=200,
                        help="GET calls per user per rate window (Classic plan: 200 a minute)")
    parser.add_argument("--plenty-write-limit", type=int, default=80,
                        help="POST/PUT/DELETE calls per user per rate window (Classic plan: 80 a minute)")
    parser.add_argument("--plenty-rate-window", type=float, default=60.0, help="rate window length, seconds")
    parser.add_argument("--plenty-numbers-as-strings", action="store_true",
                        help="answer paging numbers, order ids, quantities and amounts as strings, as some "
                             "live systems do (the spec says numbers)")
    parser.add_argument("--plenty-max-items-per-page", type=int, default=250,
                        help="itemsPerPage cap (a guess: the spec gives no maximum)")


def build(app: FastAPI, options: argparse.Namespace, seed: int, anchor: datetime, days: float) -> PlentySandbox:
    """The systems of ``--plentymarkets``, each with its generated orders, and their routes on ``app``."""
    plenty = PlentySandbox(PlentySettings(
        token_ttl=options.plenty_token_ttl, max_sessions=options.plenty_max_sessions,
        read_limit=options.plenty_read_limit, write_limit=options.plenty_write_limit,
        rate_window=options.plenty_rate_window, numbers_as_strings=options.plenty_numbers_as_strings,
        max_items_per_page=options.plenty_max_items_per_page))
    for spec in options.plentymarkets:
        plenty.add_system(spec, PlentyOrderFactory(seed, spec.system, anchor, days=days))
    app.include_router(control_router(plenty))
    app.include_router(api_router(plenty))
    return plenty


def _check(options: argparse.Namespace) -> str | None:
    if min(options.plenty_token_ttl, options.plenty_max_sessions, options.plenty_read_limit,
           options.plenty_write_limit, options.plenty_max_items_per_page) < 1 or options.plenty_rate_window <= 0:
        return "--plenty-* limits, the token TTL and the rate window must be positive"
    return None


def _summary(options: argparse.Namespace) -> str:
    return f"plentymarkets systems: {', '.join(s.system for s in options.plentymarkets) or 'none'}"


# Its 429 body is B3's error shape; ``keywords``: create_app's older names.
FAKE = Fake(CHANNEL, add_arguments, build, rate_limit_body={"error": {"message": "Too Many Requests", "code": 429}},
            check=_check, summary=_summary, keywords={"plentymarkets_systems": ("plentymarkets", list)})

__all__ = ["CHANNEL", "CONTENT_TYPE", "FAKE", "STATUSES", "PlentySandbox", "PlentySettings", "PlentySystem",
           "PlentySystemSpec", "api_router", "build", "control_router"]
