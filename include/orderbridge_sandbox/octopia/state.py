"""The Octopia fake's in-memory state: API clients and their tokens, sellers (delegations, sales
channel subscriptions, offers), orders with their lines, and the order state machine.

Time comes from ``Clock`` (real time plus an offset the control API can advance), so tests can let
tokens expire and offer packages integrate without sleeping.
"""

from __future__ import annotations

import secrets
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from orderbridge_sandbox.groupon.state import counters  # the same JSON shape of request counters

CHANNEL = "octopia"
PROBLEM = "application/problem+json"
CDISCOUNT = "CDISFR"

# Sales channels: only CDISFR is documented (octopia-api.md §2); the others' ids were not found in
# any source, so these are invented in the documented six-uppercase-letters shape [G].
SALES_CHANNELS: dict[str, tuple[str, str, str]] = {  # id -> (name, currency, shipping country)
    "CDISFR": ("Cdiscount", "EUR", "FR"), "RAKUFR": ("Rakuten", "EUR", "FR"), "CDONSE": ("CDON", "SEK", "SE"),
    "FYNDSE": ("Fyndiq", "SEK", "SE"), "ONBUGB": ("OnBuy", "GBP", "GB"), "WORTPT": ("Worten", "EUR", "PT"),
}

STATUSES = ("Processing", "WaitingAcceptance", "Accepted", "Refused", "InPreparation", "Shipped", "Delivered",
            "Cancelled", "Rejected")
SUPPLY_MODES = ("Seller", "Fulfillment", "Xdock")
# ``GET /carriers`` (D-seller: code, label, additionalParametersRequired [C]); the rows are invented.
CARRIERS = tuple({"code": code, "label": label, "additionalParametersRequired": extra} for code, label, extra in (
    ("COL", "Colissimo", False), ("CHR", "Chronopost", False), ("MDR", "Mondial Relay", True), ("DHL", "DHL", False),
    ("DHLEXP", "DHL Express", False), ("UPS", "UPS", False), ("DPD", "DPD", False), ("GLS", "GLS", False),
    ("TNT", "TNT", False), ("FEDEX", "FedEx", False), ("POSTNORD", "PostNord", False),
    ("ROYALMAIL", "Royal Mail", False), ("CTT", "CTT Expresso", False)))
_BEFORE_SHIPPING = ("Processing", "WaitingAcceptance", "Accepted", "InPreparation")
# §11: Processing -> (Cdiscount) WaitingAcceptance -> Accepted|Refused -> InPreparation -> Shipped ->
# Delivered; Cancelled/Rejected at any stage before shipping. Elsewhere Processing goes straight on
# to Accepted (the only reading that lets non-Cdiscount orders reach InPreparation).
_NEXT: dict[str, tuple[str, ...]] = {
    "Processing": ("WaitingAcceptance", "Accepted"), "WaitingAcceptance": ("Accepted", "Refused"),
    "Accepted": ("InPreparation",), "InPreparation": ("Shipped",), "Shipped": ("Delivered",),
}
_RANK = {s: i for i, s in enumerate(("Processing", "WaitingAcceptance", "Accepted", "InPreparation", "Shipped",
                                     "Delivered"))}
_ENDED = ("Refused", "Cancelled", "Rejected")


def allowed_next(status: str, sales_channel: str) -> tuple[str, ...]:
    """The statuses a line (or order) in ``status`` on ``sales_channel`` may move to."""
    nxt = _NEXT.get(status, ())
    if status == "Processing":
        nxt = ("WaitingAcceptance",) if sales_channel == CDISCOUNT else ("Accepted",)
    return nxt + (("Cancelled", "Rejected") if status in _BEFORE_SHIPPING else ())


def iso(moment: datetime) -> str:
    """``2026-03-19T09:57:29Z``, the API's date format (§3)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Problem(Exception):
    """An error the API answers as ``application/problem+json`` (§8): title, detail, errors."""

    def __init__(self, status: int, title: str, detail: str, errors: dict[str, list[str]] | None = None,
                 retry_after: int | None = None) -> None:
        super().__init__(detail)
        self.status, self.title, self.detail, self.errors = status, title, detail, errors
        self.retry_after = retry_after

    def body(self) -> dict:
        body = {"type": f"https://httpstatuses.io/{self.status}", "title": self.title, "status": self.status,
                "detail": self.detail, "traceId": f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-01"}
        if self.errors:
            body["errors"] = self.errors
        return body


class Clock:
    """Real time plus an offset; whole seconds, so every ``updatedAt`` shown is the one filtered on."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def now(self) -> datetime:
        return (datetime.now(UTC) + self.offset).replace(microsecond=0)

    def advance(self, seconds: float) -> datetime:
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        self.offset += timedelta(seconds=seconds)
        return self.now()


@dataclass
class Line:
    """One order line: its payload (offer, prices, shipping address), status and parcels."""

    payload: dict
    status: str
    parcels: list[dict] = field(default_factory=list)

    @property
    def id(self) -> str:
        return self.payload["orderLineId"]

    @property
    def supply_mode(self) -> str:
        return self.payload["offer"]["supplyMode"]

    def to_api(self) -> dict:
        return {**self.payload, "status": self.status, "parcels": [dict(p) for p in self.parcels]}


