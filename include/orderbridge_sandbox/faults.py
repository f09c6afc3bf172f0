"""Fault injection for every channel's fake: rules, the ASGI middleware that applies them, and
the ``/_sandbox/faults`` control routes.

A rule names a ``channel`` (the first path segment of that channel's routes, e.g. ``groupon``),
optionally a ``match`` substring of the path, a ``kind`` and how often it fires: the next ``times``
matching requests, or each one with probability ``rate`` drawn from a ``random.Random`` seeded
from the sandbox seed, so a run is reproducible. With neither, it fires on every match until
cleared. Kinds:

- ``429``: ``Retry-After: <retry_after>`` (seconds) and a JSON body;
- ``500``: any 5xx given as ``status`` (default 500), with a small HTML body as a proxy would send;
- ``slow``: wait ``delay`` seconds, then answer normally;
- ``malformed``: HTTP 200 whose JSON body is cut off half way;
- ``reset``: drop the TCP connection (RST) without any response. This needs the server to have
  registered its connections with ``register_connection`` (``__main__`` does, for uvicorn);
  elsewhere the request gets a 500 saying so.
- ``cut``: let the channel handle the request (its effect happens), send the status line, the
  headers and half the body, then drop the connection (RST): the client cannot tell whether the
  call worked. Needs registered connections like ``reset``.

Control paths (``/_sandbox``) are never faulted, so tests can always inspect and clear rules.
"""

from __future__ import annotations

import asyncio
import json
import random
import socket
import struct
from dataclasses import asdict, dataclass
from itertools import count

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

CONTROL_PREFIX = "/_sandbox"
KINDS = ("429", "500", "slow", "malformed", "reset", "cut")

# Live connections by client (host, port), so a ``reset`` fault can find the transport under a
# request. ASGI gives the app no handle on its socket; the server's protocol class fills this in.
_CONNECTIONS: dict[tuple[str, int], asyncio.Transport] = {}


def register_connection(client: tuple[str, int] | None, transport: asyncio.Transport | None) -> None:
    """Record (or with ``transport=None`` forget) the transport serving ``client``."""
    if client is None:
        return
    if transport is None:
        _CONNECTIONS.pop(tuple(client), None)
    else:
        _CONNECTIONS[tuple(client)] = transport


class FaultSpecError(ValueError):
    """A fault rule that cannot be applied; the message says which field and why."""


@dataclass
class FaultRule:
    """One active fault; ``fired`` counts the requests it has answered."""

    id: int
    channel: str
    kind: str
    match: str | None = None
    status: int = 500
    retry_after: int = 1
    delay: float = 1.0
    times: int | None = None
    rate: float | None = None
    fired: int = 0

    @property
    def active(self) -> bool:
        return self.times is None or self.fired < self.times

    def to_dict(self) -> dict:
        data = asdict(self)
        data["active"] = self.active
        return data


class FaultInjector:
    """Holds the rules and decides, request by request, which one fires.

    Args:
        seed: seeds the random stream behind ``rate`` rules.
        channels: the channel prefixes served; a rule for any other channel is refused.
    """

    def __init__(self, seed: int, channels: tuple[str, ...] | list[str]) -> None:
        self.random = random.Random(f"faults:{seed}")
        self.channels = tuple(channels)
        self.rules: list[FaultRule] = []
        self._ids = count(1)

    def add(self, spec: dict) -> FaultRule:
        """Validate ``spec`` (the JSON a test or ``--fault`` sends) and append it as a rule.

        Raises:
            FaultSpecError: unknown channel or kind, or a field out of range.
        """
        if not isinstance(spec, dict):
            raise FaultSpecError("a fault rule is a JSON object")
        unknown = set(spec) - {"channel", "kind", "match", "status", "retry_after", "delay", "times", "rate"}
        if unknown:
            raise FaultSpecError(f"unknown field(s): {', '.join(sorted(unknown))}")
        channel, kind = spec.get("channel"), str(spec.get("kind", ""))
        if channel not in self.channels:
            raise FaultSpecError(f"channel must be one of {', '.join(self.channels)}, got {channel!r}")
        status = spec.get("status", 500)
        if kind.isdigit() and kind.startswith("5"):
            kind, status = "500", spec.get("status", int(kind))  # "503" is shorthand for 500 + status
        if kind not in KINDS:
            raise FaultSpecError(f"kind must be one of {', '.join(KINDS)} (or a 5xx code), got {kind!r}")
        try:
            rule = FaultRule(id=next(self._ids), channel=channel, kind=kind, match=spec.get("match") or None,
                             status=int(status), retry_after=int(spec.get("retry_after", 1)),
                             delay=float(spec.get("delay", 1.0)),
                             times=None if spec.get("times") is None else int(spec["times"]),
                             rate=None if spec.get("rate") is None else float(spec["rate"]))
        except (TypeError, ValueError) as err:
            raise FaultSpecError(f"bad number in fault rule: {err}") from err
        if kind == "500" and not 500 <= rule.status <= 599:
            raise FaultSpecError(f"status must be a 5xx code, got {rule.status}")
        if rule.times is not None and rule.times < 1:
            raise FaultSpecError("times must be at least 1")
        if rule.rate is not None and not 0.0 <= rule.rate <= 1.0:
            raise FaultSpecError("rate must be between 0 and 1")
        if rule.delay < 0 or rule.retry_after < 0:
            raise FaultSpecError("delay and retry_after cannot be negative")
        self.rules.append(rule)
        return rule

    def clear(self) -> int:
        """Drop every rule; returns how many there were."""
        n, self.rules = len(self.rules), []
        return n

    def pick(self, path: str) -> FaultRule | None:
        """The rule that fires for a request to ``path``, if any (and count it as fired)."""
        if path.startswith(CONTROL_PREFIX):
            return None
        channel = path.lstrip("/").split("/", 1)[0]
        for rule in self.rules:
            if rule.channel != channel or not rule.active or (rule.match and rule.match not in path):
                continue
            # Draw only for matching rate rules, so unrelated traffic does not shift the stream.
            if rule.rate is not None and self.random.random() >= rule.rate:
                continue
            rule.fired += 1
            return rule
        return None


