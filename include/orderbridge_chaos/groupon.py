"""Groupon Goods under chaos: pull, mark exported, tracking per parcel and line; stock is infinite (nothing pushed).

Disturbance: new orders arrive while a run reads its pages; orderids sort anywhere, so the pages
after them shift (an entry seen on page 2 comes again on page 3), and our own ``mark_exported`` in
a concurrent run makes later pages shift back, exactly as on the live API.
"""

from __future__ import annotations

from datetime import UTC, datetime

from orderbridge_chaos.adapter import ChannelAdapter, Observed

ANCHOR = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
SUPPLIER = "1001"
TOKEN = "chaos-groupon-token-5f3a9c"


class GrouponAdapter(ChannelAdapter):
    channel = "groupon"
    orders_route = "get_orders"
    #: the sandbox supplier this adapter's account reads (another per account when several share a sandbox)
    supplier, token = SUPPLIER, TOKEN

    def sandbox_args(self) -> list[str]:
        return ["--seed", str(self.seed), "--groupon", f"{self.supplier}:{self.token}:{self.orders}",
                "--groupon-page-size", "10", "--groupon-split-rate", "0.15", "--anchor", ANCHOR.isoformat(),
                "--days", "2"]

    def connection(self, sandbox, secret: str | None = None) -> dict:
        return {"conn_type": "http", "host": "127.0.0.1", "port": sandbox.port, "schema": "http",
                "login": self.supplier, "password": secret or self.token,
                "extra": {"api_path": "/groupon/api/v4", "timeout": self.timeout}}

    def seed_warehouse(self, cur) -> None:
        from orderbridge_sandbox.warehouse import seed_catalogue

        seed_catalogue(cur, "groupon")

    def disturb(self, sandbox, run: int) -> str | None:
        added = self.control(sandbox, f"groupon/{self.supplier}/orders", "POST", {"n": 8})["orderids"]
        return f"{len(added)} new orders inserted between pages"

    def observe(self, sandbox) -> Observed:
        state = self.control(sandbox, f"groupon/{self.supplier}/state")
        offered, acknowledged, tracking, resent, ship_to = set(), set(), {}, 0, {}
        for order in state["orders"]:
            for entry in order["entries"]:
                # Each entry is one shipment, staged as <orderid>#<lowest line id> (groupon.entry_id).
                key = f"{order['orderid']}#{min(line['ci_lineitemid'] for line in entry['lines'])}"
                offered.add(key)
                to = entry["ship_to"]
                ship_to[key] = (to["name"], to["address1"], to["city"], to["zip"])
                for line in entry["lines"]:
                    if line["exported"]:
                        acknowledged.add(key)
                    resent += max(line["export_calls"] - 1, 0)
                    for parcel in line["tracking"]:  # a line shipped in two parcels has two trackings
                        tracked = f"{line['ci_lineitemid']}:{parcel['tracking']}"
                        tracking[tracked] = tracking.get(tracked, 0) + 1
        return Observed(offered=offered, acknowledged=acknowledged, tracking=tracking, stock=None, resent=resent,
                        ship_to=ship_to)

    def tracking_key(self, payload: dict, external_order_id: str | None) -> str:
        return f"{payload['ci_lineitem_id']}:{payload['tracking']}"


Adapter = GrouponAdapter
