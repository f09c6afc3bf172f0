"""A fake Merkana platform: receives our status and stock posts, and replays its own calls on us.

Merkana is the platform and we are its fulfilment centre, so this fake plays both of Merkana's
roles (seed 004):

- the API we post to: ``POST /merkana/v1/ff-orders-status`` and ``/merkana/v1/ff-supplies``,
  checking ``api-token`` (401 with the seed's ``{"status": false, "message"}`` otherwise),
  recording every update, and applying supply ``br`` values to its per-merchant stock view
  (as deltas, or as levels with ``--merkana-stock-mode absolute``). Faults (``/_sandbox/faults``,
  channel ``merkana``) make it fail like any channel;
- the caller: ``POST /_sandbox/merkana/<platform>/replay`` sends the collection's four calls to
  our endpoints -- product sync, initial stock, generated orders (Bulgarian in Cyrillic and
  Romanian, mostly cash on delivery, some SKUs the merchant never synced, some sent twice as the
  platform's retries do) and cancels -- and returns what we answered.

Field names are the seed's defaults. ``GET /_sandbox/merkana/<platform>/state`` shows it all.
The demo drives it through ``demo_run`` and reports with ``summary_rows``.
"""

from __future__ import annotations

import hmac
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cache
from pathlib import Path

import requests
from faker import Faker
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from psycopg2.extras import execute_values

from orderbridge.sandbox.catalogue import WAREHOUSE_PRODUCTS
from orderbridge.sandbox.fakedata import derive_seed
from orderbridge.sandbox.process import SandboxProcess, SandboxStartError, free_port

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

    def __init__(self, seed: int = 42, stock_mode: str = "delta"):
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


def _answer(status: bool, message: str | None = None, code: int = 200) -> JSONResponse:
    body = {"status": status, **({"message": message} if message else {})}
    return JSONResponse(body, status_code=code)


def _int(value) -> int | None:
    if isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def api_router(sandbox: MerkanaSandbox) -> APIRouter:
    """Merkana's API routes that we post to."""
    router = APIRouter()

    async def admitted(request: Request, endpoint: str) -> tuple[MerkanaPlatform | None, dict | JSONResponse]:
        platform = sandbox.by_token(request.headers.get("api-token"))
        if platform is None:
            return None, _answer(False, "Unauthorized: invalid or missing api-token", 401)
        try:
            body = await request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            platform.requests[(endpoint, 400)] += 1
            return platform, _answer(False, "body must be a JSON object", 400)
        return platform, body

    @router.post("/merkana/v1/ff-orders-status")
    async def orders_status(request: Request) -> JSONResponse:
        platform, body = await admitted(request, "ff-orders-status")
        if isinstance(body, JSONResponse):
            return body
        orders = body.get("orders")
        if not isinstance(orders, list) or not orders:
            platform.requests[("ff-orders-status", 422)] += 1
            return _answer(False, "orders must be a non-empty array", 422)
        for i, update in enumerate(orders):
            if not isinstance(update, dict) or not all(str(update.get(k) or "").strip()
                                                       for k in ("idextern", "status")):
                platform.requests[("ff-orders-status", 422)] += 1
                return _answer(False, f"orders[{i}]: idextern and status are mandatory", 422)
        with sandbox.lock:
            platform.status_posts += 1
            for update in orders:
                platform.status_updates[(str(update["idextern"]), str(update["status"]), update.get("awb"))] += 1
            platform.requests[("ff-orders-status", 200)] += 1
        return _answer(True)

    @router.post("/merkana/v1/ff-supplies")
    async def supplies(request: Request) -> JSONResponse:
        platform, body = await admitted(request, "ff-supplies")
        if isinstance(body, JSONResponse):
            return body
        mid, products = _int(body.get("mid")), body.get("products")
        if mid is None or not isinstance(products, list):
            platform.requests[("ff-supplies", 422)] += 1
            return _answer(False, "mid (a number) and products (an array) are mandatory", 422)
        for i, product in enumerate(products):
            if not isinstance(product, dict) or not str(product.get("sku") or "").strip() \
                    or _int(product.get("br")) is None:
                platform.requests[("ff-supplies", 422)] += 1
                return _answer(False, f"products[{i}]: sku and br (a whole number) are mandatory", 422)
        with sandbox.lock:
            view = platform.stock.setdefault(mid, {})
            for product in products:
                br = _int(product["br"])
                view[product["sku"]] = view.get(product["sku"], 0) + br if sandbox.stock_mode == "delta" else br
            platform.supplies.append({"mid": mid, "products": products})
            platform.requests[("ff-supplies", 200)] += 1
        return _answer(True)

    return router


