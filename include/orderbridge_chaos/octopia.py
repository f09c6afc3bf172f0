"""Octopia under chaos: orders per sales channel by update window, acceptance, parcels, offer packages.

Disturbances: new orders arrive on both sales channels while a run reads its pages, and the fake's
clock jumps 75 minutes, so every second jump the shared token expires mid-run (one renewal on the
401, never a token per task). The fake generates no order in Processing or Accepted (those wait for the marketplace's
own moves, which would bump ``updatedAt`` past the fixed dates these runs read) and runs with no
control or integration delay (an order we accept is InPreparation at once, a package integrates on
the next look), so waiting parcels and open packages settle within the recovery runs; the waits
themselves are proven in ``tests/channels/test_octopia_pipeline.py``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from orderbridge_chaos.adapter import ChannelAdapter, Observed

ANCHOR = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
CLIENT, SECRET, SELLER = "orderbridge-platform", "chaos-octopia-secret-2b7e1", "98979"
SALES_CHANNELS = ("CDISFR", "RAKUFR")
CLOCK_JUMP = 75 * 60  # every second jump outlives the 2 h token: one 401 and one renewal
STATUSES = "WaitingAcceptance,InPreparation,Shipped,Delivered,Cancelled,Refused,Rejected"
# Initial and new orders are dated within this span before their anchor, so each batch falls in
# the window of the run it is meant for (the run's 10-minute interval plus the 15-minute overlap).
SPAN_DAYS = 5 / 1440
# Address fields that make a shipment (what the mapper groups by; contact fields do not split it).
ADDRESS_KEYS = ("firstName", "lastName", "companyName", "addressLine1", "addressLine2", "addressLine3",
                "postalCode", "city", "countryCode", "pickupId")


def staging_ids(order: dict) -> dict[str, dict]:
    """The fake's order -> staging id -> shipping address, the rule the README states: one staging
    order per delivery address of its Seller lines, ``<orderId>`` for the group with the lowest line
    id, ``<orderId>#<lowest line id>`` for the others; an order with no Seller line is ``<orderId>``."""
    def number(line_id: str):
        return (0, int(line_id), line_id) if line_id.isdigit() else (1, 0, line_id)

    groups: dict[tuple, list[dict]] = {}
    for line in sorted(order["lines"], key=lambda ln: number(ln["orderLineId"])):
        if line["supplyMode"] == "Seller":
            address = line["shippingAddress"]
            key = tuple(str(address.get(k) or "").strip().casefold() for k in ADDRESS_KEYS)
            groups.setdefault(key, []).append(line)
    if not groups:
        return {order["orderId"]: {}}
    firsts = sorted(groups.values(), key=lambda g: number(g[0]["orderLineId"]))
    return {order["orderId"] if n == 0 else f"{order['orderId']}#{group[0]['orderLineId']}":
            group[0]["shippingAddress"] for n, group in enumerate(firsts)}


