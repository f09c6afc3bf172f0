"""The Shoprenter fake's HTTP routes, under ``/shoprenter``:

- ``POST /shoprenter/oauth/{shop}/app/token``: the OAuth2 token endpoint (A1);
- ``/shoprenter/{shop}/api2/<resource>``: the api2 host, Bearer tokens;
- ``/shoprenter/{shop}/<resource>``: the legacy host, HTTP Basic with the shop's API user and key.

Each API request is first counted against the shop's requests per second (429 past the limit),
then authorised, then its body read in any of A2's three shapes, then run by
``resources.ShopApi``; ``/batch`` runs its sub-requests through the same object. Answers are XML
unless ``Accept: application/json`` (A2).
"""

from __future__ import annotations

import json
import time
from urllib.parse import parse_qsl, urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from orderbridge_sandbox.shoprenter.resources import ShopApi
from orderbridge_sandbox.shoprenter.sandbox import OAuthError, ShoprenterSandbox
from orderbridge_sandbox.shoprenter.state import ApiError, not_found
from orderbridge_sandbox.shoprenter.wire import parse_body, render, wants_json

PREFIX = "/shoprenter"
_METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH"]
_PRODUCT_PATHS = ("products", "productExtend")  # emptyBody=1 does not apply to them (A2)


def run_batch(api: ShopApi, fields: dict) -> dict:
    """``POST /batch`` (A8): every sub-request in order, each answer with its own status inside a 200.

    Raises:
        ApiError: 400/40001 without ``requests``; 400 for more than ``--shoprenter-max-batch``
            sub-requests [G: the notes only recommend 200 at most].
    """
    requests = fields.get("requests")
    if isinstance(requests, dict) and isinstance(requests.get("request"), list):
        requests = requests["request"]  # the XML-shaped spelling the answer uses
    if not isinstance(requests, list) or not requests:
        raise ApiError(400, 40001, "Data parameter not found in POST/PUT! (data.requests: a list of requests)")
    limit = api.settings.max_batch
    if len(requests) > limit:
        raise ApiError(400, 40012, f"Too many requests in one batch: {len(requests)}, at most {limit}")
    if api.settings.batch_counts == "each":
        # [G] every sub-request counts against this second's limit: the next call waits.
        api.shop.per_second[int(time.time())] += len(requests) - 1
    inner = ShopApi(api.shop, api.base, api.sandbox)  # no batch inside a batch
    answers = []
    for sub in requests:
        sub = sub if isinstance(sub, dict) else {}
        method, uri = str(sub.get("method", "GET")).upper(), str(sub.get("uri", ""))
        data = sub.get("data")
        if isinstance(data, dict) and set(data) == {"data"} and isinstance(data["data"], dict):
            data = data["data"]
        path = ""
        try:
            path, query = _resolve(api, uri)
            status, body = inner.handle(method, path, query, data if isinstance(data, dict) else None)
        except ApiError as err:
            status, body = err.status, err.body()
        api.shop.requests[(f"{method} {_collection(path)} (batch)", status)] += 1
        answers.append({"method": method, "uri": uri,
                        "response": {"header": {"statusCode": str(status)}, "body": body}})
    return {"requests": {"request": answers}}


def _collection(path: str) -> str:
    return path.strip("/").split("/", 1)[0] or "-"


def _resolve(api: ShopApi, uri: str) -> tuple[str, dict[str, str]]:
    """The shop-relative path and query of a sub-request URI: the fake's own base (legacy or api2),
    the real hosts ``{shop}.api.myshoprenter.hu`` / ``{shop}.api2.myshoprenter.hu/api``, or a bare path.

    Raises:
        ApiError: 404 for a URI of another shop or host.
    """
    parts = urlsplit(uri)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    shop = api.shop.name
    path = parts.path
    if parts.netloc in (f"{shop}.api.myshoprenter.hu", "") and not path.startswith(PREFIX + "/"):
        return path.lstrip("/"), query
    if parts.netloc == f"{shop}.api2.myshoprenter.hu" and path.startswith("/api/"):
        return path[len("/api/"):], query
    for base in (f"{PREFIX}/{shop}/api2/", f"{PREFIX}/{shop}/"):
        if path.startswith(base) and parts.netloc == urlsplit(api.base).netloc:
            return path[len(base):], query
    raise not_found(uri)


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
