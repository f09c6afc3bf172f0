"""Deterministic fake plentymarkets orders: the data behind the plentymarkets sandbox.

Orders are shaped like the REST JSON in the reference notes (shoprenter-plenty-api.md B6, order 630
of the official order-data guide): float ``statusId``, ``amounts[]``, ``properties[]``,
``addressRelations[]`` joined to ``addresses[]`` (``name2`` first name, ``name3`` last name,
``address1`` street, ``address2`` house number, numeric ``countryId``), and ``orderItems[]`` whose
SKU is only reachable through ``variation.number``. Everything comes from one ``random.Random`` per
(seed, system), as in ``fakedata``; asking for more orders later continues that stream.

Realism a client has to cope with, on purpose:

- customers in DACH and the rest of Europe, names in Latin, Greek, Cyrillic and CJK scripts;
- delivery addresses that differ from the billing one, Packstation addresses, house numbers typed
  into the street field, company names in ``name1``;
- about 3% of delivery addresses the warehouse cannot ship to (no postcode, no street, or a
  ``countryId`` missing from the country table), named in ``GeneratedOrder.address_problem``;
- a shipping-costs item (typeId 6) on every order and a coupon item (typeId 4, negative price) on
  some: order items that are not products;
- Swiss orders in CHF, which carry a second ``amounts[]`` entry in the system currency (EUR);
- a few variations nobody mapped to a warehouse SKU (catalogue kind ``unknown``).

Returns are orders of their own (typeId 3) made from a sales order's body by ``return_order``,
when the sandbox is asked for one (``POST /rest/orders/{id}/returns`` or the control route).

Ids the reference does not give (payment methods, referrers, address option types, date types)
are illustrative and marked so; no orderbridge code may depend on them.

``tables`` holds what the systems are set up with (zone, currency, shipping profiles, country ids,
markets); ``factory`` generates the orders.
"""

from __future__ import annotations

from orderbridge_sandbox.plentyfake.factory import GeneratedOrder, PlentyOrderFactory
from orderbridge_sandbox.plentyfake.tables import PRESETS, SYSTEM_TZ, WAREHOUSE_ID, country_id, load_countries, w3c

__all__ = ["PRESETS", "SYSTEM_TZ", "WAREHOUSE_ID", "GeneratedOrder", "PlentyOrderFactory", "country_id",
           "load_countries", "w3c"]
