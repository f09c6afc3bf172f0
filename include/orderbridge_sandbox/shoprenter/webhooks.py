"""Webhook deliveries of the Shoprenter fake (A9): the order payload, and the POST to every active
hook of the event, as ``multipart/form-data`` with the document in the field ``data`` and
``user-agent: ShopRenter``.

Deliveries run on a small thread pool, so the request that caused them (a status change) is not
held up by a slow receiver. Each one is recorded on its shop (status code, or the error when the
receiver could not be reached); a failed delivery is not retried [G: retries are undocumented].
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor

import requests

from orderbridge_sandbox.catalogue import SHOPRENTER_GROUP_OF
from orderbridge_sandbox.shoprenter.state import ORDER_STATUSES, Order, Shop, fmt, make_id
from orderbridge_sandbox.shoprenter.wire import to_xml

EVENTS = ("order_confirm", "order_status_change", "newsletter_subscribe", "newsletter_unsubscribe",
          "newsletter_update_subscriber", "abandoned_cart")
USER_AGENT = "ShopRenter"
_ADDRESS = ("Firstname", "Lastname", "Company", "Address1", "Address2", "City", "Postcode", "CountryName",
            "ZoneName")


def order_document(shop: Shop, order: Order) -> dict:
    """One order as the webhook sends it (A9): numbers and strings mixed, lines with ``quantity``."""
    f = order.fields
    history = order.history[-1] if order.history else None
    gross = float(f["total"])
    return {
        "storeName": shop.name, "innerId": order.inner_id,
        "innerResourceId": f"orders/{make_id('orders', order.inner_id)}",
        "outerResourceId": "", "firstname": f["firstname"], "lastname": f["lastname"], "phone": f["phone"],
        "email": f["email"], **{f"shipping{k}": f[f"shipping{k}"] for k in _ADDRESS},
        **{f"payment{k}": f[f"payment{k}"] for k in _ADDRESS},
        "shippingMethodName": f["shippingMethodName"], "shippingNetPrice": order.shipping_net,
        "shippingGrossPrice": round(order.shipping_net * 1.27, 2), "paymentMethodName": f["paymentMethodName"],
        "couponCode": "", "languageCode": "hu", "comment": f["comment"], "total": round(order.net_total, 2),
        "totalGross": f"{gross:.2f}", "taxPrice": round(gross - order.net_total, 2), "currency": "HUF",
        "paymentTaxnumber": f["taxNumber"],
        "orderHistory": {"status": str(history["status"]), "statusText": ORDER_STATUSES[history["status"]][0],
                         "comment": history["comment"], "dateAdded": fmt(history["dateAdded"])} if history else None,
        "orderProducts": {"orderProduct": [{
            "innerId": ln.inner_id, "innerResourceId": f"orderProducts/{make_id('orderProducts', ln.inner_id)}",
            "name": ln.name, "sku": ln.sku, "price": ln.net_price, "currency": "HUF", "taxRate": f"{ln.tax_rate:.4f}",
            "quantity": ln.quantity, "image": "", "category": SHOPRENTER_GROUP_OF.get(ln.sku, ""),
            "volume": {"width": "0", "height": "0", "length": "0", "unit": "cm"},
            "weight": {"weight": "0", "unit": "kg"}} for ln in order.lines]},
    }


def _restricted(document: dict, fields: list[str]) -> dict:
    """The document cut down to the hook's ``fields`` (``order_email``, ``orderProduct_sku``, ...).

    [G] the payload keys keep their plain names; the prefixes only say which object a field is on.
    """
    wanted: dict[str, set[str]] = {}
    for name in fields:
        prefix, _, key = str(name).partition("_")
        wanted.setdefault(prefix, set()).add(key)
    out = {k: v for k, v in document.items() if k in wanted.get("order", set())}
    if "orderHistory" in wanted and document.get("orderHistory"):
        out["orderHistory"] = {k: v for k, v in document["orderHistory"].items() if k in wanted["orderHistory"]}
    if "orderProduct" in wanted:
        out["orderProducts"] = {"orderProduct": [{k: v for k, v in line.items() if k in wanted["orderProduct"]}
                                                 for line in document["orderProducts"]["orderProduct"]]}
    return out


class Deliverer:
    """Sends webhook documents from worker threads and records each attempt on the shop."""

    def __init__(self, timeout: float = 10.0) -> None:
        self.timeout = timeout
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="shoprenter-webhook")

    def order_event(self, shop: Shop, event: str, orders: list[Order]) -> int:
        """Queue ``event`` for ``orders`` to every active hook of that event; returns how many were queued."""
        hooks = [h for h in shop.webhooks.values() if h["event"] == event and int(h.get("status", 1)) == 1]
        queued = 0
        for hook in hooks:
            for parameter in hook["webHookParameters"]:
                documents = [order_document(shop, o) for o in orders]
                if parameter.get("fields"):
                    documents = [_restricted(d, parameter["fields"]) for d in documents]
                payload = {"orders": {"order": documents}}
                if parameter.get("type", "json") == "xml":
                    text = to_xml(payload, root="data").decode()
                else:
                    text = json.dumps(payload, ensure_ascii=False)
                record = {"webhook": hook["innerId"], "event": event, "url": parameter["url"],
                          "orders": [o.inner_id for o in orders], "type": parameter.get("type", "json"),
                          "queued_at": time.time(), "status": None, "error": None}
                shop.deliveries.append(record)
                self._pool.submit(self._post, record, text)
                queued += 1
        return queued

    def _post(self, record: dict, text: str) -> None:
        try:
            response = requests.post(record["url"], files={"data": (None, text)},
                                     headers={"User-Agent": USER_AGENT}, timeout=self.timeout)
            record["status"] = response.status_code
        except requests.RequestException as err:
            # The receiver was unreachable: recorded for the tests and the operator, never fatal.
            record["error"] = f"{type(err).__name__}: {err}"[:300]
        record["done_at"] = time.time()
