"""plentymarkets REST API fake: in-memory systems, the ``/rest`` routes and their control API.

Follows the reference notes (shoprenter-plenty-api.md B1-B9) and the official OpenAPI subset
(plentymarkets-openapi-subset.json); the business flow is the wemalo one of seed 003 (fetch status 5,
set 5.1, 6.2/6.3 on errors, 8.0 -> 8.8 for cancellations, a package number per shipment). A
customer's return is a return order (typeId 3, B6/B7), made by ``POST /rest/orders/{id}/returns``.
Every choice the reference marks as a guess [G] says so next to the code and, where it matters to
a client, is a command-line option. Orders come from ``plentyfake``.

One fake plenty *system* per path, ``/plentymarkets/{system}/rest/...``, each with one back-end user:

- ``POST /rest/login`` (JSON or form), ``/rest/login/refresh``, ``/rest/logout``: Bearer tokens,
  answered with both key sets (B1), at most ``max_sessions`` live sessions per user (429 beyond).
- ``GET /rest/orders`` (status, date, type and parent filters, ``with[]``, 1-based paging, B4/B5),
  ``GET|PUT /rest/orders/{id}``, ``GET /rest/orders/{id}/status-history``,
  ``POST /rest/orders/{id}/returns`` (a return order of a sales order, B7),
  ``GET|POST /rest/orders/{id}/shipping/packages``, ``GET /rest/orders/{id}/packagenumbers``,
  ``GET /rest/orders/shipping/presets`` (B7, B8);
- ``PUT /rest/stockmanagement/warehouses/{id}/stock/correction`` and ``GET .../stock`` (B9).

Every answer to an authenticated user carries the B2 rate headers of its read (GET) or write budget;
a spent budget gives 429 with ``Retry-After``. Error bodies are the B3 shapes. Each ``/rest``
exchange is logged (secrets redacted) for ``/_sandbox/plentymarkets/{system}/exchanges``, which the
tests validate against the OpenAPI spec (``tests/plentyspec.py``). Requests answered by a fault rule
never reach this module, so they are not in that log.
"""

from __future__ import annotations

import base64
import copy
import functools
import hmac
import json
import math
import re
import secrets
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import count
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from orderbridge.sandbox.catalogue import PLENTY_OFFERS
from orderbridge.sandbox.groupon import counters
from orderbridge.sandbox.plentyfake import PRESETS, SYSTEM_TZ, WAREHOUSE_ID, PlentyOrderFactory, w3c

CHANNEL = "plentymarkets"
CONTENT_TYPE = "application/json"
MAX_EXCHANGES = 10_000
WAREHOUSES = {WAREHOUSE_ID: "Fulfillment", 2: "Hauptlager"}  # ids illustrative; others answer 404

# The statuses this fake system knows. 1-11 are plenty defaults; 5.1, 6.2, 6.3, 8.8 and 9.1 are the
# merchant-defined sub-statuses of the wemalo flow (B7: they must exist in the system). Setting any
# other id is refused with 422, a guess at what plenty does with a status that does not exist.
STATUSES: dict[float, str] = {
    1.0: "Unvollständige Daten", 2.0: "Warten auf Freischaltung", 3.0: "Warten auf Zahlung",
    4.0: "In Vorbereitung für Versand", 5.0: "Freigabe Versand", 5.1: "Abwicklung extern",
    6.0: "Gerade im Versand", 6.2: "Fehler: Adresse", 6.3: "Fehler: Bestand", 7.0: "Warenausgang gebucht",
    8.0: "Storniert", 8.8: "Storno übermittelt", 9.0: "Retoure", 9.1: "Retoure (Dienstleister)",
    10.0: "Gewährleistung", 11.0: "Gutschrift",
}
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


@dataclass
class Session:
    id: int
    access_token: str
    refresh_token: str
    expires_at: float
    logged_out: bool = False

    def live(self, now: float) -> bool:
        return not self.logged_out and now < self.expires_at


@dataclass
class Budget:
    """A fixed-window call budget: ``limit`` calls per ``window`` seconds from the window's first call."""

    limit: int
    window: float
    start: float = 0.0
    used: int = 0

    def has_room(self, now: float) -> bool:
        """Whether one more call fits (opening a new window if the last one is over)."""
        if now >= self.start + self.window:
            self.start, self.used = now, 0
        return self.used < self.limit

    def headers(self, prefix: str, now: float) -> dict[str, str]:
        return {f"{prefix}-Limit": str(self.limit), f"{prefix}-Calls-Left": str(max(0, self.limit - self.used)),
                f"{prefix}-Decay": str(max(0, math.ceil(self.start + self.window - now)))}


@dataclass
class PlentyOrder:
    """An order as the system holds it now."""

    id: int
    created_at: datetime
    updated_at: datetime
    status_id: float
    body: dict
    address_problem: str | None
    skus: list[str]
    history: list[dict] = field(default_factory=list)  # from, to, at, source (and the API's entry fields)
    packages: list[dict] = field(default_factory=list)
    returns: list[int] = field(default_factory=list)  # ids of the return orders made from this order
    return_package_number: str = ""  # a return's, as posted (where plenty shows it is not documented [G])

    @property
    def type_id(self) -> int:
        return self.body["typeId"]

    @property
    def parent_id(self) -> int | None:
        """The sales order a return points at (``orderReferences``, referenceType "parent")."""
        return next((r["referenceOrderId"] for r in self.body.get("orderReferences", [])
                     if r["referenceType"] == "parent"), None)


