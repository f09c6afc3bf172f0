"""The Octopia fake's API routes: the token endpoint and ``/seller/v2``, under ``/octopia``.

Every ``/seller/v2`` call is authorised first (Bearer token, ``SellerId`` header: ``OctopiaSandbox
.authorize``), then lets the marketplace catch up with the clock (``tick``), then runs. Refusals are
``application/problem+json``; each call is counted per endpoint and status, for the sandbox and for
the seller it acted for.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from orderbridge_sandbox.octopia.sandbox import OctopiaSandbox, bad_request
from orderbridge_sandbox.octopia.state import CARRIERS, PROBLEM, Problem, Seller

TOKEN_PATH = "/octopia/auth/realms/maas/protocol/openid-connect/token"
API = "/octopia/seller/v2"


def _retry_after(problem: Problem) -> dict[str, str] | None:
    return {"Retry-After": str(problem.retry_after)} if problem.retry_after is not None else None


def problem_response(problem: Problem) -> Response:
    return Response(json.dumps(problem.body()).encode(), status_code=problem.status, media_type=PROBLEM,
                    headers=_retry_after(problem))


async def _json(request: Request) -> object:
    raw = await request.body()
    try:
        return json.loads(raw) if raw.strip() else None
    except ValueError as err:
        raise bad_request("body", f"is not valid JSON: {err}") from None


def _written(sandbox: OctopiaSandbox, body: dict) -> Response:
    # The success answer to approval and shipments is not documented [G]: 204 by default, or 200 with
    # the order as it now is.
    if sandbox.settings.write_status == 204:
        return Response(status_code=204)
    return JSONResponse(body, status_code=sandbox.settings.write_status)


def api_router(sandbox: OctopiaSandbox) -> APIRouter:
    """The token endpoint and the Seller API v2 routes over ``sandbox``."""
    router = APIRouter()

    def count(name: str, status: int, seller: Seller | None) -> None:
        sandbox.requests[(name, status)] += 1
        if seller is not None:
            seller.requests[(name, status)] += 1

    @router.post(TOKEN_PATH)
    async def token(request: Request) -> Response:
        try:
            if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
                raise Problem(400, "invalid_request", "The body must be application/x-www-form-urlencoded")
            form = dict(parse_qsl((await request.body()).decode("utf-8", "replace"), keep_blank_values=True))
            answer: Response = JSONResponse(sandbox.issue_token(form))
        except Problem as problem:
            answer = problem_response(problem)
            if sandbox.settings.token_errors == "keycloak":
                answer = JSONResponse({"error": problem.title, "error_description": problem.detail},
                                      status_code=problem.status, headers=_retry_after(problem))
        count("token", answer.status_code, None)
        return answer

    async def call(request: Request, name: str, action: Callable[[Seller], object]) -> Response:
        seller = None
        try:
            seller = sandbox.authorize(request.headers.get("authorization", ""), request.headers.get("sellerid"))
            sandbox.tick()
            result = action(seller)
            if hasattr(result, "__await__"):
                result = await result
            answer = result if isinstance(result, Response) else JSONResponse(result)
        except Problem as problem:
            answer = problem_response(problem)
        count(name, answer.status_code, seller)
        return answer

    @router.get(f"{API}/sellers")
    async def sellers(request: Request) -> Response:
        return await call(request, "sellers", lambda s: s.profile())

    @router.get(f"{API}/sellers/subscriptions")
    async def subscriptions(request: Request) -> Response:
        return await call(request, "subscriptions", lambda s: s.subscriptions())

    @router.get(f"{API}/carriers")
    async def carriers(request: Request) -> Response:
        return await call(request, "carriers", lambda s: list(CARRIERS))

    @router.get(f"{API}/orders")
    async def orders(request: Request) -> Response:
        return await call(request, "orders", lambda s: sandbox.page(s, dict(request.query_params)))

    @router.get(f"{API}/orders/count")
    async def orders_count(request: Request) -> Response:
        return await call(request, "orders_count",
                          lambda s: {"count": len(sandbox.search(s, dict(request.query_params)))})

    @router.get(f"{API}/orders/{{order_id}}")
    async def order(order_id: str, request: Request) -> Response:
        return await call(request, "order", lambda s: sandbox.order(s, order_id).to_api())

    @router.post(f"{API}/orders/{{order_id}}/approval-status")
    async def approval(order_id: str, request: Request) -> Response:
        async def act(seller: Seller) -> Response:
            return _written(sandbox, sandbox.approve(seller, order_id, await _json(request)).to_api())
        return await call(request, "approval", act)

    @router.post(f"{API}/orders/{{order_id}}/shipments")
    async def shipments(order_id: str, request: Request) -> Response:
        async def act(seller: Seller) -> Response:
            return _written(sandbox, sandbox.ship(seller, order_id, await _json(request)).to_api())
        return await call(request, "shipments", act)

    @router.get(f"{API}/offers")
    async def offers(request: Request) -> Response:
        return await call(request, "offers", lambda s: _offers(s, dict(request.query_params), request))

    @router.post(f"{API}/offer-packages")
    async def create_package(request: Request) -> Response:
        async def act(seller: Seller) -> Response:
            package = sandbox.packages.create(seller, request.headers.get("saleschannelid"), await _json(request),
                                              sandbox.clock.now())
            # The id travels only in Content-Location (§7); the body is empty.
            return Response(status_code=201, headers={"Content-Location": f"{API}/offer-packages/{package.id}"})
        return await call(request, "offer_packages", act)

    @router.get(f"{API}/offer-packages/{{package_id}}")
    async def get_package(package_id: str, request: Request) -> Response:
        return await call(request, "offer_package", lambda s: sandbox.packages.get(s, package_id).to_api())

    @router.patch(f"{API}/offer-packages/{{package_id}}")
    async def patch_package(package_id: str, request: Request) -> Response:
        async def act(seller: Seller) -> dict:
            return sandbox.packages.set_state(seller, package_id, await _json(request), sandbox.clock.now()).to_api()
        return await call(request, "offer_package_state", act)

    @router.post(f"{API}/offer-packages/{{package_id}}/offer-requests")
    async def offer_requests(package_id: str, request: Request) -> Response:
        async def act(seller: Seller) -> Response:
            sandbox.packages.add_requests(seller, package_id, await _json(request))
            return Response(status_code=204)  # [G] the answer is not documented
        return await call(request, "offer_requests", act)

    @router.get(f"{API}/offer-packages/{{package_id}}/offer-requests-results")
    async def results(package_id: str, request: Request) -> Response:
        def act(seller: Seller) -> Response:
            params = dict(request.query_params)
            limit = _limit(params)
            cursor = params.get("cursor") or "0"
            if not cursor.isdigit():
                raise bad_request("cursor", f"unknown cursor '{cursor}'")
            items, nxt = sandbox.packages.results(seller, package_id, limit, int(cursor))
            return _cursor_page(items, nxt, request, limit)
        return await call(request, "offer_results", act)

    @router.api_route(f"{API}/{{rest:path}}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
    async def unknown(rest: str, request: Request) -> Response:
        def act(seller: Seller) -> Response:
            raise Problem(404, "Not Found", f"No route {request.method} /seller/v2/{rest}")
        return await call(request, "unknown", act)

    def _offers(seller: Seller, params: dict[str, str], request: Request) -> Response:
        channel = params.get("salesChannelId") or ""
        if channel not in seller.channels:
            raise bad_request("salesChannelId", f"must be one of the seller's channels: {', '.join(seller.channels)}")
        refs = [r for r in (params.get("sellerExternalReferences") or "").split(",") if r]
        offers = seller.offers.get(channel, {})
        items = [{"sellerExternalReference": ref, "salesChannelId": channel, **offers[ref]}
                 for ref in (refs or sorted(offers)) if ref in offers]
        limit, cursor = _limit(params), params.get("cursor") or "0"
        if not cursor.isdigit():
            raise bad_request("cursor", f"unknown cursor '{cursor}'")
        start = int(cursor)
        nxt = start + limit if start + limit < len(items) else None
        return _cursor_page(items[start:start + limit], nxt, request, limit)

    return router


def _limit(params: dict[str, str]) -> int:
    text = params.get("limit") or "50"
    if not text.isdigit() or not 1 <= int(text) <= 100:
        raise bad_request("limit", f"must be a whole number from 1 to 100, got '{text}'")
    return int(text)


def _cursor_page(items: list[dict], nxt: int | None, request: Request, limit: int) -> Response:
    # Cursor paging with a ``Link: <...>; rel="next"`` header, as clients read it on offer endpoints (§3).
    headers = {}
    if nxt is not None:
        url = request.url.include_query_params(cursor=str(nxt), limit=str(limit))
        headers["Link"] = f'<{url}>; rel="next"'
    return JSONResponse({"items": items}, headers=headers)
