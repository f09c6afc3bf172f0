"""The fake Merkana platform's data and state: the merchant's catalogue, the orders it generates,
and per platform what it sent us, what we answered and what we posted to it.
"""

from __future__ import annotations

import hmac
import random
import threading
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cache

from faker import Faker

from orderbridge_sandbox.catalogue import WAREHOUSE_PRODUCTS
from orderbridge_sandbox.fakedata import derive_seed

CHANNEL = "merkana"
STOCK_MODES = ("delta", "absolute")
UNKNOWN_PRODUCT_ID = 1  # the seed's example: the id Merkana sends with every order
UNKNOWN_SKU_TEMPLATE = "MK-UNKNOWN-{mid}"  # our warehouse SKU of each merchant's unknown product (demo)
TIMEOUT = 10


@dataclass(frozen=True)
class PlatformSpec:
    """One ``--merkana PLATFORM:OUR_TOKEN:THEIR_TOKEN``: OUR_TOKEN is the secret our endpoints require
    (the fake sends it), THEIR_TOKEN the one Merkana gave us (the fake requires it on our posts)."""

    platform: str
    our_token: str
    their_token: str

    @classmethod
    def parse(cls, text: str) -> PlatformSpec:
        """Raises ValueError: not three non-empty parts."""
        parts = text.split(":")
        if len(parts) != 3 or not all(parts):
            raise ValueError(f"expected PLATFORM:OUR_TOKEN:THEIR_TOKEN, got {parts[0]}:...")
        return cls(*parts)


# -- the merchant's catalogue -----------------------------------------------------------------------
@dataclass(frozen=True)
class MerkanaProduct:
    id: int
    sku: str
    title: str
    price: Decimal
    warehouse_sku: str | None  # None: the warehouse has never heard of it


def catalogue() -> tuple[MerkanaProduct, ...]:
    """What every demo merchant sells: 10 products under the warehouse SKU itself, 4 under the
    merchant's own codes (``MK-2001``..., mapped by alias rows ``seed_warehouse`` adds)."""
    direct = [MerkanaProduct(1000 + i, p.sku, p.name, Decimal("9.90") + Decimal("2.50") * i, p.sku)
              for i, p in enumerate(WAREHOUSE_PRODUCTS[:10])]
    own = [MerkanaProduct(1010 + i, f"MK-{2001 + i}", p.name, Decimal("14.90") + Decimal("3") * i, p.sku)
           for i, p in enumerate(WAREHOUSE_PRODUCTS[10:14])]
    return (*direct, *own)


# SKUs Merkana may put on an order although the merchant never synced them (the seed's reason for
# unknownproductid): nothing maps them, so their lines go onto the merchant's unknown product.
UNSYNCED = (MerkanaProduct(0, "MK-NEW-9001", "Ceramic vase (new)", Decimal("19.90"), None),
            MerkanaProduct(0, "MK-NEW-9002", "Wool blanket (new)", Decimal("34.50"), None))


def _ean(sku: str) -> str:
    digits = [int(c) for c in str(derive_seed("ean", sku))[:12].rjust(12, "0")]
    check = (10 - sum(d * (3 if i % 2 else 1) for i, d in enumerate(digits)) % 10) % 10
    return "".join(map(str, digits)) + str(check)


def product_sync_body(mid: int) -> dict:
    return {"mid": mid, "products": [
        {"id": p.id, "sku": p.sku, "ean": _ean(p.sku), "title": p.title,
         "img": f"https://clients.mercoria.com/uploads/images/products/{p.id % 100:02d}/{p.sku.lower()}.jpg"}
        for p in catalogue()]}


# -- generated orders -----------------------------------------------------------------------------
@cache
def _faker(locale: str) -> Faker:
    return Faker(locale)


_BG_CITIES = (("София", "1000"), ("Пловдив", "4000"), ("Варна", "9000"), ("Бургас", "8000"), ("Русе", "7000"),
              ("Стара Загора", "6000"), ("Плевен", "5800"), ("Велико Търново", "5000"))
