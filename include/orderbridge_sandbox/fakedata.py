"""Deterministic fake orders for the marketplace sandboxes.

Everything is derived from ``(seed, channel, account)``: one ``random.Random`` per account drives
every choice, and each generated person reseeds a shared Faker instance for its locale from that
stream (cheaper than one Faker per locale per account, and just as reproducible). Generating more
orders later continues the same stream, so two sandboxes started with the same seed and asked for
the same batches hand out identical orders.

``fake_address`` is channel-neutral (ISO country codes); ``GrouponOrderFactory`` shapes orders
the way Groupon's ``get_orders`` sends them (Groupon API notes, groupon-api.md §3.2),
including its quirks: ``UK``/``USA`` country spellings, ``null`` states, blank weights, opaque
order ids of several formats, and the occasional order split over two ``data`` entries.
"""

from __future__ import annotations

import hashlib
import random
import string
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache

from faker import Faker
from faker.providers.address.it_IT import Provider as ItalianAddresses

from orderbridge_sandbox.catalogue import GROUPON_OFFERS, OFFER_WEIGHTS, ChannelOffer

GROUPON_DATE_FORMAT = "%m/%d/%Y %I:%M%p UTC"  # 12-hour clock and a literal " UTC", as orders carry it


def derive_seed(*parts: object) -> int:
    """A stable 64-bit seed from any parts (``hash()`` is salted per process, so not that)."""
    return int(hashlib.sha256(":".join(map(str, parts)).encode()).hexdigest()[:16], 16)


@cache
def _faker(locale: str) -> Faker:
    return Faker(locale)


@cache
def _italian_cities() -> tuple[str, ...]:
    # Faker's it_IT city() draws from a list built from a set, whose order changes with each process's
    # hash seed; drawing from a sorted copy keeps the same seed giving the same cities everywhere.
    return tuple(sorted(ItalianAddresses.cities))


def _city(fake: Faker, locale: str) -> str:
    return fake.random_element(_italian_cities()) if locale == "it_IT" else fake.city()


@dataclass(frozen=True)
class Address:
    """A postal address with an ISO 3166 alpha-2 country; channels restyle it as they need."""

    name: str
    address1: str
    address2: str
    city: str
    state: str | None
    zip: str
    country: str
    phone: str


@dataclass(frozen=True)
class _Profile:
    country: str
    locale: str
    weight: int
    name_locale: str | None = None  # someone whose name is in another script than the address


# Mostly Groupon's European and US markets; the rare ones are there so every pipeline meets
# Cyrillic, Greek and CJK text, and a country (IE) where a blank postcode is legitimate.
_PROFILES: tuple[_Profile, ...] = (
    _Profile("GB", "en_GB", 30), _Profile("US", "en_US", 14), _Profile("DE", "de_DE", 12),
    _Profile("FR", "fr_FR", 9), _Profile("IT", "it_IT", 5), _Profile("ES", "es_ES", 4),
    _Profile("NL", "nl_NL", 3), _Profile("PL", "pl_PL", 3), _Profile("IE", "en_IE", 3),
    _Profile("GR", "el_GR", 3), _Profile("RU", "ru_RU", 1), _Profile("JP", "ja_JP", 2), _Profile("HU", "hu_HU", 3),
    _Profile("GB", "en_GB", 3, name_locale="ru_RU"), _Profile("DE", "de_DE", 2, name_locale="uk_UA"),
    _Profile("GB", "en_GB", 2, name_locale="zh_CN"), _Profile("FR", "fr_FR", 1, name_locale="ja_JP"),
)
_PROFILE_WEIGHTS = [p.weight for p in _PROFILES]


def _state(fake: Faker, country: str, rng: random.Random) -> str | None:
    # Groupon sends null states often (SW: "Groupon can send null as the state"); never for US.
    if country == "US":
        return fake.state_abbr()
    if country == "JP":
        return fake.prefecture()
    if country in ("GB", "RU", "GR") or rng.random() < 0.6:
        return None
    if country == "IE":
        return fake.county()
    return fake.administrative_unit()


