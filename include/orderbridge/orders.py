"""The canonical order and the rules that decide whether the warehouse can take it.

Pure: no database, no network, no Airflow. Channel mappers produce ``StagedOrder``s; ``SkuMap``
turns channel SKUs into warehouse SKUs (the same resolution stock reconciliation uses, so orders
and stock never disagree about what a channel SKU is); ``decide_status`` says ``ready`` or why
not, in words a person can act on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from functools import cache
from importlib import resources
from typing import Any

from orderbridge.errors import InvalidPayload

# Statuses the warehouse owns: a later channel payload must not overwrite what it is working on.
WAREHOUSE_STATUSES = ("in_progress", "partially_shipped", "shipped", "cancelled", "returned", "closed")
# Held orders re-checked on every run: a mapping, an address fix or new stock may release them.
RECHECK_STATUSES = ("awaiting_mapping", "awaiting_stock", "invalid_address", "invalid_payload")
# A line is open (pick it), cancelled (cancelled or refunded on the channel) or closed (not open
# there for another reason, e.g. already shipped by someone else).
LINE_STATUSES = ("open", "cancelled", "closed")
# What the channel says about the order as a whole (``StagedOrder.channel_state``).
OPEN, CANCEL_REQUESTED = "open", "cancel_requested"
# Countries where addresses have no postcode (the warehouse's carriers accept them without).
NO_POSTCODE_COUNTRIES = frozenset({"AE", "AG", "AO", "BS", "BZ", "HK", "IE", "JM", "MO", "QA"})
COUNTRY_ALIASES = {"UK": "GB", "USA": "US", "GREAT BRITAIN": "GB", "UNITED KINGDOM": "GB"}


@dataclass
class StagedLine:
    channel_line_id: str
    channel_sku: str
    channel_quantity: int
    unit_price: Decimal | float | None
    name: str | None = None
    kit_spec: str | None = None
    # LINE_STATUSES: only an ``open`` line is picked, reserves stock and gets tracking; the others
    # stay visible, with the channel's own word in ``channel_status``.
    status: str = "open"
    channel_status: str | None = None
    # Warehouse SKU to pick when nothing maps the channel SKU (Merkana's per-merchant "unknown
    # product"); the order is then taken but flagged for a person instead of held.
    fallback_sku: str | None = None
    # The channel's own id of the product (plentymarkets variationId): stock updates address it.
    channel_product_id: str | None = None
    # An operator's override (``staging.order_overrides`` kind ``sku``): pick this warehouse SKU.
    warehouse_sku: str | None = None

    @property
    def open_on_channel(self) -> bool:
        return self.status == "open"


@dataclass
class StagedOrder:
    """A channel order in canonical form, as produced by a channel's pure mapper."""

    external_order_id: str
    raw_id: int
    lines: list[StagedLine]
    placed_at: datetime | None = None
    channel_status: str | None = None
    currency: str | None = None
    total: Decimal | float | None = None
    shipping_total: Decimal | float | None = None
    customer_name: str | None = None
    customer_email: str | None = None
    customer_phone: str | None = None
    ship_name: str | None = None
    ship_address1: str | None = None
    ship_address2: str | None = None
    ship_city: str | None = None
    ship_state: str | None = None
    ship_postcode: str | None = None
    ship_country: str | None = None
    ship_phone: str | None = None
    channel_data: dict[str, Any] = field(default_factory=dict)
    # Set by the mapper when the payload cannot be used at all (the field is named).
    invalid_reason: str | None = None
    # open, or cancel_requested (the channel cancelled it).
    channel_state: str = OPEN
    # Something a person should look at although the order can go on (the mapper's own findings).
    attention: str | None = None
    # The channel holds a mappable, shippable order: ``(status, reason)``, e.g. Shoprenter's
    # ``awaiting_payment`` (pro-forma not paid yet) or ``held`` (a draft for a person). An
    # operator's ``release_stock`` override lifts it (``staging/load.py``).
    hold: tuple[str, str] | None = None


