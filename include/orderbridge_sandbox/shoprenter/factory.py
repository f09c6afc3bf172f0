"""Deterministic Hungarian orders and the catalogue products of one Shoprenter shop.

People and addresses come from Faker's ``hu_HU`` locale, reseeded from the shop's own random
stream (``derive_seed(seed, "shoprenter", shop)``), so two sandboxes with the same seed hand out
the same orders. SKUs come from the sandbox catalogue, so the warehouse simulator can map them.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from functools import cache

from faker import Faker

from orderbridge_sandbox.catalogue import SHOPRENTER_GROUP_OF, SHOPRENTER_GROUPS, SHOPRENTER_OFFERS, ChannelOffer
from orderbridge_sandbox.fakedata import derive_seed
from orderbridge_sandbox.shoprenter.state import Line, Order, Product, Shop

# (name, extension code, net price HUF): shipping methods as A6 lists their extensions
_SHIPPING = (("GLS házhozszállítás", "WSESHIP", 1490.0), ("GLS csomagpont", "GLSPARCELPOINT", 990.0),
             ("Foxpost csomagautomata", "FOXPOST", 890.0), ("Személyes átvétel", "", 0.0))
# (name, code, the status a new order of this payment starts in): card payments arrive paid
_PAYMENTS = (("Utánvét", "COD", 1), ("Banki átutalás", "BANK_TRANSFER", 1), ("SimplePay bankkártya", "SIMPLE", 15),
             ("Barion", "BARION", 15))


@cache
def _faker() -> Faker:
    return Faker("hu_HU")


def add_catalogue(shop: Shop, now: datetime) -> None:
    """The catalogue's Shoprenter products, each in its product group (a category)."""
    for name in SHOPRENTER_GROUPS:
        shop.categories[shop.new_id("category", 201)] = name
    group_ids = {name: cid for cid, name in shop.categories.items()}
    for i, offer in enumerate(SHOPRENTER_OFFERS):
        fields = {"sku": offer.channel_sku, "price": offer.unit_price, "stock1": 10 + (i * 7) % 40}
        add_product(shop, fields, offer.name, group_ids[SHOPRENTER_GROUP_OF[offer.channel_sku]], now)


def add_product(shop: Shop, fields: dict, name: str, category_id: int | None, now: datetime) -> Product:
    """A new product with the API's defaults for the fields not given."""
    inner = shop.new_id("product", 1001)
    full = {"sku": "", "modelNumber": "", "gtin": "", "price": 0.0, "cost": 0.0, "multiplier": 1.0,
            "multiplierLock": 0, "stock1": 0, "stock2": 0, "stock3": 0, "stock4": 0, "subtractStock": 1,
            "status": 1, "orderable": 1, "quantity": 1, "minimalOrderNumber": 1, "taxClass": 1, **fields}
    product = Product(inner, full, name, category_id, now, now)
    shop.put_product(product)
    return product


class ShoprenterOrderFactory:
    """Orders of one shop, continuing one deterministic stream.

    Args:
        seed: the sandbox seed.
        shop: the shop name; two shops with the same seed still get different orders.
        abandoned_share: share of orders without a status (abandoned carts, A6).
        split_share: share of lines whose quantity is split over more than ``stock1``.
    """

    def __init__(self, seed: int, shop: str, abandoned_share: float = 0.05, split_share: float = 0.2) -> None:
        self.rng = random.Random(derive_seed(seed, "shoprenter", shop))
        self.abandoned_share, self.split_share = abandoned_share, split_share

    def order(self, shop: Shop, created: datetime, status: int | None = None) -> Order:
        """One new order in ``shop``, created at ``created`` (shop local time); ``status`` wins over the draw."""
        rng, fake = self.rng, _faker()
        fake.seed_instance(rng.getrandbits(64))
        first, last = fake.first_name(), fake.last_name()
        ship_method, extension, ship_net = rng.choice(_SHIPPING)
        pay_name, pay_code, start = rng.choice(_PAYMENTS)
        if status is None:
            status = None if rng.random() < self.abandoned_share else start
        address = {"Firstname": first, "Lastname": last, "Company": fake.company() if rng.random() < 0.1 else "",
                   "Address1": fake.street_address(), "Address2": "", "City": fake.city(),
                   "Postcode": fake.postcode(), "CountryName": "Magyarország", "ZoneName": "",
                   "AddressFormat": ""}
        billing = dict(address) if rng.random() < 0.85 else {
            **address, "Address1": fake.street_address(), "City": fake.city(), "Postcode": fake.postcode()}
        offers = rng.sample(SHOPRENTER_OFFERS, rng.choices((1, 2, 3), weights=(65, 25, 10))[0])
        lines = [self._line(shop, offer) for offer in offers]
        net = sum(ln.net_price * ln.quantity for ln in lines) + ship_net
        gross = sum(ln.net_price * (1 + ln.tax_rate / 100) * ln.quantity for ln in lines) + ship_net * 1.27
        inner = shop.new_id("order", 100 + rng.randrange(900))
        fields = {
            "invoiceId": "", "invoicePrefix": "", "firstname": first, "lastname": last,
            "phone": fake.phone_number(), "fax": "", "email": fake.free_email(),
            "taxNumber": "" if rng.random() < 0.9 else f"{rng.randrange(10**7, 10**8)}-2-{rng.randrange(10, 44)}",
            "comment": "" if rng.random() < 0.8 else "Kérem, csengessen kétszer.",
            **{f"shipping{k}": v for k, v in address.items()}, **{f"payment{k}": v for k, v in billing.items()},
            "shippingMethodName": ship_method, "shippingMethodTaxRate": "27.0000",
            "shippingMethodExtension": extension, "shippingReceivingPointId": "" if extension in ("WSESHIP", "")
            else str(rng.randrange(1000, 9999)),
            "paymentMethodName": pay_name, "paymentMethodCode": pay_code, "paymentMethodTaxRate": "27.0000",
            "paymentMethodAfter": "0", "total": f"{gross:.4f}", "value": "1.00000000", "couponTaxRate": "0.0000",
            "externalInfo": {"partner_order_id": "", "partner_prefix": ""},
        }
        order = Order(inner, fields, lines, status, created, created, shipping_net=ship_net, net_total=net)
        if status is not None:
            order.history.append({"innerId": shop.new_id("history", 500), "status": status,
                                  "comment": "", "dateAdded": created})
        shop.orders[inner] = order
        return order

    def _line(self, shop: Shop, offer: ChannelOffer) -> Line:
        quantity = self.rng.choices((1, 2, 3, 5), weights=(75, 15, 6, 4))[0]
        stocks = [quantity, 0, 0, 0]
        if quantity > 1 and self.rng.random() < self.split_share:
            # Part of the quantity comes from the secondary (or a further) stock (A6).
            moved = self.rng.randrange(1, quantity)
            stocks[0] -= moved
            stocks[self.rng.randrange(1, 4)] += moved
        product = shop.product_by_sku(offer.channel_sku)
        return Line(shop.new_id("orderProduct", 3000), offer.channel_sku, offer.name,
                    product.inner_id if product else None, offer.unit_price, 27.0, tuple(stocks))

    def orders(self, shop: Shop, n: int, end: datetime, days: float, status: int | None = None) -> list[Order]:
        """``n`` orders created over ``days`` before ``end`` (shop local time), oldest first."""
        minutes = max(1, int(days * 1440))
        moments = sorted(end - timedelta(minutes=minutes) + timedelta(seconds=self.rng.randrange(minutes * 60))
                         for _ in range(n))
        return [self.order(shop, moment, status) for moment in moments]