class OctopiaAdapter(ChannelAdapter):
    channel = "octopia"
    orders_route = "/seller/v2/orders"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.runs_done = 0

    def sandbox_args(self) -> list[str]:
        return ["--seed", str(self.seed), "--octopia", f"{CLIENT}:{SECRET}:{SELLER}:{self.orders}:"
                + "+".join(SALES_CHANNELS), "--anchor", ANCHOR.isoformat(), "--days", str(SPAN_DAYS),
                "--octopia-prepare-delay", "0", "--octopia-package-delay", "0", "--octopia-statuses", STATUSES]

    def connection(self, sandbox, secret: str | None = None) -> dict:
        return {"conn_type": "http", "host": "127.0.0.1", "port": sandbox.port, "schema": "http", "login": CLIENT,
                "password": secret or SECRET,
                "extra": {"api_path": "/octopia/seller/v2", "seller_id": SELLER, "timeout": self.timeout,
                          "token_url": f"{sandbox.url}/octopia/auth/realms/maas/protocol/openid-connect/token",
                          "page_size": 10}}

    def seed_warehouse(self, cur) -> None:
        from orderbridge_sandbox.octopia.demo import seed_warehouse

        seed_warehouse(cur)  # the demo's catalogue, carrier names and tracking URL templates

    def between_runs(self, cur, run: int) -> None:
        self.runs_done = run
        super().between_runs(cur, run)

    def disturb(self, sandbox, run: int) -> str | None:
        # New orders dated just before the run under way (runs are 10 minutes apart from ANCHOR):
        # one waiting for our acceptance on Cdiscount, one ready to ship on the other channel.
        anchor = (ANCHOR + timedelta(minutes=10 * self.runs_done)).isoformat()
        kinds = ((SALES_CHANNELS[0], "WaitingAcceptance"), (SALES_CHANNELS[1], "InPreparation"))
        added = [oid for channel, status in kinds
                 for oid in self.control(sandbox, f"octopia/{SELLER}/orders", "POST",
                                         {"n": 2, "salesChannelId": channel, "status": status, "anchor": anchor,
                                          "days": SPAN_DAYS})["orderIds"]]
        # Less than the token's 2 h, so a token fetched between two jumps lives through the next one
        # (a jump of its whole life would kill a token renewed a second earlier: no client survives that).
        self.control(sandbox, "octopia/clock", "POST", {"advance": CLOCK_JUMP})
        return f"{len(added)} new orders on {' and '.join(SALES_CHANNELS)}, the clock 75 min on"

    def steps(self) -> dict[str, Callable[..., dict]]:
        """The DAG's tasks; a run given no interval gets the one the scheduler gives run ``n`` of
        ``fault_run`` (``...-<n>`` in its id: ``ANCHOR + 10 min * (n - 1)``), as Octopia is read by
        window only and the fake's orders are dated there (a window ending now would find none)."""
        def scheduled(step: Callable[..., dict]) -> Callable[..., dict]:
            def run(run_id, run_type="manual", start=None, end=None):
                if start is None and end is None and run_type != "backfill":
                    digits = re.search(r"(\d+)$", run_id)
                    end = ANCHOR + timedelta(minutes=10 * (int(digits.group(1)) - 1 if digits else 0))
                    start = end - timedelta(minutes=10)
                return step(run_id, run_type, start, end)
            return run

        return {task_id: scheduled(step) for task_id, step in super().steps().items()}

    def observe(self, sandbox) -> Observed:
        state = self.control(sandbox, "octopia/state")
        seller = state["sellers"][SELLER]
        offered, acknowledged, tracking, ship_to, twice = set(), set(), {}, {}, []
        for order in seller["orders"]:
            for ext, address in staging_ids(order).items():
                offered.add(ext)
                if address:
                    name = " ".join(p for p in (address.get("firstName"), address.get("lastName")) if p)
                    ship_to[ext] = (" - ".join(p for p in (address.get("companyName"), name) if p),
                                    address.get("addressLine1"), address.get("city"), address.get("postalCode"))
            if order["approvals"]:
                acknowledged.add(order["orderId"])
            if len(order["approvals"]) > 1:
                twice.append(f"approval of {order['orderId']} x{len(order['approvals'])}")
            for body in order["shipments"]:  # every shipments POST the fake accepted
                for parcel in body:
                    for line_id in parcel.get("orderLineIds") or []:
                        key = f"{order['orderId']}:{line_id}:{parcel['parcelNumber']}"
                        tracking[key] = tracking.get(key, 0) + 1
        return Observed(offered=offered, acknowledged=acknowledged, tracking=tracking, stock=self._stock(seller),
                        applied_twice=twice, ship_to=ship_to)

    @staticmethod
    def _stock(seller: dict) -> dict[str, float | None]:
        """One figure per offer: the account's stock is unified across its sales channels, so two
        channels showing different quantities is a mismatch (None)."""
        stock: dict[str, float | None] = {}
        for ref in {r for offers in seller["offers"].values() for r in offers}:
            figures = {offers.get(ref) for offers in seller["offers"].values()}
            stock[ref] = figures.pop() if len(figures) == 1 else None
        return stock

    def tracking_key(self, payload: dict, external_order_id: str | None) -> str:
        order_id = (external_order_id or "").split("#", 1)[0]
        return f"{order_id}:{payload['order_line_id']}:{payload['parcel_number']}"


Adapter = OctopiaAdapter
