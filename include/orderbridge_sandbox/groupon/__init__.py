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
"""

from __future__ import annotations

from orderbridge_sandbox.groupon.control import control_router
from orderbridge_sandbox.groupon.routes import GrouponSandbox, api_router, read_params
from orderbridge_sandbox.groupon.state import CHANNEL, CONTENT_TYPE, GrouponAccount, counters

__all__ = ["CHANNEL", "CONTENT_TYPE", "GrouponAccount", "GrouponSandbox", "api_router", "control_router", "counters",
           "read_params"]