@dataclass
class Order:
    """One order of one seller on one sales channel."""

    payload: dict  # everything but status, dates and lines
    lines: list[Line]
    created_at: datetime
    updated_at: datetime
    status: str = ""
    shipped_at: datetime | None = None
    shipments: list[list[dict]] = field(default_factory=list)  # every accepted shipments POST body
    approvals: list[str] = field(default_factory=list)
    accepted_at: datetime | None = None  # when it last became Accepted here: its controls run from then

    def __post_init__(self) -> None:
        self.status = self.status or self.derived_status()

    @property
    def id(self) -> str:
        return self.payload["orderId"]

    @property
    def sales_channel(self) -> str:
        return self.payload["salesChannel"]["id"]

    def line(self, line_id: str) -> Line:
        for line in self.lines:
            if line.id == line_id:
                return line
        raise KeyError(line_id)

    def derived_status(self) -> str:
        """The order's status from its lines: the least advanced of the live ones [G: not documented]."""
        live = [ln.status for ln in self.lines if ln.status not in _ENDED]
        if not live:
            return self.lines[0].status
        return min(live, key=_RANK.__getitem__)

    def move(self, status: str, line_ids: list[str] | None, now: datetime) -> None:
        """Move the given lines (default: every line not ended) to ``status`` and bump ``updatedAt``.

        Raises:
            KeyError: a line id not on the order.
            ValueError: a line cannot make that move from where it is; nothing is changed.
        """
        if status not in STATUSES:
            raise ValueError(f"status must be one of {', '.join(STATUSES)}, not {status!r}")
        lines = [self.line(i) for i in line_ids] if line_ids else [ln for ln in self.lines
                                                                    if ln.status not in _ENDED] or self.lines
        for line in lines:
            if status not in allowed_next(line.status, self.sales_channel):
                nxt = ", ".join(allowed_next(line.status, self.sales_channel)) or "nothing"
                raise ValueError(f"line {line.id} of order {self.id} is {line.status}: it can move to {nxt}, "
                                 f"not {status}")
        for line in lines:
            line.status = status
        if status == "Accepted":
            self.accepted_at = now
        self.touch(now)

    def touch(self, now: datetime) -> None:
        self.status = self.derived_status()
        self.updated_at = max(now, self.updated_at)  # never backwards, so a sync on updatedAt sees the change
        if self.status in ("Shipped", "Delivered") and self.shipped_at is None:
            self.shipped_at = self.updated_at

    def to_api(self) -> dict:
        body = {**self.payload, "status": self.status, "createdAt": iso(self.created_at),
                "updatedAt": iso(self.updated_at), "lines": [ln.to_api() for ln in self.lines]}
        if self.shipped_at is not None:
            body["shippedAt"] = iso(self.shipped_at)
        return body

    def state(self) -> dict:
        return {"orderId": self.id, "salesChannelId": self.sales_channel, "status": self.status,
                "createdAt": iso(self.created_at), "updatedAt": iso(self.updated_at),
                "lines": [{"orderLineId": ln.id, "status": ln.status, "supplyMode": ln.supply_mode,
                           "sellerProductId": ln.payload["offer"]["sellerProductId"],
                           "quantity": ln.payload["quantity"], "parcels": [dict(p) for p in ln.parcels],
                           "shippingAddress": ln.payload["shippingAddress"]} for ln in self.lines],
                "shipments": [list(s) for s in self.shipments], "approvals": list(self.approvals)}


@dataclass
class Seller:
    """One seller: its subscriptions, the client ids it has delegated to, its orders and offers."""

    seller_id: str
    channels: tuple[str, ...]
    delegated_to: set[str] = field(default_factory=set)
    orders: dict[str, Order] = field(default_factory=dict)
    offers: dict[str, dict[str, dict]] = field(default_factory=dict)  # channel -> ref -> offer
    requests: Counter[tuple[str, int]] = field(default_factory=Counter)

    def add(self, order: Order) -> None:
        self.orders[order.id] = order

    def profile(self) -> dict:
        # snake_case keys (§1, C-shop); the values beyond the id are invented.
        return {"seller_id": self.seller_id, "login": f"seller{self.seller_id}", "shop_name": f"Shop {self.seller_id}",
                "seller_state": "Active"}

    def subscriptions(self) -> list[dict]:
        # kebab-case ``sales-channel-id`` as D-seller lists it [C]; the other keys' spelling is [G].
        return [{"sales-channel-id": c, "status": "Active", "currencies": [SALES_CHANNELS.get(c, (c, "EUR"))[1]]}
                for c in self.channels]

    def state(self) -> dict:
        return {"seller_id": self.seller_id, "channels": list(self.channels), "delegated_to": sorted(self.delegated_to),
                "orders": [o.state() for o in self.orders.values()],
                "offers": {c: {ref: o["quantity"] for ref, o in refs.items()} for c, refs in self.offers.items()},
                "requests": counters(self.requests)}


@dataclass
class ApiClient:
    """A platform's OAuth2 client (us): its secret and the tokens it was issued."""

    client_id: str
    secret: str
    issued: list[datetime] = field(default_factory=list)

    def state(self, now: datetime) -> dict:
        return {"client_id": self.client_id, "tokens_issued": len(self.issued),
                "tokens_last_hour": sum(1 for t in self.issued if t > now - timedelta(hours=1)),
                "issued_at": [iso(t) for t in self.issued]}


@dataclass(frozen=True)
class Token:
    client_id: str
    expires_at: datetime
