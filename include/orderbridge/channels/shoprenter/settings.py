"""Shoprenter shop settings, from the connection's extras.

One Airflow connection per shop (``orderbridge_shoprenter_<account>``), ``conn_type http``:
login/password are the shop's API user and key (``auth: basic``, the legacy host) or an app's
client id and secret (``auth: oauth2``, ``api2``). Facts the reference (shoprenter-plenty-api.md
part A) marks as guesses [G] are settings here, each with a row in the README's guess table.
"""

from __future__ import annotations

import re
from typing import ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from orderbridge.channels.settings import ChannelSettings

MAX_LIMIT = 200  # paging ``limit`` and sub-requests per /batch (A4, A8 [C])
STOCK_FIELDS = ("stock1", "stock2", "stock3", "stock4")
_SHOP = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
_INNER_ID = re.compile(r"[0-9]{1,12}")


class ShoprenterSettings(ChannelSettings):
    """A Shoprenter shop's extras.

    Attributes:
        shop: the shop's "Path" (``https://{shop}.api.myshoprenter.hu``).
        auth: ``basic`` (API user:key on the legacy host) or ``oauth2`` (client id/secret, api2).
        api_base: the API's base URL; default from ``shop`` and ``auth``.
        token_url: the OAuth2 token endpoint (``auth: oauth2``).
        webhook_secret: the secret in our webhook URL (``/shoprenter/{shop}/{secret}/order-status``);
            none: webhooks are refused and only the poll brings orders.
        webhook_url: our receiver's public URL, registered with ``POST /webHooks`` when set.
        order_becomes: what a new order is in staging: ``ready`` (invoice: ship it),
            ``awaiting_payment`` (pro-forma: ship once the shop status is one of ``paid_statuses``)
            or ``held`` (draft: a person releases it).
        paid_statuses: orderStatus innerIds that mean paid [G: a default shop's "Fizetve" is 15].
        cancelled_statuses: orderStatus innerIds that cancel the order [G: 7 "Visszavonva"].
        accepted_status: orderStatus innerId written back once an order is staged; none: nothing.
        order_overlap_minutes: ``updatedAtMin`` starts this long before the run's window [G].
        shop_timezone: the zone of the shop's date filters and dates [G: no zone is given; Hungary's].
        limit: ``limit`` of a page (1-200).
        batch_size: sub-requests per ``/batch`` (1-200).
        shop_rate: requests per second per shop across every task (3 [C]).
        batch_cost: slots of the rate limit one ``/batch`` takes: ``one`` or ``per_item`` [G].
        quantity_fields: order product fields summed into the line quantity [G: stock1..stock4].
        catalogue_download / catalogue_upload: each catalogue direction, switched per shop.
        excluded_groups: product groups never uploaded nor downloaded (names or innerIds).
        group_field: the product field that names its group [G: not in the reference; default the first
            category of ``productCategoryRelations``, by its name].
        price_customer_group: customer group whose price is downloaded; none: the product's ``price``.
        stock_down_warehouse: warehouse the shop's stock is written to; none: stock is not downloaded.
        stock_up_warehouses: warehouses summed into the stock sent up; none: every warehouse.
        stock_field: the shop stock field the warehouse's stock is written to [G: stock1, the primary].
        token_margin_seconds: renew a cached token this long before it expires.
        webhook_max_bytes: largest webhook body taken.
    """

    channel: ClassVar[str] = "shoprenter"

    shop: str
    auth: Literal["basic", "oauth2"] = "basic"
    api_base: str = ""
    token_url: str = ""
    webhook_secret: str | None = None
    webhook_url: str | None = None
    order_becomes: Literal["ready", "awaiting_payment", "held"] = "ready"
    paid_statuses: list[str] = ["15"]
    cancelled_statuses: list[str] = ["7"]
    accepted_status: str | None = None
    order_overlap_minutes: int = Field(15, ge=0, le=24 * 60)
    shop_timezone: str = "Europe/Budapest"
    limit: int = Field(MAX_LIMIT, ge=1, le=MAX_LIMIT)
    batch_size: int = Field(MAX_LIMIT, ge=1, le=MAX_LIMIT)
    shop_rate: float = Field(3.0, gt=0, le=100, allow_inf_nan=False)
    batch_cost: Literal["one", "per_item"] = "one"
    quantity_fields: list[Literal["stock1", "stock2", "stock3", "stock4"]] = list(STOCK_FIELDS)
    catalogue_download: bool = False
    catalogue_upload: bool = False
    excluded_groups: list[str] = []
    group_field: str = "productCategoryRelations"
    price_customer_group: str | None = None
    stock_down_warehouse: str | None = None
    stock_up_warehouses: list[str] | None = None
    stock_field: Literal["stock1", "stock2", "stock3", "stock4"] = "stock1"
    token_margin_seconds: int = Field(300, ge=0, le=3000)
    webhook_max_bytes: int = Field(1_000_000, ge=1024)

    @field_validator("shop_timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("must be an IANA time zone such as \"Europe/Budapest\"") from None
        return value

    @field_validator("shop")
    @classmethod
    def _shop(cls, value: str) -> str:
        if not _SHOP.fullmatch(value):
            raise ValueError("extra shop must be the shop's Path, e.g. \"demoshop\" of https://demoshop.api.myshoprenter.hu")
        return value

    @field_validator("paid_statuses", "cancelled_statuses", mode="before")
    @classmethod
    def _statuses(cls, value):
        values = [value] if isinstance(value, str | int) else value
        if not isinstance(values, list) or not all(_INNER_ID.fullmatch(str(v)) for v in values):
            raise ValueError("must be orderStatus innerIds (numbers), e.g. [\"15\"]")
        return [str(v) for v in values]

    @field_validator("accepted_status", mode="before")
    @classmethod
    def _accepted(cls, value):
        if value in (None, ""):
            return None
        if not _INNER_ID.fullmatch(str(value)):
            raise ValueError("must be an orderStatus innerId (a number), e.g. \"2\"")
        return str(value)

    @field_validator("webhook_secret")
    @classmethod
    def _secret(cls, value: str | None) -> str | None:
        if value is not None and (len(value) < 16 or not re.fullmatch(r"[A-Za-z0-9_-]+", value)):
            raise ValueError("must be at least 16 URL-safe characters (letters, digits, - and _)")
        return value

    @field_validator("api_base", "token_url", "webhook_url")
    @classmethod
    def _url(cls, value):
        if value and not value.startswith(("https://", "http://")):
            raise ValueError("must be an http(s) URL")
        return value.rstrip("/") if value else value

    @model_validator(mode="after")
    def _defaults(self):
        # Frozen model: defaults that depend on other fields are filled in through __dict__.
        if not self.api_base:
            host = "api2" if self.auth == "oauth2" else "api"
            self.__dict__["api_base"] = (f"https://{self.shop}.api2.myshoprenter.hu/api" if host == "api2"
                                         else f"https://{self.shop}.api.myshoprenter.hu")
        if not self.token_url:
            self.__dict__["token_url"] = f"https://oauth.app.shoprenter.net/{self.shop}/app/token"
        return self