class PlentySystem:
    """One plenty system: its user, sessions, orders, stock, budgets and logs."""

    def __init__(self, spec: PlentySystemSpec, factory: PlentyOrderFactory, settings: PlentySettings,
                 clock: Callable[[], float]) -> None:
        self.name, self.username, self.password = spec.system, spec.username, spec.password
        self.factory, self.settings, self.clock = factory, settings, clock
        self.user_id = 100 + factory.rng.randrange(900)
        self.orders: dict[int, PlentyOrder] = {}
        self.sessions: list[Session] = []
        self.tokens: dict[str, Session] = {}
        self.budgets = {"read": Budget(settings.read_limit, settings.rate_window),
                        "write": Budget(settings.write_limit, settings.rate_window),
                        "read_day": Budget(DAILY_LIMITS["read"], 86_400.0),
                        "write_day": Budget(DAILY_LIMITS["write"], 86_400.0)}
        self.stock: dict[tuple[int, int, int], float] = {
            (WAREHOUSE_ID, o.variation_id, 0): float(factory.rng.randrange(60)) for o in PLENTY_OFFERS}
        self.stock_updated: dict[tuple[int, int, int], datetime] = {}
        self.corrections: list[dict] = []
        self.denied: set[str] = set()
        self.counts: Counter[str] = Counter()
        self.requests: Counter[tuple[str, int]] = Counter()
        self.exchanges: deque[dict] = deque(maxlen=MAX_EXCHANGES)
        self._seq, self._sessions = count(1), count(1)
        self._ids = count(700_000 + factory.rng.randrange(100_000))  # history entries, packages

    def next_id(self) -> int:
        return next(self._ids)

    def next_seq(self) -> int:
        return next(self._seq)

    def add_orders(self, n: int, status_id: float | None = None, anchor: datetime | None = None,
                   days: float | None = None) -> list[int]:
        """Generate ``n`` more orders (continuing the system's stream); returns their ids."""
        ids = []
        for gen in self.factory.generate(n, anchor=anchor, days=days, status_id=status_id):
            order = PlentyOrder(gen.id, gen.created_at, gen.updated_at, gen.status_id, gen.body,
                                gen.address_problem, gen.skus)
            for old, new, at in gen.history:
                self._record(order, old, new, at, "created", user_id=0)
            self.orders[gen.id] = order
            ids.append(gen.id)
        return ids

    def _record(self, order: PlentyOrder, old: float | None, new: float, at: datetime, source: str,
                user_id: int) -> None:
        order.history.append({"id": self.next_id(), "from": old, "to": new, "at": at, "source": source,
                              "userId": user_id})

    def touch(self, order: PlentyOrder) -> None:
        """Set ``updatedAt`` to now, in whole seconds as plenty shows it. Never backwards (an order
        dated after now keeps its date) and never ahead of the clock, so a client's window ending
        now always sees the change."""
        order.updated_at = max(order.updated_at, datetime.fromtimestamp(self.clock(), UTC).replace(microsecond=0))

    def returnable(self, order: PlentyOrder) -> dict[int, float]:
        """Per item of a sales order, the quantity not yet in one of its returns."""
        left = {item["id"]: float(item["quantity"]) for item in order.body["orderItems"]}
        for return_id in order.returns:
            for item in self.orders[return_id].body["orderItems"]:
                for ref in item["references"]:
                    if ref["referenceType"] == "parent" and ref["referenceOrderItemId"] in left:
                        left[ref["referenceOrderItemId"]] -= item["quantity"]
        return left

    def create_return(self, order: PlentyOrder, body: dict, source: str) -> PlentyOrder:
        """Make a return order of ``order`` (B7), for the REST route and the control route alike.

        ``body`` is the route's: ``quantities`` (required), ``statusId``, ``returnPackageNumber``,
        ``warehouseId``, ``ownerId``. The shape of a ``quantities`` entry is not in the reference or
        the spec (``items: {type: object}``); ``{"orderItemId", "quantity"}`` is a guess [G], as are
        the refusals: only a sales order can be returned, and no item more often than it was sold
        (over all its returns). The sales order itself is left as it is (no status change, no new
        ``updatedAt``: a guess, so a client cannot rely on the sales order to find its returns).

        Raises:
            ApiError: 422 naming the field, as B3 shapes it.
        """
        if order.type_id != SALES_ORDER:
            raise _invalid("orderId", "Only a sales order can be returned.")
        quantities = body.get("quantities")
        if not isinstance(quantities, list) or not quantities:
            raise _invalid("quantities", "The quantities field is required and must be a non-empty list.")
        items, left, returned = {i["id"]: i for i in order.body["orderItems"]}, self.returnable(order), []
        for index, entry in enumerate(quantities):
            where = f"quantities.{index}"
            if not isinstance(entry, dict):
                raise _invalid(where, "Each quantity must be an object with orderItemId and quantity.")
            item_id, quantity = entry.get("orderItemId"), entry.get("quantity")
            if isinstance(item_id, bool) or not isinstance(item_id, int) or item_id not in items:
                raise _invalid(f"{where}.orderItemId", "The order item does not belong to the order.")
            if isinstance(quantity, bool) or not isinstance(quantity, (int, float)) or not quantity > 0:
                raise _invalid(f"{where}.quantity", "The quantity must be a number greater than 0.")
            if quantity > left[item_id]:
                raise _invalid(f"{where}.quantity", "The quantity exceeds what is left to return of the order item.")
            left[item_id] -= quantity
            returned.append((items[item_id], quantity))
        status = _status_value(body["statusId"]) if body.get("statusId") is not None else RETURN_STATUS
        sold_from = next((int(p["value"]) for p in order.body["properties"] if p["typeId"] == 1), WAREHOUSE_ID)
        warehouse = _int_field(body, "warehouseId", default=sold_from)
        if warehouse not in WAREHOUSES:
            raise _invalid("warehouseId", "The selected warehouse id is invalid.")
        number = body.get("returnPackageNumber")
        if number is not None and not isinstance(number, str):
            raise _invalid("returnPackageNumber", "The return package number must be a string.")
        now = max(datetime.fromtimestamp(self.clock(), UTC).replace(microsecond=0), order.created_at)
        made = self.factory.return_order(order.body, returned, now, warehouse, _int_field(body, "ownerId"))
        skus = [i["variation"]["number"] for i in made["orderItems"] if i["typeId"] == 1 and i.get("variation")]
        ret = PlentyOrder(made["id"], now, now, status, made, None, skus, return_package_number=number or "")
        self._record(ret, None, status, now, "created", self.user_id if source == "api" else 1)
        self.orders[ret.id] = ret
        order.returns.append(ret.id)
        return ret

    def set_status(self, order: PlentyOrder, status_id: float, source: str) -> None:
        """Change the status, bump ``updatedAt`` and record the change."""
        self.touch(order)
        self._record(order, order.status_id, status_id, order.updated_at, source,
                     self.user_id if source == "api" else 1)
        order.status_id = status_id

    # -- sessions --------------------------------------------------------------------------------------

    def live_sessions(self) -> list[Session]:
        """Sessions neither expired nor logged out: what the concurrent-session limit counts."""
        now = self.clock()
        return [s for s in self.sessions if s.live(now)]

    def open_session(self) -> Session:
        """A new session with fresh tokens, valid for ``token_ttl`` seconds."""
        session = Session(next(self._sessions), _token(self, "access"), _token(self, "refresh"),
                          self.clock() + self.settings.token_ttl)
        self.sessions.append(session)
        self.tokens[session.access_token] = session
        return session

    def rotate(self, session: Session) -> None:
        """New tokens for ``session`` (refresh); the old access token stops working."""
        self.tokens.pop(session.access_token, None)
        session.access_token, session.refresh_token = _token(self, "access"), _token(self, "refresh")
        session.expires_at = self.clock() + self.settings.token_ttl
        self.tokens[session.access_token] = session

    def session_for(self, authorization: str | None) -> Session | None:
        """The live session of an ``Authorization: Bearer <access_token>`` header, if any."""
        scheme, _, token = (authorization or "").partition(" ")
        session = self.tokens.get(token.strip()) if scheme.lower() == "bearer" else None
        return session if session and session.live(self.clock()) else None

    def session_for_refresh(self, body: object) -> Session | None:
        """The live session whose refresh token is the body's ``refresh_token``, if any."""
        token = str(body.get("refresh_token") or "") if isinstance(body, dict) else ""
        now = self.clock()
        return next((s for s in self.sessions if token and s.live(now)
                     and hmac.compare_digest(s.refresh_token.encode(), token.encode())), None)

    def expire_tokens(self) -> int:
        """Expire every live session now (their tokens answer 401); returns how many."""
        now, n = self.clock(), 0
        for session in self.sessions:
            if session.live(now):
                session.expires_at, n = now, n + 1
        return n

    # -- control view ---------------------------------------------------------------------------------

    def state(self) -> dict:
        """The control view. Entries that echo API objects (packages, stock) keep the API's field names.

        An order's ``history`` lists the changes made while the sandbox ran (``source`` "api" or
        "backend"); the statuses it was created through are only in the API's status-history.
        """
        def changes(o: PlentyOrder) -> list[dict]:
            return [{"from": None if h["from"] is None else _num(h["from"]), "to": _num(h["to"]), "at": w3c(h["at"]),
                     "source": h["source"]} for h in o.history if h["source"] != "created"]

        orders = [{
            "id": o.id, "status_id": _num(o.status_id), "status_name": _status_name(o.status_id),
            "created_at": w3c(o.created_at), "updated_at": w3c(o.updated_at), "history": changes(o),
            "packages": list(o.packages), "delivery_address_valid": o.address_problem is None,
            "address_problem": o.address_problem, "skus": list(o.skus), "returns": list(o.returns),
        } for o in self.orders.values() if o.type_id != RETURN_ORDER]
        returns = [{
            "id": o.id, "order_id": o.parent_id, "status_id": _num(o.status_id),
            "status_name": _status_name(o.status_id), "created_at": w3c(o.created_at),
            "updated_at": w3c(o.updated_at), "history": changes(o), "return_package_number": o.return_package_number,
            "warehouse_id": next(int(p["value"]) for p in o.body["properties"] if p["typeId"] == 1),
            "items": [{"id": i["id"], "order_item_id": i["references"][0]["referenceOrderItemId"],
                       "variation_id": i["itemVariationId"], "sku": (i.get("variation") or {}).get("number"),
                       "quantity": _num(i["quantity"])} for i in o.body["orderItems"]],
        } for o in self.orders.values() if o.type_id == RETURN_ORDER]
        skus = {o.variation_id: o.channel_sku for o in PLENTY_OFFERS}
        stock = [{"warehouseId": w, "variationId": v, "storageLocationId": s, "sku": skus.get(v), "quantity": q}
                 for (w, v, s), q in sorted(self.stock.items())]
        by_status = Counter({"401": 0, "429": 0})
        for (_, status), n in self.requests.items():
            by_status[str(status)] += n
        return {"system": self.name, "username": self.username, "plenty_id": self.factory.plenty_id,
                "orders": orders, "returns": returns, "stock": stock, "stock_corrections": list(self.corrections),
                "sessions": {"live": len(self.live_sessions()), "logins": self.counts["logins"],
                             "login_failures": self.counts["login_failures"], "logouts": self.counts["logouts"],
                             "refreshes": self.counts["refreshes"]},
                "requests": {"total": sum(self.requests.values()), **dict(sorted(by_status.items()))},
                "requests_by_route": counters(self.requests), "denied_permissions": sorted(self.denied)}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _token(system: PlentySystem, kind: str) -> str:
    """An opaque, JWT-looking token (plenty sends a JWT as access token; clients must not parse it)."""
    if kind == "refresh":
        return secrets.token_hex(40)
    now = int(system.clock())
    claims = {"aud": "1", "jti": secrets.token_hex(20), "iat": now, "nbf": now,
              "exp": now + system.settings.token_ttl, "sub": str(system.user_id), "scopes": ["*"]}
    return ".".join((_b64(b'{"typ":"JWT","alg":"RS256"}'), _b64(json.dumps(claims).encode()),
                     _b64(secrets.token_bytes(64))))


