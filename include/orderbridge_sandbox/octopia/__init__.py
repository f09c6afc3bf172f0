"""Octopia Seller API v2 fake (Cdiscount and the other Octopia sales channels), built from the API
notes alone (octopia-api.md; seed 001), never from our client.

Served under ``/octopia`` (the first path segment names the channel, so fault rules with
``"channel": "octopia"`` reach it):

- ``POST /octopia/auth/realms/maas/protocol/openid-connect/token``: client credentials in a form
  body; ``access_token``, ``expires_in`` (``--octopia-token-ttl``, 7200), ``token_type`` Bearer; 401
  for a bad secret; every token issued is counted per client (``/_sandbox/octopia/state``); past
  ``--octopia-token-quota`` (500) tokens in a rolling hour a client gets 429 [G: the answer].
- ``/octopia/seller/v2/...``: ``sellers``, ``sellers/subscriptions``, ``orders`` (filters, 1-based
  ``pageIndex``/``pageSize``, ``{itemsPerPage, items}``), ``orders/count``, ``orders/{id}``,
  ``orders/{id}/approval-status``, ``orders/{id}/shipments``, ``carriers`` (invented rows),
  ``offers``, ``offer-packages`` (and
  ``/{id}``, ``/{id}/offer-requests``, ``/{id}/offer-requests-results``). Each needs a live Bearer
  token and a ``SellerId`` header of a seller delegated to the token's client (else 401 / 403).

Errors are ``application/problem+json`` (``type``, ``title``, ``status``, ``detail``, ``errors``,
``traceId``), the 429 of a fault rule included. Where the notes mark a fact as a guess [G], the
reading taken here, and its option where a client could depend on it:

- the token endpoint errs in problem+json as D-tech's tables say; ``--octopia-token-errors keycloak``
  answers Keycloak's ``{"error", "error_description"}`` instead; no ``refresh_token`` is issued;
- a missing ``SellerId`` is 400; an unknown seller is 403 like an undelegated one;
- ``GET /sellers`` answers one object, ``/sellers/subscriptions`` a bare array of
  ``{"sales-channel-id", "status", "currencies"}``; channel ids other than ``CDISFR`` are invented;
- orders: date filters include both bounds; ``pageSize`` defaults to ``--octopia-default-page-size``
  (20) and above ``--octopia-max-page-size`` (100) is 400; ``itemsPerPage`` is the page size asked
  for; default sort ``createdAt`` ascending, ``sort=desc:KEY`` or ``desc=true`` reverse it;
  ``orders/count`` answers ``{"count": n}``; an order's status is its least advanced live line's;
- outside Cdiscount, Processing moves to Accepted (no WaitingAcceptance); an accepted order passes
  the marketplace's controls into InPreparation ``--octopia-prepare-delay`` seconds later (60; < 0:
  only the control route moves it); approval and shipments answer ``--octopia-write-status`` (204,
  or 200 with the order); refusals are 400 problem+json;
- offer packages: created with an empty 201 body (the id only in ``Content-Location``), IntegrationPending
  half-way and Integrated/Rejected after ``--octopia-package-delay`` seconds (300), at most
  ``--octopia-max-offer-requests`` (100) per upload; see ``offers`` for the item rules; stock per
  channel, or one figure for all the seller's channels with ``--octopia-shared-stock``.

Time is the fake's ``Clock``: ``POST /_sandbox/octopia/clock`` moves it on, so tests see tokens
expire and packages integrate without sleeping. Modules: ``state`` (records, state machine),
``factory`` (orders), ``sandbox`` (behaviour), ``offers`` (packages), ``routes``, ``control``.
``FAKE`` plugs it into the sandbox app and its command line (``orderbridge_sandbox.plugin``).
"""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass
from datetime import datetime

from fastapi import FastAPI

from orderbridge_sandbox.catalogue import OCTOPIA_OFFERS
from orderbridge_sandbox.octopia.control import control_router
from orderbridge_sandbox.octopia.factory import CDISCOUNT_ONLY, OctopiaOrderFactory
from orderbridge_sandbox.octopia.offers import OfferPackages
from orderbridge_sandbox.octopia.routes import api_router
from orderbridge_sandbox.octopia.sandbox import OctopiaSandbox, Settings
from orderbridge_sandbox.octopia.state import CDISCOUNT, CHANNEL, PROBLEM, STATUSES, Problem
from orderbridge_sandbox.plugin import Fake, spec_type

