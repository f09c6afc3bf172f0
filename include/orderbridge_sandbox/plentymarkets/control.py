"""The plentymarkets fake's control API, ``/_sandbox/plentymarkets``: what tests and scripts use to
look at a system and to act as the merchant's back end (more orders, status changes, returns,
expired tokens, denied permissions, the exchange log).
"""

from __future__ import annotations

import functools
import json
from datetime import UTC, datetime

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from orderbridge_sandbox.groupon import counters
from orderbridge_sandbox.plentyfake import w3c
from orderbridge_sandbox.plentymarkets.common import STATUSES, VARIATION_ITEM, WAREHOUSES, ApiError, _num
from orderbridge_sandbox.plentymarkets.dispatch import PlentySandbox
from orderbridge_sandbox.plentymarkets.routes import ROUTES
from orderbridge_sandbox.plentymarkets.state import PlentyOrder, PlentySystem


def control_router(sandbox: PlentySandbox) -> APIRouter:
    """``/_sandbox/plentymarkets``: systems, state, more orders, back-end status changes, token expiry,
    permissions and the exchange log. Never faulted; answers ``{"ok": false, "error": ...}`` on misuse."""
    router = APIRouter(prefix="/_sandbox/plentymarkets")

    class Refused(Exception):
        def __init__(self, message: str, status: int = 400) -> None:
            super().__init__(message)
            self.status = status

    def system_of(name: str) -> PlentySystem:
        if name not in sandbox.systems:
            raise Refused(f"no plentymarkets system {name}", 404)
        return sandbox.systems[name]

    async def body_of(request: Request, shape: str) -> dict:
        try:
            body = await request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise Refused(f"body must be {shape}")
        return body

    def status_of(value: object, shape: str) -> float:
        try:
            status = float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise Refused(f"body must be {shape}") from None
        if status not in STATUSES:
            raise Refused(f"statusId must be one of {', '.join(str(_num(s)) for s in STATUSES)}")
        return status

    def answering(handler):
        # One place turns a refusal into its JSON answer, so each route reads as its happy path.
        # functools.wraps keeps the handler's signature, from which FastAPI takes the parameters.
        @functools.wraps(handler)
        async def route(*args, **kwargs) -> JSONResponse:
            try:
                return JSONResponse(await handler(*args, **kwargs))
            except Refused as err:
                return JSONResponse({"ok": False, "error": str(err)}, status_code=err.status)

        return route

    @router.get("")
    @answering
    async def overview() -> dict:
        return {"systems": sorted(sandbox.systems), "requests": counters(sandbox.requests)}

    @router.get("/{system}/state")
    @answering
    async def state(system: str) -> dict:
        return system_of(system).state()

    @router.post("/{system}/orders")
    @answering
    async def more_orders(system: str, request: Request) -> dict:
        # plentyId / warehouseId: orders of another client or main warehouse of the same system.
        target, shape = system_of(system), ('{"n": int[, "statusId": float, "anchor": ISO, "days": float, '
                                            '"plentyId": int, "warehouseId": int]}')
        spec = await body_of(request, shape)
        try:
            n = int(spec.get("n", 1))
            anchor = datetime.fromisoformat(spec["anchor"]) if spec.get("anchor") else None
            days = None if spec.get("days") is None else float(spec["days"])
            plenty_id, warehouse = (None if spec.get(k) is None else int(spec[k]) for k in ("plentyId", "warehouseId"))
        except (TypeError, ValueError) as err:
            raise Refused(f"body must be {shape}: {err}") from None
        if warehouse is not None and warehouse not in WAREHOUSES:
            raise Refused(f"warehouseId must be one of {', '.join(map(str, WAREHOUSES))}")
        status = None if spec.get("statusId") is None else status_of(spec["statusId"], shape)
        if not 0 <= n <= 100_000:
            raise Refused("n must be between 0 and 100000")
        if anchor is not None and anchor.tzinfo is None:
            anchor = anchor.replace(tzinfo=UTC)
        return {"ok": True, "ids": target.add_orders(n, status, anchor, days, plenty_id, warehouse)}

    def order_of(target: PlentySystem, order_id: int) -> PlentyOrder:
        if order_id not in target.orders:
            raise Refused(f"no order {order_id} in plentymarkets system {target.name}", 404)
        return target.orders[order_id]

    @router.post("/{system}/orders/{order_id}/status")
    @answering
    async def backend_status(system: str, order_id: int, request: Request) -> dict:
        # What the merchant does in the plenty back end: cancel (8), back to 5, any status by hand.
        # A customer's return is not a status of the sales order: see customer_return.
        target = system_of(system)
        status = status_of((await body_of(request, '{"statusId": float}')).get("statusId"), '{"statusId": float}')
        order = order_of(target, order_id)
        target.set_status(order, status, "backend")
        return {"ok": True, "id": order.id, "status_id": _num(order.status_id), "updated_at": w3c(order.updated_at)}

    @router.post("/{system}/orders/{order_id}/returns")
    @answering
    async def customer_return(system: str, order_id: int, request: Request) -> dict:
        # A customer sends goods back: the back end makes a return order through the same code as
        # POST /rest/orders/{id}/returns. Without quantities, every product item not yet returned
        # comes back in full.
        target, shape = system_of(system), ('{["quantities": [{"orderItemId": int, "quantity": float}], '
                                            '"statusId": float, "returnPackageNumber": str, "warehouseId": int]}')
        order = order_of(target, order_id)
        body = await body_of(request, shape) if (await request.body()).strip() else {}
        if "quantities" not in body:
            left = target.returnable(order)
            body["quantities"] = [{"orderItemId": i["id"], "quantity": left[i["id"]]} for i in order.body["orderItems"]
                                  if i["typeId"] == VARIATION_ITEM and left[i["id"]] > 0]
        if body.get("statusId") is not None:
            status_of(body["statusId"], shape)
        try:
            made = target.create_return(order, body, "backend")
        except ApiError as err:
            raise Refused(f"{err}: {json.dumps(err.body.get('validation_errors', err.body))}") from None
        return {"ok": True, "id": made.id, "order_id": order.id, "status_id": _num(made.status_id),
                "updated_at": w3c(made.updated_at), "items": len(made.body["orderItems"])}

    @router.post("/{system}/expire-tokens")
    @answering
    async def expire_tokens(system: str) -> dict:
        return {"ok": True, "expired": system_of(system).expire_tokens()}

    @router.post("/{system}/permissions")
    @answering
    async def permissions(system: str, request: Request) -> dict:
        target, known = system_of(system), sorted({r.permission for r in ROUTES})
        deny = (await body_of(request, '{"deny": [permission, ...]}')).get("deny", [])
        if not isinstance(deny, list) or not set(deny) <= set(known):
            raise Refused(f"deny takes permissions from {', '.join(known)}")
        target.denied = set(deny)
        return {"ok": True, "denied": sorted(target.denied)}

    @router.get("/{system}/exchanges")
    @answering
    async def exchanges(system: str, since: int = 0) -> dict:
        return {"exchanges": [e for e in system_of(system).exchanges if e["seq"] > since]}

    @router.delete("/{system}/exchanges")
    @answering
    async def clear_exchanges(system: str) -> dict:
        target = system_of(system)
        cleared = len(target.exchanges)
        target.exchanges.clear()
        return {"ok": True, "cleared": cleared}

    return router
