"""Offers and JSON offer packages (octopia-api.md §7): asynchronous, like the real API.

A package is created for one sales channel (``SalesChannelId`` header), filled with offer requests
while ``WaitingForCompletion``, set ``Ready`` by the client, then the marketplace takes it: half the
package delay later it is ``IntegrationPending``, after the whole delay ``Integrated`` (at least one
item integrated, or none sent) or ``Rejected`` (every item rejected) [G: the package-level rule is
not documented]. Only then are per-item results readable and quantities applied.

Item rules: ``Update`` changes existing offers only (an unknown ``sellerExternalReference`` is
rejected ``OfferNotFound``); ``Upsert`` also creates one; ``Delete`` removes one. A quantity must be
a whole number >= 0 (``InvalidQuantity``), a price a number > 0 (``InvalidPrice``). The result codes'
spelling is [G].
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import count

from orderbridge_sandbox.octopia.state import Problem, Seller, iso

PACKAGE_TYPES = ("Upsert", "Update", "Delete")


@dataclass
class Package:
    id: str
    seller_id: str
    sales_channel: str
    package_type: str
    created_at: datetime
    state: str = "WaitingForCompletion"
    requests: list[dict] = field(default_factory=list)
    ready_at: datetime | None = None
    results: list[dict] = field(default_factory=list)

    def to_api(self) -> dict:
        return {"id": self.id, "packageType": self.package_type, "salesChannelId": self.sales_channel,
                "state": self.state, "createdAt": iso(self.created_at), "offerRequestsCount": len(self.requests)}


class OfferPackages:
    """Every seller's packages; ``tick`` integrates the Ready ones that are due."""

    def __init__(self, sellers: dict[str, Seller], delay: float, max_requests: int, shared_stock: bool) -> None:
        self.sellers, self.delay, self.max_requests, self.shared_stock = sellers, delay, max_requests, shared_stock
        self.packages: dict[str, Package] = {}
        self._ids = count(1001)

    def create(self, seller: Seller, sales_channel: str | None, body: object, now: datetime) -> Package:
        """``POST /offer-packages``.

        Raises:
            Problem: 400 without a ``SalesChannelId`` header the seller subscribes to, or a bad type.
        """
        if not sales_channel:
            raise Problem(400, "One or more validation errors occurred.", "The SalesChannelId header is required.",
                          {"SalesChannelId": ["The SalesChannelId header is required."]})
        if sales_channel not in seller.channels:
            raise Problem(400, "Unknown sales channel", f"Seller {seller.seller_id} does not subscribe to "
                          f"{sales_channel} (subscriptions: {', '.join(seller.channels)})")
        kind = body.get("packageType") if isinstance(body, dict) else None
        if kind not in PACKAGE_TYPES:
            raise Problem(400, "One or more validation errors occurred.",
                          f"packageType must be one of {', '.join(PACKAGE_TYPES)}, got {kind!r}",
                          {"packageType": [f"must be one of {', '.join(PACKAGE_TYPES)}"]})
        package = Package(str(next(self._ids)), seller.seller_id, sales_channel, kind, now)
        self.packages[package.id] = package
        return package

    def get(self, seller: Seller, package_id: str) -> Package:
        """Raises: Problem 404 when the seller has no such package."""
        package = self.packages.get(package_id)
        if package is None or package.seller_id != seller.seller_id:
            raise Problem(404, "Not Found", f"Offer package {package_id} was not found")
        return package

    def add_requests(self, seller: Seller, package_id: str, body: object) -> int:
        """``POST /offer-packages/{id}/offer-requests``: a JSON array, at most ``max_requests`` [G].

        Raises:
            Problem: 404 unknown package; 400 when it is no longer ``WaitingForCompletion``, the body
                is not an array of objects with a ``sellerExternalReference``, or too long.
        """
        package = self.get(seller, package_id)
        if package.state != "WaitingForCompletion":
            raise Problem(400, "Package not open", f"Offer package {package_id} is {package.state}: offer requests "
                          "can only be added while it is WaitingForCompletion")
        if not isinstance(body, list) or not body:
            raise Problem(400, "One or more validation errors occurred.", "The body must be a non-empty JSON array",
                          {"body": ["must be a non-empty JSON array"]})
        if len(body) > self.max_requests:
            raise Problem(400, "Too many offer requests", f"{len(body)} offer requests in one call; at most "
                          f"{self.max_requests}")
        bad = [i for i, r in enumerate(body) if not isinstance(r, dict)
               or not isinstance(r.get("sellerExternalReference"), str) or not r["sellerExternalReference"]]
        if bad:
            raise Problem(400, "One or more validation errors occurred.",
                          f"sellerExternalReference is required (items {bad[:10]})",
                          {f"[{i}].sellerExternalReference": ["is required"] for i in bad[:10]})
        package.requests.extend(dict(r) for r in body)
        return len(body)

    def set_state(self, seller: Seller, package_id: str, body: object, now: datetime) -> Package:
        """``PATCH /offer-packages/{id}`` ``{"state": "Ready"}``, only from ``WaitingForCompletion``.

        Raises:
            Problem: 404 unknown package; 400 for another state or a package already submitted.
        """
        package = self.get(seller, package_id)
        state = body.get("state") if isinstance(body, dict) else None
        if state != "Ready":
            raise Problem(400, "One or more validation errors occurred.", f"state must be Ready, got {state!r}",
                          {"state": ["must be Ready"]})
        if package.state != "WaitingForCompletion":
            raise Problem(400, "Package not open", f"Offer package {package_id} is already {package.state}")
        package.state, package.ready_at = "Ready", now
        return package

    def results(self, seller: Seller, package_id: str, limit: int, cursor: int) -> tuple[list[dict], int | None]:
        """Per-item results once integrated (empty before), one cursor page; the next cursor or None."""
        package = self.get(seller, package_id)
        items = package.results[cursor:cursor + limit]
        return items, (cursor + limit if cursor + limit < len(package.results) else None)

    def tick(self, now: datetime) -> None:
        for package in self.packages.values():
            if package.ready_at is None or package.state not in ("Ready", "IntegrationPending"):
                continue
            if now >= package.ready_at + timedelta(seconds=self.delay):
                self._integrate(package)
            elif now >= package.ready_at + timedelta(seconds=self.delay / 2):
                package.state = "IntegrationPending"

    def _integrate(self, package: Package) -> None:
        seller = self.sellers[package.seller_id]
        for request in package.requests:
            ref = request["sellerExternalReference"]
            code = self._apply(seller, package, ref, request)
            package.results.append({"sellerExternalReference": ref, "integrationStatus":
                                    "Integrated" if code == "Ok" else "Rejected", "resultCode": code})
        ok = any(r["integrationStatus"] == "Integrated" for r in package.results)
        package.state = "Integrated" if ok or not package.results else "Rejected"

    def _apply(self, seller: Seller, package: Package, ref: str, request: dict) -> str:
        offers = seller.offers.setdefault(package.sales_channel, {})
        if package.package_type == "Delete":
            return "Ok" if offers.pop(ref, None) is not None else "OfferNotFound"
        if ref not in offers and package.package_type == "Update":
            return "OfferNotFound"
        quantity, price = request.get("quantity"), request.get("price")
        if quantity is not None and (not isinstance(quantity, int) or isinstance(quantity, bool) or quantity < 0):
            return "InvalidQuantity"
        if price is not None and (not isinstance(price, int | float) or isinstance(price, bool) or price <= 0):
            return "InvalidPrice"
        if ref not in offers and (quantity is None or price is None):
            return "MissingOfferData"  # an Upsert creating an offer needs its price and quantity [G]
        offer = offers.setdefault(ref, {"quantity": 0, "price": price})
        if price is not None:
            offer["price"] = price
        if quantity is not None:
            # Stock is one figure across the seller's channels when ``shared_stock`` (a reading of
            # "stock is unified across channels", §2); otherwise per channel, as packages are.
            targets = [o for c in seller.channels for o in [seller.offers.get(c, {}).get(ref)] if o] \
                if self.shared_stock else [offer]
            for target in targets:
                target["quantity"] = quantity
        return "Ok"

    def state(self) -> list[dict]:
        return [{**p.to_api(), "sellerId": p.seller_id, "requests": list(p.requests), "results": list(p.results),
                 "readyAt": iso(p.ready_at) if p.ready_at else None} for p in self.packages.values()]
