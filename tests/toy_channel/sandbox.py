"""The toy marketplace's fake: ``--toy SHOP:TOKEN:N`` serves N generated orders for SHOP.

``GET /toy/<shop>/orders?page=N``: the unacknowledged orders, oldest first, ``--toy-page-size`` a
page, with ``pages``; ``POST /toy/<shop>/ack`` ``{"ids": [...]}`` acknowledges (again is harmless,
counted); a wrong bearer token answers 401. Control: ``POST /_sandbox/toy/<shop>/orders``
``{"n": k}`` adds orders, ``GET /_sandbox/toy/<shop>/state`` shows every order with its ack count.
"""

from __future__ import annotations

import argparse
import random
from dataclasses import dataclass, field
from datetime import datetime

from fastapi import APIRouter, FastAPI, Header
from fastapi.responses import JSONResponse

from orderbridge_sandbox.catalogue import WAREHOUSE_PRODUCTS
from orderbridge_sandbox.plugin import Fake, spec_type

CITIES = (("Leeds", "LS1 4AP"), ("York", "YO1 7HH"), ("Bath", "BA1 1LZ"))


@dataclass
class ToyShop:
    token: str
    rng: random.Random
    orders: list[dict] = field(default_factory=list)
    acks: dict[str, int] = field(default_factory=dict)  # order id -> ack calls received

    def add(self, n: int) -> list[str]:
        added = []
        for _ in range(n):
            number = len(self.orders) + 1
            city, postcode = self.rng.choice(CITIES)
            lines = [{"line_id": f"T{number}-{i}", "sku": self.rng.choice(WAREHOUSE_PRODUCTS).sku,
                      "qty": self.rng.randint(1, 3), "price": 9.99} for i in range(1, self.rng.randint(1, 3) + 1)]
            self.orders.append({"id": f"T{number:05d}", "lines": lines, "ship_to": {
                "name": f"Customer {number}", "street": f"{number} High St", "city": city, "zip": postcode,
                "country": "GB"}})
            added.append(self.orders[-1]["id"])
        return added


def _shop_spec(text: str) -> tuple[str, str, int]:
    shop, token, n = text.split(":")
    return shop, token, int(n)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--toy", action="append", type=spec_type(_shop_spec), default=[], metavar="SHOP:TOKEN:N",
                        help="a toy shop with N initial orders (repeatable)")
    parser.add_argument("--toy-page-size", type=int, default=5, help="orders per page")


def build(app: FastAPI, options: argparse.Namespace, seed: int, anchor: datetime, days: float) -> dict:
    shops = {}
    for shop, token, n in options.toy:
        shops[shop] = ToyShop(token, random.Random(f"toy:{shop}:{seed}"))
        shops[shop].add(n)
    size = options.toy_page_size
    api, control = APIRouter(prefix="/toy/{shop}"), APIRouter(prefix="/_sandbox/toy/{shop}")

    def authorised(shop: str, authorization: str | None) -> ToyShop | JSONResponse:
        found = shops.get(shop)
        if found is None or authorization != f"Bearer {found.token}":
            return JSONResponse({"error": "invalid token"}, status_code=401)
        return found

    @api.get("/orders")
    async def orders(shop: str, page: int = 1, authorization: str | None = Header(None)):
        found = authorised(shop, authorization)
        if isinstance(found, JSONResponse):
            return found
        queue = [o for o in found.orders if o["id"] not in found.acks]
        return {"orders": queue[(page - 1) * size:page * size], "page": page, "pages": -(-len(queue) // size)}

    @api.post("/ack")
    async def ack(shop: str, body: dict, authorization: str | None = Header(None)):
        found = authorised(shop, authorization)
        if isinstance(found, JSONResponse):
            return found
        known = {o["id"] for o in found.orders}
        for order_id in body["ids"]:
            if order_id in known:
                found.acks[order_id] = found.acks.get(order_id, 0) + 1
        return {"acknowledged": [i for i in body["ids"] if i in known],
                "unknown": [i for i in body["ids"] if i not in known]}

    @control.post("/orders")
    async def add_orders(shop: str, body: dict) -> dict:
        return {"ids": shops[shop].add(int(body.get("n", 1)))}

    @control.get("/state")
    async def state(shop: str) -> dict:
        return {"orders": shops[shop].orders, "acks": shops[shop].acks}

    app.include_router(control)
    app.include_router(api)
    return shops


FAKE = Fake("toy", add_arguments, build, rate_limit_body={"error": "slow down"})