# -- rendering -------------------------------------------------------------------------------------------

def _stringify(value: object) -> object:
    return value if isinstance(value, (str, bool)) or value is None else str(value)


def _render_order(system: PlentySystem, order: PlentyOrder, relations: set[str], add_items: bool = True) -> dict:
    """The Order JSON with only the relations asked for (B5: ``with[]``)."""
    body = order.body
    out = {k: v for k, v in body.items() if k not in ("addresses", "relations", "orderItems")}
    out.update(statusId=_num(order.status_id), statusName=_status_name(order.status_id),
               updatedAt=w3c(order.updated_at))
    if "addresses" in relations:
        out["addresses"] = body["addresses"]
    if "relations" in relations:
        out["relations"] = body["relations"]
    if "shippingPackages" in relations:
        out["shippingPackages"] = list(order.packages)
    if "originOrderReferences" in relations:  # the references of the orders made from this one (returns)
        out["originOrderReferences"] = [ref for rid in order.returns
                                        for ref in system.orders[rid].body["orderReferences"]]
    for name in EMPTY_RELATIONS:
        if name in relations:
            out[name] = []
    if add_items:
        out["orderItems"] = [{k: v for k, v in item.items()
                              if (k != "variation" or "orderItems.variation" in relations)
                              and (k != "variationBarcodes" or "orderItems.variationBarcodes" in relations)}
                             for item in body["orderItems"]]
    if system.settings.numbers_as_strings and order.id % 2 == 0:
        # The quirk, on every other order so one page mixes both: the id, quantities and amounts as
        # strings, as some live systems answer (B4). Off by default: the spec says numbers.
        out = copy.deepcopy(out)
        out["id"] = str(out["id"])
        for amount in out["amounts"]:
            for key in ("netTotal", "grossTotal", "vatTotal", "invoiceTotal", "paidAmount", "shippingCostsGross"):
                amount[key] = _stringify(amount[key])
        for item in out.get("orderItems", []):
            item["quantity"] = _stringify(item["quantity"])
            for amount in item["amounts"]:
                amount["priceGross"], amount["priceNet"] = _stringify(amount["priceGross"]), \
                    _stringify(amount["priceNet"])
    return out


