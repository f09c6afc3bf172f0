"""plentymarkets account settings: ids and the status machine, from the connection's extras.

One Airflow connection per plentymarkets system (``orderbridge_plentymarkets_<account>``): host
and port are the shop backend URL, login/password the backend user. The extras carry the
plentyID, warehouseID and storageLocationID the seed asks for, and every status id, each with the
seed's default (wemalo/YSWS flow, seed 003).

Status ids are plenty's *float* ids (``5.1`` is a sub-status of 5). They are kept as ``Decimal``
so ``5.1`` stays exactly ``5.1``; a three-part id such as the seed's ``9.0.1`` is not a number and
is refused with a message saying how plenty writes it (``9.01``).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from decimal import Decimal, InvalidOperation

from orderbridge.errors import Permanent

STATUS_EXTRAS = {
    "status_fetch": "fetch_status",                      # 5: Freigabe Versand, what we import
    "status_transferred": "transferred_status",          # 5.1: Abwicklung extern, set once in staging
    "status_address_error": "address_error_status",      # 6.2: address the warehouse cannot ship to
    "status_no_stock": "no_stock_status",                # 6.3: not enough stock
    "status_cancel_requested": "cancel_status",          # 8.0: cancelled in plenty, fetched
    "status_cancel_acknowledged": "cancel_ack_status",   # 8.8: set after the cancellation reached us
    "status_shipped": "shipped_status",                  # 7: set after the package number (a guess, B7)
}
# Extras nothing reads any more, still listed so an older connection's value is never sent as a
# request header: status_returns was the status-9 queue read as returns (returns are return
# orders, typeId 3, read by their type since).
RETIRED_EXTRAS = frozenset({"status_returns"})
NUMBER_EXTRAS = {"plenty_id": "plenty_id", "warehouse_id": "warehouse_id",
                 "storage_location_id": "storage_location_id", "items_per_page": "items_per_page",
                 "stock_reason_id": "stock_reason_id", "package_type": "package_type"}


def parse_status(value, name: str = "status") -> Decimal:
    """A plenty status id as an exact decimal (5, 5.1, "6.2" ...).

    Raises:
        Permanent: not a number, e.g. ``9.0.1`` (plenty writes that sub-status as ``9.01``).
    """
    text = str(value).strip()
    try:
        status = Decimal(text)
    except InvalidOperation as err:
        hint = ""
        if text.count(".") > 1:
            head, _, rest = text.partition(".")
            hint = f" plenty status ids are numbers: write {head}.{rest.replace('.', '')}, not {text}."
        raise Permanent(f"{name} {text!r} is not a plentymarkets status id.{hint}") from err
    return status.normalize() if status == status.to_integral() else status


def status_json(status) -> float | int:
    """How a status id travels in JSON: plenty takes numbers (``5.1``), not strings."""
    status = parse_status(status)
    return int(status) if status == status.to_integral() else float(status)


@dataclass(frozen=True)
class PlentySettings:
    """Everything about one plentymarkets system except the credentials."""

    plenty_id: int | None = None
    warehouse_id: int = 1
    storage_location_id: int = 0
    fetch_status: Decimal = Decimal("5")
    transferred_status: Decimal = Decimal("5.1")
    address_error_status: Decimal = Decimal("6.2")
    no_stock_status: Decimal = Decimal("6.3")
    cancel_status: Decimal = Decimal("8")
    cancel_ack_status: Decimal = Decimal("8.8")
    shipped_status: Decimal = Decimal("7")
    items_per_page: int = 50
    stock_reason_id: int = 301      # "stock correction" (PMGUIDE reason ids)
    package_type: int = 26          # "Package" (OrderShippingPackage.packageType)

    @classmethod
    def from_extra(cls, extra: dict) -> PlentySettings:
        """Read the connection extras; unknown keys are left to others, bad values fail clearly.

        Raises:
            Permanent: a status id or number that cannot be read.
        """
        values: dict = {}
        for key, attr in STATUS_EXTRAS.items():
            if extra.get(key) not in (None, ""):
                values[attr] = parse_status(extra[key], key)
        for key, attr in NUMBER_EXTRAS.items():
            if extra.get(key) not in (None, ""):
                try:
                    values[attr] = int(extra[key])
                except (TypeError, ValueError) as err:
                    raise Permanent(f"connection extra {key} must be a whole number, not {extra[key]!r}") from err
        return cls(**values)

    def status_names(self) -> dict[str, Decimal]:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name.endswith("_status")}


CONFIG_EXTRAS = frozenset(STATUS_EXTRAS) | frozenset(NUMBER_EXTRAS) | RETIRED_EXTRAS
