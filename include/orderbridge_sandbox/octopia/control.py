"""The Octopia fake's control API, ``/_sandbox/octopia``: the whole state, more orders, what the
marketplace or the buyer does to an order (a status move of the order or some lines), the clock,
and a seller withdrawing (or granting) its delegation to a client id.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from orderbridge_sandbox.octopia.sandbox import OctopiaSandbox
from orderbridge_sandbox.octopia.state import CDISCOUNT, STATUSES, SUPPLY_MODES, counters, iso


def control_router(sandbox: OctopiaSandbox) -> APIRouter:
    """``/_sandbox/octopia``: state, orders, status moves, clock and delegation."""
    router = APIRouter(prefix="/_sandbox/octopia")

    async def body_of(request: Request) -> dict:
        raw = await request.body()
        if not raw.strip():
            return {}
        body = await request.json()
        if not isinstance(body, dict):
            raise ValueError("the body must be a JSON object")
        return body

    async def act(request: Request, seller_id: str | None, action: Callable) -> JSONResponse:
        sandbox.tick()
        seller = sandbox.sellers.get(seller_id) if seller_id is not None else None
        if seller_id is not None and seller is None:
            return JSONResponse({"ok": False, "error": f"no Octopia seller {seller_id}"}, status_code=404)
        try:
            return JSONResponse({"ok": True, **action(seller, await body_of(request))})
        except KeyError as err:
            return JSONResponse({"ok": False, "error": f"no such order or line: {err}"}, status_code=404)
        except (ValueError, TypeError, AttributeError) as err:
            return JSONResponse({"ok": False, "error": str(err)}, status_code=400)

    @router.get("/state")
    async def state() -> JSONResponse:
        sandbox.tick()
        now = sandbox.clock.now()
        clients = {c.client_id: c.state(now) for c in sandbox.clients.values()}
        return JSONResponse({
            "now": iso(now), "tokens_issued": sum(c["tokens_issued"] for c in clients.values()), "clients": clients,
            "sellers": {sid: s.state() for sid, s in sandbox.sellers.items()},
            "packages": sandbox.packages.state(), "requests": counters(sandbox.requests)})

    @router.post("/clock")
    async def clock(request: Request) -> JSONResponse:
        """Move the fake's time on (``{"advance": seconds}``): tokens expire, accepted orders move to
        InPreparation and Ready packages integrate when their time comes."""
        def advance(_, body: dict) -> dict:
            moved = sandbox.clock.advance(float(body.get("advance", 0)))
            sandbox.tick()
            return {"now": iso(moved)}
        return await act(request, None, advance)

    @router.post("/{seller_id}/orders")
    async def more_orders(seller_id: str, request: Request) -> JSONResponse:
        """``{"n": k, "salesChannelId": ..., "status": ..., "supplyModes": [...], "anchor": ISO, "days": float}``:
        more orders for the seller (on its channels in turn without ``salesChannelId``; every line in
        ``status``; one line per supply mode), dated just before now unless ``anchor``/``days`` say."""
        def add(seller, body: dict) -> dict:
            n = int(body.get("n", 1))
            if not 0 <= n <= 100_000:
                raise ValueError("n must be between 0 and 100000")
            channel = body.get("salesChannelId")
            if channel is not None and channel not in seller.channels:
                raise ValueError(f"seller {seller.seller_id} does not subscribe to {channel} "
                                 f"({', '.join(seller.channels)})")
            status = body.get("status")
            if status is not None and status not in STATUSES:
                raise ValueError(f"status must be one of {', '.join(STATUSES)}")
            if status in ("WaitingAcceptance", "Refused") and (channel or seller.channels[0]) != CDISCOUNT:
                raise ValueError(f"{status} exists only on {CDISCOUNT}: give salesChannelId {CDISCOUNT}")
            modes = body.get("supplyModes")
            if modes is not None and not (isinstance(modes, list) and 0 < len(modes) <= 10
                                          and all(m in SUPPLY_MODES for m in modes)):
                raise ValueError(f"supplyModes must be a list of 1 to 10 of {', '.join(SUPPLY_MODES)}, one per line")
            anchor = datetime.fromisoformat(body["anchor"]) if body.get("anchor") else sandbox.clock.now()
            anchor = anchor if anchor.tzinfo else anchor.replace(tzinfo=UTC)
            days = float(body["days"]) if body.get("days") is not None else 0.01
            orders = sandbox.factories[seller.seller_id].generate(
                n, (channel,) if channel else seller.channels, status=status, anchor=anchor, days=days,
                supply_modes=modes)
            sandbox.add_orders(seller, orders)
            return {"orderIds": [o.id for o in orders]}
        return await act(request, seller_id, add)

    @router.post("/{seller_id}/orders/{order_id}/status")
    async def move(seller_id: str, order_id: str, request: Request) -> JSONResponse:
        """The marketplace, Octopia's warehouse or the buyer moves an order (``{"status": ...}``) or some
        of its lines (``"lines": ["1"]``) on, by the state machine; updatedAt is bumped."""
        def step(seller, body: dict) -> dict:
            order = seller.orders[order_id]
            lines = body.get("lines")
            if lines is not None and not (isinstance(lines, list) and all(isinstance(x, str) for x in lines)):
                raise ValueError("lines must be a list of orderLineId strings")
            sandbox.move(order, str(body.get("status")), lines)
            return {"order": order.state()}
        return await act(request, seller_id, step)

    @router.post("/{seller_id}/delegation")
    async def delegation(seller_id: str, request: Request) -> JSONResponse:
        """``{"client_id": ..., "delegated": false}``: the seller unlinks a client id (its calls get 403);
        ``true`` links it again."""
        def change(seller, body: dict) -> dict:
            client_id = str(body.get("client_id", ""))
            if client_id not in sandbox.clients:
                raise ValueError(f"no client {client_id!r}; clients: {', '.join(sandbox.clients)}")
            if body.get("delegated", True):
                seller.delegated_to.add(client_id)
            else:
                seller.delegated_to.discard(client_id)
            return {"delegated_to": sorted(seller.delegated_to)}
        return await act(request, seller_id, change)

    return router
