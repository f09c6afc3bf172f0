"""The Shoprenter fake's in-memory state: shops with their orders, products, prices, webhooks,
tokens and request counters, the ids the API uses, and the error every refusal raises.

Ids follow the notes (shoprenter-plenty-api.md A3): ``id`` is base64 of
``<resourceType>-<column>=<n>`` and ``innerId`` is ``n`` as a string.
"""

from __future__ import annotations

import base64
import binascii
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

CHANNEL = "shoprenter"

# The order statuses a new shop has (innerId -> Hungarian name, colour); the names are what a
# Hungarian shop admin shows. Only their ids travel in orders; names via orderStatusDescriptions.
ORDER_STATUSES: dict[int, tuple[str, str]] = {
    1: ("Függőben", "#f0ad4e"), 2: ("Feldolgozás alatt", "#5bc0de"), 3: ("Kiszállítva", "#337ab7"),
    4: ("Csomagolás alatt", "#777777"), 5: ("Teljesítve", "#5cb85c"), 6: ("Visszaküldve", "#d9534f"),
    7: ("Visszavonva", "#d9534f"), 15: ("Fizetve", "#2e7d32"),
}
STORNO = 7  # what excludeStorno=1 leaves out [G: the notes do not say which status is "storno"]

# The resource type and id column inside each base64 id (A3), by collection path.
ID_KINDS: dict[str, tuple[str, str]] = {
    "orders": ("order", "order_id"), "orderExtend": ("order", "order_id"),
    "orderProducts": ("orderProduct", "order_product_id"), "orderTotals": ("orderTotal", "order_total_id"),
    "orderHistories": ("orderHistory", "order_history_id"), "orderStatuses": ("orderStatus", "order_status_id"),
    "orderStatusDescriptions": ("orderStatusDescription", "order_status_description_id"),
    "products": ("product", "product_id"), "productExtend": ("product", "product_id"),
    "customerGroupProductPrices": ("customerGroupProductPrice", "customer_group_product_price_id"),
    "customerGroups": ("customerGroup", "customer_group_id"), "categories": ("category", "category_id"),
    "webHooks": ("webHook", "webhook_id"), "currencies": ("currency", "currency_id"),
    "languages": ("language", "language_id"), "countries": ("country", "country_id"),
    "taxClasses": ("taxClass", "tax_class_id"), "customers": ("customer", "customer_id"),
    "shippingModes": ("shippingMode", "shipping_mode_id"),
}
CUSTOMER_GROUPS: dict[int, str] = {8: "Vásárló", 9: "Viszonteladó", 10: "Törzsvásárló"}
_ID_TEXT = re.compile(r"([A-Za-z]+)-([a-z_]+)=(\d+)")


def make_id(collection: str, n: int) -> str:
    """The base64 ``id`` of row ``n`` of ``collection`` (``orders`` -> ``order-order_id=n``)."""
    kind, column = ID_KINDS[collection]
    return base64.b64encode(f"{kind}-{column}={n}".encode()).decode()