def _envelope(system: PlentySystem, rows: list, page: int, per_page: int, render: Callable[[object], dict]) -> dict:
    """The B4 paging envelope over ``rows``; ``page`` is 1-based."""
    total = len(rows)
    last = max(1, math.ceil(total / per_page))
    chunk = rows[(page - 1) * per_page:page * per_page]
    offset = (page - 1) * per_page
    # firstOnPage/lastOnPage of an empty page are not documented [G]: 0-based offset, nothing on it.
    body = {"page": page, "totalsCount": total, "isLastPage": page >= last, "lastPageNumber": last,
            "firstOnPage": offset + 1 if chunk else offset, "lastOnPage": offset + len(chunk),
            "itemsPerPage": per_page, "entries": [render(r) for r in chunk]}
    if system.settings.numbers_as_strings:  # "page":"1" in the guide, "itemsPerPage":"100" in mocks (B4)
        for key in ("page", "totalsCount", "lastPageNumber", "itemsPerPage"):
            body[key] = str(body[key])
    return body


# -- request parsing -------------------------------------------------------------------------------------

@dataclass
class Call:
    """What a handler needs from the request."""

    query: list[tuple[str, str]]
    body: object
    params: dict[str, str]  # path parameters

    def arg(self, name: str) -> str | None:
        values = [v for k, v in self.query if k == name]
        return values[-1] if values else None

    def relations(self) -> set[str]:
        # with[]=a&with[]=b (PHP arrays, the spec's example), with=a,b (the spec's declared style), with[0]=a
        names: set[str] = set()
        for key, value in self.query:
            if key == "with" or key.startswith("with["):
                names.update(part.strip() for part in value.split(",") if part.strip())
        return names

    def int_arg(self, name: str, default: int, minimum: int = 1) -> int:
        raw = self.arg(name)
        if raw is None or raw == "":
            return default
        try:
            value = int(raw)
        except ValueError:
            raise _invalid(name, f"The {name} must be an integer.") from None
        if value < minimum:
            raise _invalid(name, f"The {name} must be at least {minimum}.")
        return value

    def float_arg(self, name: str) -> float | None:
        raw = self.arg(name)
        if raw is None or raw == "":
            return None
        try:
            return float(raw)
        except ValueError:
            raise _invalid(name, f"The {name} must be a number.") from None

    def date_arg(self, name: str) -> datetime | None:
        raw = self.arg(name)
        if raw is None or raw == "":
            return None
        try:
            moment = datetime.fromisoformat(raw)
        except ValueError:
            hint = " (a '+' in the offset must be sent as %2B)" if " " in raw else ""
            raise _invalid(name, f"The {name} is not a valid W3C date{hint}.") from None
        # A date without offset is read in the system's zone: a guess, plenty documents only W3C.
        return moment if moment.tzinfo else moment.replace(tzinfo=SYSTEM_TZ)


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


# -- handlers ----------------------------------------------------------------------------------------------

def _order(system: PlentySystem, call: Call) -> PlentyOrder:
    order = system.orders.get(int(call.params["orderId"]))
    if order is None:
        raise ApiError(404, f"The order with ID {call.params['orderId']} could not be found.")
    return order


def _list_orders(system: PlentySystem, call: Call) -> tuple[int, object]:
    """GET /rest/orders: filters, sorting and 1-based pages (B4, B5)."""
    page = call.int_arg("page", 1)
    # A larger itemsPerPage is capped, not refused: a guess, the maximum itself is one (B4).
    per_page = min(call.int_arg("itemsPerPage", 50), system.settings.max_items_per_page)
    status_from, status_to = call.float_arg("statusFrom"), call.float_arg("statusTo")
    dates = {name: call.date_arg(name) for name in ("createdAtFrom", "createdAtTo", "updatedAtFrom", "updatedAtTo")}
    sort_by, sort_order = call.arg("sortBy") or "id", (call.arg("sortOrder") or "asc").lower()
    if sort_by not in SORT_KEYS:
        raise _invalid("sortBy", f"The sortBy must be one of {', '.join(SORT_KEYS)}.")
    if sort_order not in ("asc", "desc"):
        raise _invalid("sortOrder", "The sortOrder must be asc or desc.")
    types = {int(t) for t in (call.arg("orderType") or "").split(",") if t.strip().isdigit()}
    ids = {int(t) for t in (call.arg("orderIds") or "").split(",") if t.strip().isdigit()}
    parent = call.int_arg("parentOrderId", 0)
    external = call.arg("externalOrderId")
    rows = []
    for o in system.orders.values():
        # Numeric comparison of float status ids: 5.1 is outside statusFrom=5&statusTo=5. The notes
        # leave this open [G]; plenty stores statuses as numbers, so this is the likely reading.
        if (status_from is not None and o.status_id < status_from) or (
                status_to is not None and o.status_id > status_to):
            continue
        # From inclusive, to exclusive: a guess, so consecutive windows never return an order twice.
        if not all((lo is None or lo <= value) and (hi is None or value < hi) for lo, hi, value in (
                (dates["createdAtFrom"], dates["createdAtTo"], o.created_at),
                (dates["updatedAtFrom"], dates["updatedAtTo"], o.updated_at))):
            continue
        if (types and o.type_id not in types) or (ids and o.id not in ids) or (parent and o.parent_id != parent):
            continue
        if external and not any(p["typeId"] == 7 and p["value"] == external for p in o.body["properties"]):
            continue
        rows.append(o)
    rows.sort(key=lambda o: (SORT_KEYS[sort_by](o), o.id), reverse=sort_order == "desc")
    relations, add_items = call.relations(), (call.arg("addOrderItems") or "true").lower() not in ("false", "0")
    return 200, _envelope(system, rows, page, per_page, lambda o: _render_order(system, o, relations, add_items))


def _get_order(system: PlentySystem, call: Call) -> tuple[int, object]:
    """GET /rest/orders/{orderId}, with the relations asked for."""
    add_items = (call.arg("addOrderItems") or "true").lower() not in ("false", "0")
    return 200, _render_order(system, _order(system, call), call.relations(), add_items)


