"""The Shoprenter API client: paged resources, orders, products, ``/batch`` and ``/webHooks``.

The wire only (shoprenter-plenty-api.md part A); what answers mean is ``mapping``/``batch``.

- JSON only: ``Accept`` and ``Content-Type: application/json`` on every call (XML is the default, A2);
- Basic auth (API user:key) on the legacy host, or a Bearer token (client credentials, shared
  through ``staging.oauth_tokens``: ``orderbridge.oauth``) on ``api2``; a 401 renews it once;
- every request books a slot of the shop's 3 requests a second (``ratelimit``), shared by every
  task of the shop; a 429 still waits ``Retry-After`` inside the attempt (``ChannelClient``);
- paging: ``page`` from 0, ``limit`` up to 200, ``full=1``, until ``next`` is null or the last
  page (``mapping.page_done``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from requests.auth import HTTPBasicAuth

from orderbridge.channels.shoprenter.mapping import CHANNEL, encode_id, page_done, page_items
from orderbridge.channels.shoprenter.ratelimit import SharedRateLimiter
from orderbridge.channels.shoprenter.settings import ShoprenterSettings
from orderbridge.errors import AuthError, InvalidPayload
from orderbridge.http import ChannelClient
from orderbridge.window import Window

JSON = {"Accept": "application/json", "Content-Type": "application/json"}
WEBHOOK_EVENT = "order_status_change"


def shop_time(moment, zone: str) -> str:
    """A filter moment as the shop writes it, ``2013-01-01T10:30:00`` in the shop's time zone [G]."""
    return moment.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%dT%H:%M:%S")


class _Slots:
    """The ``limiter`` the base client calls before every request: a slot of the shared limiter
    (``cost`` slots for a batch when the shop counts its items, ``batch_cost: per_item``)."""

    def __init__(self, shared: SharedRateLimiter):
        self.shared, self.cost = shared, 1

    def wait(self) -> None:
        self.shared.wait(self.cost)