def parse_id(collection: str, text: str) -> int | None:
    """The row number in a base64 id of ``collection``; None when it is not one (a 404 for the caller)."""
    try:
        decoded = base64.b64decode(text + "=" * (-len(text) % 4), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    match = _ID_TEXT.fullmatch(decoded)
    if match is None or (match.group(1), match.group(2)) != ID_KINDS[collection]:
        return None
    return int(match.group(3))


class ApiError(Exception):
    """A refusal: HTTP ``status``, Shoprenter's inner ``code`` (A2) and a message."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message

    def body(self) -> dict:
        # The error envelope is the notes' guess (A2) [G]: {"error": <inner code>, "message": ...}.
        return {"error": self.code, "message": self.message}


def not_found(uri: str) -> ApiError:
    # The one error text the docs show (a batch sub-response, A2).
    return ApiError(404, 40401, f'Resource matching URI "{uri}" not found')


def invalid(message: str) -> ApiError:
    """A field value the fake refuses; 40012 stands for the undocumented validation codes [G]."""
    return ApiError(400, 40012, message)


@dataclass(frozen=True)
class Settings:
    """The fake's [G] choices, each a ``--shoprenter-...`` option (see the package docstring)."""

    rate_limit: int = 3  # requests per shop per second (A2); 0 turns the limit off
    batch_counts: str = "one"  # "one": a /batch is one request; "each": every sub-request counts
    max_batch: int = 200
    default_limit: int = 25
    token_ttl: int = 3600
    timezone: str = "Europe/Budapest"
    page_numbers: str = "mixed"  # "mixed": strings on /orders, ints elsewhere; or "str" / "int" everywhere
    put_status_webhook: bool = True  # PUT /orders/{id} with a new orderStatus fires order_status_change
    retry_after: int | None = None  # Shoprenter documents no rate-limit header; a number adds Retry-After

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


@dataclass
class Line:
    """One order product: the quantity lives only in ``stocks`` (stock1..stock4, A6)."""

    inner_id: int
    sku: str
    name: str
    product_id: int | None
    net_price: float
    tax_rate: float
    stocks: tuple[int, int, int, int]

    @property
    def quantity(self) -> int:
        return sum(self.stocks)


@dataclass
class Order:
    inner_id: int
    fields: dict  # the A6 scalar fields (names, addresses, methods, money as strings)
    lines: list[Line]
    status_id: int | None  # None: an abandoned cart (A6)
    created: datetime  # shop local time, naive
    updated: datetime
    shipping_net: float = 0.0
    net_total: float = 0.0
    history: list[dict] = field(default_factory=list)  # {innerId, status, comment, dateAdded}


@dataclass
class Product:
    inner_id: int
    fields: dict  # sku, price, stock1..4, status, ... as the API shows them
    name: str
    category_id: int | None
    created: datetime
    updated: datetime


@dataclass
class Shop:
    """One shop (the "Path" of its API host) and everything in it."""

    name: str
    user: str
    key: str
    client_id: str | None = None
    client_secret: str | None = None
    orders: dict[int, Order] = field(default_factory=dict)
    products: dict[int, Product] = field(default_factory=dict)
    skus: dict[str, int] = field(default_factory=dict)  # sku -> product innerId (catalogue syncs address by SKU)
    categories: dict[int, str] = field(default_factory=dict)
    prices: dict[int, dict] = field(default_factory=dict)  # customerGroupProductPrices by innerId
    webhooks: dict[int, dict] = field(default_factory=dict)
    deliveries: list[dict] = field(default_factory=list)
    tokens: dict[str, float] = field(default_factory=dict)  # access token -> expiry (epoch seconds)
    tokens_issued: int = 0
    per_second: Counter = field(default_factory=Counter)  # epoch second -> requests let through
    refused: Counter = field(default_factory=Counter)  # epoch second -> requests answered 429
    requests: Counter = field(default_factory=Counter)  # (METHOD resource, status) -> n
    item_faults: list = field(default_factory=list)  # batch.ItemFault rules failing /batch items
    next_ids: Counter = field(default_factory=Counter)

    def new_id(self, what: str, start: int = 1) -> int:
        if what not in self.next_ids:
            self.next_ids[what] = start
        self.next_ids[what] += 1
        return self.next_ids[what] - 1

    def product_by_sku(self, sku: str) -> Product | None:
        inner = self.skus.get(sku)
        return self.products.get(inner) if inner is not None else None

    def put_product(self, product: Product) -> None:
        """Store ``product`` (new or changed), keeping the SKU index right."""
        old = self.products.get(product.inner_id)
        if old is not None and self.skus.get(old.fields["sku"]) == product.inner_id:
            del self.skus[old.fields["sku"]]
        self.products[product.inner_id] = product
        self.skus[product.fields["sku"]] = product.inner_id

    def drop_product(self, product: Product) -> None:
        del self.products[product.inner_id]
        self.skus.pop(product.fields["sku"], None)

    def admit(self, cost: int, limit: int, now: float | None = None) -> bool:
        """Count ``cost`` requests in this second; False (and counted as refused) past ``limit``."""
        second = int(time.time() if now is None else now)
        if limit and self.per_second[second] + 1 > limit:
            self.refused[second] += 1
            return False
        self.per_second[second] += cost
        if len(self.per_second) > 3600:  # keep an hour of seconds, not the whole run
            for old in sorted(self.per_second)[:-3600]:
                del self.per_second[old]
        return True


def local(moment: datetime, zone: ZoneInfo) -> datetime:
    """An aware moment as the shop's naive local time, to the second (how the API shows dates)."""
    return moment.astimezone(zone).replace(tzinfo=None, microsecond=0)


def fmt(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S")