def _put_order(system: PlentySystem, call: Call) -> tuple[int, object]:
    """PUT /rest/orders/{orderId}: ``statusId`` and ``properties`` (B7, B8); answers the Order."""
    order = _order(system, call)
    body = call.body if isinstance(call.body, dict) else {}
    status = _status_value(body["statusId"]) if "statusId" in body else None
    properties = body.get("properties") or []
    if not isinstance(properties, list) or not all(isinstance(p, dict) and "typeId" in p for p in properties):
        raise _invalid("properties", "The properties must be a list of {typeId, value}.")
    for prop in properties:
        if prop["typeId"] == 2 and str(prop.get("value")) not in {str(p["id"]) for p in PRESETS}:
            raise _invalid("properties", f"The shipping profile {prop.get('value')} does not exist.")
    # Other fields (plentyId, ownerId, orderItems, addressRelations, relations) are accepted and not
    # modelled; the exchange log shows what was sent.
    for prop in properties:
        kept = [p for p in order.body["properties"] if p["typeId"] != prop["typeId"]]
        kept.append({"orderId": order.id, "typeId": prop["typeId"], "value": str(prop.get("value"))})
        order.body["properties"] = kept
    if status is not None:
        system.set_status(order, status, "api")
    elif properties:
        system.touch(order)
    return 200, _render_order(system, order, set())


def _create_return(system: PlentySystem, call: Call) -> tuple[int, object]:
    """POST /rest/orders/{orderId}/returns (B7): a return order (typeId 3); answers it, as the Order."""
    body = call.body if isinstance(call.body, dict) else {}
    return 200, _render_order(system, system.create_return(_order(system, call), body, "api"), set())


def _status_history(system: PlentySystem, call: Call) -> tuple[int, object]:
    """GET /rest/orders/{orderId}/status-history: every status since creation (StatusHistoryEntry)."""
    order = _order(system, call)
    return 200, [{"id": h["id"], "orderId": order.id, "statusId": _num(h["to"]), "createdAt": w3c(h["at"]),
                  "userId": h["userId"], "procedureText": {"api": "REST", "backend": "Backend"}.get(
                      h["source"], "Auftragsanlage")} for h in order.history]


def _list_packages(system: PlentySystem, call: Call) -> tuple[int, object]:
    """GET /rest/orders/{orderId}/shipping/packages."""
    return 200, list(_order(system, call).packages)


def _create_package(system: PlentySystem, call: Call) -> tuple[int, object]:
    """POST /rest/orders/{orderId}/shipping/packages (B8): answers the package with its new id."""
    order = _order(system, call)
    body = call.body if isinstance(call.body, dict) else {}
    package_type = _int_field(body, "packageType", required=True)
    if not 0 <= package_type <= 39:
        raise _invalid("packageType", "The selected package type is invalid.")
    number = body.get("packageNumber", "")
    if not isinstance(number, str):
        raise _invalid("packageNumber", "The package number must be a string.")
    now = w3c(datetime.fromtimestamp(system.clock(), UTC))
    # The same package number twice is stored twice (plenty does not refuse it, as far as known):
    # the control state shows duplicates, so a client posting twice is caught.
    package = {"id": system.next_id(), "orderId": order.id,
               "packageId": _int_field(body, "packageId", required=True),
               "weight": _int_field(body, "weight", default=0), "packageNumber": number,
               "labelPath": str(body.get("labelPath") or ""),
               "returnPackageNumber": str(body.get("returnPackageNumber") or ""), "packageType": package_type,
               "volume": float(body.get("volume") or 0), "isClosed": False, "createdAt": now, "updatedAt": now}
    order.packages.append(package)  # a package does not bump the order's updatedAt: a guess
    return 200, package


def _package_numbers(system: PlentySystem, call: Call) -> tuple[int, object]:
    """GET /rest/orders/{orderId}/packagenumbers: the tracking numbers, as strings (B8)."""
    return 200, [p["packageNumber"] for p in _order(system, call).packages if p["packageNumber"]]


def _presets(system: PlentySystem, call: Call) -> tuple[int, object]:
    """GET /rest/orders/shipping/presets: the shipping profiles a carrier is mapped to (B8)."""
    return 200, [{**p, "priority": i, "isDefaultEnabled": 1 if i == 0 else 0, "shippingGroup": "",
                  "dispatchIdentifier": "", "isExpress": 0, "isCod": 0, "isInsured": 0}
                 for i, p in enumerate(PRESETS)]


def _warehouse(call: Call) -> int:
    warehouse = int(call.params["warehouseId"])
    if warehouse not in WAREHOUSES:
        raise ApiError(404, f"The warehouse with ID {warehouse} could not be found.")
    return warehouse


def _correct_stock(system: PlentySystem, call: Call) -> tuple[int, object]:
    """PUT /rest/stockmanagement/warehouses/{warehouseId}/stock/correction (B9): 200, no body."""
    warehouse = _warehouse(call)
    body = call.body if isinstance(call.body, dict) else {}
    # B9: a list under "corrections", or one correction with the same keys at the top level.
    items = body.get("corrections") if "corrections" in body else [body]
    if not isinstance(items, list) or not items:
        raise _invalid("corrections", "The corrections must be a non-empty list.")
    known = {o.variation_id for o in PLENTY_OFFERS}
    parsed = []
    for i, item in enumerate(items):  # all checked before any is applied: all or nothing (a guess)
        if not isinstance(item, dict):
            raise _invalid(f"corrections.{i}", "Each correction must be an object.")
        variation = _int_field(item, "variationId", required=True)
        if variation not in known:
            raise _invalid(f"corrections.{i}.variationId", "The selected variation id is invalid.")
        quantity = item.get("quantity")
        if isinstance(quantity, bool) or not isinstance(quantity, (int, float)):
            raise _invalid(f"corrections.{i}.quantity", "The quantity field is required and must be a number.")
        reason = _int_field(item, "reasonId", default=301)
        if reason not in REASON_IDS:
            raise _invalid(f"corrections.{i}.reasonId", "The selected reason id is invalid.")
        if _int_field(item, "warehouseId", default=warehouse) != warehouse:
            raise _invalid(f"corrections.{i}.warehouseId", "The warehouse id does not match the route.")
        parsed.append((variation, _int_field(item, "storageLocationId", default=0), float(quantity), reason))
    now = datetime.fromtimestamp(system.clock(), UTC)
    for variation, location, quantity, reason in parsed:
        key = (warehouse, variation, location)
        previous = system.stock.get(key, 0.0)
        # quantity is the ABSOLUTE stock at that storage location: the notes' strong hint (B9), not a
        # documented fact. A delta reading would double-count on every retry, so absolute is also the
        # safer one for an idempotent client.
        system.stock[key], system.stock_updated[key] = quantity, now
        system.corrections.append({"warehouseId": warehouse, "variationId": variation, "storageLocationId": location,
                                   "quantity": quantity, "reasonId": reason, "previous": previous,
                                   "delta": quantity - previous, "at": w3c(now)})
    return 200, None