# -- replaying the platform's calls on us -------------------------------------------------------
def _post(target: str, path: str, token: str, body: dict) -> tuple[int, dict | str]:
    try:
        response = requests.post(f"{target.rstrip('/')}/{path}", json=body, headers={"api-token": token},
                                 timeout=TIMEOUT)
    except requests.RequestException as err:
        return 0, f"no answer: {type(err).__name__}"
    try:
        return response.status_code, response.json()
    except ValueError:
        return response.status_code, response.text[:200]


def replay(sandbox: MerkanaSandbox, platform: MerkanaPlatform, spec: dict) -> dict:
    """Send the collection's calls to ``spec["target"]`` (our ``/merkana/<platform>`` URL).

    Spec keys: ``target``; ``mid`` (default 293); ``steps`` (default all of ``products``,
    ``stock``, ``orders``, ``cancels``); ``orders`` (how many new ones, default 10);
    ``duplicates`` (how many of them are sent a second time, default 2); ``cancels`` (how many of
    them to cancel, default 1) or ``cancel_ids`` (these ids); ``unknown_rate`` (default 0.1);
    ``from_start`` (generate the merchant's orders from the start of its stream again, default no).
    """
    target, mid = spec["target"], int(spec.get("mid", 293))
    steps = spec.get("steps") or ["products", "stock", "orders", "cancels"]
    token = platform.spec.our_token
    result: dict = {"mid": mid}
    if "products" in steps:
        result["products"] = _post(target, "sync_products", token, product_sync_body(mid))
    if "stock" in steps:
        code, answer = _post(target, "stock", token, {"mid": mid})
        result["stock"] = (code, answer)
        if code == 200 and isinstance(answer, dict) and answer.get("status") is True:
            with sandbox.lock:
                platform.stock[mid] = {s["sku"]: int(s["br"]) for s in answer.get("stock", [])}
    new_ids: list[str] = []
    if "orders" in steps:
        with sandbox.lock:
            if spec.get("from_start"):  # the same orders as the first replay: a rerun re-sends, stores nothing new
                platform.factories.pop(mid, None)
            factory = platform.factory(mid)
            bodies = [factory.order(float(spec.get("unknown_rate", 0.1))) for _ in range(int(spec.get("orders", 10)))]
            again = factory.rng.sample(bodies, min(int(spec.get("duplicates", 2)), len(bodies)))
            sent = platform.sent_orders.setdefault(mid, {})
        result["orders"] = []
        for body in [*bodies, *again]:  # a retry sends the very same body again
            code, answer = _post(target, "save_order", token, body)
            with sandbox.lock:
                record = sent.setdefault(str(body["id"]), {"sends": 0, "answers": []})
                record["sends"] += 1
                record["answers"].append(answer.get("status") if isinstance(answer, dict) else None)
            result["orders"].append({"id": body["id"], "http": code, "answer": answer})
            new_ids.append(str(body["id"]))
    if "cancels" in steps:
        ids = [str(i) for i in spec.get("cancel_ids") or []]
        if not ids and new_ids:
            ids = list(dict.fromkeys(new_ids))[: int(spec.get("cancels", 1))]
        result["cancels"] = []
        for order_id in ids:
            code, answer = _post(target, "cancel_order", token, {"mid": mid, "id": _int(order_id) or order_id})
            with sandbox.lock:
                platform.cancels.setdefault(mid, {})[order_id] = answer
            result["cancels"].append({"id": order_id, "http": code, "answer": answer})
    return result


