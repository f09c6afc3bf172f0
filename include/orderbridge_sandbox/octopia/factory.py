"""Deterministic Octopia orders for one seller, shaped as ``GET /orders`` sends them (octopia-api.md §4).

Everything comes from ``(seed, "octopia", seller_id)``. Orders are spread over the seller's sales
channels in turn and over every status (``WaitingAcceptance`` and ``Refused`` only on Cdiscount);
lines carry their own ``supplyMode`` (mostly ``Seller``, a share fulfilled by Octopia or cross-docked)
and their own shipping address (occasionally a different one per line, sometimes a pickup point).
Seller references come from ``catalogue.OCTOPIA_OFFERS``, people and addresses from ``fakedata``.
"""

from __future__ import annotations

import random
import string
from datetime import datetime, timedelta

from orderbridge_sandbox.catalogue import OCTOPIA_OFFERS, OFFER_WEIGHTS, ChannelOffer
from orderbridge_sandbox.fakedata import Address, _Profile, derive_seed, fake_address
from orderbridge_sandbox.octopia.state import CDISCOUNT, SALES_CHANNELS, Line, Order, iso

_LOCALES = {"FR": "fr_FR", "SE": "sv_SE", "GB": "en_GB", "PT": "pt_PT"}
# Initial statuses: most orders still to act on, some in every other status so a client meets them all.
_STATUS_WEIGHTS = {"Processing": 4, "WaitingAcceptance": 22, "Accepted": 12, "InPreparation": 34, "Shipped": 10,
                   "Delivered": 6, "Cancelled": 5, "Refused": 3, "Rejected": 2}
CDISCOUNT_ONLY = ("WaitingAcceptance", "Refused")
_CARRIERS = (("Colissimo", "https://www.laposte.fr/outils/suivre-vos-envois?code={}"),
             ("Chronopost", "https://www.chronopost.fr/tracking-no-cms/suivi-page?listeNumerosLT={}"))


def gtin(offer: ChannelOffer) -> str:
    """A stable 13-digit GTIN for an offer (not check-digit valid: nothing checks it)."""
    return "370" + str(derive_seed("gtin", offer.channel_sku) % 10**10).zfill(10)