class ShoprenterClient(ChannelClient):
    """One shop (its connection). Extras: ``settings.ShoprenterSettings``.

    Args:
        tokens: the OAuth2 token cache (default: ``staging.oauth_tokens``; ``auth: oauth2`` only).
        connect: opens a staging connection for the shared limiter and tokens (default: Airflow's).
    """

    channel = CHANNEL
    settings_class = ShoprenterSettings
    settings: ShoprenterSettings

    def __init__(self, conn_id: str, account: str = "", *, tokens=None, connect: Callable | None = None, **kwargs):
        super().__init__(conn_id, account, **kwargs)
        if connect is None:
            from orderbridge.steps import staging_connection as connect
        s = self.settings
        self.shared_limiter = SharedRateLimiter(connect, f"{CHANNEL}/{s.shop}", s.shop_rate,
                                                sleep=lambda t: self.wait(t, f"shop rate of {s.shop_rate:g}/s"))
        self.limiter = _Slots(self.shared_limiter)
        self.tokens, self._token = None, None
        if s.auth == "oauth2":
            from orderbridge.oauth import TokenCache, json_body

            self.tokens = tokens or TokenCache(
                connect, s.token_url, self.connection.login or "", self.connection.password or "",
                timeout=self.timeout, margin=timedelta(seconds=s.token_margin_seconds), channel=CHANNEL,
                account=account, auth_method=json_body, default_expires=3600,
                resolution=f"Resolution: check login (client id) and password (client secret) of connection "
                           f"{conn_id} against the app's credentials in the Shoprenter partner admin.")
        self.stats.update(token_renewals=0, batches=0)

    def __enter__(self) -> ShoprenterClient:
        return self

    def __exit__(self, *exc) -> None:
        self.shared_limiter.close()
        if self._session is not None:
            self._session.close()

    def url(self, path: str) -> str:
        return f"{self.settings.api_base}/{path.lstrip('/')}"

    # -- calls ------------------------------------------------------------------------------
    def call(self, method: str, path: str, *, cost: int = 1, **kwargs: Any) -> Any:
        """One authenticated JSON call; a 401 on api2 renews the token once and repeats the call."""
        self.limiter.cost = cost
        try:
            return self._send(method, path, kwargs)
        except AuthError as err:
            if self.tokens is None or err.status_code != 401:
                raise
            self.stats["token_renewals"] += 1
            self._use(self.tokens.get(refused=self._token))
            return self._send(method, path, kwargs)
        finally:
            self.limiter.cost = 1

    def _use(self, token: str) -> None:
        self._token = token
        if token not in self.secrets:
            self.secrets.append(token)

    def _send(self, method: str, path: str, kwargs: dict) -> Any:
        headers = {**JSON, **kwargs.pop("headers", {})}
        if self.tokens is not None:
            if self._token is None:
                self._use(self.tokens.get())
            headers["Authorization"] = f"Bearer {self._token}"
            auth = None
        else:
            auth = HTTPBasicAuth(self.connection.login or "", self.connection.password or "")
        return self.request(method, path, headers=headers, auth=auth, decode=True, **kwargs)

    def pages(self, resource: str, params: dict | None = None) -> Iterator[list[dict]]:
        """Every page of a collection, ``full=1``, page 0 up, until the last page (A4)."""
        page = 0
        while True:
            body = self.call("GET", resource, params={**(params or {}), "page": page,
                                                       "limit": self.settings.limit, "full": 1})
            items = page_items(body, f"{resource} page {page}")
            yield items
            if page_done(body) or not items:
                return
            page += 1

    # -- orders -----------------------------------------------------------------------------
    def iter_orders(self, window: Window) -> Iterator[list[dict]]:
        """``/orderExtend`` pages updated in ``window``, its start less the overlap (A5)."""
        s = self.settings
        start = window.start - timedelta(minutes=s.order_overlap_minutes)
        end = window.end + timedelta(seconds=1)  # the filter takes whole seconds: the last one is not missed
        # An order without a status is an abandoned cart (A6), not an order to ship: the shop leaves
        # it out (A5); once the customer finishes it, its status and dateUpdated bring it in.
        yield from self.pages("orderExtend", {"updatedAtMin": shop_time(start, s.shop_timezone),
                                              "updatedAtMax": shop_time(end, s.shop_timezone),
                                              "excludeAbandonedCart": 1})

    def set_status(self, order_id: str, status: str) -> None:
        """``PUT /orders/{id}`` with ``orderStatus{id}`` (A6)."""
        body = {"orderStatus": {"id": encode_id("orderStatus", "order_status_id", status)}}
        self.call("PUT", f"orders/{order_id}", json=body, external_id=order_id)

    def order_status(self, inner_id: str) -> str | None:
        """The order's current status innerId (read before a write-back), None if the shop has no such order."""
        from orderbridge.channels.shoprenter.mapping import status_id

        body = self.call("GET", "orders", params={"innerId": inner_id, "full": 1}, external_id=inner_id)
        items = page_items(body, f"orders?innerId={inner_id}")
        return status_id(items[0]) if items else None

    # -- products, batch, webhooks ----------------------------------------------------------
    def iter_products(self) -> Iterator[list[dict]]:
        yield from self.pages("productExtend")

    def category_names(self) -> dict[str, str]:
        """Category id (base64) -> its name (``categoryDescriptions[0].name``; the innerId when it has none)."""
        names = {}
        for page in self.pages("categories"):
            for item in page:
                descriptions = item.get("categoryDescriptions")
                first = descriptions[0] if isinstance(descriptions, list) and descriptions else {}
                name = (first.get("name") if isinstance(first, dict) else None) or item.get("name")
                if item.get("id"):
                    names[str(item["id"])] = str(name or item.get("innerId") or item["id"])
        return names

    def batch(self, requests_: list[dict]) -> list[dict]:
        """``POST /batch`` (A8) of at most ``batch_size`` sub-requests; the per-item answers, in order.

        Raises:
            InvalidPayload: the answer is not ``{"requests": {"request": [...]}}``.
        """
        if len(requests_) > self.settings.batch_size:
            raise ValueError(f"a batch takes at most {self.settings.batch_size} sub-requests, not {len(requests_)}")
        body = {"data": {"requests": [{**r, "uri": self.url(r["uri"])} for r in requests_]}}
        cost = len(requests_) if self.settings.batch_cost == "per_item" else 1
        self.stats["batches"] += 1
        answer = self.call("POST", "batch", json=body, cost=cost)
        listed = (answer.get("requests") or {}).get("request") if isinstance(answer, dict) else None
        if isinstance(listed, dict):
            listed = [listed]
        if not isinstance(listed, list) or len(listed) != len(requests_):
            raise self._error(InvalidPayload, f"batch of {len(requests_)}: expected as many answers in "
                              "requests.request[]")
        return listed

    def webhooks(self) -> list[dict]:
        return [hook for page in self.pages("webHooks") for hook in page]

    def register_webhook(self, url: str, label: str) -> bool:
        """``POST /webHooks`` for ``order_status_change`` to ``url``, unless one is there; True if added (A9)."""
        for hook in self.webhooks():
            params = hook.get("webHookParameters") or []
            if hook.get("event") == WEBHOOK_EVENT and any(isinstance(p, dict) and p.get("url") == url for p in params):
                return False
        self.call("POST", "webHooks", json={"label": label, "event": WEBHOOK_EVENT, "status": 1,
                                            "webHookParameters": [{"type": "json", "url": url}]})
        return True
