"""``PlentyOrderFactory``: one system's stream of sales orders, and the return orders made from them."""

from __future__ import annotations

import copy
import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from orderbridge_sandbox.catalogue import OFFER_WEIGHTS, PLENTY_OFFERS, ChannelOffer
from orderbridge_sandbox.fakedata import _faker, derive_seed
from orderbridge_sandbox.plentyfake.tables import (
    _MARKET_WEIGHTS,
    _MARKETPLACE_REFERRER,
    _MARKETS,
    _PAYMENT_METHODS,
    _PRESET_WEIGHTS_ABROAD,
    _PRESET_WEIGHTS_DE,
    _SHOP_REFERRER,
    BAD_COUNTRY_IDS,
    EXCHANGE_RATES,
    INITIAL_STATUS_WEIGHTS,
    PRESETS,
    SYSTEM_CURRENCY,
    WAREHOUSE_ID,
    _ean13,
    _italian_towns,
    _Market,
    country_id,
    w3c,
)


@dataclass
class GeneratedOrder:
    """One order: its full JSON (every relation; the API trims per ``with[]``) and what tests compare.

    ``body`` has no ``statusId``, ``statusName`` or ``updatedAt``: those change while the sandbox runs
    and are kept by its order record.
    """

    id: int
    created_at: datetime
    updated_at: datetime
    status_id: float
    history: list[tuple[float | None, float, datetime]]  # (from, to, at), oldest first
    body: dict
    address_problem: str | None
    skus: list[str]


def _scope(body: dict, plenty_id: int | None, warehouse_id: int | None) -> None:
    """Give an order's body another client (``plentyId``) or main warehouse, as plenty shows them (B6)."""
    if plenty_id is not None:
        body["plentyId"] = plenty_id
    if warehouse_id is not None:
        for prop in body["properties"]:
            if prop["typeId"] == 1:
                prop["value"] = str(warehouse_id)
        for item in body["orderItems"]:
            if item["warehouseId"] is not None:
                item["warehouseId"] = warehouse_id
                if item.get("variation"):
                    item["variation"]["mainWarehouseId"] = warehouse_id


