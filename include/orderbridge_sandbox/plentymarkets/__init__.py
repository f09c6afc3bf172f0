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
"""

from __future__ import annotations

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

__all__ = ["CHANNEL", "CONTENT_TYPE", "STATUSES", "PlentySandbox", "PlentySettings", "PlentySystem",
           "PlentySystemSpec", "api_router", "control_router"]
