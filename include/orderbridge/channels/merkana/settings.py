"""A Merkana platform's configuration, read from its Airflow connection.

One connection per platform, ``orderbridge_merkana_<platform>`` (named in ``config/accounts.yaml``):

- host / schema / port and extra ``api_path``: Merkana's API for our posts
  (``https://api.merkana.group`` with ``/v1``);
- ``password``: the token Merkana gave us; we send it in the ``api-token`` header;
- extra ``inbound_token``: the secret Merkana must send us in ``api-token`` (one per platform);
  without it every inbound call is refused;
- extra ``merchants`` (optional): the merchant ids (``mid``) of this platform, as a list or as an
  object ``{"<mid>": {"unknown_product_sku": "..."}}``; when set, any other mid is refused;
- extra ``unknown_product_sku``: the warehouse SKU an order line with an unknown SKU goes onto, a
  template with ``{mid}`` and ``{unknownproductid}``; default ``{unknownproductid}``, i.e. the id
  Merkana sends is our warehouse SKU of the merchant's "unknown product"; a merchant entry may
  override it;
- extra ``stock_mode``: ``absolute`` (default: ``br`` is the new level, so a post sent again after
  its answer was lost changes nothing) or ``delta`` (``br`` is the change since what Merkana last
  accepted, negative after an audit; the seed has no idempotency key, so a delta whose answer was
  lost counts twice when it is sent again: only for a platform that applies ``br`` as a change);
- extra ``stock_owner``: whose stock a merchant sells (``staging.products``/``stock_levels``
  ``owner``), a template with ``{mid}``; default ``{mid}``: the FF's merchant id, as the seed
  defines ``mid``. ``""`` sells the warehouse's own stock (one figure for every merchant). A
  merchant entry may override it (``{"293": {"stock_owner": "acme"}}``);
- extra ``problem_status``: the status sent on ``ff-orders-status`` once for an order held for a
  person (``awaiting_mapping``, ``invalid_address``, ``awaiting_stock``), default ``problem``;
  ``""`` sends none;
- extras ``field_names`` and ``status_values``: see ``fields``; ``max_body_bytes`` (default 2 MiB);
- extras ``status_batch_size`` and ``stock_batch_size``: most outbox rows one ff-orders-status or
  ff-supplies post carries (default 100 and 500);
- extra ``unmapped_courier``: what a status update says about a parcel whose courier service has
  no row in ``staging.carrier_codes`` (channel ``merkana``): ``block`` (default: the status goes
  without ``awb`` and ``courier``, and the parcel waits for the row, as on every channel) or
  ``service_name`` (the warehouse's service name is sent as the courier, for a platform that takes
  free text);
- extra ``retry_delay_seconds``: how long a failed post waits before its next attempt (default 600,
  the seed's 10 minutes; ``client.MAX_ATTEMPTS`` attempts in all). The chaos suite sets seconds, as
  it cannot wait 10 minutes; the send tasks' own retry delay (``dags/merkana.py``) stays 10 minutes;
- the shared extras ``timeout``, ``rate_per_second``, ``max_retry_after`` (``channels.settings``).
  Any other extra is refused.

Accounts in staging are per merchant, ``<platform>/<mid>``: SKUs, the product catalogue, aliases and
stock are per merchant in Merkana (ff-supplies is per ``mid``), and one merchant may sell through
two platforms under the same FF ``mid``, so the platform is part of the name. Order ids are
unique per platform, hence per (channel, account, external id).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from datetime import timedelta
from typing import Any, ClassVar, Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from orderbridge.channels.merkana.fields import STATUS_VALUES, Fields
from orderbridge.channels.settings import ChannelSettings

STOCK_MODES = ("delta", "absolute")
UNMAPPED_COURIER_MODES = ("block", "service_name")
DEFAULT_MAX_BODY = 2 * 1024 * 1024
DEFAULT_UNKNOWN_SKU = "{unknownproductid}"
DEFAULT_RETRY_DELAY = 600  # seconds: the seed's 10 minutes between attempts
DEFAULT_STOCK_OWNER = "{mid}"  # the seed: mid is the "unique merchant id in FF system"
DEFAULT_PROBLEM_STATUS = "problem"  # a guess: the seed names no status for a held order


def account_name(platform: str, mid: str) -> str:
    """The staging account of one merchant of one platform."""
    return f"{platform}/{mid}"


def merchant_of(account: str) -> str:
    """The ``mid`` of a staging account made by ``account_name``."""
    return account.rsplit("/", 1)[1]


class PlatformSettings(ChannelSettings):
    """One Merkana platform: the connection's extras, plus the platform and connection they came from."""

    model_config = ConfigDict(arbitrary_types_allowed=True)  # Fields
    channel: ClassVar[str] = "merkana"
    context_fields: ClassVar[frozenset[str]] = frozenset({"platform", "conn_id"})

    platform: str
    conn_id: str
    inbound_token: str | None = Field(None, repr=False)  # a secret: never in a log line
    fields: Fields = Field(default_factory=Fields, alias="field_names")
    merchants: dict[str, dict[str, Any]] | None = None
    unknown_product_sku: str = DEFAULT_UNKNOWN_SKU
    stock_mode: Literal["delta", "absolute"] = "absolute"
    stock_owner: str = DEFAULT_STOCK_OWNER
    problem_status: str | None = DEFAULT_PROBLEM_STATUS
    unmapped_courier: Literal["block", "service_name"] = "block"
    status_values: dict[str, str] = Field(default_factory=lambda: dict(STATUS_VALUES))
    max_body_bytes: int = Field(DEFAULT_MAX_BODY, ge=1)
    status_batch_size: int = Field(100, ge=1)
    stock_batch_size: int = Field(500, ge=1)
    retry_delay: timedelta = Field(timedelta(seconds=DEFAULT_RETRY_DELAY), alias="retry_delay_seconds")

    @classmethod
    def from_extra(cls, platform: str, conn_id: str, extra: Mapping[str, Any],  # type: ignore[override]
                   *, headers: Collection[str] = ()) -> PlatformSettings:
        """Read and check the connection extras of ``platform``.

        Raises:
            SettingsError: an unknown extra or one of the wrong shape; the message names it and the
                connection (a ``Permanent``).
        """
        return super().from_extra(extra, conn_id, headers=headers, platform=platform, conn_id=conn_id)

    @field_validator("inbound_token", mode="before")
    @classmethod
    def _token(cls, value: Any) -> str | None:
        return str(value) if value else None

    @field_validator("fields", mode="before")
    @classmethod
    def _fields(cls, value: Any) -> Fields:
        if isinstance(value, Fields):
            return value
        if value and not isinstance(value, Mapping):
            raise ValueError("must be an object: canonical name -> wire name")
        try:
            return Fields(value or {})
        except ValueError as err:
            raise ValueError(str(err).removeprefix("field_names: ")) from err

    @field_validator("merchants", mode="before")
    @classmethod
    def _merchants(cls, value: Any) -> Any:
        if isinstance(value, list):
            return {str(m): {} for m in value}
        if isinstance(value, dict):
            if not all(isinstance(v, dict) for v in value.values()):
                raise ValueError("must map each mid to an object")
            return {str(k): v for k, v in value.items()}
        if value is not None:
            raise ValueError("must be a list of mids or an object keyed by mid")
        return None

    @field_validator("unknown_product_sku", mode="before")
    @classmethod
    def _template(cls, value: Any) -> str:
        return str(value or DEFAULT_UNKNOWN_SKU)

    @field_validator("stock_owner", mode="before")
    @classmethod
    def _owner(cls, value: Any) -> str:
        return DEFAULT_STOCK_OWNER if value is None else str(value)

    @field_validator("problem_status", mode="before")
    @classmethod
    def _problem(cls, value: Any) -> str | None:
        return str(value) if value else None

    @field_validator("status_values", mode="before")
    @classmethod
    def _statuses(cls, value: Any) -> Any:
        if not isinstance(value or {}, dict):
            raise ValueError("must be an object: staging status -> Merkana status")
        return {**STATUS_VALUES, **(value or {})}

    @field_validator("retry_delay", mode="before")
    @classmethod
    def _seconds(cls, value: Any) -> timedelta:
        if isinstance(value, timedelta):
            return value
        try:
            seconds = float(value)
        except (TypeError, ValueError) as err:
            raise ValueError("must be a number of seconds") from err
        if not math.isfinite(seconds):
            raise ValueError("must be a finite number of seconds")
        if seconds < 0:
            raise ValueError("cannot be negative")
        return timedelta(seconds=seconds)

    @model_validator(mode="after")
    def _templates(self) -> PlatformSettings:
        merchants = (self.merchants or {}).items()
        checks = [("unknown_product_sku", self.unknown_product_sku, "{mid} and {unknownproductid}"),
                  ("stock_owner", self.stock_owner, "{mid}")]
        checks += [(f"merchants.{m}.{key}", str(v[key]), allowed) for m, v in merchants
                   for key, allowed in (("unknown_product_sku", "{mid} and {unknownproductid}"),
                                        ("stock_owner", "{mid}")) if v.get(key) is not None]
        for name, template, allowed in checks:
            try:
                template.format(mid="1", **({"unknownproductid": "1"} if "unknownproductid" in allowed else {}))
            except (KeyError, IndexError, ValueError) as err:
                raise ValueError(f"extra {name} may only use {allowed}: {type(err).__name__} {err}") from err
        return self

    def account(self, mid: str) -> str:
        return account_name(self.platform, mid)

    def accepts(self, mid: str) -> bool:
        """Whether ``mid`` is a merchant of this platform (any mid when none are configured)."""
        return self.merchants is None or mid in self.merchants

    def owner(self, mid: str) -> str:
        """Whose stock the merchant sells (``staging.stock_owners``): its entry's ``stock_owner``, else
        the platform's, with ``{mid}`` filled in."""
        template = (self.merchants or {}).get(mid, {}).get("stock_owner")
        return str(self.stock_owner if template is None else template).format(mid=mid)

    def unknown_sku(self, mid: str, unknownproductid: str | None) -> str | None:
        """The warehouse SKU of the merchant's unknown product, or None when Merkana sent no id."""
        if not unknownproductid:
            return None
        template = (self.merchants or {}).get(mid, {}).get("unknown_product_sku") or self.unknown_product_sku
        return template.format(mid=mid, unknownproductid=unknownproductid)
