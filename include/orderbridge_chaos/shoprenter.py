"""Shoprenter under chaos: the invoice-like demo shop (orders ready at once, accepted status 2
written back, the product master uploaded, stock pushed by SKU in ``/batch``es).

Orders are read from the last run's end (``extract_mode: auto``), so the fake's orders, created on
its wall clock, are read whatever the DAG run's logical date. Disturbances: new orders (statuses
drawn, some abandoned carts the client must leave out) and status changes by the shop admin while
a run reads its pages, which move orders between pages. The fake's 3 requests a second hold
throughout; its own 429s come on top of the injected ones.
"""

from __future__ import annotations

from orderbridge_chaos.adapter import ChannelAdapter, Observed
from orderbridge_sandbox.shoprenter import demo

SHOP = "invoiceshop"
PAGE = 10  # small pages, so a run reads several and faults land between them


class ShoprenterAdapter(ChannelAdapter):
    channel = "shoprenter"
    # Requests a second per shop, at the fake and in our client alike: the real 3 under `make chaos`;
    # `make test` raises it (chaos_support), as the limit itself is proven by the client's tests and
    # 3 a second made this one channel a third of the suite's chaos time.
    rate = 3
    orders_route = "/orderExtend"
    idempotent_writebacks = True  # setting a status it already has changes nothing at the shop
    tracking_kinds = ()  # Shoprenter takes no tracking from us

    def sandbox_args(self) -> list[str]:
        return ["--seed", str(self.seed), "--shoprenter", f"{SHOP}:{demo.USER}:{demo.KEY}:{self.orders}",
                "--days", "0.5", "--shoprenter-rate-limit", str(self.rate)]

    def connection(self, sandbox, secret: str | None = None) -> dict:
        conn = demo.connection(sandbox.url, SHOP, timeout=self.timeout, limit=PAGE, shop_rate=self.rate)
        if secret:
            conn["password"] = secret
        return conn

    def seed_warehouse(self, cur) -> None:
        demo.seed_warehouse(cur)

    def disturb(self, sandbox, run: int) -> str | None:
        added = self.control(sandbox, f"shoprenter/{SHOP}/orders", "POST", {"n": 4})["orders"]
        orders = self.control(sandbox, "shoprenter/state")["shops"][SHOP]["orders"]
        pending = [o["innerId"] for o in orders if o["status"] == 1]
        moved = self.rng.sample(pending, min(2, len(pending)))
        for inner in moved:  # the admin marks them paid: dateUpdated moves, the order moves between pages
            self.control(sandbox, f"shoprenter/{SHOP}/orders/{inner}/status", "POST", {"status": demo.PAID})
        return f"{len(added)} new orders, {len(moved)} marked paid by the shop"

    def observe(self, sandbox) -> Observed:
        shop = self.control(sandbox, "shoprenter/state")["shops"][SHOP]
        offered = {str(o["innerId"]) for o in shop["orders"] if o["status"] is not None}  # carts are not orders
        accepted = {str(o["innerId"]): sum(1 for h in o["history"] if str(h["status"]) == demo.ACCEPTED)
                    for o in shop["orders"]}
        # The fake ignores a PUT of the status an order has (no history row), so two rows are two real writes.
        return Observed(offered=offered, acknowledged={o for o, n in accepted.items() if n},
                        stock={p["sku"]: p["stock1"] for p in shop["products"]},
                        applied_twice=[f"accepted status of {o} x{n}" for o, n in accepted.items() if n > 1])


Adapter = ShoprenterAdapter