# staging.orders keeps amounts as numeric(14, 2): anything this large is a broken payload, and
# must be quarantined here rather than fail the whole batch's INSERT.
MAX_AMOUNT = Decimal(10) ** 12
TEN_PLACES = Decimal("1E-10")
# Likewise order_lines.quantity is an integer column; no real order line comes near this.
MAX_QUANTITY = 1_000_000


def parse_decimal(value: Any, field: str) -> Decimal | None:
    """A channel's amount (a number or a numeric string) as a Decimal; None when empty.

    Raises:
        InvalidPayload: not a finite number that staging can store, naming ``field``.
    """
    if value in (None, ""):
        return None
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation as err:
        raise InvalidPayload(f"{field} is not a number: {value!r}") from err
    if not number.is_finite() or abs(number) >= MAX_AMOUNT:
        raise InvalidPayload(f"{field} is not an amount staging can hold: {value!r}")
    # A float printed long (0.30000000000000004) or an exponent like 1E-1000000, which PostgreSQL's
    # numeric cannot even read: staging keeps 4 places at most, so 10 lose nothing.
    return number.quantize(TEN_PLACES) if number.as_tuple().exponent < -10 else number


def refuse(field: str, expected: str, value: Any):
    """Raise ``InvalidPayload`` saying ``field`` is not what a mapper expected (value shortened)."""
    raise InvalidPayload(f"{field} is not {expected}: {str(value)[:80]!r}")


