"""The Shoprenter fake's control API, ``/_sandbox/shoprenter``: the whole state, new orders, what the
shop admin does (change an order's status, which writes history and fires webhooks; add or change
a product), and test helpers (expire a shop's tokens, forget its request counters, fail chosen or
random ``/batch`` items inside the 200: ``batch`` module).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from orderbridge_sandbox.shoprenter.batch import add_fault
from orderbridge_sandbox.shoprenter.catalog import apply_fields, change_product, create_product
from orderbridge_sandbox.shoprenter.sandbox import ShoprenterSandbox
from orderbridge_sandbox.shoprenter.state import ORDER_STATUSES, ApiError, Order, Product, Shop, fmt, make_id

_NEW = {"sku": "", "status": 1}  # the fields a new product's body is checked against


def order_state(order: Order) -> dict:
    return {"innerId": order.inner_id, "id": make_id("orders", order.inner_id), "status": order.status_id,
            "statusName": ORDER_STATUSES[order.status_id][0] if order.status_id is not None else None,
            "email": order.fields["email"], "dateCreated": fmt(order.created), "dateUpdated": fmt(order.updated),
            "paymentMethodCode": order.fields["paymentMethodCode"], "total": order.fields["total"],
            "products": [{"innerId": ln.inner_id, "sku": ln.sku, "stocks": list(ln.stocks), "quantity": ln.quantity,
                          "price": ln.net_price} for ln in order.lines],
            "history": [{"innerId": h["innerId"], "status": h["status"], "comment": h["comment"],
                         "dateAdded": fmt(h["dateAdded"])} for h in order.history]}


def product_state(shop: Shop, product: Product) -> dict:
    f = product.fields
    return {"innerId": product.inner_id, "id": make_id("products", product.inner_id), "sku": f["sku"],
            "name": product.name, "group": shop.categories.get(product.category_id), "price": f["price"],
            "status": f["status"], **{f"stock{i}": f[f"stock{i}"] for i in range(1, 5)},
            "dateUpdated": fmt(product.updated)}


def shop_state(shop: Shop) -> dict:
    seconds = sorted(set(shop.per_second) | set(shop.refused))
    return {
        "shop": shop.name, "orders": [order_state(o) for _, o in sorted(shop.orders.items())],
        "products": [product_state(shop, p) for _, p in sorted(shop.products.items())],
        "groups": {str(n): name for n, name in sorted(shop.categories.items())},
        "prices": [dict(r) for _, r in sorted(shop.prices.items())],
        "webhooks": [dict(h) for _, h in sorted(shop.webhooks.items())],
        "deliveries": [dict(d) for d in shop.deliveries],
        "requests_per_second": {str(s): {"let_through": shop.per_second.get(s, 0), "refused": shop.refused.get(s, 0)}
                                for s in seconds},
        "max_per_second": max(shop.per_second.values(), default=0),
        "refused": sum(shop.refused.values()),
        "requests": {f"{name} {status}": n for (name, status), n in sorted(shop.requests.items())},
        "tokens_issued": shop.tokens_issued,
        "item_faults": [rule.to_dict() for rule in shop.item_faults],
    }


def control_router(sandbox: ShoprenterSandbox) -> APIRouter:
    """``/_sandbox/shoprenter``: state, orders, status changes, products, tokens and counters."""
    router = APIRouter(prefix="/_sandbox/shoprenter")

    async def act(request: Request, shop_name: str, action: Callable[[Shop, dict], dict]) -> JSONResponse:
        shop = sandbox.shops.get(shop_name)
        if shop is None:
            return JSONResponse({"ok": False, "error": f"no Shoprenter shop {shop_name!r}; shops: "
                                 f"{', '.join(sandbox.shops)}"}, status_code=404)
        try:
            raw = await request.body()
            body = await request.json() if raw.strip() else {}
            if not isinstance(body, dict):
                raise ValueError("the body must be a JSON object")
            return JSONResponse({"ok": True, **action(shop, body)})
        except KeyError as err:
            return JSONResponse({"ok": False, "error": f"not found: {err}"}, status_code=404)
        except ApiError as err:
            return JSONResponse({"ok": False, "error": err.message}, status_code=400)
        except (ValueError, TypeError) as err:
            return JSONResponse({"ok": False, "error": str(err)}, status_code=400)

    @router.get("/state")
    async def state() -> JSONResponse:
        return JSONResponse({"statuses": {str(n): name for n, (name, _) in ORDER_STATUSES.items()},
                             "settings": asdict(sandbox.settings),
                             "shops": {name: shop_state(shop) for name, shop in sandbox.shops.items()}})

    @router.post("/{shop_name}/orders")
    async def more_orders(shop_name: str, request: Request) -> JSONResponse:
        """``{"n": k, "status": innerId}``: k new orders created now (fires ``order_confirm``)."""
        def add(shop: Shop, body: dict) -> dict:
            n = int(body.get("n", 1))
            if not 0 <= n <= 100_000:
                raise ValueError("n must be between 0 and 100000")
            status = body.get("status")
            orders = sandbox.add_orders(shop, n, None if status is None else int(status))
            return {"orders": [order_state(o) for o in orders]}
        return await act(request, shop_name, add)

    @router.post("/{shop_name}/orders/{inner_id}/status")
    async def change_status(shop_name: str, inner_id: int, request: Request) -> JSONResponse:
        """``{"status": innerId, "comment": ...}``: the admin changes the status: an orderHistory row
        and ``order_status_change`` to every hook of the shop."""
        def change(shop: Shop, body: dict) -> dict:
            order = shop.orders[inner_id]
            sandbox.set_status(shop, order, int(body["status"]), str(body.get("comment", "")))
            return {"order": order_state(order)}
        return await act(request, shop_name, change)

    @router.post("/{shop_name}/products")
    async def product(shop_name: str, request: Request) -> JSONResponse:
        """``{"sku": ..., "name": ..., "group": ..., <product fields>}``: add the product, or change
        the one with that SKU (a new group name is created). ``{"products": [...]}`` does many at
        once (a large catalogue for a benchmark), all or nothing."""
        def put(shop: Shop, body: dict) -> dict:
            many = body.get("products")
            bodies = many if isinstance(many, list) else [body]
            checked = [_product_body(shop, dict(b)) for b in bodies]  # refuse before changing anything
            for b in checked:
                existing = shop.product_by_sku(str(b.get("sku", "")))
                apply_fields(shop, existing.fields if existing else _NEW, b, True)
            results = [_put_product(shop, b) for b in checked]
            if isinstance(many, list):
                return {"created": sum(c for _, c in results), "changed": sum(not c for _, c in results)}
            found, created = results[0]
            return {"product": product_state(shop, found), "created": created}
        return await act(request, shop_name, put)

    def _product_body(shop: Shop, body: dict) -> dict:
        name, group = body.pop("name", None), body.pop("group", None)
        if group is not None:
            ids = {v: k for k, v in shop.categories.items()}
            if group not in ids:
                ids[group] = shop.new_id("category", 201)
                shop.categories[ids[group]] = str(group)
            body["productCategoryRelations"] = [{"category": {"id": make_id("categories", ids[group])}}]
        if name is not None:
            body["productDescriptions"] = [{"name": str(name)}]
        return body

    def _put_product(shop: Shop, body: dict) -> tuple[Product, bool]:
        existing = shop.product_by_sku(str(body.get("sku", "")))
        now = sandbox.now()
        if existing:
            return change_product(shop, existing, body, True, now), False
        return create_product(shop, body, True, now), True

    @router.post("/{shop_name}/tokens/expire")
    async def expire(shop_name: str, request: Request) -> JSONResponse:
        """Every access token of the shop expires now (its next api2 call gets 401)."""
        def run(shop: Shop, body: dict) -> dict:
            for token in shop.tokens:
                shop.tokens[token] = 0.0
            return {"expired": len(shop.tokens)}
        return await act(request, shop_name, run)

    @router.post("/{shop_name}/batch-faults")
    async def add_item_faults(shop_name: str, request: Request) -> JSONResponse:
        """``{"status": 503, "skus": [...], "match": ..., "times": k, "rate": p}``, or ``{"rules": [...]}``:
        fail those ``/batch`` items inside the batch's 200 (``batch`` module); all rules or none."""
        def add(shop: Shop, body: dict) -> dict:
            specs = body["rules"] if isinstance(body.get("rules"), list) else [body]
            before = len(shop.item_faults)
            try:
                rules = [add_fault(shop, spec, sandbox.seed) for spec in specs]
            except ValueError:
                del shop.item_faults[before:]
                raise
            return {"rules": [r.to_dict() for r in rules]}
        return await act(request, shop_name, add)

    @router.delete("/{shop_name}/batch-faults")
    async def clear_item_faults(shop_name: str, request: Request) -> JSONResponse:
        def run(shop: Shop, body: dict) -> dict:
            cleared, shop.item_faults[:] = len(shop.item_faults), []
            return {"cleared": cleared}
        return await act(request, shop_name, run)

    @router.delete("/{shop_name}/requests")
    async def forget(shop_name: str, request: Request) -> JSONResponse:
        """Forget the shop's request counters (per second and per endpoint)."""
        def run(shop: Shop, body: dict) -> dict:
            shop.per_second.clear()
            shop.refused.clear()
            shop.requests.clear()
            return {}
        return await act(request, shop_name, run)

    return router
