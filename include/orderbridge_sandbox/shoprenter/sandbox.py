"""``ShoprenterSandbox``: the fake's behaviour that is not one resource: shops and their set-up,
the OAuth token endpoint and the two ways in (Basic on the legacy host, Bearer on api2), the rate
limit, order status changes with their history rows and webhooks.
"""

from __future__ import annotations

import base64
import hmac
import json
import secrets
import time
from datetime import UTC, datetime

from orderbridge_sandbox.shoprenter.factory import ShoprenterOrderFactory, add_catalogue
from orderbridge_sandbox.shoprenter.state import ORDER_STATUSES, ApiError, Order, Settings, Shop, local
from orderbridge_sandbox.shoprenter.webhooks import Deliverer


class OAuthError(Exception):
    """A refusal of the token endpoint, with A1's body: ``error``, ``error_description``, ``message``."""

    def __init__(self, status: int, error: str, description: str, hint: str | None = None) -> None:
        super().__init__(description)
        self.status, self.error, self.description, self.hint = status, error, description, hint

    def body(self) -> dict:
        body = {"error": self.error, "error_description": self.description, "message": self.description}
        if self.hint:
            body["hint"] = self.hint
        return body


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


class ShoprenterSandbox:
    """Every shop of one sandbox, its settings and the webhook deliverer."""

    def __init__(self, settings: Settings, seed: int) -> None:
        self.settings, self.seed = settings, seed
        self.shops: dict[str, Shop] = {}
        self.factories: dict[str, ShoprenterOrderFactory] = {}
        self.deliverer = Deliverer()

    def now(self) -> datetime:
        """Now in the shops' local time, naive, as the API shows dates."""
        return local(datetime.now(UTC), self.settings.zone)

    # -- set-up ---------------------------------------------------------------------------------
    def add_shop(self, shop: Shop, n_orders: int, anchor: datetime, days: float) -> Shop:
        """Register ``shop`` with the catalogue's products and ``n_orders`` orders over ``days`` before ``anchor``."""
        self.shops[shop.name] = shop
        self.factories[shop.name] = ShoprenterOrderFactory(self.seed, shop.name)
        add_catalogue(shop, local(anchor, self.settings.zone))
        self.factories[shop.name].orders(shop, n_orders, local(anchor, self.settings.zone), days)
        return shop

    def shop(self, name: str) -> Shop:
        """Raises: ApiError 404 for a shop this sandbox does not serve."""
        shop = self.shops.get(name)
        if shop is None:
            raise ApiError(404, 40401, f"No shop {name!r} here")
        return shop

    def add_orders(self, shop: Shop, n: int, status: int | None) -> list[Order]:
        """``n`` new orders created just now (status ``status`` if given); fires ``order_confirm``."""
        if status is not None and status not in ORDER_STATUSES:
            raise ValueError(f"status must be one of the order status innerIds {sorted(ORDER_STATUSES)}")
        orders = self.factories[shop.name].orders(shop, n, self.now(), 0.0, status)
        now = self.now()
        for order in orders:
            order.created = order.updated = now
            for row in order.history:
                row["dateAdded"] = now
        if orders:
            self.deliverer.order_event(shop, "order_confirm", orders)
        return orders

    def set_status(self, shop: Shop, order: Order, status: int, comment: str = "", notify: bool = True) -> None:
        """Change an order's status: an orderHistory row, ``dateUpdated``, and ``order_status_change``
        delivered to the shop's hooks when ``notify``."""
        if status not in ORDER_STATUSES:
            raise ApiError(400, 40012, f"Unknown order status {status}; the shop has {sorted(ORDER_STATUSES)}")
        now = self.now()
        order.status_id, order.updated = status, now
        order.history.append({"innerId": shop.new_id("history", 500), "status": status, "comment": comment,
                              "dateAdded": now})
        if notify:
            self.deliverer.order_event(shop, "order_status_change", [order])

    # -- auth -----------------------------------------------------------------------------------
    def issue_token(self, shop_name: str, body: object) -> dict:
        """``POST /{shop}/app/token`` (A1): client credentials in a JSON body.

        Raises:
            OAuthError: 400 invalid_request (not JSON, a field missing, another grant type), 401
                invalid_client (unknown shop, client id or secret).
        """
        if not isinstance(body, dict):
            raise OAuthError(400, "invalid_request", "The request is missing a required parameter, includes an "
                             "invalid parameter value, includes a parameter more than once, or is otherwise "
                             "malformed.", "The body must be a JSON object")
        for name in ("grant_type", "client_id", "client_secret"):
            if not body.get(name):
                raise OAuthError(400, "invalid_request", "The request is missing a required parameter, includes "
                                 "an invalid parameter value, includes a parameter more than once, or is otherwise "
                                 "malformed.", f"Check the `{name}` parameter")
        if body["grant_type"] != "client_credentials":
            raise OAuthError(400, "unsupported_grant_type",
                             "The authorization grant type is not supported by the authorization server.",
                             "Check that all required parameters have been provided")
        shop = self.shops.get(shop_name)
        if (shop is None or shop.client_id is None or not hmac.compare_digest(shop.client_id, str(body["client_id"]))
                or not hmac.compare_digest(str(shop.client_secret), str(body["client_secret"]))):
            raise OAuthError(401, "invalid_client", "Client authentication failed")
        expires = time.time() + self.settings.token_ttl
        # A JWT in shape (A1 says "<JWT>"); nobody should need to read it, and the fake never does.
        token = ".".join((_b64({"typ": "JWT", "alg": "RS256"}),
                          _b64({"aud": shop.client_id, "sub": shop.name, "exp": int(expires),
                                "jti": secrets.token_hex(16)}), secrets.token_urlsafe(32)))
        shop.tokens[token] = expires
        shop.tokens_issued += 1
        return {"token_type": "Bearer", "expires_in": self.settings.token_ttl, "access_token": token}

    def authorize(self, shop: Shop, authorization: str, api2: bool) -> None:
        """Basic with the shop's API user and key on the legacy host; a live Bearer token of the
        shop on api2.

        Raises:
            ApiError: 401/40101 for a missing, wrong or expired credential, or the other scheme.
        """
        scheme, _, value = authorization.partition(" ")
        scheme, value = scheme.lower(), value.strip()
        if api2:
            expires = shop.tokens.get(value) if scheme == "bearer" else None
            if expires is None:
                raise ApiError(401, 40101, "No permission! api2 needs an OAuth access token (Authorization: Bearer)")
            if expires <= time.time():
                raise ApiError(401, 40101, "No permission! The access token has expired")
            return
        if scheme == "basic":
            try:
                user, _, key = base64.b64decode(value, validate=True).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                user, key = "", ""
            if hmac.compare_digest(user, shop.user) and hmac.compare_digest(key, shop.key):
                return
        raise ApiError(401, 40101, "No permission! Wrong API user or key (Authorization: Basic)")

    def admit(self, shop: Shop, cost: int = 1) -> None:
        """Count a request against the shop's 3 a second (A2).

        Raises:
            ApiError: 429 when this second's requests are used up.
        """
        if not shop.admit(cost, self.settings.rate_limit):
            raise ApiError(429, 42901, f"Too Many Requests: at most {self.settings.rate_limit} requests per "
                           "second per shop")