_BG_STREETS = ("бул. Братя Бъкстон", "ул. Граф Игнатиев", "бул. Витоша", "ул. Шипка", "бул. Христо Ботев",
               "ул. Раковска", "бул. Цар Освободител", "ул. Оборище")
_NOTES = {"BG": ("обадете се преди доставка", "звъннете на входа", "черна врата"),
          "RO": ("sunați înainte de livrare", "lăsați la portar", "interfon 12")}
_FF_NOTES = ("подаръчна опаковка", "fragil: ambalați cu grijă", "моля, без рекламни материали")
_COURIERS = {"BG": ("econt", "speedy"), "RO": ("sameday", "fan courier")}


class MerkanaOrderFactory:
    """Order creates for one merchant, continuing one deterministic stream.

    Args:
        seed: the sandbox seed.
        platform, mid: two merchants with the same seed still get different orders.
    """

    def __init__(self, seed: int, platform: str, mid: int):
        self.rng = random.Random(derive_seed(seed, CHANNEL, platform, mid))
        self.mid = mid
        self.next_id = 40_000 + self.rng.randrange(10_000)

    def _person(self, country: str) -> dict:
        fake = _faker("bg_BG" if country == "BG" else "ro_RO")
        fake.seed_instance(self.rng.getrandbits(64))
        name = f"{fake.first_name()} {fake.last_name()}"
        if country == "BG":
            city, postcode = self.rng.choice(_BG_CITIES)
            street = f"{self.rng.choice(_BG_STREETS)} {self.rng.randint(1, 140)}"
            phone = "08" + "".join(str(self.rng.randrange(10)) for _ in range(8))
        else:
            city, postcode, street, phone = fake.city(), fake.postcode(), fake.street_address(), fake.phone_number()
        return {"name": name, "city": city, "postcode": postcode, "street": street, "phone": phone,
                "email": fake.free_email(), "company": fake.company() if self.rng.random() < 0.15 else ""}

    def order(self, unknown_rate: float = 0.1) -> dict:
        """The next order create, in the collection's shape."""
        order_id, self.next_id = self.next_id, self.next_id + self.rng.randint(1, 4)
        country = "BG" if self.rng.random() < 0.7 else "RO"
        person = self._person(country)
        picks: list[MerkanaProduct] = []
        for _ in range(self.rng.choices((1, 2, 3), weights=(60, 30, 10))[0]):
            product = self.rng.choice(UNSYNCED) if self.rng.random() < unknown_rate else self.rng.choice(catalogue())
            if product not in picks:
                picks.append(product)
        items = [(p, self.rng.choices((1, 2, 3), weights=(80, 15, 5))[0]) for p in picks]
        total = sum((p.price * q for p, q in items), Decimal("5.99"))
        method = self.rng.choices(("COD", "NOCOD", "BANK", "ONLINE"), weights=(70, 10, 10, 10))[0]
        courier = self.rng.choice(_COURIERS[country])
        office = country == "BG" and self.rng.random() < 0.3  # delivered to a courier office, no street
        shipping = {
            "shipping_contact": person["name"], "shipping_phone": person["phone"], "shipping_country": country,
            "shipping_suburb": "", "shipping_city": person["city"],
            "shipping_street": "" if office else person["street"],
            "shipping_postal_code": person["postcode"], "shipping_locality_id": None,
            "shipping_instructions": self.rng.choice(_NOTES[country]) if self.rng.random() < 0.3 else "",
            "shipping_method": None, "company": person["company"], "email": person["email"],
            "shipping_country_id": None, "shipping_city_id": None, "shipping_street_id": None,
            "shipping_courier_office": str(self.rng.randint(1000, 9999)) if office else "",
            "shipping_courier": courier,
        }
        return {
            "mid": self.mid, "unknownproductid": UNKNOWN_PRODUCT_ID,
            "email_ff_problem": f"ops@merchant{self.mid}.example",
            "id": order_id, "status": "create", "total": float(total),
            "insurance": int(total) if self.rng.random() < 0.3 else None,
            "currency": "BGN" if country == "BG" else "RON", "payment_method": method,
            "customer_note": self.rng.choice(_NOTES[country]) if self.rng.random() < 0.25 else None,
            "shipping": shipping, "awb": None, "awb_url": None,
            "url_factura": f"https://api.mercoria.com/storage/invoice/{self.mid}/{order_id}.pdf",
            "line_items": [{"sku": p.sku, "quantity": q} for p, q in items],
            "ff_note": self.rng.choice(_FF_NOTES) if self.rng.random() < 0.1 else None,
        }


