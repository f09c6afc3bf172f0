"""The Octopia Seller API v2 client: orders per sales channel, approval, parcels, offer packages.

The wire only; what answers mean is in ``mapping`` and ``writeback``. Facts it relies on, with
their confidence, are in the README's Octopia section (from octopia-api.md):

- every call carries ``Authorization: Bearer`` (our platform's token, ``auth.TokenCache``, shared
  by every seller of the client id) and ``SellerId`` (the seller we act for); a 401 renews the
  token once and repeats the call, a 403 means the seller has not delegated to our client id;
- ``GET /orders`` per ``salesChannelId``, by ``updatedAtMin``/``updatedAtMax``, pages by
  ``pageIndex`` (1-based) and ``pageSize`` (at most 100), ``{itemsPerPage, items}`` with no total:
  the last page is the first short one;
- errors are ``application/problem+json`` (``title``, ``detail``, ``errors``, ``traceId``), read
  into our error classes with Octopia's own words (``describe_problem``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import requests

from orderbridge.channels.octopia.auth import TokenCache
from orderbridge.channels.octopia.settings import OctopiaSettings
from orderbridge.errors import AuthError, InvalidPayload, Retryable
from orderbridge.http import ChannelClient
from orderbridge.window import Window

CHANNEL = "octopia"
DELEGATION_PAGE = "https://developer.octopia-io.net/api-credentials/#linkAgregClientToSeller"


def iso(moment: datetime, round_up: bool = False) -> str:
    """Octopia's date filter format, whole seconds UTC (``2026-03-19T09:57:29Z``); an upper bound
    is rounded up so its last second is not missed (loads are upserts: overlap is harmless)."""
    if round_up and moment.microsecond:
        moment = moment.replace(microsecond=0) + timedelta(seconds=1)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def problem(response: requests.Response) -> dict | None:
    """The problem+json body of an error answer (also Keycloak's ``error``/``error_description``),
    or None when the body is none of these."""
    kind = response.headers.get("Content-Type", "")
    try:
        body = json.loads(response.content)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    if not isinstance(body, dict):
        return None
    if "problem+json" in kind or any(k in body for k in ("title", "traceId", "errors")):
        return body
    if "error" in body and isinstance(body["error"], str):
        return {"title": body["error"], "detail": body.get("error_description")}
    return None


def describe_problem(body: dict, limit: int = 400) -> str:
    """A problem+json body in one line: ``title: detail; field: message, ... (traceId ...)``."""
    parts = [str(body.get("title") or "").strip(), str(body.get("detail") or "").strip()]
    text = ": ".join(p for p in parts if p) or "no title or detail"
    errors = body.get("errors")
    if isinstance(errors, dict) and errors:
        fields = [f"{k}: {', '.join(map(str, v)) if isinstance(v, list) else v}" for k, v in list(errors.items())[:10]]
        text += "; " + "; ".join(fields)
    elif isinstance(errors, list) and errors:
        text += "; " + "; ".join(str(e) for e in errors[:10])
    if body.get("traceId"):
        text += f" (traceId {body['traceId']})"
    return text[:limit] + ("..." if len(text) > limit else "")


class OctopiaClient(ChannelClient):
    """One seller delegation: our client id and secret (login/password), its ``SellerId`` (extra).

    Args:
        tokens: the token cache (default: ``staging.oauth_tokens`` through the staging connection).
    """

    channel = CHANNEL
    settings_class = OctopiaSettings
    settings: OctopiaSettings

    def __init__(self, conn_id: str, account: str = "", *, tokens: TokenCache | None = None, **kwargs):
        super().__init__(conn_id, account, **kwargs)
        if tokens is None:
            from orderbridge.steps import staging_connection

            tokens = TokenCache(staging_connection, self.settings.token_url, self.connection.login or "",
                                self.connection.password or "", timeout=self.timeout,
                                margin=timedelta(seconds=self.settings.token_margin_seconds), account=account)
        self.tokens = tokens
        self._token: str | None = None
        self._channels: list[str] | None = None
        self.stats.update(token_renewals=0)

    def __enter__(self) -> OctopiaClient:
        return self

    def __exit__(self, *exc) -> None:
        if self._session is not None:
            self._session.close()

    # -- calls ------------------------------------------------------------------------------
    def _use(self, token: str) -> None:
        self._token = token
        if token not in self.secrets:
            self.secrets.append(token)

    def call(self, method: str, path: str, *, headers: dict | None = None, single: bool = False,
             **kwargs: Any) -> Any:
        """An authenticated call as the seller; a 401 renews the token once and repeats the call.

        Args:
            single: one try for a write whose lost answer must not be resent blindly (no backoff
                on a timeout or a reset); a 429 is still waited out, Octopia did not process it.
        """
        if self._token is None:
            self._use(self.tokens.get())
        try:
            return self._send(method, path, headers, single, kwargs)
        except AuthError as err:
            if err.status_code != 401:
                raise
            self.stats["token_renewals"] += 1
            self._use(self.tokens.get(refused=self._token))
            return self._send(method, path, headers, single, kwargs)

    def _send(self, method: str, path: str, headers: dict | None, single: bool, kwargs: dict) -> Any:
        if not single:
            return self.request(method, path, headers=self._headers(headers), **kwargs)
        # ``request(once=True)`` gives up on a 429; ``_attempt`` is one attempt that waits it out.
        external_id, decode = kwargs.pop("external_id", ""), kwargs.pop("decode", False)
        return self._attempt(method, path, external_id, decode, {**kwargs, "headers": self._headers(headers)})

    def _headers(self, extra: dict | None) -> dict:
        return {"Authorization": f"Bearer {self._token}", "SellerId": self.settings.seller_id,
                "Accept": "application/json", **(extra or {})}

    def _check(self, response: requests.Response, method: str, path: str, external_id: str) -> None:
        code = response.status_code
        body = problem(response) if code >= 400 else None
        if body is None:
            return super()._check(response, method, path, external_id)
        said = self.mask(describe_problem(body))
        if code == 401:
            err = self._error(AuthError, f"{method} {path}: HTTP 401, Octopia refused the access token ({said})",
                              external_id, code)
        elif code == 403:
            login = self.connection.login
            err = self._error(AuthError, f"{method} {path}: HTTP 403, this seller ({self.settings.seller_id}) has not "
                              f"delegated to our client id {login} ({said}). Resolution: the seller links client id "
                              f"{login} to its account on Octopia's API Credentials Management page "
                              f"({DELEGATION_PAGE}); if it did, check the extra seller_id of connection "
                              f"{self.conn_id}.", external_id, code)
        elif code >= 500 or code == 408:
            err = self._error(Retryable, f"{method} {path}: HTTP {code}, Octopia: {said}", external_id, code)
        else:  # 400, 404 of a record, 409, 422: Octopia refused this request, in its own words
            err = self._error(InvalidPayload, f"{method} {path}: HTTP {code}, Octopia refused it: {said}",
                              external_id, code)
        err.problem = body
        raise err

    # -- sales channels and orders ----------------------------------------------------------
    def sales_channels(self) -> list[str]:
        """The extra ``sales_channels``, or every channel the seller subscribes to (read once)."""
        if self.settings.sales_channels:
            return self.settings.sales_channels
        if self._channels is None:
            body = self.call("GET", "sellers/subscriptions", decode=True)
            items = body.get("items", body) if isinstance(body, dict) else body
            if not isinstance(items, list):
                raise self._error(InvalidPayload, "sellers/subscriptions: expected a list of subscriptions")
            states = {s.lower() for s in self.settings.subscription_states}
            found = []
            for item in items:
                if not isinstance(item, dict):
                    continue
                sid = item.get("sales-channel-id") or item.get("salesChannelId") or item.get("sales_channel_id")
                state = item.get("status") or item.get("state")
                if sid and (state is None or str(state).lower() in states):
                    found.append(str(sid))
            self._channels = list(dict.fromkeys(found))
        return self._channels

    def iter_orders(self, window: Window) -> Iterator[list[dict]]:
        """``GET /orders`` pages updated in ``window`` (its start less the overlap), per sales channel."""
        start = window.start - timedelta(minutes=self.settings.order_overlap_minutes)
        size = self.settings.page_size
        for sales_channel in self.sales_channels():
            page = 1
            while True:
                params = {"salesChannelId": sales_channel, "updatedAtMin": iso(start),
                          "updatedAtMax": iso(window.end, round_up=True), "pageIndex": page, "pageSize": size}
                body = self.call("GET", "orders", params=params, decode=True)
                items = body.get("items") if isinstance(body, dict) else None
                if not isinstance(items, list):
                    raise self._error(InvalidPayload, f"orders ({sales_channel}, page {page}): expected "
                                      "{itemsPerPage, items[]}")
                yield items
                if len(items) < size:
                    break
                page += 1

    def order(self, order_id: str) -> dict:
        body = self.call("GET", f"orders/{order_id}", external_id=order_id, decode=True)
        if not isinstance(body, dict):
            raise self._error(InvalidPayload, f"orders/{order_id}: expected an order object", order_id)
        return body

    def approve(self, order_id: str, approval: str) -> None:
        """``POST /orders/{id}/approval-status`` with ``Accepted`` or ``Refused``: a single try (a lost
        answer is checked by re-reading the order, ``writeback``), a 429 waited out."""
        self.call("POST", f"orders/{order_id}/approval-status", json={"approval_status": approval},
                  external_id=order_id, single=True)

    def declare_parcels(self, order_id: str, parcels: list[dict]) -> None:
        """``POST /orders/{id}/shipments`` with an array of parcels: a single try, as ``approve``."""
        self.call("POST", f"orders/{order_id}/shipments", json=parcels, external_id=order_id, single=True)

    # -- offer packages ---------------------------------------------------------------------
    def create_package(self, sales_channel: str) -> str:
        """A new ``Update`` package for one sales channel; its id from ``Content-Location``."""
        response = self.call("POST", "offer-packages", json={"packageType": "Update"},
                             headers={"SalesChannelId": sales_channel,
                                      "Accept-Language": self.settings.accept_language})
        location = response.headers.get("Content-Location") or response.headers.get("Location") or ""
        package_id = location.rstrip("/").rsplit("/", 1)[-1]
        if not package_id:
            try:
                package_id = str((response.json() or {}).get("id") or "")
            except ValueError:
                package_id = ""
        if not package_id:
            raise self._error(InvalidPayload, "offer-packages: created, but no Content-Location with its id")
        return package_id

    def add_offer_requests(self, package_id: str, requests_: list[dict]) -> None:
        size = self.settings.offer_batch
        for i in range(0, len(requests_), size):
            self.call("POST", f"offer-packages/{package_id}/offer-requests", json=requests_[i:i + size])

    def set_ready(self, package_id: str) -> None:
        self.call("PATCH", f"offer-packages/{package_id}", json={"state": "Ready"})

    def package(self, package_id: str) -> dict:
        body = self.call("GET", f"offer-packages/{package_id}", decode=True)
        return body if isinstance(body, dict) else {}

    def package_results(self, package_id: str) -> list[dict]:
        """Every per-item result (cursor paged: ``Link: <...>; rel="next"``, or a ``cursor`` in the body)."""
        limit = self.settings.results_limit
        results, params = [], {"limit": limit}
        while True:
            response = self.call("GET", f"offer-packages/{package_id}/offer-requests-results", params=params)
            body = self._decode(response, "offer-requests-results")
            items = body.get("items") if isinstance(body, dict) else body
            results += [i for i in items or [] if isinstance(i, dict)]
            following = response.links.get("next", {}).get("url")
            cursor = body.get("cursor") or body.get("nextCursor") if isinstance(body, dict) else None
            if not items or not (following or cursor):
                return results
            if following:
                from urllib.parse import parse_qs, urlsplit

                params = {k: v[0] for k, v in parse_qs(urlsplit(following).query).items()}
            else:
                params = {"limit": limit, "cursor": cursor}
