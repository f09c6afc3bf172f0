"""The toy under chaos: its queue read under every fault, its acknowledgements exactly where staged."""

from __future__ import annotations

from orderbridge_chaos.adapter import ChannelAdapter, Observed
from orderbridge_sandbox.catalogue import WAREHOUSE_PRODUCTS

TOKEN = "chaos-toy-token-11d2"


class Adapter(ChannelAdapter):
    channel = "toy"
    orders_route = "/orders"

    def sandbox_args(self) -> list[str]:
        return ["--seed", str(self.seed), "--toy", f"{self.account.name}:{TOKEN}:{self.orders}", "--toy-page-size", "4"]

    def connection(self, sandbox, secret: str | None = None) -> dict:
        return {"conn_type": "http", "host": "127.0.0.1", "port": sandbox.port, "schema": "http",
                "password": secret or TOKEN, "extra": {"api_path": f"/toy/{self.account.name}",
                                                       "timeout": self.timeout}}

    def seed_warehouse(self, cur) -> None:
        for product in WAREHOUSE_PRODUCTS:
            cur.execute("INSERT INTO staging.products (sku, name) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                        (product.sku, product.name))

    def disturb(self, sandbox, run: int) -> str | None:
        added = self.control(sandbox, f"toy/{self.account.name}/orders", "POST", {"n": 3})["ids"]
        return f"{len(added)} new orders"

    def observe(self, sandbox) -> Observed:
        state = self.control(sandbox, f"toy/{self.account.name}/state")
        acks = state["acks"]
        return Observed(offered={o["id"] for o in state["orders"]}, acknowledged=set(acks),
                        resent=sum(n - 1 for n in acks.values()))
