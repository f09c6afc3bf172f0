"""The demo merchant's catalogue: what the sandbox sells and what the simulated warehouse stocks.

One fixed, deterministic list shared by the marketplace sandbox (which puts these SKUs on orders)
and the warehouse simulator (which seeds products, stock and the SKU mappings the demo needs).
It deliberately covers every way a channel SKU meets a warehouse SKU:

- ``direct``: the channel sells under the warehouse SKU itself;
- ``alias``: the channel uses its own code, mapped by a row in ``staging.sku_aliases``;
- ``bundle``: one channel SKU is several warehouse SKUs, mapped by rows in ``staging.bundles``;
- ``kit``: Groupon describes the kit itself in ``bom_sku`` (``2xWH-1003``), no mapping row of its own;
  a component is a warehouse SKU or the merchant's own Groupon SKU, mapped like any other
  (``3xGG-9013`` goes through that SKU's alias);
- ``unknown``: nobody has mapped it yet, so its orders wait as ``awaiting_mapping``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class WarehouseProduct:
    sku: str
    name: str
    on_hand: int


@dataclass(frozen=True)
class ChannelOffer:
    channel_sku: str
    name: str
    unit_price: float
    kind: str  # direct | alias | bundle | kit | unknown
    components: tuple[tuple[str, int], ...] = ()
    bom_sku: str | None = None
    variation_id: int | None = None  # plentymarkets: the variation's own id (orders carry only this id)


_NAMES = [
    "Bamboo cutting board", "Stainless water bottle 750 ml", "LED desk lamp", "Wool blanket grey",
    "Ceramic mug set", "Cotton bath towel", "Yoga mat 6 mm", "Bluetooth speaker mini",
    "Kitchen scale digital", "Silicone baking mat", "Phone stand aluminium", "Travel adapter EU/UK",
    "Garden hose 15 m", "Insulated lunch box", "Pillow memory foam", "Cast iron skillet 26 cm",
    "Herb scissors", "Wireless charger pad", "Coffee grinder manual", "Bike light set",
    "Notebook A5 dotted", "Glass food containers", "Essential oil diffuser", "Shower caddy",
]

WAREHOUSE_PRODUCTS: tuple[WarehouseProduct, ...] = tuple(
    WarehouseProduct(sku=f"WH-{1001 + i}", name=name, on_hand=40 + (i * 37) % 160)
    for i, name in enumerate(_NAMES)
)

_WH = {p.sku: p for p in WAREHOUSE_PRODUCTS}


def _direct(i: int) -> ChannelOffer:
    p = WAREHOUSE_PRODUCTS[i]
    return ChannelOffer(p.sku, p.name, round(9.99 + i * 1.5, 2), "direct", ((p.sku, 1),))


def _alias(i: int) -> ChannelOffer:
    p = WAREHOUSE_PRODUCTS[i]
    return ChannelOffer(f"GG-{9000 + i}", p.name, round(12.49 + i, 2), "alias", ((p.sku, 1),))


GROUPON_OFFERS: tuple[ChannelOffer, ...] = (
    *(_direct(i) for i in range(0, 12)),
    *(_alias(i) for i in range(12, 20)),
    ChannelOffer("GG-BUNDLE-KITCHEN", "Kitchen starter bundle", 39.90, "bundle",
                 (("WH-1005", 1), ("WH-1009", 1), ("WH-1010", 2))),
    ChannelOffer("GG-BUNDLE-TRAVEL", "Travel pack", 24.50, "bundle",
                 (("WH-1002", 1), ("WH-1012", 1))),
    ChannelOffer("GG-KIT-MUGS", "Mug set, two boxes", 18.00, "kit", (("WH-1005", 2),),
                 bom_sku="2xWH-1005"),
    ChannelOffer("GG-KIT-LUNCH", "Lunch box trio", 27.00, "kit", (("WH-1014", 3),),
                 bom_sku="3xGG-9013"),  # a component under its alias (GG-9013 -> WH-1014)
    ChannelOffer("GG-NEW-7741", "Scented candle (new deal)", 14.99, "unknown"),
    ChannelOffer("GG-NEW-7742", "Picnic blanket (new deal)", 21.99, "unknown"),
)

# plentymarkets variations: the variation number (variation.number, the usual SKU) is mostly the
# warehouse SKU itself; a few are the merchant's own numbers, mapped by staging.sku_aliases rows with
# channel 'plentymarkets'; two are not mapped at all. Variation ids are stable and deliberately far
# from the SKU digits, so a client that confuses itemVariationId with the SKU fails visibly.
PLENTY_OFFERS: tuple[ChannelOffer, ...] = (
    *(ChannelOffer(p.sku, p.name, round(12.90 + i * 2.0, 2), "direct", ((p.sku, 1),), variation_id=3101 + i)
      for i, p in enumerate(WAREHOUSE_PRODUCTS[:16])),
    *(ChannelOffer(f"PM-{5001 + i}", p.name, round(15.90 + i * 2.0, 2), "alias", ((p.sku, 1),),
                   variation_id=3201 + i)
      for i, p in enumerate(WAREHOUSE_PRODUCTS[16:21])),
    ChannelOffer("PM-9901", "Bamboo toothbrush, pack of 4 (new)", 8.90, "unknown", variation_id=3301),
    ChannelOffer("PM-9902", "Linen apron (new)", 24.90, "unknown", variation_id=3302),
)

# Octopia (Cdiscount and the other sales channels): ``offer.sellerProductId`` is the seller's own
# reference. Mostly the warehouse SKU, some merchant codes mapped by aliases (channel 'octopia'), two
# bundles and two products nobody has mapped; the same offers are listed on every subscribed channel.
OCTOPIA_OFFERS: tuple[ChannelOffer, ...] = (
    *(ChannelOffer(p.sku, p.name, round(11.90 + i * 1.75, 2), "direct", ((p.sku, 1),))
      for i, p in enumerate(WAREHOUSE_PRODUCTS[:14])),
    *(ChannelOffer(f"CD-{7001 + i}", p.name, round(14.50 + i * 1.5, 2), "alias", ((p.sku, 1),))
      for i, p in enumerate(WAREHOUSE_PRODUCTS[14:20])),
    ChannelOffer("CD-BUNDLE-BREAKFAST", "Breakfast set", 34.90, "bundle", (("WH-1005", 2), ("WH-1019", 1))),
    ChannelOffer("CD-BUNDLE-OUTDOOR", "Outdoor pack", 44.00, "bundle", (("WH-1013", 1), ("WH-1020", 1))),
    ChannelOffer("CD-NEW-3301", "Ceramic vase (new listing)", 19.90, "unknown"),
    ChannelOffer("CD-NEW-3302", "Rattan basket (new listing)", 23.50, "unknown"),
)

# How often each kind appears on generated orders: mostly mapped products, a few unmapped ones so
# the demo always shows orders waiting for a mapping.
OFFER_WEIGHTS: dict[str, int] = {"direct": 10, "alias": 6, "bundle": 3, "kit": 3, "unknown": 1}

# Shoprenter webshops: products carry the shop's own SKU (``sku``), mostly the warehouse SKU, some
# merchant codes mapped by aliases (channel 'shoprenter') and one nobody has mapped. Prices are net
# HUF, as the shop stores them. Every product sits in one product group (a shop category), so
# excluded groups can be tested: the garden group is the one the demo excludes.
SHOPRENTER_OFFERS: tuple[ChannelOffer, ...] = (
    *(ChannelOffer(p.sku, p.name, float(2990 + i * 450), "direct", ((p.sku, 1),))
      for i, p in enumerate(WAREHOUSE_PRODUCTS[:16])),
    *(ChannelOffer(f"SR-{4001 + i}", p.name, float(3490 + i * 500), "alias", ((p.sku, 1),))
      for i, p in enumerate(WAREHOUSE_PRODUCTS[16:22])),
    ChannelOffer("SR-UJ-8801", "Kerámia tál (új termék)", 5990.0, "unknown"),
)
SHOPRENTER_GROUPS: tuple[str, ...] = ("Konyha", "Otthon", "Kert", "Elektronika")
# sku -> product group; the garden and outdoor things are in "Kert"
SHOPRENTER_GROUP_OF: dict[str, str] = {
    o.channel_sku: ("Kert" if o.components and o.components[0][0] in ("WH-1013", "WH-1017", "WH-1020")
                    else "Elektronika" if o.components and o.components[0][0] in ("WH-1003", "WH-1008", "WH-1011",
                                                                                     "WH-1018")
                    else "Konyha" if i % 2 == 0 else "Otthon")
    for i, o in enumerate(SHOPRENTER_OFFERS)
}
