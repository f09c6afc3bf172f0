"""The Groupon fake's control API, ``/_sandbox/groupon``: accounts, per-account state, more orders,
and what Groupon or the customer does to an order (split it, change its ship-to, cancel a line).
"""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from orderbridge_sandbox.groupon.routes import GrouponSandbox
from orderbridge_sandbox.groupon.state import counters


def control_router(sandbox: GrouponSandbox) -> APIRouter:
    """``/_sandbox/groupon``: accounts, per-account state, and more orders on demand."""
    router = APIRouter(prefix="/_sandbox/groupon")

    @router.get("")
    async def overview() -> JSONResponse:
        return JSONResponse({"accounts": sorted(sandbox.accounts), "requests": counters(sandbox.requests)})

    @router.get("/{supplier_id}/state")
    async def state(supplier_id: str) -> JSONResponse:
        account = sandbox.accounts.get(supplier_id)
        if account is None:
            return JSONResponse({"ok": False, "error": f"no Groupon account {supplier_id}"}, status_code=404)
        return JSONResponse(account.state())

    @router.post("/{supplier_id}/orders")
    async def more_orders(supplier_id: str, request: Request) -> JSONResponse:
        account = sandbox.accounts.get(supplier_id)
        if account is None:
            return JSONResponse({"ok": False, "error": f"no Groupon account {supplier_id}"}, status_code=404)
        try:
            spec = await request.json()
            n = int(spec.get("n", 1))
            anchor = datetime.fromisoformat(spec["anchor"]) if spec.get("anchor") else None
            days = float(spec["days"]) if spec.get("days") is not None else None
        except (ValueError, TypeError, AttributeError) as err:
            return JSONResponse({"ok": False, "error": f'body must be {{"n": int[, "anchor": ISO, "days": float]}}:'
                                                       f" {err}"}, status_code=400)
        if anchor is not None and anchor.tzinfo is None:
            anchor = anchor.replace(tzinfo=UTC)
        if not 0 <= n <= 100_000:
            return JSONResponse({"ok": False, "error": "n must be between 0 and 100000"}, status_code=400)
        return JSONResponse({"ok": True, "orderids": account.add_orders(n, anchor=anchor, days=days)})

    def _act(supplier_id: str, action) -> JSONResponse:
        account = sandbox.accounts.get(supplier_id)
        if account is None:
            return JSONResponse({"ok": False, "error": f"no Groupon account {supplier_id}"}, status_code=404)
        try:
            return JSONResponse({"ok": True, **action(account)})
        except KeyError as err:
            return JSONResponse({"ok": False, "error": f"no such order or line: {err}"}, status_code=404)
        except (ValueError, TypeError, AttributeError) as err:
            return JSONResponse({"ok": False, "error": str(err)}, status_code=400)

    @router.post("/{supplier_id}/orders/{orderid}/split")
    async def split(supplier_id: str, orderid: str, request: Request) -> JSONResponse:
        """One more entry under ``orderid`` (its own lines and ship-to), as Groupon lists split orders."""
        body = await request.json() if await request.body() else {}
        return _act(supplier_id, lambda a: {"entry": a.split_order(orderid, int(body.get("lines", 1))).to_api()})

    @router.post("/{supplier_id}/orders/{orderid}/customer")
    async def customer(supplier_id: str, orderid: str, request: Request) -> JSONResponse:
        """Overwrite ship-to fields (body: the ``customer`` fields, optionally ``entry``)."""
        body = dict(await request.json())
        entry = body.pop("entry", None)
        return _act(supplier_id, lambda a: {"entries": a.set_customer(orderid, body, entry)})

    @router.post("/{supplier_id}/lines/{ci_lineitemid}/status")
    async def line_status(supplier_id: str, ci_lineitemid: int, request: Request) -> JSONResponse:
        """The customer cancels (``cancelled``) or Groupon refunds (``refunded``) a line, before or after
        it was exported (body ``{"status": ...}``)."""
        try:
            body = await request.json()
        except ValueError:
            body = None
        status = body.get("status") if isinstance(body, dict) else None
        return _act(supplier_id, lambda a: {"line": a.set_line_status(ci_lineitemid, str(status)).state()})

    return router
