"""plentymarkets under chaos: status queues (5 -> 5.1/6.2/6.3), packages, absolute stock.

Disturbances: the backend's tokens expire mid-run (``expire-tokens``: one fresh login, one retry),
new orders arrive in status 5 while we read, and customers cancel (8.0) between runs.
"""

from __future__ import annotations

from datetime import UTC, datetime

from orderbridge_chaos.adapter import ChannelAdapter, Observed

ANCHOR = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
SYSTEM, USER, PASSWORD = "demo", "rest-user", "chaos-plenty-password-7d41e"
# the sandbox's shipping profiles for the simulated warehouse's couriers (two left unmapped on purpose)
PROFILES = {"DHL Germany": "6", "DPD UK": "7", "GLS": "8", "Hermes": "10"}
ANSWERS = (5.1, 6.2, 6.3, 8.8)  # the statuses we set in answer to an order (acknowledgements)


class PlentyAdapter(ChannelAdapter):
    channel = "plentymarkets"
    orders_route = "/rest/orders"
    # Half the rates of the other channels: a run makes a call per order and status here (an
    # order's 5.1, its package, its 7), ten times Groupon's, so this still injects the most faults.
    fault_scale, server_error_rate = 0.5, 0.05

    def sandbox_args(self) -> list[str]:
        return ["--seed", str(self.seed), "--plentymarkets", f"{SYSTEM}:{USER}:{PASSWORD}:{self.orders}",
                "--anchor", ANCHOR.isoformat(), "--days", "2",
                # plenty's call budget stays on (its headers, its waits), over a 5 s window instead of 60 s,
                # so a run waits seconds, not minutes, when a busy backfill spends it.
                "--plenty-rate-window", "5"]

    def connection(self, sandbox, secret: str | None = None) -> dict:
        return {"conn_type": "http", "host": "127.0.0.1", "port": sandbox.port, "schema": "http", "login": USER,
                "password": secret or PASSWORD,
                "extra": {"api_path": f"/plentymarkets/{SYSTEM}", "timeout": self.timeout, "warehouse_id": 1,
                          "storage_location_id": 7, "items_per_page": 10}}

    def seed_warehouse(self, cur) -> None:
        from orderbridge_sandbox.warehouse import seed_catalogue

        seed_catalogue(cur, "plentymarkets")
        for courier, profile in PROFILES.items():
            cur.execute("INSERT INTO staging.carrier_codes (channel, courier_service, carrier_code)"
                        " VALUES ('plentymarkets', %s, %s) ON CONFLICT DO NOTHING", (courier, profile))

    def disturb(self, sandbox, run: int) -> str | None:
        expired = self.control(sandbox, f"plentymarkets/{SYSTEM}/expire-tokens", "POST")["expired"]
        added = self.control(sandbox, f"plentymarkets/{SYSTEM}/orders", "POST", {"n": 4, "statusId": 5})["ids"]
        return f"{expired} tokens expired, {len(added)} new orders in status 5"

    def observe(self, sandbox) -> Observed:
        state = self.control(sandbox, f"plentymarkets/{SYSTEM}/state")
        offered, acknowledged, tracking, resent = set(), set(), {}, 0
        for order in state["orders"]:
            ext, history = str(order["id"]), order["history"]
            first = float(history[0]["from"]) if history and history[0]["from"] is not None else order["status_id"]
            if float(first) == 5.0:
                offered.add(ext)
            ours = [float(h["to"]) for h in history if h["source"] == "api"]
            if any(s in ANSWERS for s in ours):
                acknowledged.add(ext)
            # The same status set again right after itself: a PUT resent after its answer was lost.
            resent += sum(1 for a, b in zip(ours, ours[1:], strict=False) if a == b)
            for package in order["packages"]:
                key = f"{ext}:{package['packageNumber']}"
                tracking[key] = tracking.get(key, 0) + 1
        stock = {s["sku"]: s["quantity"] for s in state["stock"] if s["storageLocationId"] == 7 and s["sku"]}
        return Observed(offered=offered, acknowledged=acknowledged, tracking=tracking, stock=stock, resent=resent)

    def tracking_key(self, payload: dict, external_order_id: str | None) -> str:
        return f"{external_order_id}:{payload['package_number']}"


Adapter = PlentyAdapter