class PlentyOrderFactory:
    """plentymarkets orders for one system, continuing one deterministic stream.

    Args:
        seed: the sandbox seed.
        system: the system name; two systems with the same seed get different orders.
        anchor: orders are created in ``[anchor - days, anchor)`` unless a batch says otherwise.
        days: how far back creation dates spread.
        bad_address_rate: share of orders whose delivery address cannot be shipped to.
    """

    def __init__(self, seed: int, system: str, anchor: datetime, days: float = 2.0,
                 bad_address_rate: float = 0.03) -> None:
        self.rng = random.Random(derive_seed(seed, "plentymarkets", system))
        self.anchor, self.days, self.bad_address_rate = anchor.replace(microsecond=0), days, bad_address_rate
        self.plenty_id = 10_000 + self.rng.randrange(80_000)  # the store (client) id of this system
        # Other sales in the same system use ids too, hence gaps between ours.
        self._ids = {"order": 1_000 + self.rng.randrange(9_000), "address": 20_000 + self.rng.randrange(9_000),
                     "item": 50_000 + self.rng.randrange(9_000), "amount": 80_000 + self.rng.randrange(9_000)}
        self._offer_weights = [OFFER_WEIGHTS[o.kind] for o in PLENTY_OFFERS]

    def generate(self, n: int, anchor: datetime | None = None, days: float | None = None,
                 status_id: float | None = None, plenty_id: int | None = None,
                 warehouse_id: int | None = None) -> list[GeneratedOrder]:
        """The next ``n`` orders; ids grow with creation time, as plenty assigns them.

        Args:
            plenty_id: the client (plentyId) the orders belong to; default the system's own.
            warehouse_id: their main warehouse (order property type 1, and each product item's
                ``warehouseId``, B6); default the fulfilment warehouse, ``WAREHOUSE_ID``.
        """
        end = (anchor or self.anchor).replace(microsecond=0)
        seconds = max(60, int((days if days is not None else self.days) * 86_400))
        created = sorted(end - timedelta(seconds=seconds - self.rng.randrange(seconds)) for _ in range(n))
        orders = [self._order(moment, end, status_id) for moment in created]
        for gen in orders:  # after the draws: a client or warehouse changes no other field of the stream
            _scope(gen.body, plenty_id, warehouse_id)
        return orders

    def _next(self, kind: str, gap: int = 3) -> int:
        self._ids[kind] += self.rng.randint(1, gap)
        return self._ids[kind]

    # -- addresses ---------------------------------------------------------------------------------

    def _address(self, market: _Market, created: datetime) -> dict:
        fake = _faker(market.locale)
        fake.seed_instance(self.rng.getrandbits(64))
        namer = _faker(market.name_locale) if market.name_locale else fake
        if namer is not fake:
            namer.seed_instance(self.rng.getrandbits(64))
        first, last = namer.first_name(), namer.last_name()
        street, number = fake.street_name(), fake.building_number()
        company = fake.company() if self.rng.random() < 0.1 else ""
        packstation = market.country == "DE" and not company and self.rng.random() < 0.04
        options = [{"typeId": 5, "value": fake.ascii_free_email()}]  # option types 4/5/6 illustrative
        if self.rng.random() < 0.9:
            options.append({"typeId": 4, "value": fake.phone_number()})
        if packstation:
            street, number = "PACKSTATION", str(self.rng.randint(100, 299))
            options.append({"typeId": 6, "value": str(self.rng.randint(10_000_000, 999_999_999))})  # post number
        elif self.rng.random() < 0.05:
            street, number = f"{street} {number}", ""  # typed into one field, as customers do
        extra = self.rng.choice(("2. OG", "Hinterhaus", "bei Nachbarn abgeben", "Apt. 4")) \
            if self.rng.random() < 0.08 else ""
        option = {o["typeId"]: o["value"] for o in options}
        return {
            "id": self._next("address", 5), "name1": company, "name2": first, "name3": last,
            "name4": f"c/o {namer.last_name()}" if self.rng.random() < 0.02 else "",
            "address1": street, "address2": number, "address3": extra, "address4": "",
            "postalCode": fake.postcode().removeprefix("ΤΚ "),
            "town": fake.random_element(_italian_towns()) if market.locale == "it_IT" else fake.city(),
            "countryId": country_id(market.country), "stateId": None,
            # Read-only aliases real responses carry next to the stored fields (B6).
            "companyName": company, "firstName": first, "lastName": last, "street": street,
            "houseNumber": number, "email": option[5], "phone": option.get(4, ""),
            "isPackstation": packstation, "isPostfiliale": False,
            "options": options, "createdAt": w3c(created), "updatedAt": w3c(created),
        }

    def _break(self, address: dict) -> tuple[dict, str]:
        """A copy of ``address`` with the defect that stops the warehouse shipping to it."""
        defect = self.rng.choice(("postcode", "street", "country"))
        broken = dict(address)
        if defect == "postcode":
            broken["postalCode"] = ""
            return broken, "missing postcode"
        if defect == "street":
            broken.update(address1="", address2="", street="", houseNumber="")
            return broken, "missing street"
        broken["countryId"] = self.rng.choice(BAD_COUNTRY_IDS)
        return broken, f"unknown countryId {broken['countryId']}"

    # -- items and amounts ---------------------------------------------------------------------------

    def _item(self, order_id: int, type_id: int, name: str, quantity: float, gross: float, market: _Market,
              preset: int, variation: ChannelOffer | None = None, position: int = 0) -> dict:
        rate = EXCHANGE_RATES.get(market.currency, 1.0)

        def amount(currency: str, factor: float, system: bool) -> dict:
            price = round(gross * factor, 2)
            return {"id": self._next("amount"), "isSystemCurrency": system, "currency": currency,
                    "exchangeRate": factor, "priceOriginalGross": price,
                    "priceOriginalNet": round(price / (1 + market.vat / 100), 4), "priceGross": price,
                    "priceNet": round(price / (1 + market.vat / 100), 4), "surcharge": 0, "discount": 0,
                    "isPercentage": False, "purchasePrice": round(price * 0.45, 2) if variation else 0}

        amounts = [amount(market.currency, rate, market.currency == SYSTEM_CURRENCY)]
        if market.currency != SYSTEM_CURRENCY:
            amounts.append(amount(SYSTEM_CURRENCY, 1.0, True))
        item = {
            "id": self._next("item"), "orderId": order_id, "typeId": type_id,
            # Shipping costs and coupons are not variations; plenty gives them no variation id.
            "itemVariationId": variation.variation_id if variation else 0,
            "quantity": float(quantity), "orderItemName": name, "attributeValues": "",
            "shippingProfileId": preset, "countryVatId": 1, "vatField": 0, "vatRate": market.vat,
            "position": position, "warehouseId": WAREHOUSE_ID if variation else None,
            "amounts": amounts, "properties": [], "references": [], "dates": [],
            # Relations, shown only when asked for (with[]=orderItems.variation / .variationBarcodes).
            "variation": None, "variationBarcodes": [],
        }
        if variation:
            vid = variation.variation_id
            item["variation"] = {"id": vid, "itemId": vid - 3000, "number": variation.channel_sku,
                                 "model": f"M-{vid}", "externalId": "", "isMain": True, "isActive": True,
                                 "mainWarehouseId": WAREHOUSE_ID}
            item["variationBarcodes"] = [{"code": _ean13(vid), "barcodeId": 1, "variationId": vid}]
        return item

    def _order_amounts(self, order_id: int, items: list[dict], market: _Market, paid: bool) -> list[dict]:
        # One entry in the order currency; a foreign-currency order has a second in the system currency,
        # in the same position as its items' amounts.
        currencies = [(market.currency, EXCHANGE_RATES.get(market.currency, 1.0))]
        if market.currency != SYSTEM_CURRENCY:
            currencies.append((SYSTEM_CURRENCY, 1.0))
        amounts = []
        for index, (currency, factor) in enumerate(currencies):
            total = round(sum(it["amounts"][index]["priceGross"] * it["quantity"] for it in items), 2)
            shipping = round(sum(it["amounts"][index]["priceGross"] for it in items if it["typeId"] == 6), 2)
            net = round(total / (1 + market.vat / 100), 2)
            amounts.append({
                "id": self._next("amount"), "orderId": order_id, "isSystemCurrency": currency == SYSTEM_CURRENCY,
                "isNet": False, "currency": currency, "exchangeRate": factor, "netTotal": net,
                "grossTotal": total, "vatTotal": round(total - net, 2), "invoiceTotal": total,
                "paidAmount": total if paid else 0, "giftCardAmount": 0, "shippingCostsGross": shipping,
                "shippingCostsNet": round(shipping / (1 + market.vat / 100), 2),
                "vats": [{"countryVatId": 1, "vatField": 0, "vatRate": market.vat, "value": round(total - net, 2),
                          "netTotal": net, "grossTotal": total}],
            })
        return amounts

    # -- orders ----------------------------------------------------------------------------------------

    def _order(self, created: datetime, end: datetime, status_id: float | None) -> GeneratedOrder:
        order_id = self._next("order")
        status = status_id if status_id is not None else self.rng.choices(
            [s for s, _ in INITIAL_STATUS_WEIGHTS], weights=[w for _, w in INITIAL_STATUS_WEIGHTS])[0]
        market = self.rng.choices(_MARKETS, weights=_MARKET_WEIGHTS)[0]
        billing = self._address(market, created)
        delivery = billing if self.rng.random() < 0.85 else self._address(market, created)
        problem = None
        if self.rng.random() < self.bad_address_rate:
            delivery, problem = self._break(delivery)
            if billing["id"] == delivery["id"]:
                billing = delivery  # one address used for both: the defect is in both roles
        weights = _PRESET_WEIGHTS_DE if market.country == "DE" else _PRESET_WEIGHTS_ABROAD
        preset = self.rng.choices(PRESETS, weights=weights)[0]["id"]

        offers: list[ChannelOffer] = []
        for _ in range(self.rng.choices((1, 2, 3, 4), weights=(65, 25, 8, 2))[0]):
            offer = self.rng.choices(PLENTY_OFFERS, weights=self._offer_weights)[0]
            if offer not in offers:
                offers.append(offer)
        items = [self._item(order_id, 1, o.name, self.rng.choices((1, 2, 3, 5), weights=(80, 14, 4, 2))[0],
                            o.unit_price, market, preset, o, i) for i, o in enumerate(offers)]
        goods = sum(o.unit_price * it["quantity"] for o, it in zip(offers, items, strict=True))  # in EUR
        shipping = 0.0 if market.country == "DE" and goods >= 50 else (4.90 if market.country == "DE" else 9.90)
        items.append(self._item(order_id, 6, "Versandkosten", 1, shipping, market, preset, position=len(items)))
        if self.rng.random() < 0.08:
            code = self.rng.choice(("SOMMER10", "WILLKOMMEN5", "NEWSLETTER"))
            discount = -round(goods * 0.1, 2) if code == "SOMMER10" else -5.0
            items.append(self._item(order_id, 4, f"Gutschein {code}", 1, discount, market, preset,
                                    position=len(items)))

        paid = status not in (1.0, 3.0)
        marketplace = self.rng.random() < 0.4
        properties = [{"orderId": order_id, "typeId": 1, "value": str(WAREHOUSE_ID)},
                      {"orderId": order_id, "typeId": 2, "value": str(preset)},
                      {"orderId": order_id, "typeId": 3, "value": str(self.rng.choice(_PAYMENT_METHODS))},
                      {"orderId": order_id, "typeId": 4, "value": "fullyPaid" if paid else "unpaid"},
                      {"orderId": order_id, "typeId": 6, "value": "de" if market.locale.startswith("de") else "en"}]
        if marketplace:  # typeId 7: the order number on the marketplace the order came from
            properties.append({"orderId": order_id, "typeId": 7, "value": f"{self.rng.randint(300, 306)}-"
                               f"{self.rng.randint(1_000_000, 9_999_999)}-{self.rng.randint(1_000_000, 9_999_999)}"})

        history: list[tuple[float | None, float, datetime]] = [(None, 3.0 if status != 1.0 else 1.0, created)]
        updated = created
        if status not in (1.0, 3.0):
            updated = min(created + timedelta(minutes=self.rng.randint(2, 180)), end - timedelta(seconds=1))
            updated = max(updated, created)
            if status == 5.1:
                history.append((3.0, 5.0, updated - (updated - created) / 2))
            history.append((history[-1][1], status, updated))
        referrer = _MARKETPLACE_REFERRER if marketplace else _SHOP_REFERRER
        for item in items:
            item["referrerId"] = referrer
        body = {
            "id": order_id, "typeId": 1, "plentyId": self.plenty_id, "ownerId": 1, "referrerId": referrer,
            "locationId": 1, "lockStatus": "unlocked", "isLocked": False, "roundTotalsOnly": False,
            "numberOfDecimals": 2, "hasTaxRelevantDocuments": False, "hasDeliveryOrders": False,
            "createdAt": w3c(created),
            "amounts": self._order_amounts(order_id, items, market, paid),
            "properties": properties,
            # Date type ids illustrative: 2 entry date, 3 payment date.
            "dates": [{"orderId": order_id, "typeId": 2, "date": w3c(created)}]
            + ([{"orderId": order_id, "typeId": 3, "date": w3c(updated)}] if paid else []),
            "addressRelations": [{"orderId": order_id, "typeId": 1, "addressId": billing["id"]},
                                 {"orderId": order_id, "typeId": 2, "addressId": delivery["id"]}],
            "relations": [{"orderId": order_id, "referenceType": "contact",
                           "referenceId": 5_000 + billing["id"] % 10_000, "relation": "receiver"}],
            "addresses": [billing] if billing["id"] == delivery["id"] else [billing, delivery],
            # B6: the references to other orders; a sales order has none (its returns point at it).
            # Served without with[] like amounts and addressRelations: a guess, the spec's with[]
            # list names only the reverse direction (originOrderReferences).
            "orderReferences": [],
            "orderItems": items,
        }
        return GeneratedOrder(id=order_id, created_at=created, updated_at=updated, status_id=status,
                              history=history, body=body, address_problem=problem,
                              skus=[o.channel_sku for o in offers])

    # -- returns ---------------------------------------------------------------------------------------

    def _take(self, kind: str) -> int:
        # The next id of a kind without drawing from the random stream: orders generated after a
        # return keep their content (their ids move on: one id sequence for every order type, as in plenty).
        self._ids[kind] += 1
        return self._ids[kind]

    def return_order(self, parent: dict, returned: list[tuple[dict, float]], created: datetime,
                     warehouse_id: int, owner_id: int | None = None) -> dict:
        """The body of a return order (typeId 3) of ``parent``, as ``POST /rest/orders/{id}/returns`` makes it.

        B6/B7 [C]: a return is an order of its own (own id, own items, own status) that points at
        its sales order through ``orderReferences`` ``{originOrderId, referenceOrderId,
        referenceType: "parent"}``. Guesses [G], marked so clients do not rely on more: the
        reference's ``orderId`` field (as every other relation here carries it); each returned
        item's ``references[]`` entry ``{orderItemId, referenceOrderItemId, referenceType:
        "parent"}`` naming the sales order's item (B6 lists ``references[]`` on items, not its
        shape); the customer's addresses copied from the sales order; amounts over the returned
        quantities, nothing paid.

        Args:
            parent: the sales order's body.
            returned: (sales order item, quantity) pairs.
            created: when the return was made (its ``createdAt``).
            warehouse_id: the warehouse the goods come back to (order property type 1).
            owner_id: the return's owner, else the sales order's.
        """
        return_id = self._take("order")
        items = []
        for position, (item, quantity) in enumerate(returned):
            item_id = self._take("item")
            items.append({
                **copy.deepcopy(item), "id": item_id, "orderId": return_id, "quantity": float(quantity),
                "position": position, "warehouseId": warehouse_id if item["typeId"] == 1 else None,
                "amounts": [{**a, "id": self._take("amount")} for a in item["amounts"]],
                "properties": [], "dates": [],
                "references": [{"orderItemId": item_id, "referenceOrderItemId": item["id"],
                                "referenceType": "parent"}],
            })
        amounts = []
        for index, total_of in enumerate(parent["amounts"]):
            total = round(sum(it["amounts"][index]["priceGross"] * it["quantity"] for it in items), 2)
            shipping = round(sum(it["amounts"][index]["priceGross"] for it in items if it["typeId"] == 6), 2)
            vat = total_of["vats"][0]["vatRate"] if total_of.get("vats") else 0
            net = round(total / (1 + vat / 100), 2)
            amounts.append({
                **{k: total_of[k] for k in ("isSystemCurrency", "isNet", "currency", "exchangeRate")},
                "id": self._take("amount"), "orderId": return_id, "netTotal": net, "grossTotal": total,
                "vatTotal": round(total - net, 2), "invoiceTotal": total, "paidAmount": 0, "giftCardAmount": 0,
                "shippingCostsGross": shipping, "shippingCostsNet": round(shipping / (1 + vat / 100), 2),
                "vats": [{"countryVatId": 1, "vatField": 0, "vatRate": vat, "value": round(total - net, 2),
                          "netTotal": net, "grossTotal": total}],
            })
        kept = {3, 6}  # payment method and document language carry over; the warehouse is the return's
        return {
            **{k: parent[k] for k in ("plentyId", "referrerId", "locationId", "roundTotalsOnly", "numberOfDecimals")},
            "id": return_id, "typeId": 3, "ownerId": owner_id if owner_id is not None else parent["ownerId"],
            "lockStatus": "unlocked", "isLocked": False, "hasTaxRelevantDocuments": False,
            "hasDeliveryOrders": False, "createdAt": w3c(created), "amounts": amounts,
            "properties": [{"orderId": return_id, "typeId": 1, "value": str(warehouse_id)}]
            + [{**p, "orderId": return_id} for p in parent["properties"] if p["typeId"] in kept],
            "dates": [{"orderId": return_id, "typeId": 2, "date": w3c(created)}],  # 2 entry date (illustrative)
            "addressRelations": [{**r, "orderId": return_id} for r in parent["addressRelations"]],
            "relations": [{**r, "orderId": return_id} for r in parent["relations"]],
            "addresses": copy.deepcopy(parent["addresses"]),
            "orderReferences": [{"orderId": return_id, "originOrderId": parent["id"],
                                 "referenceOrderId": parent["id"], "referenceType": "parent"}],
            "orderItems": items,
        }
