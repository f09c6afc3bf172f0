"""plentymarkets account settings: ids and the status machine, from the connection's extras.

One Airflow connection per plentymarkets system (``orderbridge_plentymarkets_<account>``): host
and port are the shop backend URL, login/password the backend user. The extras carry the
plentyID, warehouseID and storageLocationID the seed asks for (the first two scope which orders
are ours), and every status id, each with the
seed's default (wemalo/YSWS flow, seed 003), besides the shared extras (``channels.settings``).
An extra given as null or "" keeps its default; any extra not listed here is refused.

Status ids are plenty's *float* ids (``5.1`` is a sub-status of 5). They are kept as ``Decimal``
so ``5.1`` stays exactly ``5.1``; a three-part id such as the seed's ``9.0.1`` is not a number and
is refused with a message saying how plenty writes it (``9.01``).
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar

from pydantic import Field, field_validator, model_validator

from orderbridge.channels.settings import ChannelSettings
from orderbridge.errors import Permanent

STATUS_EXTRAS = {
    "status_fetch": "fetch_status",                      # 5: Freigabe Versand, what we import
    "status_transferred": "transferred_status",          # 5.1: Abwicklung extern, set once in staging
    "status_address_error": "address_error_status",      # 6.2: address the warehouse cannot ship to
    "status_no_stock": "no_stock_status",                # 6.3: not enough stock
    "status_cancel_requested": "cancel_status",          # 8.0: cancelled in plenty, fetched
    "status_cancel_acknowledged": "cancel_ack_status",   # 8.8: set after the cancellation reached us
    "status_shipped": "shipped_status",                  # 7: set once every line shipped (a guess, B7)
    "status_partly_shipped": "partly_shipped_status",    # none: a parcel that leaves lines to ship
    "status_return_received": "return_received_status",  # 9.01: set on a return order the warehouse received
}
# Extras nothing reads any more, accepted and ignored so an older connection keeps working:
# status_returns was the status-9 queue read as returns (returns are return orders, typeId 3,
# read by their type since).
RETIRED_EXTRAS = frozenset({"status_returns"})
NUMBER_EXTRAS = {"plenty_id": "plenty_id", "warehouse_id": "warehouse_id",
                 "storage_location_id": "storage_location_id", "items_per_page": "items_per_page",
                 "stock_reason_id": "stock_reason_id", "package_type": "package_type"}


def _three_part_hint(text: str) -> str:
    """How plenty writes a three-part id such as ``9.0.1`` (``9.01``), or "" for anything else."""
    if text.count(".") < 2 or not text.replace(".", "").isdigit():
        return ""
    head, _, rest = text.partition(".")
    return f"write {head}.{rest.replace('.', '')}, not {text}"


def parse_status(value, name: str = "status") -> Decimal:
    """A plenty status id as an exact decimal (5, 5.1, "6.2" ...).

    Raises:
        Permanent: not a number, e.g. ``9.0.1`` (plenty writes that sub-status as ``9.01``).
    """
    text = str(value).strip()
    try:
        status = Decimal(text)
    except InvalidOperation as err:
        hint = _three_part_hint(text)
        hint = f" plenty status ids are numbers: {hint}." if hint else ""
        raise Permanent(f"{name} {text!r} is not a plentymarkets status id.{hint}") from err
    return status.normalize() if status == status.to_integral() else status


def status_json(status) -> float | int:
    """How a status id travels in JSON: plenty takes numbers (``5.1``), not strings."""
    status = parse_status(status)
    return int(status) if status == status.to_integral() else float(status)


def _status(default: str, extra: str) -> Any:
    return Field(Decimal(default), alias=extra, allow_inf_nan=False)


class PlentySettings(ChannelSettings):
    """Everything about one plentymarkets system except the credentials.

    Status fields are read from the extras ``status_*`` (``STATUS_EXTRAS``), the numbers from the
    extras of the same name; ``status_returns`` is accepted and ignored (``RETIRED_EXTRAS``).
    """

    channel: ClassVar[str] = "plentymarkets"
    retired_extras: ClassVar[frozenset[str]] = RETIRED_EXTRAS

    # The system's scope (seed 003: plentyID, warehouseID). Orders of another client (plentyId) or
    # with another main warehouse are not ours: never imported, never answered.
    plenty_id: int | None = None    # None: every client's orders (a system with one client)
    warehouse_id: int = 1
    filter_by_warehouse: bool = True  # only orders whose main warehouse is warehouse_id
    storage_location_id: int = 0
    fetch_status: Decimal = _status("5", "status_fetch")
    transferred_status: Decimal = _status("5.1", "status_transferred")
    address_error_status: Decimal = _status("6.2", "status_address_error")
    no_stock_status: Decimal = _status("6.3", "status_no_stock")
    cancel_status: Decimal = _status("8", "status_cancel_requested")
    cancel_ack_status: Decimal = _status("8.8", "status_cancel_acknowledged")
    shipped_status: Decimal = _status("7", "status_shipped")
    # The seed's "9.0.1" for returns handled by the fulfilment centre; plenty writes it 9.01.
    return_received_status: Decimal = _status("9.01", "status_return_received")
    # What a parcel that leaves something to ship sets (a merchant-defined sub-status, if any): the
    # reference names no "partly shipped" status, so by default the order keeps its status.
    partly_shipped_status: Decimal | None = Field(None, alias="status_partly_shipped", allow_inf_nan=False)
    items_per_page: int = 50
    stock_reason_id: int = 301      # "stock correction" (PMGUIDE reason ids)
    package_type: int = 26          # "Package" (OrderShippingPackage.packageType)

    @model_validator(mode="before")
    @classmethod
    def _unset_when_empty(cls, data: Any) -> Any:
        # null or "" keeps the default, as a connection form leaves an emptied field.
        own = set(STATUS_EXTRAS) | set(NUMBER_EXTRAS) | {"filter_by_warehouse"}
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if not (k in own and v in (None, ""))}
        return data

    @field_validator(*STATUS_EXTRAS.values(), mode="before")
    @classmethod
    def _status_id(cls, value: Any) -> Any:
        if isinstance(value, Decimal):
            return value
        try:
            return parse_status(value)
        except Permanent as err:
            # Not parse_status's message: it would repeat the value, which may be anything.
            hint = _three_part_hint(str(value).strip())
            raise ValueError("must be a plentymarkets status id, a number such as 5.1"
                             + (f": {hint}" if hint else "")) from err

    def status_names(self) -> dict[str, Decimal]:
        """Every status id set (an optional one left unset is not listed)."""
        return {name: getattr(self, name) for name in type(self).model_fields
                if name.endswith("_status") and getattr(self, name) is not None}