def _list_stock(system: PlentySystem, call: Call) -> tuple[int, object]:
    """GET /rest/stockmanagement/warehouses/{warehouseId}/stock: per variation, all locations summed."""
    warehouse = _warehouse(call)
    wanted = call.arg("variationId")
    physical: dict[int, float] = {}
    for (w, v, _), q in system.stock.items():
        if w == warehouse and (not wanted or str(v) == wanted):
            physical[v] = physical.get(v, 0.0) + q
    reserved: Counter[int] = Counter()
    for o in system.orders.values():  # open orders reserve stock until outgoing items are booked (7)
        if 3.0 <= o.status_id < 7.0 and warehouse == WAREHOUSE_ID:
            for item in o.body["orderItems"]:
                if item["typeId"] == 1:
                    reserved[item["itemVariationId"]] += item["quantity"]

    def row(v: int) -> dict:
        updated = max((t for (w, vv, _), t in system.stock_updated.items() if w == warehouse and vv == v),
                      default=system.factory.anchor)
        return {"itemId": v - 3000, "variationId": v, "warehouseId": warehouse, "stockPhysical": physical[v],
                "reservedStock": float(reserved[v]), "reservedEbay": 0.0, "reorderDelta": 0.0,
                "stockNet": physical[v] - reserved[v], "reordered": 0, "warehousePriority": 0, "reservedBundle": 0.0,
                "averagePurchasePrice": 0.0, "updatedAt": w3c(updated)}

    per_page = min(call.int_arg("itemsPerPage", 50), system.settings.max_items_per_page)
    return 200, _envelope(system, sorted(physical), call.int_arg("page", 1), per_page, row)


def _login(system: PlentySystem, call: Call) -> tuple[int, object]:
    """POST /rest/login (B1): a new session, unless the user has ``max_sessions`` live ones."""
    body = call.body if isinstance(call.body, dict) else {}
    missing = {k: [f"The {k} field is required."] for k in ("username", "password") if not body.get(k)}
    if missing:
        raise ApiError(422, "validation error found", validation=missing)
    if not (hmac.compare_digest(str(body["username"]).encode(), system.username.encode())
            and hmac.compare_digest(str(body["password"]).encode(), system.password.encode())):
        system.counts["login_failures"] += 1
        raise ApiError(401, "The user credentials were incorrect.")
    live, limit = len(system.live_sessions()), system.settings.max_sessions
    if live >= limit:  # B1 gives this case its own body, not the B3 shape
        raise ApiError(429, "too many sessions", body={
            "error": "too_many_concurrent_sessions", "max_current_sessions": limit,
            "message": "Too many users. The maximum number of concurrent sessions has been reached."})
    session = system.open_session()
    system.counts["logins"] += 1
    ttl = system.settings.token_ttl
    # Both key sets (B1): the documented snake_case ones and the camelCase twins many clients read.
    return 200, {"token_type": "Bearer", "expires_in": ttl, "access_token": session.access_token,
                 "refresh_token": session.refresh_token, "tokenType": "Bearer", "expiresIn": ttl,
                 "accessToken": session.access_token, "refreshToken": session.refresh_token,
                 "concurrent_sessions": live + 1, "max_current_sessions": limit}


def _refresh(system: PlentySystem, session: Session, call: Call) -> tuple[int, object]:
    """POST /rest/login/refresh: new tokens for the same session, as TokenData (camelCase only)."""
    system.rotate(session)
    system.counts["refreshes"] += 1
    return 200, {"accessToken": session.access_token, "tokenType": "Bearer",
                 "expiresIn": system.settings.token_ttl, "refreshToken": session.refresh_token}


def _logout(system: PlentySystem, session: Session, call: Call) -> tuple[int, object]:
    """POST /rest/logout: the session ends and frees its slot."""
    session.logged_out = True
    system.tokens.pop(session.access_token, None)
    system.counts["logouts"] += 1
    return 200, None  # the spec documents no body


@dataclass(frozen=True)
class Route:
    method: str
    pattern: str
    name: str
    handler: Callable[[PlentySystem, Call], tuple[int, object]]
    permission: str  # illustrative: plenty's real names appear in its 403 bodies, not in the notes


ROUTES: tuple[Route, ...] = (
    Route("GET", r"/rest/orders", "orders.list", _list_orders, "order.search"),
    Route("GET", r"/rest/orders/shipping/presets", "presets.list", _presets, "order.shipping.presets.show"),
    Route("GET", r"/rest/orders/(?P<orderId>\d+)", "orders.show", _get_order, "order.show"),
    Route("PUT", r"/rest/orders/(?P<orderId>\d+)", "orders.update", _put_order, "order.update"),
    Route("GET", r"/rest/orders/(?P<orderId>\d+)/status-history", "orders.status_history", _status_history,
          "order.status_history.show"),
    Route("POST", r"/rest/orders/(?P<orderId>\d+)/returns", "orders.returns.create", _create_return,
          "order.returns.create"),
    Route("GET", r"/rest/orders/(?P<orderId>\d+)/shipping/packages", "packages.list", _list_packages,
          "order.shipping.packages.show"),
    Route("POST", r"/rest/orders/(?P<orderId>\d+)/shipping/packages", "packages.create", _create_package,
          "order.shipping.packages.create"),
    Route("GET", r"/rest/orders/(?P<orderId>\d+)/packagenumbers", "packages.numbers", _package_numbers,
          "order.shipping.packages.show"),
    Route("PUT", r"/rest/stockmanagement/warehouses/(?P<warehouseId>\d+)/stock/correction", "stock.correct",
          _correct_stock, "stockmanagement.stock.correct"),
    Route("GET", r"/rest/stockmanagement/warehouses/(?P<warehouseId>\d+)/stock", "stock.list", _list_stock,
          "stockmanagement.stock.show"),
)
AUTH_PATHS = {"/rest/login": "login", "/rest/login/refresh": "login.refresh", "/rest/logout": "logout"}
_BUDGET_HEADERS = (("", "X-Plenty-Global-Short-Period"), ("_day", "X-Plenty-Global-Long-Period"))