_CHANNEL_ID = re.compile(r"[A-Z0-9]{2,12}")


@dataclass(frozen=True)
class OctopiaSellerSpec:
    """One ``--octopia CLIENT_ID:CLIENT_SECRET:SELLER_ID:N[:CHANNELS]``."""

    client_id: str
    secret: str
    seller_id: str
    n_orders: int
    channels: tuple[str, ...] = (CDISCOUNT,)

    @classmethod
    def parse(cls, text: str) -> OctopiaSellerSpec:
        """Parse the spec; the secret may contain ``:``, CHANNELS is ``+``-separated (default CDISFR).

        Raises:
            ValueError: too few parts, an empty part, N not a number, or a malformed channel id.
        """
        parts = text.split(":")
        channels: tuple[str, ...] = (CDISCOUNT,)
        if len(parts) >= 5 and not parts[-1].isdigit() and parts[-2].isdigit():
            channels = tuple(c.strip() for c in parts.pop().split("+"))
            bad = [c for c in channels if not _CHANNEL_ID.fullmatch(c)]
            if bad:
                raise ValueError(f"sales channel ids are upper-case letters and digits, got {', '.join(bad)}")
        if len(parts) < 4 or not parts[-1].isdigit() or not all((parts[0], parts[-2], ":".join(parts[1:-2]))):
            raise ValueError(f"expected CLIENT_ID:CLIENT_SECRET:SELLER_ID:N[:CHANNELS], got {parts[0]}:...")
        return cls(parts[0], ":".join(parts[1:-2]), parts[-2], int(parts[-1]), tuple(dict.fromkeys(channels)))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--octopia", action="append", type=spec_type(OctopiaSellerSpec.parse), default=[],
                        metavar="CLIENT_ID:CLIENT_SECRET:SELLER_ID:N[:CHANNELS]",
                        help="a seller delegated to an API client, with N initial orders spread over its sales "
                             "channels (CHANNELS: '+'-separated salesChannelIds, default CDISFR; repeatable)")
    parser.add_argument("--octopia-token-ttl", type=int, default=7200, help="access token lifetime, seconds")
    parser.add_argument("--octopia-token-quota", type=int, default=500,
                        help="tokens a client may get per rolling hour; more are answered 429")
    parser.add_argument("--octopia-token-errors", choices=("problem", "keycloak"), default="problem",
                        help="token endpoint error body: problem+json or Keycloak's error/error_description")
    parser.add_argument("--octopia-default-page-size", type=int, default=20, help="orders pageSize when absent [G]")
    parser.add_argument("--octopia-max-page-size", type=int, default=100, help="largest orders pageSize")
    parser.add_argument("--octopia-write-status", type=int, choices=(200, 204), default=204,
                        help="success status of approval-status and shipments [G]")
    parser.add_argument("--octopia-prepare-delay", type=float, default=60.0,
                        help="seconds from Accepted to InPreparation (< 0: only the control route moves it)")
    parser.add_argument("--octopia-package-delay", type=float, default=300.0,
                        help="seconds from Ready to Integrated/Rejected for offer packages")
    parser.add_argument("--octopia-max-offer-requests", type=int, default=100, help="offer requests per upload [G]")
    parser.add_argument("--octopia-shared-stock", action="store_true",
                        help="a quantity integrated on one channel applies to all the seller's channels")
    parser.add_argument("--octopia-fbo-share", type=float, default=0.15,
                        help="share of generated lines fulfilled by Octopia (supplyMode Fulfillment)")
    parser.add_argument("--octopia-xdock-share", type=float, default=0.05,
                        help="share of generated lines cross-docked (supplyMode Xdock)")
    parser.add_argument("--octopia-statuses", type=lambda text: tuple(t.strip() for t in text.split(",") if t.strip()),
                        default=None, metavar="STATUS,...",
                        help="draw generated orders' statuses from these only (default: every status); e.g. "
                             "without Processing and Accepted no order waits for the marketplace's own moves")
    parser.add_argument("--octopia-split-address-share", type=float, default=0.1,
                        help="share of generated multi-line orders whose lines ship to different addresses")
    # Octopia is read by update window only (no queue), so a live sandbox whose orders are spread over
    # --days shows a scheduled run (its 10-minute interval) almost none of them.
    parser.add_argument("--octopia-days", type=float, default=None,
                        help="spread the initial Octopia orders over this many days before the anchor "
                             "(default: --days); e.g. 0.02 so live runs find them")


