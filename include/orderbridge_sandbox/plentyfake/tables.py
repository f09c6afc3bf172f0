"""What the fake plenty systems are set up with: time zone, currency, warehouse, shipping profiles,
plenty's country ids, the markets customers come from, and the W3C form of a timestamp.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from importlib import resources
from zoneinfo import ZoneInfo

from faker.providers.address.it_IT import Provider as ItalianAddresses

# plenty systems are mostly German: timestamps are rendered in this zone, with its offset (W3C).
SYSTEM_TZ = ZoneInfo("Europe/Berlin")
SYSTEM_CURRENCY = "EUR"
EXCHANGE_RATES = {"CHF": 0.94}  # order currency per EUR; illustrative, fixed so amounts are stable
WAREHOUSE_ID = 1  # the warehouse the orders are assigned to (order property typeId 1)
BAD_COUNTRY_IDS = (0, 299)  # 0 is "unknown" in third-party clients; 299 is no plenty id at all

# Parcel service presets (shipping profiles), GET /rest/orders/shipping/presets. Ids illustrative.
PRESETS: tuple[dict, ...] = (
    {"id": 6, "parcelServiceId": 1, "backendName": "DHL Paket"},
    {"id": 7, "parcelServiceId": 2, "backendName": "DPD Classic"},
    {"id": 8, "parcelServiceId": 3, "backendName": "GLS Business Parcel"},
    {"id": 9, "parcelServiceId": 4, "backendName": "UPS Standard"},
    {"id": 10, "parcelServiceId": 5, "backendName": "Hermes Paket"},
)
_PRESET_WEIGHTS_DE = (60, 12, 10, 3, 15)  # domestic: mostly DHL
_PRESET_WEIGHTS_ABROAD = (45, 20, 15, 20, 0)  # Hermes only delivers domestically here

# Illustrative ids: the notes name the property types, not these values.
_PAYMENT_METHODS = (6001, 6002, 6003)  # e.g. PayPal, prepayment, invoice (plugin-range ids)
_SHOP_REFERRER, _MARKETPLACE_REFERRER = 1, 4.01  # referrerId is a float in the spec (sub-referrers)

# Initial statuses: mostly 5 ("Freigabe Versand", what the warehouse fetches); a few awaiting payment
# (3), incomplete (1), or already handed to an external fulfiller before us (5.1).
INITIAL_STATUS_WEIGHTS: tuple[tuple[float, int], ...] = ((5.0, 87), (3.0, 7), (1.0, 3), (5.1, 3))


@cache
def load_countries() -> dict[int, tuple[str, str]]:
    """plenty ``countryId`` -> (ISO alpha-2, English name), from ``data/plenty_countries.csv``."""
    text = resources.files("orderbridge.data").joinpath("plenty_countries.csv").read_text(encoding="utf-8")
    rows = csv.DictReader(line for line in io.StringIO(text) if not line.startswith("#"))
    return {int(row["country_id"]): (row["iso2"], row["name"]) for row in rows}


@cache
def country_id(iso2: str) -> int:
    """The main plenty id of a country (the lowest: 8 Spain rather than 65 Balearic Islands)."""
    return min(cid for cid, (code, _) in load_countries().items() if code == iso2)


@dataclass(frozen=True)
class _Market:
    """Where a customer lives: address locale, VAT charged and order currency."""

    country: str
    locale: str
    weight: int
    vat: float  # destination VAT rate; 0 for exports (CH)
    currency: str = SYSTEM_CURRENCY
    name_locale: str | None = None  # a name in another script than the address


_MARKETS: tuple[_Market, ...] = (
    _Market("DE", "de_DE", 46, 19), _Market("AT", "de_AT", 12, 20), _Market("CH", "de_CH", 5, 0, "CHF"),
    _Market("FR", "fr_FR", 5, 20), _Market("NL", "nl_NL", 4, 21), _Market("BE", "nl_BE", 3, 21),
    _Market("PL", "pl_PL", 5, 23), _Market("IT", "it_IT", 4, 22), _Market("GR", "el_GR", 3, 24),
    _Market("CZ", "cs_CZ", 2, 21), _Market("DK", "da_DK", 2, 25), _Market("ES", "es_ES", 2, 21),
    _Market("DE", "de_DE", 3, 19, name_locale="tr_TR"), _Market("DE", "de_DE", 2, 19, name_locale="ru_RU"),
    _Market("DE", "de_DE", 2, 19, name_locale="uk_UA"), _Market("AT", "de_AT", 1, 20, name_locale="bg_BG"),
    _Market("DE", "de_DE", 1, 19, name_locale="zh_CN"),
)
_MARKET_WEIGHTS = [m.weight for m in _MARKETS]


@cache
def _italian_towns() -> tuple[str, ...]:
    # Faker's it_IT city() draws from a list built from a set, whose order changes with each process's
    # hash seed; drawing from a sorted copy keeps the same seed giving the same towns everywhere.
    return tuple(sorted(ItalianAddresses.cities))


def w3c(moment: datetime) -> str:
    """A W3C datetime in the system's zone, e.g. ``2024-03-15T13:00:00+01:00``."""
    return moment.astimezone(SYSTEM_TZ).isoformat(timespec="seconds")


def _ean13(variation_id: int) -> str:
    digits = f"40{variation_id:010d}"
    check = (10 - sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(digits)) % 10) % 10
    return digits + str(check)