class PlentySandbox:
    """Every plenty system of one sandbox, with the shared settings."""

    def __init__(self, settings: PlentySettings | None = None, clock: Callable[[], float] = time.time) -> None:
        self.settings, self.clock = settings or PlentySettings(), clock
        self.systems: dict[str, PlentySystem] = {}
        self.requests: Counter[tuple[str, int]] = Counter()

    def add_system(self, spec: PlentySystemSpec, factory: PlentyOrderFactory) -> PlentySystem:
        """Serve ``spec``'s system under ``/plentymarkets/{system}``, with its initial orders."""
        system = PlentySystem(spec, factory, self.settings, self.clock)
        system.add_orders(spec.n_orders)
        self.systems[spec.system] = system
        return system

    async def handle(self, system: PlentySystem, method: str, path: str, request: Request) -> Response:
        """Answer one ``/rest`` request of ``system`` and log the exchange."""
        name, route, params = _resolve(method, path)
        call = Call(list(request.query_params.multi_items()),
                    _parse_body(await request.body(), request.headers.get("content-type")), params)
        headers: dict[str, str] = {}
        try:
            status, body = self._answer(system, name, route, call, request.headers.get("authorization"), headers)
        except ApiError as err:
            status, body = err.status, err.body
        system.requests[(name, status)] += 1
        self.requests[(name, status)] += 1
        content = b"" if body is None else json.dumps(body, separators=(",", ":")).encode()  # \u-escaped, as PHP
        response = Response(content, status_code=status, headers=headers,
                            media_type=CONTENT_TYPE if body is not None else None)
        system.exchanges.append(_exchange(system, method, path, call, request, response, body))
        return response

    def _answer(self, system: PlentySystem, name: str, route: Route | None, call: Call,
                authorization: str | None, headers: dict[str, str]) -> tuple[int, object]:
        """Auth, budget, permission, handler; ``headers`` collects the rate headers as they are known."""
        if name == "unknown":
            raise ApiError(404, "Route not found.")
        if name == "method_not_allowed":
            raise ApiError(405, "Method not allowed.")
        if isinstance(call.body, _Unparsed):
            raise ApiError(400, "The request body is not valid JSON.")
        if name == "login":  # no token and no budget: login does not count (B2)
            return _login(system, call)
        session = system.session_for(authorization)
        if session is None and name == "login.refresh":
            # The refresh body is not documented [G]: the Bearer header, or a refresh_token field.
            session = system.session_for_refresh(call.body)
        if session is None:
            raise ApiError(401, "Unauthenticated.")  # no user known: no budget, no rate headers
        self._spend(system, "read" if route and route.method == "GET" else "write", headers)
        if name == "login.refresh":
            return _refresh(system, session, call)
        if name == "logout":
            return _logout(system, session, call)
        if route.permission in system.denied:
            raise ApiError(403, "This action is unauthorized.", missing=[route.permission])
        return route.handler(system, call)

    def _spend(self, system: PlentySystem, kind: str, headers: dict[str, str]) -> None:
        """Take one call from the user's ``kind`` budgets (per minute and per day), or raise 429.

        Refresh and logout count as writes: a guess, only login is documented as free.
        """
        now = self.clock()
        budgets = [(system.budgets[kind + suffix], prefix) for suffix, prefix in _BUDGET_HEADERS]
        for budget, prefix in budgets:
            if not budget.has_room(now):
                reset = budget.start + budget.window
                headers.update(budget.headers(prefix, now))
                headers.update({"Retry-After": str(max(1, math.ceil(reset - now))),
                                f"{prefix}-Calls-Reset": str(int(reset))})
                period = "short" if prefix.endswith("Short-Period") else "long"  # the long text is a guess
                raise ApiError(429, f"{period} period {kind} limit reached")
        for budget, prefix in budgets:
            budget.used += 1
            headers.update(budget.headers(prefix, now))


def _resolve(method: str, path: str) -> tuple[str, Route | None, dict[str, str]]:
    """The route name (``unknown`` / ``method_not_allowed`` when none fits), route and path parameters."""
    if path in AUTH_PATHS:
        return (AUTH_PATHS[path] if method == "POST" else "method_not_allowed"), None, {}
    matches = [(r, m) for r in ROUTES if (m := re.fullmatch(r.pattern, path))]
    for route, match in matches:
        if route.method == method:
            return route.name, route, match.groupdict()
    return ("method_not_allowed" if matches else "unknown"), None, {}