def fake_address(rng: random.Random, profile: _Profile | None = None) -> Address:
    """One person and address, reproducible from ``rng``.

    Args:
        rng: the account's random stream; exactly one draw reseeds Faker, a few more pick quirks.
        profile: keep this country/locale (billing addresses stay in the shipping country).

    Returns:
        The address, with an ISO country code.
    """
    profile = profile or rng.choices(_PROFILES, weights=_PROFILE_WEIGHTS)[0]
    fake = _faker(profile.locale)
    fake.seed_instance(rng.getrandbits(64))
    name_fake = _faker(profile.name_locale) if profile.name_locale else fake
    if name_fake is not fake:
        name_fake.seed_instance(rng.getrandbits(64))
    name = name_fake.name()
    if rng.random() < 0.05:
        name = name.upper()  # typed with caps lock on, as real customers do
    elif rng.random() < 0.03:
        name += rng.choice((" \U0001F381", " \u2764\ufe0f", " \U0001F600"))  # pasted from a phone, emoji and all
    if profile.country == "JP":
        address1 = f"{fake.town()}{fake.chome()}{fake.ban()}{fake.gou()}"
        address2 = f"{fake.building_name()}{rng.randint(101, 905)}" if rng.random() < 0.5 else ""
        postcode = fake.zipcode()
    else:
        address1 = fake.street_address()
        address2 = ""
        if rng.random() < 0.25 and hasattr(fake, "secondary_address"):
            address2 = fake.secondary_address()
        postcode = fake.postcode().removeprefix("ΤΚ ")
    if profile.country == "IE" and rng.random() < 0.4:
        postcode = ""  # many Irish addresses still come without an Eircode
    phone = fake.phone_number() if rng.random() < 0.95 else ""
    return Address(name=name, address1=address1, address2=address2, city=_city(fake, profile.locale),
                   state=_state(fake, profile.country, rng), zip=postcode, country=profile.country, phone=phone)


def _profile_of(address: Address) -> _Profile:
    return next(p for p in _PROFILES if p.country == address.country and p.name_locale is None)


def _format_date(moment: datetime) -> str:
    return moment.strftime(GROUPON_DATE_FORMAT)


def _code(rng: random.Random, n: int, alphabet: str = string.ascii_uppercase + string.digits) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def _offer_code(offer: ChannelOffer, prefix: str, n: int) -> str:
    # Per-offer constants (Groupon's CDA number, deal opp id) must not depend on draw order.
    return prefix + _code(random.Random(derive_seed(prefix, offer.channel_sku)), n - len(prefix),
                          string.ascii_letters + string.digits)


@dataclass(frozen=True)
class GeneratedEntry:
    """One ``data`` entry of ``get_orders``: its date, and the payload with ``line_items``."""

    orderid: str
    date: datetime
    payload: dict


