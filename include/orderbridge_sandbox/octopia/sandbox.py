"""``OctopiaSandbox``: the fake's behaviour behind the routes: token issue and check, seller delegation,
order search and paging, approval, parcel declaration, and what the marketplace does by itself over
time (accepted orders pass its controls, offer packages integrate: see ``tick``).

Every refusal raises ``state.Problem``, which the routes answer as problem+json.
"""

from __future__ import annotations

import hmac
import secrets
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from orderbridge_sandbox.octopia.factory import OctopiaOrderFactory
from orderbridge_sandbox.octopia.state import (
    CDISCOUNT,
    STATUSES,
    SUPPLY_MODES,
    ApiClient,
    Clock,
    Order,
    Problem,
    Seller,
    Token,
)

_DATE_FILTERS = {"createdAtMin": ("created_at", min), "createdAtMax": ("created_at", max),
                 "updatedAtMin": ("updated_at", min), "updatedAtMax": ("updated_at", max),
                 "shippedAtMin": ("shipped_at", min), "shippedAtMax": ("shipped_at", max)}
_SORTS = {"createdAt": "created_at", "updatedAt": "updated_at", "shippedAt": "shipped_at",
          "purchasedAt": "created_at"}


@dataclass(frozen=True)
class Settings:
    """The fake's [G] choices, each a ``--octopia-...`` option (see the package docstring)."""

    token_ttl: int = 7200
    token_errors: str = "problem"  # or "keycloak": {"error", "error_description"}
    default_page_size: int = 20
    max_page_size: int = 100
    write_status: int = 204
    prepare_delay: float = 60.0  # seconds from Accepted to InPreparation; < 0: only the control route moves it
    package_delay: float = 300.0
    max_offer_requests: int = 100
    shared_stock: bool = False
    token_quota: int = 500  # tokens per client per rolling hour (§1); the answer beyond it is a guess: 429


def bad_request(field: str, message: str) -> Problem:
    return Problem(400, "One or more validation errors occurred.", f"{field}: {message}", {field: [message]})


def parse_date(field: str, text: str) -> datetime:
    """An ISO-8601 query date; without an offset it is UTC.

    Raises:
        Problem: 400 naming the parameter.
    """
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace(" ", "+"))
    except ValueError:
        raise bad_request(field, f"'{text}' is not an ISO-8601 date such as 2026-03-19T09:57:29Z") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _positive(params: dict[str, str], field: str, default: int) -> int:
    text = params.get(field)
    if text is None or text == "":
        return default
    if not text.strip().isdigit() or int(text) < 1:
        raise bad_request(field, f"must be a whole number of at least 1, got '{text}'")
    return int(text)


