"""The fake Merkana platform's API that we post to: ``/merkana/v1/ff-orders-status`` and
``/merkana/v1/ff-supplies``, checked and recorded as the seed describes them.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from orderbridge_sandbox.merkana.state import MerkanaPlatform, MerkanaSandbox


def _answer(status: bool, message: str | None = None, code: int = 200) -> JSONResponse:
    body = {"status": status, **({"message": message} if message else {})}
    return JSONResponse(body, status_code=code)


def _int(value) -> int | None:
    if isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def api_router(sandbox: MerkanaSandbox) -> APIRouter:
    """Merkana's API routes that we post to."""
    router = APIRouter()

    async def admitted(request: Request, endpoint: str) -> tuple[MerkanaPlatform | None, dict | JSONResponse]:
        platform = sandbox.by_token(request.headers.get("api-token"))
        if platform is None:
            return None, _answer(False, "Unauthorized: invalid or missing api-token", 401)
        try:
            body = await request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            platform.requests[(endpoint, 400)] += 1
            return platform, _answer(False, "body must be a JSON object", 400)
        return platform, body

    @router.post("/merkana/v1/ff-orders-status")
    async def orders_status(request: Request) -> JSONResponse:
        platform, body = await admitted(request, "ff-orders-status")
        if isinstance(body, JSONResponse):
            return body
        orders = body.get("orders")
        if not isinstance(orders, list) or not orders:
            platform.requests[("ff-orders-status", 422)] += 1
            return _answer(False, "orders must be a non-empty array", 422)
        for i, update in enumerate(orders):
            if not isinstance(update, dict) or not all(str(update.get(k) or "").strip()
                                                       for k in ("idextern", "status")):
                platform.requests[("ff-orders-status", 422)] += 1
                return _answer(False, f"orders[{i}]: idextern and status are mandatory", 422)
        with sandbox.lock:
            platform.status_posts += 1
            for update in orders:
                platform.status_updates[(str(update["idextern"]), str(update["status"]), update.get("awb"))] += 1
            platform.requests[("ff-orders-status", 200)] += 1
        return _answer(True)

    @router.post("/merkana/v1/ff-supplies")
    async def supplies(request: Request) -> JSONResponse:
        platform, body = await admitted(request, "ff-supplies")
        if isinstance(body, JSONResponse):
            return body
        mid, products = _int(body.get("mid")), body.get("products")
        if mid is None or not isinstance(products, list):
            platform.requests[("ff-supplies", 422)] += 1
            return _answer(False, "mid (a number) and products (an array) are mandatory", 422)
        for i, product in enumerate(products):
            if not isinstance(product, dict) or not str(product.get("sku") or "").strip() \
                    or _int(product.get("br")) is None:
                platform.requests[("ff-supplies", 422)] += 1
                return _answer(False, f"products[{i}]: sku and br (a whole number) are mandatory", 422)
        with sandbox.lock:
            view = platform.stock.setdefault(mid, {})
            for product in products:
                br = _int(product["br"])
                view[product["sku"]] = view.get(product["sku"], 0) + br if sandbox.stock_mode == "delta" else br
            platform.supplies.append({"mid": mid, "products": products})
            platform.requests[("ff-supplies", 200)] += 1
        return _answer(True)

    return router