def text_field(value: Any, field: str) -> str | None:
    """A text field as text (numbers too); an object, list or boolean is refused naming ``field``."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return refuse(field, "text", value)


@cache
def iso_countries() -> frozenset[str]:
    text = resources.files("orderbridge.data").joinpath("iso_countries.txt").read_text(encoding="utf-8")
    return frozenset(line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#"))


def normalize_country(value: str | None) -> str | None:
    """Channel country to ISO 3166 alpha-2 (Groupon sends ``UK`` and ``USA``); None if unknown."""
    if not value:
        return None
    code = COUNTRY_ALIASES.get(value.strip().upper(), value.strip().upper())
    return code if code in iso_countries() else None


def address_problem(order: StagedOrder) -> str | None:
    """Why the warehouse cannot ship to this address, or None when it can."""
    missing = [
        name
        for name, value in (("street", order.ship_address1), ("city", order.ship_city))
        if not (value and value.strip())
    ]
    country = normalize_country(order.ship_country)
    if country is None:
        missing.append(f"country (unknown code {order.ship_country!r})")
    elif not (order.ship_postcode and order.ship_postcode.strip()) and country not in NO_POSTCODE_COUNTRIES:
        missing.append("postcode")
    return "address has no " + ", ".join(missing) if missing else None


@dataclass
class SkuMap:
    """Channel SKU -> warehouse SKUs, from aliases, bundles, the product list and kit specs."""

    products: frozenset[str]
    aliases: dict[str, str] = field(default_factory=dict)
    bundles: dict[str, list[tuple[str, int]]] = field(default_factory=dict)

    @classmethod
    def load(cls, cur, channel: str, account: str) -> SkuMap:
        """Read the mapping tables; account-specific rows win over the channel-wide ``'*'`` ones.
        Warehouse SKUs are those of the account's stock owner (``staging.stock_owners``, else ``''``)."""
        cur.execute(
            "SELECT sku FROM staging.products WHERE owner = coalesce((SELECT owner FROM staging.stock_owners"
            " WHERE channel = %s AND account = %s), '')",
            (channel, account),
        )
        products = frozenset(r[0] for r in cur.fetchall())
        cur.execute(
            "SELECT channel_sku, warehouse_sku FROM staging.sku_aliases"
            " WHERE channel = %s AND account IN (%s, '*') ORDER BY (account = '*') DESC",
            (channel, account),
        )
        aliases = dict(cur.fetchall())
        cur.execute(
            "SELECT bundle_sku, warehouse_sku, quantity, account FROM staging.bundles"
            " WHERE channel = %s AND account IN (%s, '*') ORDER BY bundle_sku, warehouse_sku",
            (channel, account),
        )
        by_account: dict[tuple[str, str], list[tuple[str, int]]] = {}
        for bundle_sku, sku, qty, acct in cur.fetchall():
            by_account.setdefault((bundle_sku, acct), []).append((sku, qty))
        bundles: dict[str, list[tuple[str, int]]] = {}
        for (bundle_sku, _acct), parts in sorted(by_account.items(), key=lambda kv: kv[0][1] != "*"):
            bundles[bundle_sku] = parts  # account rows sort last, so they replace '*' rows
        return cls(products=products, aliases=aliases, bundles=bundles)

    def resolve(self, channel_sku: str, kit_spec: str | None = None) -> list[tuple[str, int]] | None:
        """Warehouse SKUs and quantities per channel unit, or None when nothing maps the SKU.

        Order of precedence: a bundle row, an alias row, the warehouse SKU itself, then the
        channel's own kit description (Groupon ``bom_sku`` such as ``2xWH-1005``).

        A kit component is a SKU as the merchant writes it on the channel, so it maps by the same
        first three rules: an aliased component becomes its warehouse SKU, and a component that is
        a bundle becomes the bundle's parts times the component's quantity. Components that reach
        the same warehouse SKU are added up, so stock's ``offer`` divides by what one kit really
        takes. A component's own kit description is not looked at (``bom_sku`` is one level), and
        one component nothing maps leaves the whole line unmapped: part of a kit is never picked.
        """
        mapped = self._mapped(channel_sku)
        if mapped is not None:
            return mapped
        components = parse_kit_spec(kit_spec)
        if not components:
            return None
        parts: dict[str, int] = {}
        for component, quantity in components:
            component_parts = self._mapped(component)
            if component_parts is None:
                return None
            for sku, per_unit in component_parts:
                parts[sku] = parts.get(sku, 0) + quantity * per_unit
        return list(parts.items())

    def unmapped_name(self, channel_sku: str, kit_spec: str | None = None) -> str:
        """How to name a SKU ``resolve`` could not map, so the operator maps the right thing: a kit
        names its components nothing maps (aliasing the kit SKU itself would pick one unit)."""
        components = parse_kit_spec(kit_spec)
        missing = [sku for sku, _ in components or () if self._mapped(sku) is None]
        return f"{channel_sku} (kit {kit_spec}: map {', '.join(missing)})" if missing else channel_sku

    def _mapped(self, sku: str) -> list[tuple[str, int]] | None:
        """A SKU's own mapping (bundle, alias, or a warehouse SKU itself), or None."""
        if sku in self.bundles:
            return list(self.bundles[sku])
        if sku in self.aliases:
            return [(self.aliases[sku], 1)]
        if sku in self.products:
            return [(sku, 1)]
        return None


def parse_kit_spec(spec: str | None) -> list[tuple[str, int]] | None:
    """Parse ``2xSKU-A`` or ``2xSKU-A,1xSKU-B`` (also ``+`` or ``;``); None if it is not one."""
    if not spec or not spec.strip():
        return None
    parts = []
    for chunk in spec.replace("+", ",").replace(";", ",").split(","):
        qty, sep, sku = chunk.strip().partition("x")
        # ASCII digits only ("²" is a digit to isdigit, not to int) and a quantity staging can hold.
        if not sep or not (qty.isascii() and qty.isdigit()) or len(qty) > 6 or int(qty) < 1 or not sku.strip():
            return None
        parts.append((sku.strip(), int(qty)))
    return parts