class OctopiaOrderFactory:
    """Orders for one seller, continuing one deterministic stream.

    Args:
        seed: the sandbox seed.
        seller_id: the seller; two sellers with the same seed still get different orders.
        anchor: orders are dated in ``[anchor - days, anchor)`` unless a batch says otherwise.
        days: how far back the dates spread.
        fbo_share: share of lines fulfilled by Octopia (``supplyMode: Fulfillment``).
        xdock_share: share of lines cross-docked by the sales channel (``Xdock``).
        split_address_share: share of multi-line orders whose lines go to different addresses.
        statuses: the statuses random orders are drawn from (default all, weighted as usual).
    """

    def __init__(self, seed: int, seller_id: str, anchor: datetime, days: float = 2.0, fbo_share: float = 0.15,
                 xdock_share: float = 0.05, split_address_share: float = 0.1,
                 statuses: tuple[str, ...] | None = None) -> None:
        self.rng = random.Random(derive_seed(seed, "octopia", seller_id))
        self.statuses = tuple(statuses or _STATUS_WEIGHTS)
        self.seller_id, self.anchor, self.days = seller_id, anchor.replace(second=0, microsecond=0), days
        self.fbo_share, self.xdock_share, self.split_address_share = fbo_share, xdock_share, split_address_share
        self._weights = [OFFER_WEIGHTS[o.kind] for o in OCTOPIA_OFFERS]
        self._turn = 0
        self._seen: set[str] = set()

    def generate(self, n: int, channels: tuple[str, ...], status: str | None = None, anchor: datetime | None = None,
                 days: float | None = None, supply_modes: list[str] | None = None) -> list[Order]:
        """The next ``n`` orders, taking ``channels`` in turn; ``status`` forces every line's status,
        ``supply_modes`` the lines (one per mode given)."""
        end = (anchor or self.anchor).replace(second=0, microsecond=0)
        minutes = max(1, int((days if days is not None else self.days) * 1440))
        orders = []
        for _ in range(n):
            channel = channels[self._turn % len(channels)]
            self._turn += 1
            date = end - timedelta(minutes=minutes) + timedelta(minutes=self.rng.randrange(minutes))
            orders.append(self._order(channel, date, end, status, supply_modes))
        return orders

    def _status(self, channel: str) -> str:
        names = [s for s in self.statuses if channel == CDISCOUNT or s not in CDISCOUNT_ONLY]
        return self.rng.choices(names, weights=[_STATUS_WEIGHTS[s] for s in names])[0]

    def _code(self, n: int, alphabet: str = string.ascii_uppercase + string.digits) -> str:
        return "".join(self.rng.choice(alphabet) for _ in range(n))

    def _address(self, country: str) -> Address:
        return fake_address(self.rng, _Profile(country, _LOCALES.get(country, "fr_FR"), 1))

    def _shipping(self, address: Address, email: str) -> dict:
        first, _, last = address.name.partition(" ")
        pickup = self.rng.random() < 0.1  # a relay point: the parcel goes there, the name stays the buyer's
        return {"firstName": first, "lastName": last or first, "companyName": "", "addressLine1": address.address1,
                "addressLine2": address.address2, "addressLine3": "", "postalCode": address.zip, "city": address.city,
                "countryCode": address.country, "phone": address.phone, "email": email,
                "pickupId": f"PR{self.rng.randint(10000, 99999)}" if pickup else "",
                "pickupName": f"Relais {address.city}" if pickup else ""}

    def _supply_mode(self) -> str:
        draw = self.rng.random()
        return "Fulfillment" if draw < self.fbo_share else "Xdock" if draw < self.fbo_share + self.xdock_share \
            else "Seller"

    def _line(self, number: int, offer: ChannelOffer, shipping: dict, status: str, mode: str | None) -> Line:
        quantity = self.rng.choices((1, 2, 3), weights=(80, 15, 5))[0]
        shipping_cost = self.rng.choice((0.0, 0.0, 3.99, 5.9))
        payload = {
            "orderLineId": str(number), "quantity": quantity,
            "offer": {"sellerProductId": offer.channel_sku, "productGtin": gtin(offer), "productTitle": offer.name,
                      "supplyMode": mode or self._supply_mode(), "offerId": f"{offer.channel_sku}_{self.seller_id}_1"},
            "sellingPrice": {"unitSalesPrice": offer.unit_price, "shippingCost": shipping_cost,
                             "taxes": [{"code": "VAT", "rate": 20.0}]},
            "totalPrice": {"sellingPrice": round(offer.unit_price * quantity + shipping_cost, 2)},
            "shippingAddress": shipping,
        }
        line = Line(payload, status)
        if status in ("Shipped", "Delivered"):
            carrier, url = self.rng.choice(_CARRIERS)
            number_ = "6A" + self._code(11, string.digits)
            line.parcels.append({"parcelNumber": number_, "carrierName": carrier, "trackingUrl": url.format(number_)})
        return line

    def _order_id(self, channel: str, date: datetime) -> str:
        while True:  # the D-mig sample's shape: channel, date, four characters
            oid = f"{channel}{date:%y%m%d%H%M%S}{self._code(4)}"
            if oid not in self._seen:
                self._seen.add(oid)
                return oid

    def _order(self, channel: str, date: datetime, end: datetime, status: str | None,
               modes: list[str] | None) -> Order:
        name, currency, country = SALES_CHANNELS.get(channel, (channel, "EUR", "FR"))
        status = status or self._status(channel)
        buyer = self._address(country)
        email = f"{self._code(12, string.ascii_lowercase + string.digits)}@marketplace.octopia.example"
        offers: list[ChannelOffer] = []
        n_lines = len(modes) if modes else self.rng.choices((1, 2, 3), weights=(65, 25, 10))[0]
        while len(offers) < n_lines:  # distinct offers; the catalogue has far more than an order's lines
            offer = self.rng.choices(OCTOPIA_OFFERS, weights=self._weights)[0]
            if offer not in offers:
                offers.append(offer)
        split = len(offers) > 1 and self.rng.random() < self.split_address_share
        home = self._shipping(buyer, email)
        lines = [self._line(i, offer, self._shipping(self._address(country), email) if split and i > 1 else dict(home),
                            status, modes[i - 1] if modes else None) for i, offer in enumerate(offers, start=1)]
        total = round(sum(ln.payload["totalPrice"]["sellingPrice"] for ln in lines), 2)
        first, _, last = buyer.name.partition(" ")
        payload = {
            "orderId": self._order_id(channel, date), "reference": self._code(14, string.digits),
            "businessOrder": self.rng.random() < 0.03, "salesChannel": {"id": channel, "name": name},
            "seller": {"id": self.seller_id}, "customer": {"reference": f"cust_{self._code(8)}"},
            "purchasedAt": iso(date), "shippedAtMax": iso(date + timedelta(days=3)),
            "payment": {"method": "Card"}, "currencyCode": currency,
            "billingAddress": {"civility": self.rng.choice(("MR", "MRS", "MISS")), "firstName": first,
                               "lastName": last or first, "addressLine1": buyer.address1,
                               "addressLine2": buyer.address2, "postalCode": buyer.zip, "city": buyer.city,
                               "countryCode": buyer.country},
            "totalPrice": {"sellingPrice": total, "offerPrice": round(total * 0.92, 2)},
        }
        # An order that got somewhere was last changed after it was created, but not after the batch's end.
        moved = timedelta(minutes=0 if status == "Processing" else self.rng.randint(1, 180))
        order = Order(payload, lines, created_at=date, updated_at=min(date + moved, max(end, date)))
        if status in ("Shipped", "Delivered"):
            order.shipped_at = order.updated_at
        return order