def build(app: FastAPI, options: argparse.Namespace, seed: int, anchor: datetime, days: float) -> OctopiaSandbox:
    """The sellers of ``--octopia`` with their orders and offers, and their routes on ``app``."""
    sandbox = OctopiaSandbox(Settings(
        token_ttl=options.octopia_token_ttl, token_errors=options.octopia_token_errors,
        token_quota=options.octopia_token_quota,
        default_page_size=options.octopia_default_page_size, max_page_size=options.octopia_max_page_size,
        write_status=options.octopia_write_status, prepare_delay=options.octopia_prepare_delay,
        package_delay=options.octopia_package_delay, max_offer_requests=options.octopia_max_offer_requests,
        shared_stock=options.octopia_shared_stock))
    for spec in options.octopia:
        factory = OctopiaOrderFactory(seed, spec.seller_id, anchor, days=options.octopia_days or days,
                                      fbo_share=options.octopia_fbo_share,
                                      xdock_share=options.octopia_xdock_share,
                                      split_address_share=options.octopia_split_address_share,
                                      statuses=options.octopia_statuses)
        # Every catalogue offer is listed on every channel, with a small stock until packages change it.
        offers = {c: {o.channel_sku: {"quantity": 5, "price": o.unit_price} for o in OCTOPIA_OFFERS}
                  for c in spec.channels}
        sandbox.add_seller(spec.client_id, spec.secret, spec.seller_id, spec.channels, factory, spec.n_orders, offers)
    sandbox.packages = OfferPackages(sandbox.sellers, options.octopia_package_delay,
                                     options.octopia_max_offer_requests, options.octopia_shared_stock)
    app.include_router(control_router(sandbox))
    app.include_router(api_router(sandbox))
    return sandbox


def _check(options: argparse.Namespace) -> str | None:
    if not 1 <= options.octopia_default_page_size <= options.octopia_max_page_size:
        return "--octopia-default-page-size must be between 1 and --octopia-max-page-size"
    if options.octopia_days is not None and options.octopia_days <= 0:
        return "--octopia-days must be positive"
    if options.octopia_fbo_share + options.octopia_xdock_share > 1:
        return "--octopia-fbo-share plus --octopia-xdock-share cannot exceed 1"
    chosen = options.octopia_statuses
    if chosen is not None:
        unknown = [s for s in chosen if s not in STATUSES]
        if unknown or not chosen:
            return (f"--octopia-statuses takes statuses among {', '.join(STATUSES)}, "
                    f"got {', '.join(unknown) or 'none'}")
        others = any(c != CDISCOUNT for spec in options.octopia for c in spec.channels)
        if others and all(s in CDISCOUNT_ONLY for s in chosen):
            return (f"--octopia-statuses: {', '.join(chosen)} exist only on {CDISCOUNT}; "
                    "add a status other channels have")
    secrets: dict[str, str] = {}
    for spec in options.octopia:
        if secrets.setdefault(spec.client_id, spec.secret) != spec.secret:
            return f"--octopia: client {spec.client_id} is given with two different secrets"
    return None


def _summary(options: argparse.Namespace) -> str:
    return "octopia sellers: " + (", ".join(f"{s.seller_id} ({'+'.join(s.channels)})" for s in options.octopia)
                                  or "none")


RATE_LIMIT_BODY = Problem(429, "Too Many Requests", "Rate limit exceeded: retry after the Retry-After delay").body()

FAKE = Fake(CHANNEL, add_arguments, build, content_type=PROBLEM, rate_limit_body=RATE_LIMIT_BODY, check=_check,
            summary=_summary)

__all__ = ["CHANNEL", "FAKE", "OctopiaSandbox", "OctopiaSellerSpec", "Settings", "api_router", "build",
           "control_router"]
