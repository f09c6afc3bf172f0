"""The plentymarkets fake's ``/rest`` handlers and the route table that names them.

Each handler takes the system and the ``Call`` and answers ``(status, body)`` or raises
``ApiError``; login, refresh and logout are kept apart because ``dispatch`` runs them before (or
instead of) the token and budget checks. ``ROUTES`` gives every route its permission name.
"""

from __future__ import annotations

import hmac
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from orderbridge_sandbox.plentyfake import PRESETS, WAREHOUSE_ID, w3c
from orderbridge_sandbox.plentymarkets.common import (
    REASON_IDS,
    SORT_KEYS,
    WAREHOUSES,
    ApiError,
    _int_field,
    _invalid,
    _num,
    _status_value,
)
from orderbridge_sandbox.plentymarkets.state import PlentyOrder, PlentySystem, Session
from orderbridge_sandbox.plentymarkets.wire import Call, _envelope, _render_order


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
    warehouse = call.int_arg("warehouseId", 0)  # the spec: "orders with a specific main warehouse"
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
        if warehouse and o.main_warehouse != warehouse:
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
    known = set(system.variations)
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
        if 3.0 <= o.status_id < 7.0 and o.main_warehouse == warehouse:
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


def _list_variations(system: PlentySystem, call: Call) -> tuple[int, object]:
    """GET /rest/items/variations: the system's variations, paged (B4), ``plentyId`` ("visible in
    specific clients") and ``isActive`` filters. Fields: the Variation model (B6/PMMODEL); every
    variation is active, visible in the system's own client and stocked in the fulfilment warehouse
    here (illustrative)."""
    per_page = min(call.int_arg("itemsPerPage", 50), system.settings.max_items_per_page)
    client = call.arg("plentyId")
    if client not in (None, "") and client != str(system.factory.plenty_id):
        rows: list[int] = []  # no variation is visible in another client here
    else:
        rows = sorted(system.variations) if (call.arg("isActive") or "true").lower() in ("true", "1") else []

    def variation(vid: int) -> dict:
        offer = system.variations[vid]
        return {"id": vid, "itemId": vid - 3000, "number": offer.channel_sku, "model": f"M-{vid}", "externalId": "",
                "isMain": True, "isActive": True, "mainWarehouseId": WAREHOUSE_ID, "name": offer.name}

    return 200, _envelope(system, rows, call.int_arg("page", 1), per_page, variation)


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
    Route("GET", r"/rest/items/variations", "variations.list", _list_variations, "item.variation.show"),
)
AUTH_PATHS = {"/rest/login": "login", "/rest/login/refresh": "login.refresh", "/rest/logout": "logout"}
_BUDGET_HEADERS = (("", "X-Plenty-Global-Short-Period"), ("_day", "X-Plenty-Global-Long-Period"))