def control_router(sandbox: MerkanaSandbox) -> APIRouter:
    """``/_sandbox/merkana``: platforms, per-platform state, and the replay of the platform's calls."""
    router = APIRouter(prefix="/_sandbox/merkana")

    @router.get("")
    async def overview() -> JSONResponse:
        return JSONResponse({"platforms": sorted(sandbox.platforms), "stock_mode": sandbox.stock_mode})

    @router.get("/{platform}/state")
    async def state(platform: str) -> JSONResponse:
        if platform not in sandbox.platforms:
            return JSONResponse({"ok": False, "error": f"no Merkana platform {platform}"}, status_code=404)
        with sandbox.lock:
            return JSONResponse(sandbox.platforms[platform].state())

    @router.post("/{platform}/replay")
    def replay_calls(platform: str, spec: dict) -> JSONResponse:  # sync: runs in the threadpool
        if platform not in sandbox.platforms:
            return JSONResponse({"ok": False, "error": f"no Merkana platform {platform}"}, status_code=404)
        if not isinstance(spec.get("target"), str):
            return JSONResponse({"ok": False, "error": 'body must be {"target": "<our /merkana/<platform> URL>", ...}'},
                                status_code=400)
        return JSONResponse({"ok": True, **replay(sandbox, sandbox.platforms[platform], spec)})

    return router


# -- for the demo -----------------------------------------------------------------------------------
def demo_connection(sandbox_url: str, our_token: str, their_token: str, mids: tuple[int, ...] = (293,)) -> dict:
    """The platform's Airflow connection (``AIRFLOW_CONN_ORDERBRIDGE_MERKANA_<PLATFORM>``, as JSON)
    pointing at this sandbox."""
    host, _, port = sandbox_url.split("://", 1)[1].partition(":")
    return {"conn_type": "http", "host": host, "port": int(port or 80), "schema": "http", "password": their_token,
            "extra": {"api_path": "/merkana/v1", "timeout": 10, "inbound_token": our_token,
                      "merchants": {str(m): {} for m in mids}, "unknown_product_sku": UNKNOWN_SKU_TEMPLATE,
                      "stock_mode": "delta"}}


def seed_warehouse(cur, mids: tuple[int, ...] = (293,)) -> None:
    """What the demo warehouse sets up for its Merkana merchants: the products (idempotent), each
    merchant's unknown product (with no stock), the merchants' own SKU codes as aliases, and
    Merkana's courier names for the simulator's courier services."""
    execute_values(cur, "INSERT INTO staging.products (sku, name) VALUES %s ON CONFLICT DO NOTHING",
                   [(p.sku, p.name) for p in WAREHOUSE_PRODUCTS]
                   + [(UNKNOWN_SKU_TEMPLATE.format(mid=m), f"Unknown product of merchant {m}") for m in mids])
    execute_values(cur, "INSERT INTO staging.stock_levels (sku, on_hand) VALUES %s ON CONFLICT DO NOTHING",
                   [(p.sku, p.on_hand) for p in WAREHOUSE_PRODUCTS])
    execute_values(cur, "INSERT INTO staging.sku_aliases (channel, channel_sku, warehouse_sku) VALUES %s"
                        " ON CONFLICT DO NOTHING",
                   [(CHANNEL, p.sku, p.warehouse_sku) for p in catalogue() if p.sku != p.warehouse_sku])
    execute_values(cur, "INSERT INTO staging.carrier_codes (channel, courier_service, carrier_code) VALUES %s"
                        " ON CONFLICT DO NOTHING",
                   [(CHANNEL, "DPD UK", "dpd"), (CHANNEL, "DHL Germany", "dhl"), (CHANNEL, "GLS", "gls")])


def start_inbound(env: dict[str, str], port: int | None = None, log_path: str | Path | None = None,
                  host: str = "127.0.0.1", timeout: float = 30.0) -> SandboxProcess:
    """Serve our Merkana endpoints alone, ``python -m orderbridge.merkana.inbound``, in a child process
    (its own session: stop it with ``.stop()``), as ``make demo`` needs without an API server.

    Args:
        env: added to this environment: ``AIRFLOW_CONN_ORDERBRIDGE_STAGING``, the platform's
            ``AIRFLOW_CONN_ORDERBRIDGE_MERKANA_<PLATFORM>`` and ``ORDERBRIDGE_ACCOUNTS`` at least.

    Returns:
        The process; our endpoints are under ``f"{proc.url}/merkana"``.

    Raises:
        SandboxStartError: it exited or did not answer ``/merkana/health`` within ``timeout``.
    """
    port = port or free_port(host)
    own_log = log_path is None
    path = Path(tempfile.mkstemp(prefix="orderbridge-merkana-", suffix=".log")[1]) if own_log else Path(log_path)
    with open(path, "ab") as log:
        popen = subprocess.Popen([sys.executable, "-m", "orderbridge.merkana.inbound", "--host", host, "--port",
                                  str(port)], stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                 env={**os.environ, **env}, start_new_session=True)
    proc = SandboxProcess(popen, host, port, path, own_log)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and popen.poll() is None:
        try:
            if requests.get(f"{proc.url}/merkana/health", timeout=1).json().get("pid") == popen.pid:
                return proc
        except (requests.RequestException, ValueError):
            pass
        time.sleep(0.2)
    tail = proc.log_tail()
    proc.stop()
    raise SandboxStartError(f"Merkana endpoints did not start; log tail:\n{tail}")


