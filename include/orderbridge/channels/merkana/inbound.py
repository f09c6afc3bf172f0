"""The endpoints Merkana calls on us, the fulfilment centre: a FastAPI app.

Airflow's API server mounts it under ``/merkana`` (``plugins/merkana.py``); ``python -m
orderbridge.channels.merkana.inbound --port N`` serves the same app alone (the demo and tests do). Airflow
does not authenticate plugin routes, so the app does. Each configured platform
(``config/accounts.yaml``, section ``merkana``) has four routes, named after the seed's:

- ``POST /merkana/<platform>/sync_products``: the merchant's catalogue -> ``staging.channel_products``;
- ``POST /merkana/<platform>/stock``: the initial stock of a merchant, ``{"status": true, "mid", "stock"}``;
- ``POST /merkana/<platform>/save_order``: an order create, stored in ``raw`` and ``staging`` in one
  transaction, answered ``{"status": true}`` only once committed;
- ``POST /merkana/<platform>/cancel_order``: ``status`` true when cancelled (stock released), false
  when the warehouse has started on the order.

Every request carries the platform's secret in the ``api-token`` header (compared in constant
time). Refusals use the seed's error convention, ``{"status": false, "message": ...}``, with the
HTTP status saying why: 401 (token), 404 (platform or order), 413 (body too large), 400 (not
JSON), 422 (a field, named as the platform spells it), 503 (configuration or database: retry).
Nothing is stored for any refusal. Heavy work (status updates, stock pushes) is the DAG's.

Nothing is read at import: the platform's connection and the staging database are resolved on
the first request that needs them (``Runtime``), in whatever process serves the app. Under
``airflow api-server`` that finds connections in environment variables, secrets backends and the
metadata database; standalone, in environment variables and secrets backends.
"""

from __future__ import annotations

import argparse
import hmac
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Generator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import psycopg2
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from orderbridge.channels.merkana import CHANNEL, store
from orderbridge.channels.merkana.mapping import Cancel, OrderCreate, StockRequest, parse, parse_product_sync
from orderbridge.channels.merkana.settings import PlatformSettings
from orderbridge.errors import InvalidPayload, Permanent

log = logging.getLogger(__name__)

TOKEN_HEADER = "api-token"


class Refusal(Exception):
    """Answer ``{"status": false, "message": message}`` with HTTP ``status_code``."""

    def __init__(self, status_code: int, message: str):
        super().__init__(message)
        self.status_code, self.message = status_code, message


def airflow_platform_settings(platform: str) -> PlatformSettings | None:
    """The settings of a configured platform from its Airflow connection; None if not configured."""
    from airflow.sdk import BaseHook

    from orderbridge.config import load_accounts

    account = next((a for a in load_accounts(CHANNEL) if a.name == platform), None)
    if account is None:
        return None
    return PlatformSettings.from_extra(platform, account.conn_id, BaseHook.get_connection(account.conn_id).extra_dejson)


def airflow_staging_connection():
    from orderbridge.steps import staging_connection

    return staging_connection()


class Runtime:
    """What requests share, built lazily: platform settings (re-read after ``settings_ttl`` seconds,
    so a rotated secret takes effect without a restart) and a small pool of staging connections.

    Args:
        load_settings: platform -> settings, or None for an unknown platform.
        connect: opens one psycopg2 connection to the staging database.
        pool_size: most connections open at once; further requests wait up to ``wait`` seconds.
    """

    def __init__(self, load_settings: Callable[[str], PlatformSettings | None] = airflow_platform_settings,
                 connect: Callable[[], Any] = airflow_staging_connection, *, settings_ttl: float = 60.0,
                 pool_size: int = 8, wait: float = 30.0):
        self._load, self._connect, self.settings_ttl, self.wait = load_settings, connect, settings_ttl, wait
        self._cache: dict[str, tuple[float, PlatformSettings | None]] = {}
        self._idle: list = []
        self._slots = threading.BoundedSemaphore(pool_size)
        self._lock = threading.Lock()

    def settings(self, platform: str) -> PlatformSettings:
        """Raises ``Refusal`` 404 for an unknown platform, 503 when it cannot be configured."""
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(platform)
        if cached is None or now - cached[0] > self.settings_ttl:
            try:
                cached = (now, self._load(platform))
            except Permanent as err:
                log.error("merkana %s: %s", platform, err)
                raise Refusal(503, f"platform {platform} is misconfigured at the fulfilment centre") from err
            except Exception as err:  # connection missing, secrets backend down: never our caller's fault
                log.error("merkana %s: cannot read the platform's connection: %s", platform, type(err).__name__)
                raise Refusal(503, f"platform {platform} is not configured at the fulfilment centre") from err
            with self._lock:
                self._cache[platform] = cached
        if cached[1] is None:
            raise Refusal(404, f"no Merkana platform {platform!r} at this fulfilment centre")
        return cached[1]

    @contextmanager
    def connection(self) -> Generator[Any]:
        """A staging connection for one request; put back only when it ended cleanly (committed)."""
        if not self._slots.acquire(timeout=self.wait):
            raise Refusal(503, "fulfilment centre busy, nothing was stored; please retry")
        try:
            with self._lock:
                conn = self._idle.pop() if self._idle else None
            if conn is None or conn.closed:
                try:
                    conn = self._connect()
                except Exception as err:  # connection missing or database down: the caller should retry
                    log.error("merkana: cannot open a staging connection: %s", type(err).__name__)
                    raise Refusal(503, "fulfilment centre database unavailable, nothing was stored; please retry") \
                        from err
            try:
                yield conn
            except BaseException:
                conn.close()
                raise
            if conn.closed or conn.get_transaction_status() != psycopg2.extensions.TRANSACTION_STATUS_IDLE:
                conn.close()
            else:
                with self._lock:
                    self._idle.append(conn)
        finally:
            self._slots.release()


