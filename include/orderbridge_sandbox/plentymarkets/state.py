"""The plentymarkets fake's in-memory state: one ``PlentySystem`` per fake system, with its user's
sessions and tokens, its orders and return orders, its stock, its call budgets and its logs.

Handlers (``routes``) and the control API (``control``) change a system only through its methods
or its plain fields; nothing here knows about HTTP.
"""

from __future__ import annotations

import base64
import hmac
import json
import math
import secrets
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import count

from orderbridge_sandbox.catalogue import PLENTY_OFFERS
from orderbridge_sandbox.groupon import counters
from orderbridge_sandbox.plentyfake import WAREHOUSE_ID, PlentyOrderFactory, w3c
from orderbridge_sandbox.plentymarkets.common import (
    DAILY_LIMITS,
    LISTED_ONLY,
    MAX_EXCHANGES,
    RETURN_ORDER,
    RETURN_STATUS,
    SALES_ORDER,
    WAREHOUSES,
    PlentySettings,
    PlentySystemSpec,
    _int_field,
    _invalid,
    _num,
    _status_name,
    _status_value,
)


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
    def main_warehouse(self) -> int | None:
        """The order's main warehouse: order property type 1 (B6), what ``warehouseId`` filters on."""
        return next((int(p["value"]) for p in self.body["properties"] if p["typeId"] == 1), None)

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
        # The catalogue: every variation of the system (GET /rest/items/variations), the listed-only
        # ones with no stock yet (and no draw from the stream, so the orders stay as they were).
        self.variations = {o.variation_id: o for o in (*PLENTY_OFFERS, *LISTED_ONLY)}
        self.stock.update({(WAREHOUSE_ID, o.variation_id, 0): 0.0 for o in LISTED_ONLY})
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
                   days: float | None = None, plenty_id: int | None = None,
                   warehouse_id: int | None = None) -> list[int]:
        """Generate ``n`` more orders (continuing the system's stream), of the system's own client and
        the fulfilment warehouse unless ``plenty_id``/``warehouse_id`` say otherwise; returns their ids."""
        ids = []
        for gen in self.factory.generate(n, anchor=anchor, days=days, status_id=status_id, plenty_id=plenty_id,
                                         warehouse_id=warehouse_id):
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
        sold_from = order.main_warehouse or WAREHOUSE_ID
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
            "plenty_id": o.body["plentyId"], "warehouse_id": o.main_warehouse,
        } for o in self.orders.values() if o.type_id != RETURN_ORDER]
        returns = [{
            "id": o.id, "order_id": o.parent_id, "status_id": _num(o.status_id),
            "status_name": _status_name(o.status_id), "created_at": w3c(o.created_at),
            "updated_at": w3c(o.updated_at), "history": changes(o), "return_package_number": o.return_package_number,
            "warehouse_id": o.main_warehouse,
            "items": [{"id": i["id"], "order_item_id": i["references"][0]["referenceOrderItemId"],
                       "variation_id": i["itemVariationId"], "sku": (i.get("variation") or {}).get("number"),
                       "quantity": _num(i["quantity"])} for i in o.body["orderItems"]],
        } for o in self.orders.values() if o.type_id == RETURN_ORDER]
        skus = {v: o.channel_sku for v, o in self.variations.items()}
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
