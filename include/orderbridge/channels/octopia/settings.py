"""Octopia account settings, from the connection's extras.

One Airflow connection per seller delegation (``orderbridge_octopia_<account>``): host, port and
schema are the API server, login/password **our** platform's client id and secret (the seller
only gives us its SellerId), extras the ones below plus the shared ones (``api_path``:
``/seller/v2``). Facts the API reference marks as guesses [G] are settings here, each listed in
the README's guess table.
"""

from __future__ import annotations

import re
from typing import ClassVar, Literal

from pydantic import Field, field_validator

from orderbridge.channels.settings import ChannelSettings

DEFAULT_TOKEN_URL = "https://auth.octopia-io.net/auth/realms/maas/protocol/openid-connect/token"
MAX_PAGE_SIZE = 100  # GET /orders refuses more (octopia-api.md §3, [C])
_SALES_CHANNEL = re.compile(r"[A-Za-z0-9_-]{1,40}")


class OctopiaSettings(ChannelSettings):
    """An Octopia seller delegation's extras.

    Attributes:
        token_url: the OAuth2 token endpoint (client credentials).
        seller_id: the seller's Octopia id, sent as the ``SellerId`` header on every call.
        sales_channels: salesChannelIds to sync; None (absent): every channel the seller
            subscribes to (``GET /sellers/subscriptions``), read once per task.
        order_overlap_minutes: how far before the run's window ``updatedAtMin`` starts, for orders
            Octopia indexes late [G: C-ma uses 15, an integrator advises 60].
        page_size: ``pageSize`` of ``GET /orders`` (1-100).
        token_margin_seconds: a cached token is renewed this long before it expires [G: a client
            library uses 5 minutes].
        acceptance: what a ``WaitingAcceptance`` order the warehouse cannot fulfil (unknown SKU,
            short stock) gets: ``hold`` (default: stays waiting, flagged for a person, accepted as
            soon as it can be) or ``refuse`` (refused on Cdiscount at once).
        accept_language: ``Accept-Language`` of offer-package calls [G: clients send fr-FR].
        offer_batch: offer requests per ``POST .../offer-requests`` [G: a client caps at 100].
        results_limit: ``limit`` of a cursor page of ``offer-requests-results`` [G: the largest
            limit is not documented; 100, the orders' page cap, is taken as the safe reading].
        subscription_states: ``status`` words of ``GET /sellers/subscriptions`` that count as
            subscribed [G: the words are not documented]; a subscription without one counts.
    """

    channel: ClassVar[str] = "octopia"

    token_url: str = DEFAULT_TOKEN_URL
    seller_id: str
    sales_channels: list[str] | None = None
    order_overlap_minutes: int = Field(15, ge=0, le=24 * 60)
    page_size: int = Field(MAX_PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE)
    token_margin_seconds: int = Field(300, ge=0, le=3600)
    acceptance: Literal["hold", "refuse"] = "hold"
    accept_language: str = "fr-FR"
    offer_batch: int = Field(100, ge=1, le=1000)
    results_limit: int = Field(100, ge=1, le=1000)
    subscription_states: list[str] = ["Active", "Activated", "Enabled", "Open"]

    @field_validator("seller_id", mode="before")
    @classmethod
    def _seller(cls, value):
        text = str(value).strip() if isinstance(value, str | int) and not isinstance(value, bool) else ""
        if not text.isascii() or not text.isdigit():
            raise ValueError("extra seller_id must be the seller's numeric Octopia id (the SellerId header)")
        return text

    @field_validator("sales_channels", mode="before")
    @classmethod
    def _channels(cls, value):
        if value in (None, "", []):
            return None
        if isinstance(value, str):
            value = [v for v in value.replace("+", ",").split(",")]
        if not isinstance(value, list) or not all(isinstance(v, str) and _SALES_CHANNEL.fullmatch(v.strip())
                                                  for v in value):
            raise ValueError("extra sales_channels must be a list of salesChannelIds such as [\"CDISFR\"]")
        return list(dict.fromkeys(v.strip() for v in value))

    @field_validator("token_url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError("extra token_url must be an http(s) URL of the OAuth2 token endpoint")
        return value
