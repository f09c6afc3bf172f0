"""What every part of the plentymarkets fake shares: the system's status ids and other ids, the
B3 error shape and the checks of JSON fields, and the ``--plentymarkets`` spec and shared settings.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from orderbridge_sandbox.catalogue import WAREHOUSE_PRODUCTS, ChannelOffer
from orderbridge_sandbox.plentyfake import WAREHOUSE_ID

CHANNEL = "plentymarkets"
CONTENT_TYPE = "application/json"
MAX_EXCHANGES = 10_000
WAREHOUSES = {WAREHOUSE_ID: "Fulfillment", 2: "Hauptlager"}  # ids illustrative; others answer 404

# The statuses this fake system knows. 1-11 are plenty defaults; 5.1, 6.2, 6.3, 8.8, 9.01 and 9.1 are
# the merchant-defined sub-statuses of the wemalo flow (B7: they must exist in the system; 9.01 is the
# seed's "9.0.1", a return the fulfilment centre received, as plenty writes it). Setting any
# other id is refused with 422, a guess at what plenty does with a status that does not exist.
STATUSES: dict[float, str] = {
    1.0: "Unvollständige Daten", 2.0: "Warten auf Freischaltung", 3.0: "Warten auf Zahlung",
    4.0: "In Vorbereitung für Versand", 5.0: "Freigabe Versand", 5.1: "Abwicklung extern",
    6.0: "Gerade im Versand", 6.2: "Fehler: Adresse", 6.3: "Fehler: Bestand", 7.0: "Warenausgang gebucht",
    8.0: "Storniert", 8.8: "Storno übermittelt", 9.0: "Retoure",
    9.01: "Retoure erhalten (Fulfillment)", 9.1: "Retoure (Dienstleister)", 10.0: "Gewährleistung", 11.0: "Gutschrift",
}
# Variations the merchant lists in plenty that never appear on a generated order (stocked in the
# warehouse under the same SKU): only a catalogue read (GET /rest/items/variations) shows them.
LISTED_ONLY: tuple[ChannelOffer, ...] = tuple(
    ChannelOffer(p.sku, p.name, 19.90, "direct", ((p.sku, 1),), variation_id=3401 + i)
    for i, p in enumerate(WAREHOUSE_PRODUCTS[21:24]))
REASON_IDS = frozenset({301, 302, 304, 305, 306, 307, 309, *range(317, 329)})  # B9 / the spec's list
DAILY_LIMITS = {"read": 166_000, "write": 48_000}  # per system per day, Classic plan (B2)
EMPTY_RELATIONS = ("comments", "payments", "documents")  # known, not modelled: []
SALES_ORDER, RETURN_ORDER = 1, 3  # order typeIds (B6)
VARIATION_ITEM = 1  # the order item typeId of a product (B6); shipping costs, coupons ... are not returned by default
# A new return's status when the POST names none. plenty's return statuses are 9.x (9.0 "Retoure" is a
# default status); that 9.0 is what plenty picks without a statusId is a guess [G], as is accepting any
# existing status there (the route does not say it must be a 9.x one).
RETURN_STATUS = 9.0
SORT_KEYS = {"id": lambda o: o.id, "statusId": lambda o: o.status_id, "createdAt": lambda o: o.created_at,
             "orderDocument": lambda o: o.id}  # no documents here: by id


def _num(value: float) -> int | float:
    """A status id as plenty writes it: 5, 5.1 (B4 and B6 show integral statuses without ``.0``)."""
    return int(value) if float(value).is_integer() else value


def _status_name(status_id: float) -> str:
    return f"[{_num(status_id)}] {STATUSES.get(status_id, 'Unbekannt')}"


class ApiError(Exception):
    """An answer other than 200, with its B3 body."""

    def __init__(self, status: int, message: str, *, validation: dict[str, list[str]] | None = None,
                 missing: list[str] | None = None, body: dict | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.body: dict
        if body is not None:  # a body of its own (the session limit, B1)
            self.body = body
        elif validation is not None:  # B3 422: {"error":{"message":...},"validation_errors":{...}}
            self.body = {"error": {"message": message}, "validation_errors": validation}
        elif missing is not None:  # B3 403
            self.body = {"error": {"message": message, "missing_permissions": missing}}
        else:  # B3 general; the notes' example has code 0, here the HTTP status (a guess)
            self.body = {"error": {"message": message, "code": status}}


def _invalid(field_name: str, message: str) -> ApiError:
    return ApiError(422, "validation error found", validation={field_name: [message]})


@dataclass(frozen=True)
class PlentySystemSpec:
    """One ``--plentymarkets SYSTEM:USERNAME:PASSWORD:N_ORDERS`` system (the password may hold ``:``)."""

    system: str
    username: str
    password: str
    n_orders: int

    @classmethod
    def parse(cls, text: str) -> PlentySystemSpec:
        """Raises ValueError: not four parts, an empty field, or N_ORDERS not a number >= 0."""
        system, sep, rest = text.partition(":")
        username, sep2, rest = rest.partition(":")
        password, sep3, n = rest.rpartition(":")
        if not (sep and sep2 and sep3 and system and username and password and n.isdigit()) \
                or not re.fullmatch(r"[A-Za-z0-9_.-]+", system):
            raise ValueError(f"expected SYSTEM:USERNAME:PASSWORD:N_ORDERS (SYSTEM of letters, digits, _.-), "
                             f"got {system}:...")
        return cls(system, username, password, int(n))


@dataclass(frozen=True)
class PlentySettings:
    """Behaviour shared by every system; the defaults are the Classic plan and the notes' values."""

    token_ttl: int = 86_400  # expires_in of the login answer (B1)
    max_sessions: int = 3  # concurrent sessions per user (B1)
    read_limit: int = 200  # GET calls per user per window (B2, Classic)
    write_limit: int = 80  # POST/PUT/DELETE calls per user per window (B2, Classic)
    rate_window: float = 60.0  # seconds; a fixed window per user (how plenty counts is not documented)
    numbers_as_strings: bool = False  # the B4 quirk: paging numbers, ids, quantities, amounts as strings
    max_items_per_page: int = 250  # not in the spec [G]; a third-party note says 250 for orders


def _status_value(value: object) -> float:
    """A status id from a JSON body: a number, or a numeric string (lenient like PHP; a guess)."""
    if isinstance(value, bool):
        raise _invalid("statusId", "The status id must be a number.")
    try:
        status = float(value) if isinstance(value, (int, float, str)) else math.nan
    except ValueError:
        status = math.nan
    if math.isnan(status):
        raise _invalid("statusId", "The status id must be a number.")
    if status not in STATUSES:
        raise _invalid("statusId", "The selected status id is invalid.")
    return status


def _int_field(body: dict, name: str, required: bool = False, default: int | None = None) -> int | None:
    value = body.get(name)
    if value is None:
        if required:
            raise _invalid(name, f"The {name} field is required.")
        return default
    if isinstance(value, bool) or not (isinstance(value, int) or (isinstance(value, float) and value.is_integer())):
        raise _invalid(name, f"The {name} must be an integer.")
    return int(value)
