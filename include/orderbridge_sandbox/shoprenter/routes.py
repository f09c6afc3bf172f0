"""The Shoprenter fake's HTTP routes, under ``/shoprenter``:

- ``POST /shoprenter/oauth/{shop}/app/token``: the OAuth2 token endpoint (A1);
- ``/shoprenter/{shop}/api2/<resource>``: the api2 host, Bearer tokens;
- ``/shoprenter/{shop}/<resource>``: the legacy host, HTTP Basic with the shop's API user and key.

Each API request is first counted against the shop's requests per second (429 past the limit),
then authorised, then its body read in any of A2's three shapes, then run by
``resources.ShopApi``; ``/batch`` runs its sub-requests through the same object (``batch``). Answers are XML
unless ``Accept: application/json`` (A2).
"""

from __future__ import annotations

import json

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from orderbridge_sandbox.shoprenter.batch import PREFIX, run_batch
from orderbridge_sandbox.shoprenter.batch import collection as _collection
from orderbridge_sandbox.shoprenter.resources import ShopApi
from orderbridge_sandbox.shoprenter.sandbox import OAuthError, ShoprenterSandbox
from orderbridge_sandbox.shoprenter.state import ApiError
from orderbridge_sandbox.shoprenter.wire import parse_body, render, wants_json

_METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH"]
_PRODUCT_PATHS = ("products", "productExtend")  # emptyBody=1 does not apply to them (A2)


async def _fields(request: Request) -> dict:
    raw = await request.body()
    ctype = request.headers.get("content-type", "")
    form = None
    if ctype.lower().startswith("multipart/form-data"):
        parsed = await request.form()
        form = [(k, v) for k, v in parsed.multi_items() if isinstance(v, str)]
    return parse_body(raw, ctype, form)


def api_router(sandbox: ShoprenterSandbox) -> APIRouter:
    """The token endpoint and both API hosts of every shop of ``sandbox``."""
    router = APIRouter()

    @router.post(f"{PREFIX}/oauth/{{shop}}/app/token")
    async def token(shop: str, request: Request) -> Response:
        try:
            body = json.loads(await request.body() or b"null")
        except ValueError:
            body = None
        try:
            return JSONResponse(sandbox.issue_token(shop, body))
        except OAuthError as err:
            return JSONResponse(err.body(), status_code=err.status)

    async def serve(request: Request, shop_name: str, rest: str, api2: bool) -> Response:
        as_json = wants_json(request.headers.get("accept"))
        method, params = request.method, dict(request.query_params)
        shop, headers = None, {}
        try:
            shop = sandbox.shop(shop_name)
            sandbox.admit(shop)
            sandbox.authorize(shop, request.headers.get("authorization", ""), api2)
            fields = await _fields(request) if method in ("POST", "PUT") else None
            base = f"{str(request.base_url).rstrip('/')}{PREFIX}/{shop.name}" + ("/api2" if api2 else "")
            status, payload = ShopApi(shop, base, sandbox, batch=run_batch).handle(method, rest, params, fields)
            if (params.get("emptyBody") == "1" and method in ("POST", "PUT")
                    and _collection(rest) not in _PRODUCT_PATHS):
                payload = []
        except ApiError as err:
            status, payload = err.status, err.body()
            if status == 429 and sandbox.settings.retry_after is not None:
                headers["Retry-After"] = str(sandbox.settings.retry_after)
        if shop is not None:
            shop.requests[(f"{method} {_collection(rest)}", status)] += 1
        if status == 204:
            return Response(status_code=204, headers=headers)
        content, media_type = render(payload, as_json)
        return Response(content, status_code=status, media_type=media_type, headers=headers)

    @router.api_route(f"{PREFIX}/{{shop}}/api2/{{rest:path}}", methods=_METHODS)
    async def api2(shop: str, rest: str, request: Request) -> Response:
        return await serve(request, shop, rest, api2=True)

    @router.api_route(f"{PREFIX}/{{shop}}/{{rest:path}}", methods=_METHODS)
    async def legacy(shop: str, rest: str, request: Request) -> Response:
        return await serve(request, shop, rest, api2=False)

    return router