class GrouponOrderFactory:
    """Groupon orders for one supplier account, continuing one deterministic stream.

    Args:
        seed: the sandbox seed.
        supplier_id: the account; two accounts with the same seed still get different orders.
        anchor: orders are dated in ``[anchor - days, anchor)`` unless a batch says otherwise.
        days: how far back the dates spread.
        split_rate: share of orders sent as two ``data`` entries with the same ``orderid``; the
            second entry ships to an address of its own (the v4 doc example, groupon-api.md §3.1).
        cancel_rate: share of lines that are already ``cancelled`` or ``refunded`` when first listed
            (the words are a guess: only ``open`` and ``ship`` are documented).
    """

    def __init__(self, seed: int, supplier_id: str, anchor: datetime, days: float = 2.0,
                 split_rate: float = 0.03, cancel_rate: float = 0.03) -> None:
        self.rng = random.Random(derive_seed(seed, "groupon", supplier_id))
        self.supplier_id = supplier_id
        self.anchor, self.days = anchor.replace(second=0, microsecond=0), days
        self.split_rate, self.cancel_rate = split_rate, cancel_rate
        namer = _faker("en_GB")
        namer.seed_instance(self.rng.getrandbits(64))
        self.supplier_name = f"{namer.last_name()} Homeware Ltd"
        self._seen_ids: set[str] = set()
        self._next_ci = 10_000_000 + self.rng.randrange(80_000_000)
        self._next_fli = 1_100_000_000 + self.rng.randrange(100_000_000)
        self._last: tuple[str, Address, Address] | None = None
        self._offer_weights = [OFFER_WEIGHTS[o.kind] for o in GROUPON_OFFERS]

    def generate(self, n: int, anchor: datetime | None = None, days: float | None = None) -> list[list[GeneratedEntry]]:
        """The next ``n`` orders, each a list of one or (rarely) two entries."""
        end = (anchor or self.anchor).replace(second=0, microsecond=0)
        minutes = max(1, int((days if days is not None else self.days) * 1440))
        return [self._order(end - timedelta(minutes=minutes) + timedelta(minutes=self.rng.randrange(minutes)))
                for _ in range(n)]

    def _orderid(self) -> str:
        while True:
            style = self.rng.choices(("hex", "ue", "gg", "num"), weights=(35, 20, 35, 10))[0]
            if style == "hex":
                oid = _code(self.rng, 10, "0123456789ABCDEF")
            elif style == "ue":
                oid = f"{self.rng.randint(10000, 99999)}-UE-{self.rng.randint(100000, 999999)}"
            elif style == "gg":
                oid = "GG-" + "-".join(_code(self.rng, 4) for _ in range(4))
            else:
                oid = str(self.rng.randint(1_300_000_000, 1_399_999_999))
            if oid not in self._seen_ids:
                self._seen_ids.add(oid)
                return oid

    def _customer(self) -> tuple[str, Address, Address]:
        # A few checkouts hold two deals from this supplier: two orderids, one parent and customer.
        if self._last and self.rng.random() < 0.04:
            return self._last
        ship = fake_address(self.rng)
        bill = ship if self.rng.random() < 0.85 else fake_address(self.rng, _profile_of(ship))
        self._last = (str(self.rng.randint(100_000_000, 999_999_999)), ship, bill)
        return self._last

    def _spelled(self, address: Address) -> dict:
        country = {"GB": "UK", "US": self.rng.choice(("US", "USA"))}.get(address.country, address.country)
        return {"name": address.name, "address1": address.address1, "address2": address.address2,
                "city": address.city, "state": address.state, "zip": address.zip, "country": country,
                "phone": address.phone}

    def _line(self, offer: ChannelOffer, quantity: int, date: datetime) -> dict:
        self._next_ci += self.rng.randint(1, 3)
        self._next_fli += self.rng.randint(1, 40)
        weight = self.rng.choices((0.0, "", f"{self.rng.uniform(0.2, 4.0):.1f}"), weights=(4, 2, 4))[0]
        bom = offer.bom_sku if offer.kind == "kit" else self.rng.choices((None, ""), weights=(7, 3))[0]
        return {
            "ci_lineitemid": self._next_ci, "fulfillment_lineitem_id": str(self._next_fli),
            "sku": offer.channel_sku, "name": offer.name, "quantity": quantity, "unit_price": offer.unit_price,
            "weight": weight, "status": self._line_status(), "bom_sku": bom,
            "channel_sku_provided": _offer_code(offer, "a0YC", 18),
            "po_number": None if self.rng.random() < 0.8 else f"PO{self.rng.randint(100000, 999999)}",
            "ship_by_date": _format_date(date + timedelta(days=3)),
            "opp_name": offer.name, "permalink": "deal-" + offer.channel_sku.lower(),
            "gift_message": "" if self.rng.random() < 0.95 else "Happy birthday!",
            "groupon_cost": round(offer.unit_price * 0.7, 2), "voucher_code": _code(self.rng, 8),
            "custom_field_value": "Merchant VAT responsible", "intrinsic_value": offer.unit_price,
            "discount": 0.0, "hts_code": "", "coo": "",
            "order_line_item_uuid": str(uuid.UUID(int=self.rng.getrandbits(128), version=4)),
            "kitting_details": f"Primary:{offer.bom_sku}" if offer.bom_sku else "",
        }

    def _line_status(self) -> str:
        if self.rng.random() >= self.cancel_rate:
            return "open"
        return self.rng.choice(("cancelled", "refunded"))

    def split_entry(self, orderid: str, parent: str, date: datetime, n_lines: int = 1) -> GeneratedEntry:
        """A further entry of an existing ``orderid``: its own lines and its own ship-to address."""
        offers = self.rng.sample(GROUPON_OFFERS, n_lines)
        lines = [self._line(o, 1, date) for o in offers]
        ship = fake_address(self.rng)
        spelled = self._spelled(ship)
        return self._entry(orderid, parent, date, lines, spelled, spelled, _offer_code(offers[0], "006C", 18), 0)

    def _entry(self, orderid: str, parent: str, date: datetime, lines: list[dict], ship: dict, bill: dict,
               opp_id: str, ship_cost: float) -> GeneratedEntry:
        weight = sum(float(li["weight"] or 0) * li["quantity"] for li in lines)
        payload = {
            "orderid": orderid, "parent_orderid": parent, "date": _format_date(date),
            "supplier": self.supplier_name, "opp_id": opp_id, "fulfillment_method": "Drop Ship (Marketplace)",
            "amount": {"total": round(sum(li["unit_price"] * li["quantity"] for li in lines) + ship_cost, 2),
                       "shipping": ship_cost},
            "customer": {**ship, "billing_address": bill, "invoice_url": ""},
            "shipping": {"method": "BEST", "carrier": None,
                         "product_weight": f"{weight:.2f}" if weight else "",
                         "product_weight_unit": self.rng.choices(("pounds", "kilograms", "ounces", ""),
                                                                 weights=(6, 2, 1, 1))[0],
                         "product_dimension_unit": "inches", "product_width": "1.5",
                         "product_length": "12.75", "product_height": "12.75", "incoterms": "",
                         "3PL_warehouse": "", "3PL_name": ""},
            "line_items": lines,
        }
        return GeneratedEntry(orderid=orderid, date=date, payload=payload)

    def _order(self, date: datetime) -> list[GeneratedEntry]:
        orderid = self._orderid()
        parent, ship, bill = self._customer()
        n_lines = self.rng.choices((1, 2, 3, 4), weights=(60, 25, 10, 5))[0]
        split = self.rng.random() < self.split_rate
        offers: list[ChannelOffer] = []
        while len(offers) < max(n_lines, 2 if split else 1):
            offer = self.rng.choices(GROUPON_OFFERS, weights=self._offer_weights)[0]
            if offer not in offers:
                offers.append(offer)
        lines = [self._line(o, self.rng.choices((1, 2, 3, 5), weights=(80, 12, 5, 3))[0], date) for o in offers]
        shipping = self.rng.choices((0, 2.99, 3.99, 4.99), weights=(75, 10, 10, 5))[0]
        cut = 1 + self.rng.randrange(len(lines) - 1) if split else len(lines)
        groups = [lines[:cut], lines[cut:]] if split else [lines]
        opp_id = _offer_code(offers[0], "006C", 18)
        billing = self._spelled(bill)
        entries = [self._entry(orderid, parent, date, groups[0], self._spelled(ship), billing, opp_id, shipping)]
        if split:
            # Groupon lists the rest under the same orderid with another ship-to (a gift sent to
            # someone else): each entry's lines go to that entry's address.
            other = self._spelled(fake_address(self.rng))
            entries.append(self._entry(orderid, parent, date, groups[1], other, billing, opp_id, 0))
        return entries


__all__ = ["Address", "GeneratedEntry", "GrouponOrderFactory", "derive_seed", "fake_address"]