async def _send(send, status: int, body: bytes, content_type: str, extra: list[tuple[bytes, bytes]] = ()) -> None:
    headers = [(b"content-type", content_type.encode()), (b"content-length", str(len(body)).encode()), *extra]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class FaultMiddleware:
    """ASGI middleware applying ``injector``'s rules to channel routes.

    Args:
        app: the ASGI app to protect.
        injector: the rules.
        content_types: per channel, the content type its fake answers with (Groupon: ``text/json``),
            used for the 429 and malformed bodies so they look like that channel's answers.
        rate_limit_bodies: per channel, the JSON body of its 429 (default: Groupon's shape).
    """

    def __init__(self, app, injector: FaultInjector, content_types: dict[str, str] | None = None,
                 rate_limit_bodies: dict[str, dict] | None = None) -> None:
        self.app, self.injector, self.content_types = app, injector, content_types or {}
        self.rate_limit_bodies = rate_limit_bodies or {}

    async def __call__(self, scope, receive, send) -> None:
        rule = self.injector.pick(scope["path"]) if scope["type"] == "http" else None
        if rule is None:
            return await self.app(scope, receive, send)
        ctype = self.content_types.get(rule.channel, "application/json")
        if rule.kind == "slow":
            await asyncio.sleep(rule.delay)
            return await self.app(scope, receive, send)
        if rule.kind == "429":
            body = json.dumps(self.rate_limit_bodies.get(
                rule.channel, {"success": False, "reason": "Too many requests"})).encode()
            return await _send(send, 429, body, ctype, [(b"retry-after", str(rule.retry_after).encode())])
        if rule.kind == "500":
            body = f"<html><body><h1>{rule.status} Server Error</h1></body></html>".encode()
            return await _send(send, rule.status, body, "text/html; charset=utf-8")
        if rule.kind == "malformed":
            return await _send(send, 200, b'{"success": true, "meta": {"no_of_pages": 1, "current_pa', ctype)
        transport = _CONNECTIONS.get(tuple(scope.get("client") or ()))
        if transport is None:
            body = f"{rule.kind} fault: this server does not expose its connections".encode()
            return await _send(send, 500, body, "text/plain; charset=utf-8")
        if rule.kind == "cut":
            return await self._cut(scope, receive, send, transport)
        await _abort(transport)

    async def _cut(self, scope, receive, send, transport: asyncio.Transport) -> None:
        """Run the app, forward its headers and half its body, then drop the connection."""
        started: dict = {}
        body = bytearray()

        async def capture(message) -> None:
            if message["type"] == "http.response.start":
                started.update(message)
            elif message["type"] == "http.response.body":
                body.extend(message.get("body", b""))

        await self.app(scope, receive, capture)
        if started:
            await send(started)
            await send({"type": "http.response.body", "body": bytes(body[:max(len(body) // 2, 1)]),
                        "more_body": True})
            await asyncio.sleep(0.05)  # let the partial body leave before the reset
        await _abort(transport)


async def _abort(transport: asyncio.Transport) -> None:
    """Drop a connection with a TCP RST ("connection reset by peer")."""
    sock = transport.get_extra_info("socket")
    if sock is not None:
        # Linger 0 turns the close into a TCP RST: the client sees "connection reset by peer".
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()
    # Let the server notice the disconnect, so it does not try to send a 500 of its own.
    for _ in range(3):
        await asyncio.sleep(0)


def fault_router(injector: FaultInjector) -> APIRouter:
    """``GET``/``POST``/``DELETE /_sandbox/faults``: list, add (one rule or a list) and clear rules."""
    router = APIRouter(prefix=f"{CONTROL_PREFIX}/faults")

    @router.get("")
    async def list_faults() -> JSONResponse:
        return JSONResponse({"rules": [r.to_dict() for r in injector.rules]})

    @router.post("")
    async def add_faults(request: Request) -> JSONResponse:
        try:
            spec = await request.json()
        except ValueError:
            return JSONResponse({"ok": False, "error": "body must be a JSON object or list"}, status_code=400)
        before = len(injector.rules)
        try:
            rules = [injector.add(s) for s in (spec if isinstance(spec, list) else [spec])]
        except FaultSpecError as err:
            del injector.rules[before:]  # all or nothing, so a retry does not add duplicates
            return JSONResponse({"ok": False, "error": str(err)}, status_code=400)
        return JSONResponse({"ok": True, "rules": [r.to_dict() for r in rules]})

    @router.delete("")
    async def clear_faults() -> JSONResponse:
        return JSONResponse({"ok": True, "cleared": injector.clear()})

    return router