def check_token(request: Request, settings: PlatformSettings) -> None:
    """The platform's secret, compared in constant time; raises ``Refusal`` 401 (or 503 if unset)."""
    if not settings.inbound_token:
        log.error("merkana %s: connection %s has no inbound_token; refusing every call", settings.platform,
                  settings.conn_id)
        raise Refusal(503, f"platform {settings.platform} has no api-token configured at the fulfilment centre")
    given = request.headers.get(TOKEN_HEADER)
    if given is None:
        raise Refusal(401, f"missing {TOKEN_HEADER} header")
    if not hmac.compare_digest(given.encode(), settings.inbound_token.encode()):
        raise Refusal(401, f"invalid {TOKEN_HEADER}")


async def read_body(request: Request, limit: int) -> Any:
    """The JSON body, read no further than ``limit`` bytes; raises ``Refusal`` 413 or 400."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise Refusal(413, f"body of {declared} bytes is larger than the {limit} bytes accepted")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise Refusal(413, f"body larger than the {limit} bytes accepted")
        chunks.append(chunk)
    try:
        return json.loads(b"".join(chunks))
    except (ValueError, RecursionError) as err:  # JSONDecodeError, UnicodeDecodeError; absurd nesting
        raise Refusal(400, f"body is not valid JSON: {err}") from None


def _checked(model_parse: Callable[[], Any]) -> Any:
    try:
        return model_parse()
    except InvalidPayload as err:
        raise Refusal(422, str(err)) from None


def _merchant(settings: PlatformSettings, mid: str) -> None:
    if not settings.accepts(mid):
        raise Refusal(422, f"{settings.fields.wire('mid')}: {mid} is not a merchant of this fulfilment centre "
                           f"on platform {settings.platform}")


def _run_id(endpoint: str) -> str:
    return f"merkana-api:{endpoint}:{datetime.now(UTC).isoformat(timespec='seconds')}"


def create_app(runtime: Runtime | None = None) -> FastAPI:
    """The Merkana fulfilment endpoints; cheap to call (nothing connects until a request comes)."""
    runtime = runtime or Runtime()
    # No docs or OpenAPI routes: mounted on the Airflow API server, nothing authenticates them, and they
    # would describe our endpoints to anyone. The platforms' own routes check their api-token.
    app = FastAPI(title="orderbridge: Merkana fulfilment endpoints",
                  description="What Merkana platforms call on the fulfilment centre (seed 004).",
                  docs_url=None, redoc_url=None, openapi_url=None)
    app.state.runtime = runtime

    @app.exception_handler(Refusal)
    async def refused(_request: Request, err: Refusal) -> JSONResponse:
        return JSONResponse({"status": False, "message": err.message}, status_code=err.status_code)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, err: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"status": False, "message": str(err.detail)}, status_code=err.status_code)

    async def admitted(request: Request, platform: str) -> tuple[PlatformSettings, Any]:
        settings = await run_in_threadpool(runtime.settings, platform)
        check_token(request, settings)
        return settings, await read_body(request, settings.max_body_bytes)

    async def in_staging(endpoint: str, settings: PlatformSettings, work: Callable[[Any], Any]) -> Any:
        def run() -> Any:
            with runtime.connection() as conn:
                return work(conn)
        try:
            return await run_in_threadpool(run)
        except psycopg2.Error as err:
            log.error("merkana %s %s: database error, nothing stored: %s", settings.platform, endpoint,
                      type(err).__name__)
            raise Refusal(503, "could not store the request at the fulfilment centre, nothing was stored; "
                               "please retry") from err

    @app.get("/health")
    async def health() -> dict:
        return {"status": True}  # public: that it answers, nothing about the process

    @app.post("/{platform}/sync_products")
    async def sync_products(platform: str, request: Request) -> dict:
        settings, body = await admitted(request, platform)
        sync = _checked(lambda: parse_product_sync(body, settings.fields))
        _merchant(settings, sync.mid)
        changed = await in_staging("sync_products", settings, lambda conn: store.sync_products(conn, settings, sync))
        log.info("merkana %s sync_products mid=%s: %d products, %d changed", platform, sync.mid, len(sync.products),
                 changed)
        return {"status": True}

    @app.post("/{platform}/stock")
    async def initial_stock(platform: str, request: Request) -> dict:
        settings, body = await admitted(request, platform)
        req = _checked(lambda: parse(StockRequest, body, settings.fields))
        _merchant(settings, req.mid)
        answer = await in_staging("stock", settings, lambda conn: store.initial_stock(conn, settings, req.mid))
        log.info("merkana %s stock mid=%s: %d products", platform, req.mid, len(answer))
        mid = body.get(settings.fields.wire("mid"))  # echoed as Merkana wrote it (a number in the seed)
        return {"status": True, **settings.fields.to_wire({"mid": mid, "stock": answer})}

    @app.post("/{platform}/save_order")
    async def save_order(platform: str, request: Request) -> dict:
        settings, body = await admitted(request, platform)
        order = _checked(lambda: parse(OrderCreate, body, settings.fields))
        _merchant(settings, order.mid)
        status = await in_staging("save_order", settings,
                                  lambda conn: store.store_order(conn, settings, body, order, _run_id("save_order")))
        log.info("merkana %s save_order mid=%s id=%s: stored, %s", platform, order.mid, order.id, status)
        return {"status": True}

    @app.post("/{platform}/cancel_order")
    async def cancel_order(platform: str, request: Request) -> dict:
        settings, body = await admitted(request, platform)
        req = _checked(lambda: parse(Cancel, body, settings.fields))
        _merchant(settings, req.mid)
        done, status = await in_staging("cancel_order", settings, lambda conn: store.cancel_order(
            conn, settings, req.mid, req.id, _run_id("cancel_order")))
        log.info("merkana %s cancel_order mid=%s id=%s: %s (%s)", platform, req.mid, req.id, done, status)
        if done is None:
            raise Refusal(404, f"order {req.id} of merchant {req.mid} is not known here")
        if not done:
            return {"status": False, "message": f"order {req.id} is already being processed ({status}): "
                                                "not cancelled"}
        return {"status": True}

    return app


PREFIX_ENV = "ORDERBRIDGE_MERKANA_PREFIX"


def standalone_app() -> FastAPI:
    """The app under its mount path (``ORDERBRIDGE_MERKANA_PREFIX``, default ``/merkana``): what each
    uvicorn worker process builds for itself when ``main`` runs more than one."""
    root = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    root.mount(os.environ.get(PREFIX_ENV, "/merkana"), create_app())
    return root


def main(argv: list[str] | None = None) -> None:
    """Serve the app alone with uvicorn (connections from ``AIRFLOW_CONN_*`` environment variables)."""
    import uvicorn

    parser = argparse.ArgumentParser(prog="python -m orderbridge.channels.merkana.inbound", description=main.__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8766)
    parser.add_argument("--prefix", default="/merkana", help="mount path, as under the Airflow API server")
    parser.add_argument("--workers", type=int, default=1,
                        help="uvicorn worker processes, each with its own connection pool (README: Merkana)")
    parser.add_argument("--log-level", default="warning")
    args = parser.parse_args(argv)
    os.environ[PREFIX_ENV] = args.prefix  # the workers are new processes: they read it from there
    logging.basicConfig(level=args.log_level.upper())
    uvicorn.run("orderbridge.channels.merkana.inbound:standalone_app", factory=True,
                host=args.host, port=args.port, workers=args.workers, log_level=args.log_level, access_log=False,
                timeout_graceful_shutdown=2)


if __name__ == "__main__":
    main()