# -- the platform's state -----------------------------------------------------------------------
@dataclass
class MerkanaPlatform:
    """One platform: what it sent us, what we answered, and what we posted to it."""

    spec: PlatformSpec
    seed: int
    factories: dict[int, MerkanaOrderFactory] = field(default_factory=dict)
    sent_orders: dict[int, dict[str, dict]] = field(default_factory=dict)  # mid -> id -> {"sends", "answers"}
    cancels: dict[int, dict[str, dict]] = field(default_factory=dict)  # mid -> id -> our last answer
    stock: dict[int, dict[str, int]] = field(default_factory=dict)  # mid -> sku -> what Merkana shows
    status_updates: Counter = field(default_factory=Counter)  # (idextern, status, awb) -> times posted
    status_posts: int = 0
    supplies: list[dict] = field(default_factory=list)
    requests: Counter = field(default_factory=Counter)

    def factory(self, mid: int) -> MerkanaOrderFactory:
        return self.factories.setdefault(mid, MerkanaOrderFactory(self.seed, self.spec.platform, mid))

    def state(self) -> dict:
        updates = [{"idextern": i, "status": s, "awb": a, "times": n} for (i, s, a), n in self.status_updates.items()]
        merchants = {}
        for mid in sorted(set(self.sent_orders) | set(self.stock) | set(self.cancels)):
            orders = self.sent_orders.get(mid, {})
            merchants[str(mid)] = {
                "orders_sent": len(orders), "sends": sum(o["sends"] for o in orders.values()),
                "orders_accepted": sum(1 for o in orders.values() if o["answers"] and o["answers"][-1] is True),
                "cancels": self.cancels.get(mid, {}), "stock": self.stock.get(mid, {}),
                "supply_posts": sum(1 for s in self.supplies if s["mid"] == mid),
            }
        return {"platform": self.spec.platform, "merchants": merchants, "status_updates": updates,
                "status_posts": self.status_posts,
                "posted_twice": sum(1 for n in self.status_updates.values() if n > 1),
                "supplies": self.supplies, "requests": {f"{e} {s}": n for (e, s), n in sorted(self.requests.items())}}


class MerkanaSandbox:
    """Every fake platform of one sandbox.

    Args:
        stock_mode: how ff-supplies ``br`` is applied: ``delta`` (added) or ``absolute`` (the level).
    """

    def __init__(self, seed: int = 42, stock_mode: str = "absolute"):
        if stock_mode not in STOCK_MODES:
            raise ValueError(f"stock mode must be one of {STOCK_MODES}")
        self.seed, self.stock_mode = seed, stock_mode
        self.platforms: dict[str, MerkanaPlatform] = {}
        self.lock = threading.Lock()

    def add_platform(self, spec: PlatformSpec) -> None:
        self.platforms[spec.platform] = MerkanaPlatform(spec, self.seed)

    def by_token(self, token: str | None) -> MerkanaPlatform | None:
        for platform in self.platforms.values():
            if token is not None and hmac.compare_digest(platform.spec.their_token.encode(), token.encode()):
                return platform
        return None
