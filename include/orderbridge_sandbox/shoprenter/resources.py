"""The Shoprenter resources (A5-A9) of one shop, behind one entry point, ``ShopApi.handle``, that the
HTTP routes and ``/batch`` sub-requests both use: ``(method, path, query, fields) -> (status, body)``.

Every refusal raises ``state.ApiError``. Numbers are shown as the fixtures show them: ``innerId``,
prices and stocks as strings; envelope numbers per ``wire.envelope``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from orderbridge_sandbox.shoprenter import catalog
from orderbridge_sandbox.shoprenter.state import (
    ORDER_STATUSES,
    STORNO,
    ApiError,
    Order,
    Settings,
    Shop,
    fmt,
    make_id,
    not_found,
    parse_id,
)
from orderbridge_sandbox.shoprenter.wire import envelope, parse_date, whole

if TYPE_CHECKING:
    from orderbridge_sandbox.shoprenter.sandbox import ShoprenterSandbox

_COUNTRY = {"name": "Magyarország", "isoCode2": "HU", "isoCode3": "HUN"}
_CURRENCY = {"name": "Forint", "code": "HUF", "symbolRight": " Ft", "decimalPlace": "0", "value": "1.00000000"}
_LANGUAGE = {"name": "Magyar", "code": "hu", "locale": "hu_HU"}
_ORDER_FILTERS = ("innerId", "innerIdMin", "orderStatusId", "email", "excludeAbandonedCart", "excludeStorno",
                  "createdAtMin", "createdAtMax", "updatedAtMin", "updatedAtMax", "createdAt", "updatedAt",
                  "shippingModeInnerId")


@dataclass
class ShopApi:
    """One shop's resources as seen through one API base URL (legacy or api2), for the hrefs.

    Args:
        shop: the shop.
        base: absolute URL the resource paths hang under (``http://.../shoprenter/{shop}[/api2]``).
        sandbox: the ``ShoprenterSandbox`` (settings, clock, status changes with their webhooks).
        batch: runs a ``/batch`` body; the routes give it (it dispatches back into this object).
    """

    shop: Shop
    base: str
    sandbox: ShoprenterSandbox
    batch: Callable[[ShopApi, dict], dict] | None = None

    @property
    def settings(self) -> Settings:
        return self.sandbox.settings

    def now(self):
        return self.sandbox.now()

    def href(self, collection: str, n: int) -> dict:
        return {"href": f"{self.base}/{collection}/{make_id(collection, n)}"}

    # -- entry point ------------------------------------------------------------------------------
    def handle(self, method: str, path: str, params: dict[str, str], fields: dict | None) -> tuple[int, object]:
        """Run one request on a resource path (``orders``, ``orders/{id}``, ``productExtend`` ...).

        Raises:
            ApiError: what the resource refuses; 404 for a path or method it does not serve.
        """
        uri = f"{self.base}/{path}"
        parts = [p for p in path.strip("/").split("/") if p]
        if not parts or len(parts) > 2:
            raise not_found(uri)
        collection, item = parts[0], (parts[1] if len(parts) == 2 else None)
        if collection == "batch" and method == "POST" and item is None and self.batch is not None:
            return 200, self.batch(self, fields or {})
        reader = _READERS.get(collection)
        if method == "GET" and reader is not None:
            rows, render, page_count = reader(self, params)
            if item is None:
                return 200, self._page(collection, params, rows, render, page_count)
            n = parse_id(collection, item)
            row = next((r for r in rows if _inner(r) == n), None) if n is not None else None
            if row is None:
                raise not_found(uri)
            return 200, render(self, row)
        writer = _WRITERS.get((method, collection, item is not None))
        if writer is None:
            raise not_found(uri)
        if method in ("POST", "PUT") and not fields:
            raise ApiError(400, 40001, "Data parameter not found in POST/PUT!")
        return writer(self, item, params, fields or {})

    def _page(self, collection: str, params: dict[str, str], rows: list, render, page_count: bool) -> dict:
        numbers = self.settings.page_numbers
        as_strings = numbers == "str" or (numbers == "mixed" and collection == "orders")
        head, chunk = envelope(f"{self.base}/{collection}", params, rows, self.settings, page_count, as_strings)
        full = params.get("full") == "1"
        head["items"] = [render(self, r) if full else self.href(collection, _inner(r)) for r in chunk]
        return head


def _inner(row) -> int:
    if isinstance(row, tuple):  # (order, line) of orderProducts
        row = row[1]
    return row.inner_id if hasattr(row, "inner_id") else int(row["innerId"])


# -- orders ---------------------------------------------------------------------------------------
def render_order(api: ShopApi, order: Order) -> dict:
    oid = make_id("orders", order.inner_id)
    return {
        "href": f"{api.base}/orders/{oid}", "id": oid, "innerId": str(order.inner_id), **order.fields,
        "dateCreated": fmt(order.created), "dateUpdated": fmt(order.updated),
        "customer": None, "customerGroup": api.href("customerGroups", 8),
        "shippingCountry": api.href("countries", 97), "paymentCountry": api.href("countries", 97),
        "orderStatus": api.href("orderStatuses", order.status_id) if order.status_id is not None else None,
        "language": api.href("languages", 1), "currency": api.href("currencies", 4), "shippingMode": None,
        "orderTotals": {"href": f"{api.base}/orderTotals?orderId={oid}"},
        "orderProducts": {"href": f"{api.base}/orderProducts?orderId={oid}"},
    }


def render_order_extend(api: ShopApi, order: Order) -> dict:
    body = render_order(api, order)
    body["href"] = f"{api.base}/orderExtend/{body['id']}"
    body.update({"orderProducts": [render_line(api, (order, ln)) for ln in order.lines],
                 "orderTotals": [render_total(api, t) for t in _totals(order)], "coupon": None,
                 "currency": {**api.href("currencies", 4), **_CURRENCY}, "language": {**api.href("languages", 1),
                                                                                    **_LANGUAGE},
                 "shippingCountry": {**api.href("countries", 97), **_COUNTRY},
                 "paymentCountry": {**api.href("countries", 97), **_COUNTRY}})
    return body


def _orders(api: ShopApi, params: dict[str, str]) -> list[Order]:
    orders = sorted(api.shop.orders.values(), key=lambda o: o.inner_id)
    p = {k: v for k, v in params.items() if k in _ORDER_FILTERS and v != ""}
    if "innerId" in p:
        orders = [o for o in orders if o.inner_id == whole("innerId", p["innerId"], 0)]
    if "innerIdMin" in p:
        orders = [o for o in orders if o.inner_id >= whole("innerIdMin", p["innerIdMin"], 0)]
    if "orderStatusId" in p:
        status = parse_id("orderStatuses", p["orderStatusId"])
        if status is None:
            raise ApiError(400, 40012, f"Parameter orderStatusId is not an orderStatus id: '{p['orderStatusId']}'")
        orders = [o for o in orders if o.status_id == status]
    if "email" in p:
        orders = [o for o in orders if o.fields["email"] == p["email"]]
    if p.get("excludeAbandonedCart") == "1":
        orders = [o for o in orders if o.status_id is not None]
    if p.get("excludeStorno") == "1":
        orders = [o for o in orders if o.status_id != STORNO]
    for name, attr, bound in (("createdAtMin", "created", min), ("createdAtMax", "created", max),
                              ("updatedAtMin", "updated", min), ("updatedAtMax", "updated", max)):
        if name in p:
            # Both bounds inclusive [G].
            limit = parse_date(name, p[name])
            orders = [o for o in orders if (getattr(o, attr) >= limit if bound is min else getattr(o, attr) <= limit)]
    for name, attr in (("createdAt", "created"), ("updatedAt", "updated")):
        if name in p:
            day = parse_date(name, p[name], date_only=True).date()
            orders = [o for o in orders if getattr(o, attr).date() == day]
    if "shippingModeInnerId" in p:
        orders = []  # the fake's orders have no shipping mode (shippingMode is null)
    return orders


def render_line(api: ShopApi, pair) -> dict:
    order, line = pair
    lid = make_id("orderProducts", line.inner_id)
    gross = line.net_price * (1 + line.tax_rate / 100)
    return {
        "href": f"{api.base}/orderProducts/{lid}", "id": lid, "innerId": str(line.inner_id), "name": line.name,
        "sku": line.sku, "productInnerId": str(line.product_id or ""), "modelNumber": "", "gtin": "",
        "originalPrice": f"{line.net_price:.4f}", "price": f"{line.net_price:.4f}",
        "total": f"{line.net_price * line.quantity:.4f}", "taxRate": f"{line.tax_rate:.4f}",
        "grossPrice": f"{gross:.4f}", "originalGrossPrice": f"{gross:.4f}", "priceCurrency": f"{line.net_price:.4f}",
        "grossPriceCurrency": f"{gross:.4f}", "subtractStock": "1",
        **{f"stock{i + 1}": str(q) for i, q in enumerate(line.stocks)},
        "width": "0.00", "height": "0.00", "length": "0.00", "weight": "0.00",
        "product": api.href("products", line.product_id) if line.product_id else None,
        "order": api.href("orders", order.inner_id),
    }


def _orders_of(api: ShopApi, params: dict[str, str]) -> list[Order]:
    """The order ``?orderId=`` names (none for an unknown id), or every order without the filter."""
    text = params.get("orderId")
    if not text:
        return sorted(api.shop.orders.values(), key=lambda o: o.inner_id)
    n = parse_id("orders", text)
    order = api.shop.orders.get(n) if n is not None else None
    return [order] if order else []


def _lines(api: ShopApi, params: dict[str, str]) -> list:
    return [(o, ln) for o in _orders_of(api, params) for ln in o.lines]


def _totals(order: Order) -> list[dict]:
    gross = float(order.fields["total"])
    rows = (("SUB_TOTAL", "Részösszeg", order.net_total - order.shipping_net), ("SHIPPING", "Szállítás",
            order.shipping_net), ("TAX", "ÁFA 27%", gross - order.net_total), ("TOTAL", "Bruttó összesen", gross))
    return [{"innerId": order.inner_id * 10 + i, "order": order, "type": t, "name": name, "value": v, "sortOrder": i}
            for i, (t, name, v) in enumerate(rows)]


def render_total(api: ShopApi, row: dict) -> dict:
    return {**api.href("orderTotals", row["innerId"]), "id": make_id("orderTotals", row["innerId"]),
            "innerId": str(row["innerId"]), "name": row["name"], "valueText": f"{row['value']:.0f} Ft",
            "value": f"{row['value']:.4f}", "sortOrder": str(row["sortOrder"]), "type": row["type"], "key": "",
            "order": api.href("orders", row["order"].inner_id)}


def _order_totals(api: ShopApi, params: dict[str, str]) -> list[dict]:
    return [t for o in _orders_of(api, params) for t in _totals(o)]


def _histories(api: ShopApi, params: dict[str, str]) -> list[dict]:
    return sorted(({**h, "order": o} for o in _orders_of(api, params) for h in o.history),
                  key=lambda h: h["innerId"])


def render_history(api: ShopApi, row: dict) -> dict:
    return {**api.href("orderHistories", row["innerId"]), "id": make_id("orderHistories", row["innerId"]),
            "innerId": str(row["innerId"]), "comment": row["comment"], "notify": "0",
            "dateAdded": fmt(row["dateAdded"]), "order": api.href("orders", row["order"].inner_id),
            "orderStatus": api.href("orderStatuses", row["status"])}


def render_status(api: ShopApi, n: int) -> dict:
    return {**api.href("orderStatuses", n), "id": make_id("orderStatuses", n), "innerId": str(n),
            "orderStatusDescriptions": {"href": f"{api.base}/orderStatusDescriptions?orderStatusId="
                                                f"{make_id('orderStatuses', n)}"}}


def render_status_description(api: ShopApi, n: int) -> dict:
    name, color = ORDER_STATUSES[n]
    return {**api.href("orderStatusDescriptions", n), "id": make_id("orderStatusDescriptions", n),
            "innerId": str(n), "name": name, "color": color, "orderStatus": api.href("orderStatuses", n),
            "language": api.href("languages", 1)}


def _status_descriptions(api: ShopApi, params: dict[str, str]) -> list[int]:
    if params.get("orderStatusId"):
        n = parse_id("orderStatuses", params["orderStatusId"])
        return [n] if n in ORDER_STATUSES else []
    return sorted(ORDER_STATUSES)


def put_order(api: ShopApi, item: str, params: dict[str, str], fields: dict) -> tuple[int, object]:
    """``PUT /orders/{id}``: ``orderStatus{id}`` and the writable scalar fields (A6)."""
    n = parse_id("orders", item)
    order = api.shop.orders.get(n) if n is not None else None
    if order is None:
        raise not_found(f"{api.base}/orders/{item}")
    unknown = [k for k in fields if k != "orderStatus" and k not in order.fields]
    if unknown:
        raise ApiError(400, 40012, f"Unknown or read-only order field(s): {', '.join(sorted(unknown))}")
    status = None
    if "orderStatus" in fields:
        link = fields["orderStatus"]
        text = link.get("id") if isinstance(link, dict) else None
        status = parse_id("orderStatuses", str(text)) if text else None
        if status not in ORDER_STATUSES:
            raise ApiError(400, 40012, f"orderStatus.id must be the id of an order status, got {text!r}")
    for key, value in fields.items():
        if key != "orderStatus":
            order.fields[key] = value if isinstance(value, dict) else str(value)
    if status is not None and status != order.status_id:
        # [G] a PUT writes an orderHistory row like any status change; it fires the webhook unless
        # --shoprenter-put-status-webhook off says the shop does so only for admin changes.
        api.sandbox.set_status(api.shop, order, status, notify=api.settings.put_status_webhook)
    return 200, render_order(api, order)


# -- the tables: GET readers (rows, render, pageCount shown?) and writers --------------------------
_READERS: dict[str, Callable] = {
    "orders": lambda api, p: (_orders(api, p), render_order, False),
    "orderExtend": lambda api, p: (_orders(api, p), render_order_extend, True),
    "orderProducts": lambda api, p: (_lines(api, p), render_line, True),
    "orderTotals": lambda api, p: (_order_totals(api, p), render_total, True),
    "orderHistories": lambda api, p: (_histories(api, p), render_history, True),
    "orderStatuses": lambda api, p: ([{"innerId": n} for n in sorted(ORDER_STATUSES)],
                                     lambda a, r: render_status(a, r["innerId"]), True),
    "orderStatusDescriptions": lambda api, p: ([{"innerId": n} for n in _status_descriptions(api, p)],
                                               lambda a, r: render_status_description(a, r["innerId"]), True),
    **catalog.READERS,
}
_WRITERS: dict[tuple[str, str, bool], Callable] = {("PUT", "orders", True): put_order, **catalog.WRITERS}
