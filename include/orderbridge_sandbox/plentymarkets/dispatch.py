"""The plentymarkets fake's front door: ``PlentySandbox`` holds every system and answers each
``/rest`` request in order (route, body, token, call budget, permission, handler), then counts it
and logs the exchange; ``api_router`` mounts it under ``/plentymarkets/{system}/rest``.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections import Counter
from collections.abc import Callable

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from orderbridge_sandbox.plentyfake import PlentyOrderFactory
from orderbridge_sandbox.plentymarkets.common import CONTENT_TYPE, ApiError, PlentySettings, PlentySystemSpec
from orderbridge_sandbox.plentymarkets.routes import (
    _BUDGET_HEADERS,
    AUTH_PATHS,
    ROUTES,
    Route,
    _login,
    _logout,
    _refresh,
)
from orderbridge_sandbox.plentymarkets.state import PlentySystem
from orderbridge_sandbox.plentymarkets.wire import Call, _exchange, _parse_body, _Unparsed


class PlentySandbox:
    """Every plenty system of one sandbox, with the shared settings."""

    def __init__(self, settings: PlentySettings | None = None, clock: Callable[[], float] = time.time) -> None:
        self.settings, self.clock = settings or PlentySettings(), clock
        self.systems: dict[str, PlentySystem] = {}
        self.requests: Counter[tuple[str, int]] = Counter()

    def add_system(self, spec: PlentySystemSpec, factory: PlentyOrderFactory) -> PlentySystem:
        """Serve ``spec``'s system under ``/plentymarkets/{system}``, with its initial orders."""
        system = PlentySystem(spec, factory, self.settings, self.clock)
        system.add_orders(spec.n_orders)
        self.systems[spec.system] = system
        return system

    async def handle(self, system: PlentySystem, method: str, path: str, request: Request) -> Response:
        """Answer one ``/rest`` request of ``system`` and log the exchange."""
        name, route, params = _resolve(method, path)
        call = Call(list(request.query_params.multi_items()),
                    _parse_body(await request.body(), request.headers.get("content-type")), params)
        headers: dict[str, str] = {}
        try:
            status, body = self._answer(system, name, route, call, request.headers.get("authorization"), headers)
        except ApiError as err:
            status, body = err.status, err.body
        system.requests[(name, status)] += 1
        self.requests[(name, status)] += 1
        content = b"" if body is None else json.dumps(body, separators=(",", ":")).encode()  # \u-escaped, as PHP
        response = Response(content, status_code=status, headers=headers,
                            media_type=CONTENT_TYPE if body is not None else None)
        system.exchanges.append(_exchange(system, method, path, call, request, response, body))
        return response

    def _answer(self, system: PlentySystem, name: str, route: Route | None, call: Call,
                authorization: str | None, headers: dict[str, str]) -> tuple[int, object]:
        """Auth, budget, permission, handler; ``headers`` collects the rate headers as they are known."""
        if name == "unknown":
            raise ApiError(404, "Route not found.")
        if name == "method_not_allowed":
            raise ApiError(405, "Method not allowed.")
        if isinstance(call.body, _Unparsed):
            raise ApiError(400, "The request body is not valid JSON.")
        if name == "login":  # no token and no budget: login does not count (B2)
            return _login(system, call)
        session = system.session_for(authorization)
        if session is None and name == "login.refresh":
            # The refresh body is not documented [G]: the Bearer header, or a refresh_token field.
            session = system.session_for_refresh(call.body)
        if session is None:
            raise ApiError(401, "Unauthenticated.")  # no user known: no budget, no rate headers
        self._spend(system, "read" if route and route.method == "GET" else "write", headers)
        if name == "login.refresh":
            return _refresh(system, session, call)
        if name == "logout":
            return _logout(system, session, call)
        if route.permission in system.denied:
            raise ApiError(403, "This action is unauthorized.", missing=[route.permission])
        return route.handler(system, call)

    def _spend(self, system: PlentySystem, kind: str, headers: dict[str, str]) -> None:
        """Take one call from the user's ``kind`` budgets (per minute and per day), or raise 429.

        Refresh and logout count as writes: a guess, only login is documented as free.
        """
        now = self.clock()
        budgets = [(system.budgets[kind + suffix], prefix) for suffix, prefix in _BUDGET_HEADERS]
        for budget, prefix in budgets:
            if not budget.has_room(now):
                reset = budget.start + budget.window
                headers.update(budget.headers(prefix, now))
                headers.update({"Retry-After": str(max(1, math.ceil(reset - now))),
                                f"{prefix}-Calls-Reset": str(int(reset))})
                period = "short" if prefix.endswith("Short-Period") else "long"  # the long text is a guess
                raise ApiError(429, f"{period} period {kind} limit reached")
        for budget, prefix in budgets:
            budget.used += 1
            headers.update(budget.headers(prefix, now))


def _resolve(method: str, path: str) -> tuple[str, Route | None, dict[str, str]]:
    """The route name (``unknown`` / ``method_not_allowed`` when none fits), route and path parameters."""
    if path in AUTH_PATHS:
        return (AUTH_PATHS[path] if method == "POST" else "method_not_allowed"), None, {}
    matches = [(r, m) for r in ROUTES if (m := re.fullmatch(r.pattern, path))]
    for route, match in matches:
        if route.method == method:
            return route.name, route, match.groupdict()
    return ("method_not_allowed" if matches else "unknown"), None, {}


def api_router(sandbox: PlentySandbox) -> APIRouter:
    """The ``/plentymarkets/{system}/rest/...`` routes over ``sandbox``."""
    router = APIRouter()

    @router.api_route("/plentymarkets/{system}/rest{rest:path}", methods=["GET", "POST", "PUT", "DELETE", "PATCH"])
    async def dispatch(system: str, rest: str, request: Request) -> Response:
        target = sandbox.systems.get(system)
        if target is None:
            return JSONResponse(ApiError(404, f"No plentymarkets system {system} here.").body, status_code=404)
        return await sandbox.handle(target, request.method, "/rest" + rest, request)

    return router
