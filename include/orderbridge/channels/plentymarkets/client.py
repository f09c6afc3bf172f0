"""The plentymarkets REST client: login, orders by status, status changes, packages, stock.

The wire only; what the answers mean is in ``mapping``. Facts it relies on are in the API notes
(shoprenter-plenty-api.md, part B) and plenty's OpenAPI spec:

- ``POST /rest/login`` answers the token under snake_case keys, camelCase keys, or both (B1): we
  read either. Tokens expire; a 401 on any other call means one fresh login and one retry of that
  call, and only a second 401 fails the task. ``close()`` logs out, because a system allows only
  three concurrent sessions per user.
- Pages are 1-based with an envelope (``isLastPage``, ``lastPageNumber``, ``entries``); numbers
  may arrive as strings (B4), so they are read leniently.
- A system may hold several clients (``plentyId``) and warehouses: orders are read with the API's
  ``warehouseId`` filter (the order's main warehouse) and kept only when their ``plentyId`` is
  the configured one (``_ours``), so another client's orders are never landed nor answered.
- ``GET /rest/orders`` serves every order type unless ``orderType`` narrows it (B5): sales orders
  (1) and return orders (3, which point at their sales order, B6) are read apart, each with its own
  filter, so a return is never read as a sales order.
- Every answer carries the short-period budget (``X-Plenty-Global-Short-Period-Calls-Left`` and
  ``-Decay``, B2). When it is nearly spent we wait out the decay *before* the next call, as
  plenty's own clients do, so the budget is respected without 429s; a 429 still waits
  ``Retry-After`` in the base client.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import requests

from orderbridge.channels.plentymarkets.settings import PlentySettings, parse_status, status_json
from orderbridge.errors import AuthError, InvalidPayload, OrderbridgeError, Retryable
from orderbridge.http import ChannelClient
from orderbridge.window import Window

log = logging.getLogger(__name__)

CHANNEL = "plentymarkets"
ORDER_RELATIONS = ("addresses", "orderItems.variation")
RETURN_RELATIONS = ("orderItems.variation",)  # the SKU of what comes back; no addresses needed
SALES_ORDER, RETURN_ORDER = 1, 3  # order typeIds (B6)
BUDGET_PREFIXES = ("X-Plenty-Global-Short-Period", "X-Plenty-Global-Long-Period", "X-Plenty-Route")


def lenient_int(value, default: int = 0) -> int:
    """An envelope number that may be a string ("1") or missing."""
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return default


def lenient_bool(value) -> bool:
    return value is True or str(value).strip().lower() in ("true", "1")


def w3c(moment: datetime, round_up: bool = False) -> str:
    """plenty's date filter format, whole seconds, e.g. ``2026-11-20T12:00:00+00:00``.

    An upper bound is rounded up: cut down, it would miss what changed in its last second (an
    overlap is harmless, loads are upserts).
    """
    if round_up and moment.microsecond:
        moment = moment.replace(microsecond=0) + timedelta(seconds=1)
    return moment.isoformat(timespec="seconds")


_ORDER_NOT_FOUND = re.compile(r"The order with ID \S+ could not be found")


class PlentyClient(ChannelClient):
    """One plentymarkets system: login lazily, logout on ``close()``.

    Connection: host/port/schema = the shop backend, login/password = the backend user, extras =
    ``PlentySettings`` (plenty_id, warehouse_id, storage_location_id, status ids, items_per_page).
    """

    channel = CHANNEL
    settings_class = PlentySettings
    settings: PlentySettings

    def _unknown_record(self, response: requests.Response) -> bool:
        # An order deleted in plenty refuses that one write-back; any other 404 (a wrong warehouse
        # id, path or host) fails the task. The wording is the sandbox's guess (B3 gives only the
        # envelope): an unrecognised 404 takes the safe side and fails the task.
        try:
            message = str((response.json().get("error") or {}).get("message") or "")
        except (ValueError, AttributeError):
            return False
        return bool(_ORDER_NOT_FOUND.match(message))

    def __init__(self, conn_id: str, account: str = "", **kwargs):
        super().__init__(conn_id, account, **kwargs)  # reads self.settings (PlentySettings)
        self._token: str | None = None
        self.stats.update(logins=0, relogins=0, budget_waits=0, other_clients=0)
        self._scope_warned = False

    # -- session ----------------------------------------------------------------------------
    def login(self) -> None:
        """Get a bearer token (JSON body; either key style in the answer).

        Raises:
            AuthError: the user or password was refused.
        """
        self.session.headers.pop("Authorization", None)
        body = self.request_json("POST", "rest/login", json={"username": self.connection.login or "",
                                                              "password": self.connection.password or ""})
        token = (body or {}).get("access_token") or (body or {}).get("accessToken")
        if not token:
            raise self._error(AuthError, "rest/login answered without access_token/accessToken. Resolution: "
                              f"check that connection {self.conn_id} points at the shop backend URL.")
        self._token = token
        self.secrets.append(token)
        self.session.headers["Authorization"] = f"Bearer {token}"
        self.stats["logins"] += 1

    def close(self) -> None:
        """Log out, freeing one of the system's three sessions: one attempt, and it never raises.

        Called from ``__exit__``, after the work succeeded or failed. Errors are logged and
        swallowed here, and only here: a failed logout must not turn a finished task into a
        failure, nor replace the error the task is failing with, and the session expires on its
        own. No retries and no 429 wait either: nothing waits on a logout.
        """
        if self._token:
            try:
                self.request("POST", "rest/logout", once=True)
            except (OrderbridgeError, requests.RequestException) as err:
                log.warning("%s/%s: logout failed, the session will expire on its own: %s", self.channel,
                            self.account, self.mask(str(err)))
            finally:
                self._token = None

    def __enter__(self) -> PlentyClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def call(self, method: str, path: str, **kwargs):
        """An authenticated call; a 401 (expired token) logs in again once and repeats it."""
        if self._token is None:
            self.login()
        try:
            return self.request(method, path, **kwargs)
        except AuthError as err:
            if err.status_code != 401:
                raise  # 403: the user lacks a permission; a new token will not grant it
            self.stats["relogins"] += 1
            self.login()
            return self.request(method, path, **kwargs)

    def _on_response(self, response: requests.Response) -> None:
        # Wait out the decay when the budget is down to its last call, before we spend it.
        for prefix in BUDGET_PREFIXES:
            left = response.headers.get(f"{prefix}-Calls-Left")
            if left is not None and lenient_int(left, 99) <= 1 and response.status_code != 429:
                decay = lenient_int(response.headers.get(f"{prefix}-Decay"), 1)
                if decay > 0:
                    self.stats["budget_waits"] += 1
                    self.wait(min(decay, self.max_retry_after),
                              f"call budget {prefix} spent ({left} call left), {self.stats['requests']} request(s) "
                              f"sent so far by this task")

    # -- orders -----------------------------------------------------------------------------
    def iter_orders(self, status_from, status_to, updated: Window | None = None) -> Iterator[list[dict]]:
        """Yield ``GET /rest/orders`` pages of sales orders in a status range, oldest id first.

        Args:
            status_from, status_to: the status range (inclusive; plenty compares numerically, so
                5..5 does not include 5.1).
            updated: only orders updated in this window (``updatedAtFrom``/``updatedAtTo``).

        Raises:
            InvalidPayload: an answer without the paging envelope. Retryable, RateLimited, AuthError:
                as every call (``ChannelClient``).
        """
        status = [("statusFrom", str(status_json(status_from))), ("statusTo", str(status_json(status_to)))]
        return self._pages(SALES_ORDER, ORDER_RELATIONS, status, updated)

    def iter_returns(self, updated: Window) -> Iterator[list[dict]]:
        """Yield ``GET /rest/orders`` pages of return orders (typeId 3) updated in a window, oldest id first.

        Any status: a return is one whatever status (9.x) the merchant gives it. The window is the
        only bound, so it must be a window (the caller's watermark, or a backfill's interval).

        Raises:
            as ``iter_orders``.
        """
        return self._pages(RETURN_ORDER, RETURN_RELATIONS, [], updated)

    def _pages(self, order_type: int, relations: tuple[str, ...], filters: list[tuple[str, str]],
               updated: Window | None) -> Iterator[list[dict]]:
        params: list[tuple[str, str]] = [
            *filters, ("orderType", str(order_type)), ("itemsPerPage", str(self.settings.items_per_page)),
            ("sortBy", "id"), ("sortOrder", "asc"), *(("with[]", relation) for relation in relations),
        ]
        if self.settings.filter_by_warehouse:  # the API's own filter: the order's main warehouse (B5)
            params.append(("warehouseId", str(self.settings.warehouse_id)))
        if updated:
            params += [("updatedAtFrom", w3c(updated.start)), ("updatedAtTo", w3c(updated.end, round_up=True))]
        return (self._ours(entries) for entries in self._paged("rest/orders", params))

    def iter_variations(self) -> Iterator[list[dict]]:
        """Yield ``GET /rest/items/variations`` pages: the system's whole catalogue, every variation
        with its ``number`` (the SKU orders carry as ``variation.number``); with ``plenty_id`` set,
        only those visible in our client (the route's ``plentyId`` filter).

        Raises:
            as ``iter_orders``.
        """
        params = [("itemsPerPage", str(self.settings.items_per_page))]
        if self.settings.plenty_id is not None:
            params.append(("plentyId", str(self.settings.plenty_id)))
        return self._paged("rest/items/variations", params)

    def _paged(self, path: str, params: list[tuple[str, str]]) -> Iterator[list[dict]]:
        """Every page's ``entries`` (B4: 1-based, until ``isLastPage``), one request per page."""
        page = 1
        while True:
            body = self.call("GET", path, params=[*params, ("page", str(page))], decode=True)
            if not isinstance(body, dict) or not isinstance(body.get("entries"), list):
                raise self._error(InvalidPayload, f"{path}: expected the paging envelope with entries[]")
            yield body["entries"]
            last = lenient_int(body.get("lastPageNumber"), page)
            if lenient_bool(body.get("isLastPage")) or not body["entries"] or page >= last:
                break
            page += 1

    def _ours(self, entries: list) -> list:
        """The entries of our client: ``GET /rest/orders`` has no ``plentyId`` filter (only
        ``/rest/orders/search`` has; ``clientId`` is not documented as the plentyId), so orders of
        other clients are left out here, by their ``plentyId`` (B6), and counted."""
        if self.settings.plenty_id is None:
            return entries
        ours = [e for e in entries if not isinstance(e, dict) or lenient_int(e.get("plentyId"), -1)
                == self.settings.plenty_id]
        self.stats["other_clients"] += len(entries) - len(ours)
        if entries and not ours and not self._scope_warned:
            # A wrong plenty_id drops every order without an error: say so where the operator looks.
            self._scope_warned = True
            seen = sorted({str(e.get("plentyId")) for e in entries if isinstance(e, dict)})
            log.warning("plentymarkets %s: none of the %d orders on this page belong to plenty_id %s (they are of "
                        "plentyId %s). Resolution: if the system has one client, set the connection %s's extra "
                        "plenty_id to that client's plentyId (Setup » Client) or remove it.", self.account,
                        len(entries), self.settings.plenty_id, ", ".join(seen), self.conn_id)
        return ours

    # -- write-backs ------------------------------------------------------------------------
    def set_status(self, order_id: int, status, properties: list[dict] | None = None) -> dict:
        """``PUT /rest/orders/{id}``: the status, and the properties given; a status of None leaves it as is."""
        body = {} if status is None else {"statusId": status_json(status)}
        if properties:
            body["properties"] = properties
        return self.call("PUT", f"rest/orders/{order_id}", json=body, external_id=str(order_id), decode=True)

    def package_numbers(self, order_id: int) -> list[str]:
        body = self.call("GET", f"rest/orders/{order_id}/packagenumbers", external_id=str(order_id), decode=True)
        return [str(n) for n in body] if isinstance(body, list) else []

    def set_status_once(self, order_id: int, status) -> bool:
        """Set a status that must be set at most once (a return order's "received"), and only if the
        order does not have it yet; returns False when it had (set by an earlier try whose answer
        was lost, or before a worker died).

        Whether the order has it is read from ``GET /rest/orders?orderIds=`` (the list route: one
        read, and not the order's own path the ``PUT`` goes to).
        """
        target = parse_status(status)
        sent = self._at_most_once(lambda: self.set_status(order_id, status),
                                  lambda: self.status_of(order_id) == target,
                                  f"status {status_json(status)} of order {order_id}", check_first=True)
        return sent is not None

    def status_of(self, order_id: int) -> Decimal | None:
        """An order's status now (None when plenty does not list it)."""
        body = self.call("GET", "rest/orders", params=[("orderIds", str(order_id)), ("addOrderItems", "false")],
                         external_id=str(order_id), decode=True)
        entries = body.get("entries") if isinstance(body, dict) else None
        found = [e for e in entries or [] if isinstance(e, dict) and str(e.get("id")) == str(order_id)]
        return parse_status(found[0]["statusId"], "statusId") if found and found[0].get("statusId") is not None \
            else None

    def add_package(self, order_id: int, package_number: str) -> dict:
        """Add a package number, at most once (``_at_most_once``: plenty is asked whether it arrived
        before the POST is tried again)."""
        body = {"packageId": 1, "packageNumber": package_number, "packageType": self.settings.package_type}
        sent = self._at_most_once(
            lambda: self.call("POST", f"rest/orders/{order_id}/shipping/packages", json=body,
                              external_id=str(order_id), decode=True),
            lambda: package_number in self.package_numbers(order_id), f"package {package_number}")
        return {"packageNumber": package_number, "found_after_retry": True} if sent is None else sent

    def _at_most_once(self, send: Callable[[], Any], arrived: Callable[[], bool], what: str,
                      check_first: bool = False) -> Any:
        """``send()`` a call that must not take effect twice; None when ``arrived()`` says it already had.

        A write whose answer is lost (connection dropped mid-body, timeout) may have been applied.
        So each try is a single request, and before trying again we ask plenty whether the effect
        arrived, instead of sending it a second time. ``check_first`` also asks before the first try.
        """
        attempts, self.max_attempts = self.max_attempts, 1
        try:
            for attempt in range(attempts):
                if (attempt or check_first) and arrived():
                    return None
                try:
                    return send()
                except Retryable as err:
                    if attempt + 1 == attempts:
                        raise
                    self.stats["retried"] += 1
                    log.warning("%s/%s: %s; checking whether %s arrived before trying again", self.channel,
                                self.account, err, what)
                    self._sleep(min(self.backoff * 2 ** attempt, self.backoff_max))
        finally:
            self.max_attempts = attempts
        raise AssertionError("unreachable")

    def correct_stock(self, corrections: list[dict]) -> None:
        """Set stock at the configured storage location (``quantity`` is absolute: a guess, B9)."""
        body = {"corrections": [{**c, "storageLocationId": self.settings.storage_location_id,
                                 "reasonId": self.settings.stock_reason_id} for c in corrections]}
        self.call("PUT", f"rest/stockmanagement/warehouses/{self.settings.warehouse_id}/stock/correction",
                  json=body)