def demo_run(sandbox_url: str, our_base_url: str, platform: str = "demo", mid: int = 293, orders: int = 40,
             duplicates: int = 4, cancels: int = 3, unknown_rate: float = 0.1, from_start: bool = True) -> dict:
    """Have the fake platform send its four calls to our endpoints.

    Args:
        our_base_url: where our app is mounted, e.g. ``http://127.0.0.1:8080/merkana`` (API server) or
            ``http://127.0.0.1:8766/merkana`` (``python -m orderbridge.merkana.inbound``).
        from_start: send the same orders on every call (a second demo run then re-sends them and
            staging stores nothing new); False continues with new orders.

    Returns:
        Counts of what we answered: orders accepted, duplicates, cancels done and refused.
    """
    response = requests.post(f"{sandbox_url}/_sandbox/merkana/{platform}/replay", timeout=300, json={
        "target": f"{our_base_url.rstrip('/')}/{platform}", "mid": mid, "orders": orders, "duplicates": duplicates,
        "cancels": cancels, "unknown_rate": unknown_rate, "from_start": from_start})
    response.raise_for_status()
    result = response.json()
    answers = [o["answer"] for o in result.get("orders", [])]
    cancels = [c["answer"] for c in result.get("cancels", []) if isinstance(c["answer"], dict)]
    return {"products_synced": result["products"][0] == 200, "stock_answered": result["stock"][0] == 200,
            "order_sends": len(answers), "accepted": sum(1 for a in answers if isinstance(a, dict) and a.get("status")),
            "cancelled": sum(1 for a in cancels if a.get("status") is True),
            "cancel_refused": sum(1 for a in cancels if a.get("status") is False)}


def summary_rows(cur, sandbox_url: str) -> list[dict]:
    """One row per Merkana merchant the sandbox knows: what it sent, what staging holds, what came back."""
    rows = []
    for platform in requests.get(f"{sandbox_url}/_sandbox/merkana", timeout=TIMEOUT).json()["platforms"]:
        state = requests.get(f"{sandbox_url}/_sandbox/merkana/{platform}/state", timeout=TIMEOUT).json()
        received = {u["idextern"] for u in state["status_updates"]}
        for mid, merchant in state["merchants"].items():
            account = f"{platform}/{mid}"
            cur.execute(
                """SELECT count(*), count(*) FILTER (WHERE attention IS NOT NULL),
                          count(*) FILTER (WHERE status = 'cancelled'),
                          count(*) FILTER (WHERE EXISTS (SELECT 1 FROM staging.shipments s WHERE s.order_id = o.id)),
                          coalesce(array_agg(external_order_id), '{}')
                   FROM staging.orders o WHERE channel = %s AND account = %s""",
                (CHANNEL, account),
            )
            staged, flagged, cancelled, shipped, ids = cur.fetchone()
            ids = set(ids)
            cur.execute("SELECT count(*) FILTER (WHERE status = 'pending'), count(*) FILTER (WHERE status = 'failed')"
                        " FROM staging.outbox WHERE channel = %s AND account = %s", (CHANNEL, account))
            pending, failed = cur.fetchone()
            rows.append({
                "channel": CHANNEL, "account": account, "orders sent by platform": merchant["orders_sent"],
                "sends (with retries)": merchant["sends"], "in staging": staged, "flagged": flagged,
                "cancelled": cancelled, "shipped": shipped,
                "status updates confirmed": sum(1 for u in state["status_updates"] if u["idextern"] in ids),
                "orders with an update": len(received & ids), "stock posts": merchant["supply_posts"],
                "posted twice": sum(1 for u in state["status_updates"] if u["times"] > 1 and u["idextern"] in ids),
                "pending write-backs": pending, "failed write-backs": failed,
            })
    return rows


__all__ = ["CHANNEL", "MerkanaSandbox", "PlatformSpec", "api_router", "catalogue", "control_router", "demo_connection",
           "demo_run", "replay", "seed_warehouse", "start_inbound", "summary_rows"]