def line_rows(order: StagedOrder, skus: SkuMap) -> tuple[list[tuple], list[str]]:
    """Staging line rows (one per warehouse SKU) and the channel SKUs nothing maps.

    A line with a ``fallback_sku`` is never unknown: it goes onto that SKU and the order's
    ``attention`` says so. A line that is not open is mapped where it can be (for the record) but
    never holds the order for a mapping.
    """
    rows, unknown, fallbacks = [], [], []
    for line in order.lines:
        if line.warehouse_sku:  # an operator's override; a SKU the warehouse does not know is still unknown
            parts = [(line.warehouse_sku, 1)] if line.warehouse_sku in skus.products else None
        else:
            parts = skus.resolve(line.channel_sku, line.kit_spec)
        if parts is None and line.fallback_sku and line.open_on_channel:
            fallbacks.append(f"{line.channel_sku} -> {line.fallback_sku}")
            parts = [(line.fallback_sku, 1)]
        if parts is None:
            if line.open_on_channel:
                unknown.append(f"{line.channel_sku} (override {line.warehouse_sku} is not in staging.products)"
                               if line.warehouse_sku else skus.unmapped_name(line.channel_sku, line.kit_spec))
            parts = [(None, 1)]
        bundle = line.channel_sku if len(parts) > 1 or parts[0][1] > 1 else None
        for component, (sku, per_unit) in enumerate(parts):
            rows.append((line.channel_line_id, component, line.channel_sku, sku, line.channel_quantity * per_unit,
                         line.channel_quantity, line.unit_price, bundle, line.status, line.channel_status))
    if fallbacks:
        note = "unknown SKU(s) put on the merchant's unknown product: " + ", ".join(fallbacks)
        order.attention = f"{order.attention}; {note}" if order.attention else note
    return rows, sorted(set(unknown))


def stock_shortage(rows: list[tuple], available: dict[str, int]) -> str | None:
    """Why the warehouse cannot cover these line rows from ``available``, or None when it can.

    Args:
        rows: ``line_rows`` output (warehouse SKU at index 3, quantity at index 4, status at 8).
        available: warehouse SKU -> units free for new orders.
    """
    need: dict[str, int] = {}
    for row in rows:
        if row[3] is not None and row[8] == "open":
            need[row[3]] = need.get(row[3], 0) + row[4]
    short = [f"{sku} needs {qty}, {available.get(sku, 0)} available" for sku, qty in sorted(need.items())
             if qty > available.get(sku, 0)]
    return "not enough stock: " + "; ".join(short) if short else None


def take_stock(rows: list[tuple], available: dict[str, int]) -> None:
    """Reserve these open line rows' quantities in ``available`` (in place)."""
    for row in rows:
        if row[3] is not None and row[8] == "open":
            available[row[3]] = available.get(row[3], 0) - row[4]


def decide_status(order: StagedOrder, unknown_skus: list[str], shortage: str | None = None) -> tuple[str, str | None]:
    """Where a mapped order stands: ready, or held with the reason a person can act on.

    Args:
        shortage: what ``stock_shortage`` found, for channels that hold orders the shelf cannot
            cover (plentymarkets 6.3); None otherwise.
    """
    if order.invalid_reason:
        return "invalid_payload", order.invalid_reason
    if order.channel_state == CANCEL_REQUESTED:
        return "cancelled", "cancelled on the channel before the warehouse started"
    if order.lines and not any(line.open_on_channel for line in order.lines):
        if all(line.status == "cancelled" for line in order.lines):
            return "cancelled", "every line was cancelled or refunded on the channel"
        return "closed", "no open lines on the channel (already shipped or cancelled there)"
    if unknown_skus:
        return "awaiting_mapping", "unknown SKU(s): " + ", ".join(unknown_skus)
    problem = address_problem(order)
    if problem:
        return "invalid_address", problem
    if order.hold:
        return order.hold
    if shortage:
        return "awaiting_stock", shortage
    return "ready", None


