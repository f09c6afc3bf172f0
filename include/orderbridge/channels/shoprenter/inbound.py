"""The Shoprenter webhook receiver: ``order_status_change`` deliveries landed in ``raw.orders``.

Airflow's API server mounts the app under ``/shoprenter`` (``plugins/shoprenter.py``); ``python -m
orderbridge.channels.shoprenter.inbound --port N`` serves it alone. The route a shop's webhook is
registered with is ``POST /shoprenter/{account}/{secret}/order-status``.

A delivery (A9) is a multipart form whose field ``data`` holds the JSON document
``{"orders": {"order": [...]}}``, sent with ``user-agent: ShopRenter``. Shoprenter signs nothing,
so the URL carries a per-shop secret (the extra ``webhook_secret``), compared in constant time.
Each order is landed raw under its ``innerId`` and the answer is 200 once committed; the DAG's
``load_staging`` does the rest, and its poll brings anything a missed delivery lost (at most one
poll interval later). The same delivery twice lands once (``land_raw`` skips a payload it has).
Refusals store nothing and say why: 404 unknown shop or wrong secret (no hint which), 413 too
large, 400 not a form with ``data``, 422 not the document, 503 database or configuration.
"""

from __future__ import annotations

import argparse
import hmac
import json
import logging
import time
from collections.abc import Callable
from contextlib import closing
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from orderbridge.channels.shoprenter.mapping import CHANNEL, order_id, webhook_orders
from orderbridge.channels.shoprenter.settings import ShoprenterSettings
from orderbridge.errors import InvalidPayload

log = logging.getLogger(__name__)


class Refusal(Exception):
    def __init__(self, status_code: int, message: str):
        super().__init__(message)
        self.status_code, self.message = status_code, message


def airflow_shop_settings(account: str) -> ShoprenterSettings | None:
    """A configured shop's settings from its Airflow connection; None if not configured."""
    from airflow.sdk import BaseHook

    from orderbridge.config import load_accounts

    found = next((a for a in load_accounts(CHANNEL) if a.name == account), None)
    if found is None:
        return None
    return ShoprenterSettings.from_extra(BaseHook.get_connection(found.conn_id).extra_dejson, found.conn_id)


def airflow_staging_connection():
    from orderbridge.steps import staging_connection

    return staging_connection()


class Shops:
    """Shop settings, re-read after ``ttl`` seconds (a rotated secret takes effect without a restart)."""

    def __init__(self, load: Callable[[str], ShoprenterSettings | None], ttl: float = 60.0):
        self.load, self.ttl, self._cache = load, ttl, {}

    def get(self, account: str) -> ShoprenterSettings | None:
        cached = self._cache.get(account)
        if cached is None or time.monotonic() - cached[0] > self.ttl:
            try:
                cached = (time.monotonic(), self.load(account))
            except Exception as err:  # a missing connection or a bad extra: never the shop's fault
                log.error("shoprenter %s: cannot read the shop's connection: %s", account, type(err).__name__)
                raise Refusal(503, "the receiver is not configured for this shop; nothing was stored") from err
            self._cache[account] = cached
        return cached[1]


def check_secret(settings: ShoprenterSettings | None, given: str) -> ShoprenterSettings:
    """The shop and its secret, compared in constant time; 404 for an unknown shop or a wrong secret alike."""
    expected = (settings.webhook_secret or "") if settings else ""
    if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
        raise Refusal(404, "no such webhook (unknown shop or wrong secret); nothing was stored")
    return settings


async def read_document(request: Request, limit: int) -> Any:
    """The JSON document in the form field ``data``; ``Refusal`` 413, 400 or 422 naming what is wrong."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise Refusal(413, f"body of {declared} bytes is larger than the {limit} bytes accepted")
    if not request.headers.get("content-type", "").startswith(("multipart/form-data",
                                                               "application/x-www-form-urlencoded")):
        raise Refusal(400, "expected a multipart/form-data body with the JSON document in the field data")
    try:
        form = await request.form(max_part_size=limit)
    except Exception as err:  # the multipart parser's own errors: a malformed body
        raise Refusal(400, f"body is not a readable form: {type(err).__name__}") from None
    data = form.get("data")
    if data is None:
        raise Refusal(400, "the form has no field data")
    text = await data.read() if hasattr(data, "read") else data
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as err:
        raise Refusal(422, f"field data is not valid JSON: {err}") from None


def store(connect: Callable[[], Any], account: str, orders: list[dict]) -> int:
    """Land each order raw under its innerId in one transaction; how many were new."""
    from orderbridge.staging import land_raw

    run_id = f"shoprenter-webhook:{datetime.now(UTC).isoformat(timespec='seconds')}"
    with closing(connect()) as conn:
        with conn.cursor() as cur:
            new = land_raw(cur, CHANNEL, account, [(order_id(o), o) for o in orders], run_id)
        conn.commit()
    return new


def create_app(load_settings: Callable[[str], ShoprenterSettings | None] = airflow_shop_settings,
               connect: Callable[[], Any] = airflow_staging_connection) -> FastAPI:
    """The webhook receiver; cheap to build (nothing connects until a delivery comes)."""
    import psycopg2

    shops = Shops(load_settings)
    app = FastAPI(title="orderbridge: Shoprenter webhooks",
                  description="order_status_change deliveries from Shoprenter shops (issue 14).")

    @app.exception_handler(Refusal)
    async def refused(_request: Request, err: Refusal) -> JSONResponse:
        return JSONResponse({"stored": False, "message": err.message}, status_code=err.status_code)

    @app.post("/{account}/{secret}/order-status")
    async def order_status(account: str, secret: str, request: Request) -> dict:
        settings = check_secret(await run_in_threadpool(shops.get, account), secret)
        document = await read_document(request, settings.webhook_max_bytes)
        try:
            orders = webhook_orders(document)
        except InvalidPayload as err:
            raise Refusal(422, str(err)) from None
        try:
            new = await run_in_threadpool(store, connect, account, orders)
        except psycopg2.Error as err:
            log.error("shoprenter %s: database error, nothing stored: %s", account, type(err).__name__)
            raise Refusal(503, "could not store the delivery; nothing was stored, please retry") from err
        log.info("shoprenter %s webhook (%s): %d order(s), %d new", account,
                 request.headers.get("user-agent", "-")[:40], len(orders), new)
        return {"stored": True, "orders": len(orders), "new": new}

    return app


def main(argv: list[str] | None = None) -> None:
    """Serve the receiver alone with uvicorn (connections from ``AIRFLOW_CONN_*`` environment variables)."""
    import uvicorn

    parser = argparse.ArgumentParser(prog="python -m orderbridge.channels.shoprenter.inbound", description=main.__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8767)
    parser.add_argument("--prefix", default="/shoprenter", help="mount path, as under the Airflow API server")
    args = parser.parse_args(argv)
    root = FastAPI()
    root.mount(args.prefix, create_app())
    uvicorn.run(root, host=args.host, port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