class OctopiaSandbox:
    """Every client and seller of one sandbox, the clock, the settings and the request counters."""

    def __init__(self, settings: Settings | None = None, clock: Clock | None = None) -> None:
        self.settings, self.clock = settings or Settings(), clock or Clock()
        self.clients: dict[str, ApiClient] = {}
        self.sellers: dict[str, Seller] = {}
        self.factories: dict[str, OctopiaOrderFactory] = {}
        self.tokens: dict[str, Token] = {}
        self.requests: Counter[tuple[str, int]] = Counter()
        self.packages = None  # offers.OfferPackages, set by build (it needs the sellers)
        self.accepted: list[Order] = []  # accepted here, waiting for the marketplace's controls
        # Bumped by every change to an order: the sorted search of a sync's filters is kept until
        # then, so paging through many orders costs one sort, not one per page.
        self.generation = 0
        self._searches: dict[tuple, tuple[int, list[Order]]] = {}

    # -- set-up ---------------------------------------------------------------------------------
    def add_seller(self, client_id: str, secret: str, seller_id: str, channels: tuple[str, ...],
                   factory: OctopiaOrderFactory, n_orders: int, offers: dict[str, dict[str, dict]]) -> Seller:
        """Register client ``client_id`` (once), seller ``seller_id`` delegated to it, and its orders.

        Raises:
            ValueError: the client id was already given with another secret.
        """
        client = self.clients.setdefault(client_id, ApiClient(client_id, secret))
        if client.secret != secret:
            raise ValueError(f"client {client_id} is given with two different secrets")
        seller = self.sellers.get(seller_id)
        if seller is None:
            seller = self.sellers[seller_id] = Seller(seller_id, channels, offers=offers)
            self.factories[seller_id] = factory
            self.add_orders(seller, factory.generate(n_orders, channels))
        seller.delegated_to.add(client_id)
        return seller

    def add_orders(self, seller: Seller, orders: list[Order]) -> None:
        for order in orders:
            seller.add(order)
        self.generation += 1

    def move(self, order: Order, status: str, line_ids: list[str] | None, at: datetime | None = None) -> None:
        """``Order.move`` at ``at`` (default now), noting the change; see there for what it raises."""
        order.move(status, line_ids, at or self.clock.now())
        self.generation += 1
        if status == "Accepted":
            self.accepted.append(order)

    # -- auth -----------------------------------------------------------------------------------
    def issue_token(self, form: dict[str, str]) -> dict:
        """The token endpoint (§1): client credentials in a form body.

        Raises:
            Problem: 400 for another grant type, 401 for an unknown client or a wrong secret, 429
                past the client's token quota.
        """
        if form.get("grant_type") != "client_credentials":
            raise Problem(400, "unsupported_grant_type", "grant_type must be client_credentials")
        client = self.clients.get(form.get("client_id", ""))
        if client is None or not hmac.compare_digest(client.secret.encode(), form.get("client_secret", "").encode()):
            raise Problem(401, "invalid_client", "Invalid client or Invalid client credentials")
        now = self.clock.now()
        recent = [t for t in client.issued if t > now - timedelta(hours=1)]
        if len(recent) >= self.settings.token_quota:
            wait = int((recent[0] + timedelta(hours=1) - now).total_seconds()) + 1
            raise Problem(429, "Too Many Requests", f"Token quota of {self.settings.token_quota} an hour reached for "
                          f"client {client.client_id}; reuse the token you have (next one in {wait} s)",
                          retry_after=wait)
        token = secrets.token_urlsafe(32)
        self.tokens[token] = Token(client.client_id, now + timedelta(seconds=self.settings.token_ttl))
        client.issued.append(now)
        return {"access_token": token, "expires_in": self.settings.token_ttl, "token_type": "Bearer",
                "not-before-policy": 0, "scope": "profile email"}

    def authorize(self, authorization: str, seller_id: str | None) -> Seller:
        """The seller a request acts for: a live Bearer token of a client the seller delegated to.

        Raises:
            Problem: 401 without or with an unknown or expired token; 400 without ``SellerId`` [G];
                403 when the seller has not delegated to the token's client (or does not exist).
        """
        scheme, _, value = authorization.partition(" ")
        token = self.tokens.get(value.strip()) if scheme.lower() == "bearer" else None
        if token is None:
            raise Problem(401, "Unauthorized", "A valid Bearer access token is required")
        if token.expires_at <= self.clock.now():
            raise Problem(401, "Unauthorized", "The access token has expired")
        if not seller_id:
            raise bad_request("SellerId", "The SellerId header is required.")
        seller = self.sellers.get(seller_id.strip())
        if seller is None or token.client_id not in seller.delegated_to:
            raise Problem(403, "Forbidden", f"Seller {seller_id} has not granted access to client {token.client_id}")
        return seller

    # -- time -----------------------------------------------------------------------------------
    def tick(self) -> None:
        """Apply what the marketplace did by itself up to now: accepted orders pass its controls
        (``prepare_delay`` after acceptance) and Ready packages integrate (``package_delay``)."""
        now = self.clock.now()
        delay = self.settings.prepare_delay
        # Only orders accepted while the fake runs: generated Accepted ones wait for the control route.
        waiting = []
        for order in self.accepted:
            lines = [ln.id for ln in order.lines if ln.status == "Accepted"]
            if delay < 0 or not lines:
                continue
            due = order.accepted_at + timedelta(seconds=delay)
            if due <= now:
                self.move(order, "InPreparation", lines, due)
            else:
                waiting.append(order)
        if delay >= 0:
            self.accepted = waiting
        if self.packages is not None:
            self.packages.tick(now)

    # -- orders ---------------------------------------------------------------------------------
    def search(self, seller: Seller, params: dict[str, str]) -> list[Order]:
        """The seller's orders matching the ``GET /orders`` filters (§3), sorted.

        Raises:
            Problem: 400 naming a filter that is malformed.
        """
        key = (seller.seller_id, *sorted((k, v) for k, v in params.items() if k not in ("pageIndex", "pageSize")))
        cached = self._searches.get(key)
        if cached is not None and cached[0] == self.generation:
            return cached[1]
        found = self._search(seller, params)
        if len(self._searches) > 32:
            self._searches.clear()
        self._searches[key] = (self.generation, found)
        return found

    def _search(self, seller: Seller, params: dict[str, str]) -> list[Order]:
        orders = list(seller.orders.values())
        if params.get("status"):
            wanted = [s.strip() for s in params["status"].split(",") if s.strip()]
            bad = [s for s in wanted if s not in STATUSES]
            if bad:
                raise bad_request("status", f"unknown status {', '.join(bad)}; one of {', '.join(STATUSES)}")
            orders = [o for o in orders if o.status in wanted]
        if params.get("supplyMode"):
            mode = params["supplyMode"]
            if mode not in SUPPLY_MODES:
                raise bad_request("supplyMode", f"must be one of {', '.join(SUPPLY_MODES)}, got '{mode}'")
            orders = [o for o in orders if any(ln.supply_mode == mode for ln in o.lines)]
        if params.get("salesChannelId"):
            orders = [o for o in orders if o.sales_channel == params["salesChannelId"]]
        if params.get("reference"):
            orders = [o for o in orders if o.payload["reference"] == params["reference"]]
        if params.get("businessOrder"):
            flag = params["businessOrder"].lower()
            if flag not in ("true", "false"):
                raise bad_request("businessOrder", f"must be true or false, got '{params['businessOrder']}'")
            orders = [o for o in orders if o.payload["businessOrder"] == (flag == "true")]
        if params.get("shippingCountry"):
            country = params["shippingCountry"].upper()
            orders = [o for o in orders if any(ln.payload["shippingAddress"]["countryCode"] == country
                                               for ln in o.lines)]
        # Both bounds inclusive [G: not documented]; an order never shipped has no shippedAt to match.
        for field, (attr, bound) in _DATE_FILTERS.items():
            if params.get(field):
                limit = parse_date(field, params[field])
                orders = [o for o in orders if getattr(o, attr) is not None
                          and (getattr(o, attr) >= limit if bound is min else getattr(o, attr) <= limit)]
        return self._sorted(orders, params)

    def _sorted(self, orders: list[Order], params: dict[str, str]) -> list[Order]:
        # ``sort=createdAt`` (D-mig), with the direction either as ``desc=true`` or ``desc:updatedAt`` [G].
        sort = params.get("sort") or "createdAt"
        direction, _, key = sort.rpartition(":")
        if key not in _SORTS or direction not in ("", "asc", "desc"):
            raise bad_request("sort", f"must be one of {', '.join(_SORTS)}, optionally as asc:KEY or desc:KEY")
        descending = direction == "desc" or params.get("desc", "").lower() == "true"
        epoch = datetime.min.replace(tzinfo=UTC)
        return sorted(orders, key=lambda o: (getattr(o, _SORTS[key]) or epoch, o.id), reverse=descending)

    def page(self, seller: Seller, params: dict[str, str]) -> dict:
        """One page of ``GET /orders``: ``{itemsPerPage, items}``, ``pageIndex`` 1-based (§3).

        Raises:
            Problem: 400 for a malformed filter, ``pageIndex`` < 1, or ``pageSize`` outside 1..max.
        """
        index = _positive(params, "pageIndex", 1)
        size = _positive(params, "pageSize", self.settings.default_page_size)
        if size > self.settings.max_page_size:
            raise bad_request("pageSize", f"must be at most {self.settings.max_page_size}, got {size}")
        orders = self.search(seller, params)
        chunk = orders[(index - 1) * size:index * size]
        return {"itemsPerPage": size, "items": [o.to_api() for o in chunk]}

    def order(self, seller: Seller, order_id: str) -> Order:
        """Raises: Problem 404 when the seller has no such order."""
        order = seller.orders.get(order_id)
        if order is None:
            raise Problem(404, "Not Found", f"Order {order_id} was not found for seller {seller.seller_id}")
        return order

    def approve(self, seller: Seller, order_id: str, body: object) -> Order:
        """``POST /orders/{id}/approval-status`` (§3): only Cdiscount orders in ``WaitingAcceptance``.

        Raises:
            Problem: 404 unknown order; 400 for a bad body, another channel or another status.
        """
        order = self.order(seller, order_id)
        value = body.get("approval_status") if isinstance(body, dict) else None
        if value not in ("Accepted", "Refused"):
            raise bad_request("approval_status", f"must be Accepted or Refused, got {value!r}")
        if order.sales_channel != CDISCOUNT:
            raise Problem(400, "Approval not available", f"Order {order_id} is on {order.sales_channel}: only "
                          f"{CDISCOUNT} orders are accepted or refused by the seller")
        if order.status != "WaitingAcceptance":
            raise Problem(400, "Approval not available", f"Order {order_id} is {order.status}: approval is only "
                          "possible in WaitingAcceptance")
        self.move(order, value, None)
        order.approvals.append(value)
        return order

    def ship(self, seller: Seller, order_id: str, body: object) -> Order:
        """``POST /orders/{id}/shipments`` (§5): parcels for ``InPreparation`` lines of ``supplyMode`` Seller.

        All or nothing: one refused parcel refuses the whole request.

        Raises:
            Problem: 404 unknown order; 400 for a malformed array, an unknown line, a line not
                ``InPreparation`` (already shipped included) or not ``Seller``-supplied.
        """
        order = self.order(seller, order_id)
        if not isinstance(body, list) or not body:
            raise bad_request("body", "must be a non-empty JSON array of parcels")
        errors: dict[str, list[str]] = {}
        for i, parcel in enumerate(body):
            where = f"[{i}]"
            if not isinstance(parcel, dict):
                errors[where] = ["must be an object"]
                continue
            for key in ("parcelNumber", "carrierName"):
                if not isinstance(parcel.get(key), str) or not parcel[key].strip():
                    errors[f"{where}.{key}"] = ["is required"]
            if parcel.get("trackingUrl") is not None and not isinstance(parcel["trackingUrl"], str):
                errors[f"{where}.trackingUrl"] = ["must be a string"]
            ids = parcel.get("orderLineIds")
            if not isinstance(ids, list) or not ids or not all(isinstance(x, str) for x in ids):
                errors[f"{where}.orderLineIds"] = ["must be a non-empty array of orderLineId strings"]
                continue
            for line_id in ids:
                problem = self._unshippable(order, line_id)
                if problem:
                    errors.setdefault(f"{where}.orderLineIds", []).append(problem)
        if errors:
            detail = "; ".join(f"{k}: {', '.join(v)}" for k, v in errors.items())
            raise Problem(400, "Cannot switch to shipped status", detail, errors)
        for parcel in body:
            record = {"parcelNumber": parcel["parcelNumber"].strip(), "carrierName": parcel["carrierName"].strip(),
                      "trackingUrl": parcel.get("trackingUrl") or ""}
            for line_id in parcel["orderLineIds"]:
                order.line(line_id).parcels.append(record)
        shipped = list(dict.fromkeys(i for p in body for i in p["orderLineIds"]))
        self.move(order, "Shipped", shipped)
        order.shipments.append([dict(p) for p in body])
        return order

    @staticmethod
    def _unshippable(order: Order, line_id: str) -> str | None:
        try:
            line = order.line(line_id)
        except KeyError:
            return f"line {line_id} is not on order {order.id}"
        if line.supply_mode != "Seller":
            return f"line {line_id} is supplied by {line.supply_mode}, not by the seller"
        if line.status in ("Shipped", "Delivered"):
            return f"line {line_id} is already {line.status} (parcel {line.parcels[-1]['parcelNumber']})" \
                if line.parcels else f"line {line_id} is already {line.status}"
        if line.status != "InPreparation":
            return f"line {line_id} is {line.status}, not InPreparation"
        return None