def _parse_body(raw: bytes, content_type: str | None) -> object:
    if not raw.strip():
        return None
    if (content_type or "").lower().startswith("application/x-www-form-urlencoded"):  # login forms (B1 [C3])
        return dict(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
    try:
        return json.loads(raw)
    except ValueError:
        return _Unparsed(raw.decode("utf-8", "replace")[:2000])


class _Unparsed(str):
    """A body that was neither JSON nor a form: handlers find no fields in it."""


_SECRETS = ("password", "access_token", "accessToken", "refresh_token", "refreshToken")


def _redact(value: object) -> object:
    if isinstance(value, dict):
        return {k: "<redacted>" if k in _SECRETS else _redact(v) for k, v in value.items()}
    return value


def _exchange(system: PlentySystem, method: str, path: str, call: Call, request: Request, response: Response,
              body: object) -> dict:
    """One log entry: everything needed to validate both sides against the spec, secrets redacted."""
    req_headers = {k.lower(): v for k, v in request.headers.items()}
    if "authorization" in req_headers:  # keep the scheme: the spec check looks at it
        req_headers["authorization"] = req_headers["authorization"].split(" ", 1)[0] + " <redacted>"
    return {"seq": system.next_seq(), "at": w3c(datetime.now(UTC)), "method": method, "path": path,
            "query": [list(pair) for pair in call.query], "request_headers": req_headers,
            "request_body": str(call.body) if isinstance(call.body, _Unparsed) else _redact(call.body),
            "status": response.status_code, "response_headers": dict(response.headers),
            "response_body": _redact(body)}


def api_router(sandbox: PlentySandbox) -> APIRouter:
    """The ``/plentymarkets/{system}/rest/...`` routes over ``sandbox``."""
    router = APIRouter()

    @router.api_route("/plentymarkets/{system}/rest{rest:path}", methods=["GET", "POST", "PUT", "DELETE", "PATCH"])
    async def dispatch(system: str, rest: str, request: Request) -> Response:
        target = sandbox.systems.get(system)
        if target is None:
            return JSONResponse(ApiError(404, f"No plentymarkets system {system} here.").body, status_code=404)
        return await sandbox.handle(target, request.method, "/rest" + rest, request)

    return router


def control_router(sandbox: PlentySandbox) -> APIRouter:
    """``/_sandbox/plentymarkets``: systems, state, more orders, back-end status changes, token expiry,
    permissions and the exchange log. Never faulted; answers ``{"ok": false, "error": ...}`` on misuse."""
    router = APIRouter(prefix="/_sandbox/plentymarkets")

    class Refused(Exception):
        def __init__(self, message: str, status: int = 400) -> None:
            super().__init__(message)
            self.status = status

    def system_of(name: str) -> PlentySystem:
        if name not in sandbox.systems:
            raise Refused(f"no plentymarkets system {name}", 404)
        return sandbox.systems[name]

    async def body_of(request: Request, shape: str) -> dict:
        try:
            body = await request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise Refused(f"body must be {shape}")
        return body

    def status_of(value: object, shape: str) -> float:
        try:
            status = float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise Refused(f"body must be {shape}") from None
        if status not in STATUSES:
            raise Refused(f"statusId must be one of {', '.join(str(_num(s)) for s in STATUSES)}")
        return status

    def answering(handler):
        # One place turns a refusal into its JSON answer, so each route reads as its happy path.
        # functools.wraps keeps the handler's signature, from which FastAPI takes the parameters.
        @functools.wraps(handler)
        async def route(*args, **kwargs) -> JSONResponse:
            try:
                return JSONResponse(await handler(*args, **kwargs))
            except Refused as err:
                return JSONResponse({"ok": False, "error": str(err)}, status_code=err.status)

        return route

    @router.get("")
    @answering
    async def overview() -> dict:
        return {"systems": sorted(sandbox.systems), "requests": counters(sandbox.requests)}

    @router.get("/{system}/state")
    @answering
    async def state(system: str) -> dict:
        return system_of(system).state()

    @router.post("/{system}/orders")
    @answering
    async def more_orders(system: str, request: Request) -> dict:
        target, shape = system_of(system), '{"n": int[, "statusId": float, "anchor": ISO, "days": float]}'
        spec = await body_of(request, shape)
        try:
            n = int(spec.get("n", 1))
            anchor = datetime.fromisoformat(spec["anchor"]) if spec.get("anchor") else None
            days = None if spec.get("days") is None else float(spec["days"])
        except (TypeError, ValueError) as err:
            raise Refused(f"body must be {shape}: {err}") from None
        status = None if spec.get("statusId") is None else status_of(spec["statusId"], shape)
        if not 0 <= n <= 100_000:
            raise Refused("n must be between 0 and 100000")
        if anchor is not None and anchor.tzinfo is None:
            anchor = anchor.replace(tzinfo=UTC)
        return {"ok": True, "ids": target.add_orders(n, status, anchor, days)}

    def order_of(target: PlentySystem, order_id: int) -> PlentyOrder:
        if order_id not in target.orders:
            raise Refused(f"no order {order_id} in plentymarkets system {target.name}", 404)
        return target.orders[order_id]

    @router.post("/{system}/orders/{order_id}/status")
    @answering
    async def backend_status(system: str, order_id: int, request: Request) -> dict:
        # What the merchant does in the plenty back end: cancel (8), back to 5, any status by hand.
        # A customer's return is not a status of the sales order: see customer_return.
        target = system_of(system)
        status = status_of((await body_of(request, '{"statusId": float}')).get("statusId"), '{"statusId": float}')
        order = order_of(target, order_id)
        target.set_status(order, status, "backend")
        return {"ok": True, "id": order.id, "status_id": _num(order.status_id), "updated_at": w3c(order.updated_at)}

    @router.post("/{system}/orders/{order_id}/returns")
    @answering
    async def customer_return(system: str, order_id: int, request: Request) -> dict:
        # A customer sends goods back: the back end makes a return order through the same code as
        # POST /rest/orders/{id}/returns. Without quantities, every product item not yet returned
        # comes back in full.
        target, shape = system_of(system), ('{["quantities": [{"orderItemId": int, "quantity": float}], '
                                            '"statusId": float, "returnPackageNumber": str, "warehouseId": int]}')
        order = order_of(target, order_id)
        body = await body_of(request, shape) if (await request.body()).strip() else {}
        if "quantities" not in body:
            left = target.returnable(order)
            body["quantities"] = [{"orderItemId": i["id"], "quantity": left[i["id"]]} for i in order.body["orderItems"]
                                  if i["typeId"] == VARIATION_ITEM and left[i["id"]] > 0]
        if body.get("statusId") is not None:
            status_of(body["statusId"], shape)
        try:
            made = target.create_return(order, body, "backend")
        except ApiError as err:
            raise Refused(f"{err}: {json.dumps(err.body.get('validation_errors', err.body))}") from None
        return {"ok": True, "id": made.id, "order_id": order.id, "status_id": _num(made.status_id),
                "updated_at": w3c(made.updated_at), "items": len(made.body["orderItems"])}

    @router.post("/{system}/expire-tokens")
    @answering
    async def expire_tokens(system: str) -> dict:
        return {"ok": True, "expired": system_of(system).expire_tokens()}

    @router.post("/{system}/permissions")
    @answering
    async def permissions(system: str, request: Request) -> dict:
        target, known = system_of(system), sorted({r.permission for r in ROUTES})
        deny = (await body_of(request, '{"deny": [permission, ...]}')).get("deny", [])
        if not isinstance(deny, list) or not set(deny) <= set(known):
            raise Refused(f"deny takes permissions from {', '.join(known)}")
        target.denied = set(deny)
        return {"ok": True, "denied": sorted(target.denied)}

    @router.get("/{system}/exchanges")
    @answering
    async def exchanges(system: str, since: int = 0) -> dict:
        return {"exchanges": [e for e in system_of(system).exchanges if e["seq"] > since]}

    @router.delete("/{system}/exchanges")
    @answering
    async def clear_exchanges(system: str) -> dict:
        target = system_of(system)
        cleared = len(target.exchanges)
        target.exchanges.clear()
        return {"ok": True, "cleared": cleared}

    return router


__all__ = ["CHANNEL", "CONTENT_TYPE", "STATUSES", "PlentySandbox", "PlentySettings", "PlentySystem",
           "PlentySystemSpec", "api_router", "control_router"]
