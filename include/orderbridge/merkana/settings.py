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
- extra ``stock_mode``: ``delta`` (default: ``br`` is the change since what Merkana last
  accepted, negative after an audit) or ``absolute`` (``br`` is the new level);
- extras ``field_names`` and ``status_values``: see ``fields``; ``max_body_bytes`` (default 2 MiB);
- extra ``unmapped_courier``: what a status update says about a parcel whose courier service has
  no row in ``staging.carrier_codes`` (channel ``merkana``): ``block`` (default: the status goes
  without ``awb`` and ``courier``, and the parcel waits for the row, as on every channel) or
  ``service_name`` (the warehouse's service name is sent as the courier, for a platform that takes
  free text);
- extra ``retry_delay_seconds``: how long a failed post waits before its next attempt (default 600,
  the seed's 10 minutes; ``client.MAX_ATTEMPTS`` attempts in all). The chaos suite sets seconds, as
  it cannot wait 10 minutes; the send tasks' own retry delay (``dags/merkana.py``) stays 10 minutes.

Accounts in staging are per merchant, ``<platform>/<mid>``: SKUs, the product catalogue, aliases and
stock are per merchant in Merkana (ff-supplies is per ``mid``), and one merchant may sell through
two platforms under the same FF ``mid``, so the platform is part of the name. Order ids are
unique per platform, hence per (channel, account, external id).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from orderbridge.errors import Permanent
from orderbridge.merkana.fields import STATUS_VALUES, Fields

STOCK_MODES = ("delta", "absolute")
UNMAPPED_COURIER_MODES = ("block", "service_name")
DEFAULT_MAX_BODY = 2 * 1024 * 1024
DEFAULT_UNKNOWN_SKU = "{unknownproductid}"
DEFAULT_RETRY_DELAY = 600  # seconds: the seed's 10 minutes between attempts


def account_name(platform: str, mid: str) -> str:
    """The staging account of one merchant of one platform."""
    return f"{platform}/{mid}"


def merchant_of(account: str) -> str:
    """The ``mid`` of a staging account made by ``account_name``."""
    return account.rsplit("/", 1)[1]


@dataclass(frozen=True)
class PlatformSettings:
    platform: str
    conn_id: str
    inbound_token: str | None = None
    fields: Fields = field(default_factory=Fields)
    merchants: Mapping[str, Mapping[str, Any]] | None = None
    unknown_product_sku: str = DEFAULT_UNKNOWN_SKU
    stock_mode: str = "delta"
    unmapped_courier: str = "block"
    status_values: Mapping[str, str] = field(default_factory=lambda: dict(STATUS_VALUES))
    max_body_bytes: int = DEFAULT_MAX_BODY
    retry_delay: timedelta = timedelta(seconds=DEFAULT_RETRY_DELAY)

    @classmethod
    def from_extra(cls, platform: str, conn_id: str, extra: Mapping[str, Any]) -> PlatformSettings:
        """Read and check the connection extras.

        Raises:
            Permanent: an extra has the wrong shape; the message names it and the connection.
        """
        def bad(name: str, why: str) -> Permanent:
            return Permanent(f"connection {conn_id}: extra {name} {why}. Resolution: fix the connection's extra.")

        merchants = extra.get("merchants")
        if isinstance(merchants, list):
            merchants = {str(m): {} for m in merchants}
        elif isinstance(merchants, dict):
            if not all(isinstance(v, dict) for v in merchants.values()):
                raise bad("merchants", "must map each mid to an object")
            merchants = {str(k): v for k, v in merchants.items()}
        elif merchants is not None:
            raise bad("merchants", "must be a list of mids or an object keyed by mid")
        mode = str(extra.get("stock_mode", "delta"))
        if mode not in STOCK_MODES:
            raise bad("stock_mode", f"must be one of {', '.join(STOCK_MODES)}, not {mode!r}")
        courier = str(extra.get("unmapped_courier", "block"))
        if courier not in UNMAPPED_COURIER_MODES:
            raise bad("unmapped_courier", f"must be one of {', '.join(UNMAPPED_COURIER_MODES)}, not {courier!r}")
        statuses = extra.get("status_values") or {}
        if not isinstance(statuses, dict):
            raise bad("status_values", "must be an object: staging status -> Merkana status")
        try:
            fields = Fields(extra.get("field_names") or {})
            max_body = int(extra.get("max_body_bytes", DEFAULT_MAX_BODY))
            retry_delay = timedelta(seconds=float(extra.get("retry_delay_seconds", DEFAULT_RETRY_DELAY)))
        except (ValueError, TypeError, OverflowError) as err:
            raise bad("field_names/max_body_bytes/retry_delay_seconds", str(err)) from err
        if max_body < 1:
            raise bad("max_body_bytes", "must be a positive number of bytes")
        if retry_delay < timedelta(0):
            raise bad("retry_delay_seconds", "cannot be negative")
        template = str(extra.get("unknown_product_sku") or DEFAULT_UNKNOWN_SKU)
        for name, tpl in [("unknown_product_sku", template)] + [
                (f"merchants.{m}.unknown_product_sku", str(v["unknown_product_sku"]))
                for m, v in (merchants or {}).items() if v.get("unknown_product_sku")]:
            try:
                tpl.format(mid="1", unknownproductid="1")
            except (KeyError, IndexError, ValueError) as err:
                raise bad(name, f"may only use {{mid}} and {{unknownproductid}}: {err}") from err
        token = extra.get("inbound_token")
        return cls(platform=platform, conn_id=conn_id, inbound_token=str(token) if token else None, fields=fields,
                   merchants=merchants, unknown_product_sku=template, stock_mode=mode, unmapped_courier=courier,
                   status_values={**STATUS_VALUES, **statuses}, max_body_bytes=max_body, retry_delay=retry_delay)

    def account(self, mid: str) -> str:
        return account_name(self.platform, mid)

    def accepts(self, mid: str) -> bool:
        """Whether ``mid`` is a merchant of this platform (any mid when none are configured)."""
        return self.merchants is None or mid in self.merchants

    def unknown_sku(self, mid: str, unknownproductid: str | None) -> str | None:
        """The warehouse SKU of the merchant's unknown product, or None when Merkana sent no id."""
        if not unknownproductid:
            return None
        template = (self.merchants or {}).get(mid, {}).get("unknown_product_sku") or self.unknown_product_sku
        return template.format(mid=mid, unknownproductid=unknownproductid)
