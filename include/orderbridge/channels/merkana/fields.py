"""Merkana's JSON field names: one mapping per platform, used in both directions.

The seed says every parameter name "can be changed on the initial fulfillment setup". So the code
never spells a wire name: it works with *canonical* names (the seed's own) and ``Fields``
translates at the edges -- request bodies on the way in, status and stock posts (and the
initial-stock answer) on the way out. A platform that renamed something lists only the
differences, canonical -> wire, in its connection extra ``field_names``, for example
``{"br": "qty", "idextern": "order_id"}``.

The mapping is flat: renaming ``sku`` renames it in products, line items and stock alike (the seed
gives each name one meaning). The answer envelope, ``status`` true/false plus ``message``, is the
seed's error convention and is not renamed.

Status *values* we report are a guess too (the seed shows only ``"send"``): ``STATUS_VALUES``
maps a staging status to Merkana's word, overridable per platform with the extra ``status_values``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# Every canonical name the code reads or writes, by call (seed 004, requests 1-6).
PRODUCT_SYNC = ("mid", "products", "id", "sku", "ean", "title", "img")
STOCK_REQUEST = ("mid", "stock", "br")
ORDER_CREATE = (
    "mid", "unknownproductid", "email_ff_problem", "id", "status", "total", "insurance", "currency",
    "payment_method", "customer_note", "shipping", "awb", "awb_url", "url_factura", "line_items", "quantity",
    "ff_note", "shipping_contact", "shipping_phone", "shipping_country", "shipping_suburb", "shipping_city",
    "shipping_street", "shipping_postal_code", "shipping_locality_id", "shipping_instructions", "shipping_method",
    "company", "email", "shipping_country_id", "shipping_city_id", "shipping_street_id", "shipping_courier_office",
    "shipping_courier",
)
STATUS_UPDATE = ("orders", "idextern", "status", "awb", "courier")
SUPPLIES = ("mid", "products", "sku", "br")
CANONICAL = frozenset(PRODUCT_SYNC + STOCK_REQUEST + ORDER_CREATE + STATUS_UPDATE + SUPPLIES)

# Staging status -> the status word posted to ff-orders-status. Statuses not listed are not reported.
# A partially shipped order is still being worked on (a guess: the seed has no word for it); each
# of its parcels goes with that word, its awb and courier, and ``send`` only once every line shipped.
STATUS_VALUES: dict[str, str] = {"in_progress": "processing", "partially_shipped": "processing", "shipped": "send",
                                 "cancelled": "cancelled", "returned": "returned"}


class Fields:
    """The wire names of one platform.

    Args:
        overrides: canonical -> wire names that differ from the seed's.

    Raises:
        ValueError: an override names no canonical field, or two fields would share a wire name.
    """

    def __init__(self, overrides: Mapping[str, str] | None = None):
        overrides = dict(overrides or {})
        unknown = sorted(set(overrides) - CANONICAL)
        if unknown:
            raise ValueError(f"field_names: unknown field(s) {', '.join(unknown)}; "
                             f"known: {', '.join(sorted(CANONICAL))}")
        bad = sorted(k for k, v in overrides.items() if not isinstance(v, str) or not v.strip())
        if bad:
            raise ValueError(f"field_names: {', '.join(bad)} must map to a non-empty string")
        self._wire = {name: overrides.get(name, name).strip() for name in CANONICAL}
        self._canonical = {wire: name for name, wire in self._wire.items()}
        if len(self._canonical) != len(self._wire):
            raise ValueError("field_names: two fields map to the same wire name")
        self.renamed = {k: v for k, v in self._wire.items() if k != v}

    def wire(self, name: str) -> str:
        """The wire name of a canonical field (a name we do not know passes through unchanged)."""
        return self._wire.get(name, name)

    def to_canonical(self, value: Any) -> Any:
        """Rename the keys of a received body, at every depth, to canonical names.

        Keys that are not this platform's wire names are kept as they are (extras are allowed); a
        renamed field's wire key wins over a stray key that happens to carry its canonical name.
        """
        if isinstance(value, list):
            return [self.to_canonical(v) for v in value]
        if not isinstance(value, dict):
            return value
        out = {k: self.to_canonical(v) for k, v in value.items() if k not in self._canonical}
        out.update({self._canonical[k]: self.to_canonical(v) for k, v in value.items() if k in self._canonical})
        return out

    def to_wire(self, value: Any) -> Any:
        """Rename the keys of a body we send from canonical to this platform's wire names."""
        if isinstance(value, list):
            return [self.to_wire(v) for v in value]
        if isinstance(value, dict):
            return {self.wire(k): self.to_wire(v) for k, v in value.items()}
        return value

    def path(self, loc: tuple | list) -> str:
        """A validation error location as the sender wrote it: ``line_items[1].quantity``."""
        text = ""
        for part in loc:
            if isinstance(part, int):
                text += f"[{part}]"
            else:
                text += ("." if text else "") + self.wire(str(part))
        return text or "body"
