"""Shoprenter webshop fake (legacy API, api2 and its OAuth2 token endpoint), built from the API notes
alone (shoprenter-plenty-api.md part A; seed 002), never from our client.

Served under ``/shoprenter`` (the first path segment names the channel, so fault rules with
``"channel": "shoprenter"`` reach it):

- legacy host ``https://{shop}.api.myshoprenter.hu/<r>`` is ``/shoprenter/{shop}/<r>``, HTTP Basic
  with the shop's API user and key;
- api2 ``https://{shop}.api2.myshoprenter.hu/api/<r>`` is ``/shoprenter/{shop}/api2/<r>``, Bearer;
- ``POST https://oauth.app.shoprenter.net/{shop}/app/token`` is ``/shoprenter/oauth/{shop}/app/token``
  (JSON client credentials; 400 ``invalid_request`` / 401 ``invalid_client`` bodies as A1).

Resources: ``orders`` (GET, PUT of ``orderStatus{id}``) and ``orderExtend`` with the A5 filters,
``orderProducts?orderId=`` (quantity only as ``stock1..stock4``), ``orderTotals``, ``orderHistories``,
``orderStatuses``, ``orderStatusDescriptions``, ``products`` and ``productExtend`` (``?sku=`` for
POST/PUT/DELETE; an unknown SKU is 404/40033), ``customerGroupProductPrices``, ``customerGroups``,
``categories`` (the product groups), ``currencies``, ``languages``, ``countries``, ``taxClasses``,
``webHooks`` (capital H: ``/webhooks`` is 404) and ``/batch``. Ids are base64
``<type>-<column>=<n>``, ``innerId`` the number as a string; hrefs use the fake's own base URL.

A shop has these order statuses (innerId: name): 1 Függőben (pending), 2 Feldolgozás alatt
(processing), 3 Kiszállítva (shipped), 4 Csomagolás alatt (packing), 5 Teljesítve (completed),
6 Visszaküldve (returned), 7 Visszavonva (cancelled; what ``excludeStorno`` leaves out), 15 Fizetve
(paid). Card-paid orders start in 15, others in 1; a few generated orders have no status
(abandoned carts, left out by ``excludeAbandonedCart=1``).

Where the notes mark a fact as a guess [G], the reading taken here, with its option where a client
could depend on it:

- errors are ``{"error": <inner code>, "message": ...}`` (XML: ``<response><error/><message/>``);
  validation errors without a documented code use 40012; the 429 uses 42901 and sends no
  ``Retry-After`` (none is documented; ``--shoprenter-retry-after S`` adds one);
- XML: dict keys are elements, a list under a plural key has ``<item>`` children, under a singular
  key (``request``) repeats the element; the root is ``<response>``;
- paging numbers are strings on ``/orders`` (which has no ``pageCount``) and ints elsewhere
  (``--shoprenter-page-numbers mixed|str|int``); ``limit`` defaults to ``--shoprenter-default-limit``
  (25) and outside 1..200 is refused (400), not clamped; filters keep both bounds inclusive;
- dates are shop local time without an offset (``--shoprenter-timezone``, Europe/Budapest);
- writes refuse unknown or read-only fields (400 naming them) rather than ignoring them;
- a PUT of ``orderStatus`` writes an orderHistory row and fires ``order_status_change``
  (``--shoprenter-put-status-webhook off``: only admin changes, the control route, fire it); a PUT
  of the status the order already has changes nothing;
- a ``/batch`` counts as one request against the 3 a second (``--shoprenter-batch-counts each``:
  every sub-request counts); more than ``--shoprenter-max-batch`` (200) sub-requests is a 400;
  sub-requests may address the fake's base, the real hosts or a bare path; an item failed by a
  ``batch-faults`` rule (control route) answers ``{"error": <status>01, "message": ...}``;
- webhooks: delivered at once (``webHookDelay`` is stored, not honoured), once, not retried; a
  hook's ``fields`` keep the payload's plain key names; ``orderHistory.status`` is the innerId;
- the rate limit counts every request to a shop's API hosts, refused ones excluded, per wall-clock
  second (``--shoprenter-rate-limit``, 3; 0 turns it off).

Modules: ``state`` (records, ids, errors), ``factory`` (orders), ``wire`` (XML/JSON, bodies,
paging), ``resources`` (orders side) and ``catalog`` (products side) behind ``ShopApi.handle``,
``sandbox`` (auth, limit, status changes), ``batch`` (``/batch`` and its item faults), ``webhooks``,
``routes``, ``control``. ``FAKE`` plugs it
into the sandbox app and its command line (``orderbridge_sandbox.plugin``).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from datetime import datetime

from fastapi import FastAPI

from orderbridge_sandbox.plugin import Fake, spec_type
from orderbridge_sandbox.shoprenter.control import control_router
from orderbridge_sandbox.shoprenter.routes import api_router
from orderbridge_sandbox.shoprenter.sandbox import ShoprenterSandbox
from orderbridge_sandbox.shoprenter.state import CHANNEL, Settings, Shop


@dataclass(frozen=True)
class ShopSpec:
    """One ``--shoprenter SHOP:USER:KEY:N[:CLIENT_ID:CLIENT_SECRET]``."""

    shop: str
    user: str
    key: str
    n_orders: int
    client_id: str | None = None
    client_secret: str | None = None

    @classmethod
    def parse(cls, text: str) -> ShopSpec:
        """Raises: ValueError: not 4 or 6 parts, an empty part, or N not a number."""
        parts = text.split(":")
        if len(parts) not in (4, 6) or not all(parts) or not parts[3].isdigit():
            raise ValueError(f"expected SHOP:USER:KEY:N[:CLIENT_ID:CLIENT_SECRET], got {parts[0]}:... "
                             f"({len(parts)} parts)")
        if not parts[0].replace("-", "").isalnum():
            raise ValueError(f"the shop name is the host's first label (letters, digits, -), got {parts[0]!r}")
        return cls(parts[0], parts[1], parts[2], int(parts[3]), *(parts[4:6] if len(parts) == 6 else ()))


def _on_off(text: str) -> bool:
    if text not in ("on", "off"):
        raise argparse.ArgumentTypeError("on or off")
    return text == "on"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--shoprenter", action="append", type=spec_type(ShopSpec.parse), default=[],
                        metavar="SHOP:USER:KEY:N[:CLIENT_ID:CLIENT_SECRET]",
                        help="a Shoprenter shop with its API user and key, N initial orders and, for api2, an "
                             "OAuth client id and secret (repeatable)")
    parser.add_argument("--shoprenter-rate-limit", type=int, default=3,
                        help="requests per shop per second before 429 (0: no limit)")
    parser.add_argument("--shoprenter-batch-counts", choices=("one", "each"), default="one",
                        help="a /batch counts as one request, or as each of its sub-requests [G]")
    parser.add_argument("--shoprenter-max-batch", type=int, default=200, help="sub-requests per /batch")
    parser.add_argument("--shoprenter-default-limit", type=int, default=25, help="page size without limit= [G]")
    parser.add_argument("--shoprenter-token-ttl", type=int, default=3600, help="access token lifetime, seconds")
    parser.add_argument("--shoprenter-timezone", default="Europe/Budapest", help="the shops' local time [G]")
    parser.add_argument("--shoprenter-page-numbers", choices=("mixed", "str", "int"), default="mixed",
                        help="paging numbers as strings on /orders and ints elsewhere, or one way everywhere")
    parser.add_argument("--shoprenter-put-status-webhook", type=_on_off, default=True, metavar="on|off",
                        help="a PUT of orderStatus fires order_status_change [G]")
    parser.add_argument("--shoprenter-retry-after", type=int, default=None,
                        help="send Retry-After (seconds) with the 429 (Shoprenter documents none)")


def build(app: FastAPI, options: argparse.Namespace, seed: int, anchor: datetime, days: float) -> ShoprenterSandbox:
    """The shops of ``--shoprenter`` with their products and orders, and their routes on ``app``."""
    sandbox = ShoprenterSandbox(Settings(
        rate_limit=options.shoprenter_rate_limit, batch_counts=options.shoprenter_batch_counts,
        max_batch=options.shoprenter_max_batch, default_limit=options.shoprenter_default_limit,
        token_ttl=options.shoprenter_token_ttl, timezone=options.shoprenter_timezone,
        page_numbers=options.shoprenter_page_numbers, put_status_webhook=options.shoprenter_put_status_webhook,
        retry_after=options.shoprenter_retry_after), seed)
    for spec in options.shoprenter:
        sandbox.add_shop(Shop(spec.shop, spec.user, spec.key, spec.client_id, spec.client_secret),
                         spec.n_orders, anchor, days)
    app.include_router(control_router(sandbox))
    app.include_router(api_router(sandbox))
    return sandbox


def _check(options: argparse.Namespace) -> str | None:
    names = [s.shop for s in options.shoprenter]
    if len(set(names)) != len(names):
        return "--shoprenter: a shop is given twice"
    if "oauth" in names:
        return "--shoprenter: 'oauth' is the token endpoint's path, not a shop name"
    if not 1 <= options.shoprenter_default_limit <= 200:
        return "--shoprenter-default-limit must be between 1 and 200"
    if options.shoprenter_rate_limit < 0 or options.shoprenter_max_batch < 1:
        return "--shoprenter-rate-limit cannot be negative and --shoprenter-max-batch must be at least 1"
    try:
        _ = Settings(timezone=options.shoprenter_timezone).zone
    except (KeyError, ValueError):
        return f"--shoprenter-timezone: unknown time zone {options.shoprenter_timezone!r}"
    return None


def _summary(options: argparse.Namespace) -> str:
    return "shoprenter shops: " + (", ".join(s.shop + (" (+api2)" if s.client_id else "") for s in options.shoprenter)
                                   or "none")


RATE_LIMIT_BODY = {"error": 42901, "message": "Too Many Requests"}

FAKE = Fake(CHANNEL, add_arguments, build, rate_limit_body=RATE_LIMIT_BODY, check=_check, summary=_summary)

__all__ = ["CHANNEL", "FAKE", "ShopSpec", "ShoprenterSandbox", "api_router", "build", "control_router"]
