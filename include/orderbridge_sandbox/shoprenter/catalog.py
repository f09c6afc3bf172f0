"""The Shoprenter fake's catalogue side (A7, A9): products and ``productExtend`` (with ``?sku=``
addressing), customer-group prices, customer groups, categories (the product groups), webhooks, and
the small read-only tables orders link to (currencies, languages, countries, tax classes).

``READERS`` and ``WRITERS`` plug into ``resources.ShopApi.handle``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from orderbridge_sandbox.shoprenter.factory import add_product
from orderbridge_sandbox.shoprenter.state import (
    CUSTOMER_GROUPS,
    ApiError,
    Product,
    Shop,
    fmt,
    invalid,
    make_id,
    not_found,
    parse_id,
)
from orderbridge_sandbox.shoprenter.webhooks import EVENTS
from orderbridge_sandbox.shoprenter.wire import parse_date

if TYPE_CHECKING:
    from orderbridge_sandbox.shoprenter.resources import ShopApi

_DECIMAL = ("price", "cost", "multiplier")
_INTEGER = ("stock1", "stock2", "stock3", "stock4", "quantity", "minimalOrderNumber", "subtractStock", "status",
            "orderable", "multiplierLock")
_TEXT = ("sku", "modelNumber", "gtin")
_EXTEND_ONLY = ("productDescriptions", "productCategoryRelations")


def apply_fields(shop: Shop, product_fields: dict, body: dict, extend: bool) -> tuple[dict, str | None, int | None]:
    """Validate ``body`` against the product resource and return (new fields, name, category id).

    Names and groups are written through ``productExtend`` (``productDescriptions[].name``,
    ``productCategoryRelations[].category.id``). Nothing changes when anything is refused.

    Raises:
        ApiError: 400 naming the field: unknown or read-only [G: refused, not ignored], a value
            that is not a number, a status outside 0/1/2, an unknown tax class or category.
    """
    allowed = {*_DECIMAL, *_INTEGER, *_TEXT, "taxClass", *(_EXTEND_ONLY if extend else ())}
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise invalid(f"Unknown or read-only product field(s): {', '.join(unknown)}")
    out, name, category = dict(product_fields), None, None
    for key, value in body.items():
        if key in _DECIMAL:
            try:
                out[key] = float(str(value).replace(",", "."))
            except ValueError:
                raise invalid(f"Invalid value for {key}: '{value}' is not a number") from None
        elif key in _INTEGER:
            text = str(value).strip()
            if not text.lstrip("-").isdigit():
                raise invalid(f"Invalid value for {key}: '{value}' is not a whole number")
            out[key] = int(text)
        elif key in _TEXT:
            out[key] = str(value).strip()
        elif key == "taxClass":
            n = parse_id("taxClasses", str(value.get("id", ""))) if isinstance(value, dict) else None
            if n != 1:
                raise invalid(f"Invalid value for taxClass: {value!r} is not the id of a tax class of the shop")
            out[key] = n
        elif key == "productDescriptions":
            names = [d.get("name") for d in value if isinstance(d, dict)] if isinstance(value, list) else []
            if not names or not all(isinstance(n, str) and n.strip() for n in names):
                raise invalid("Invalid value for productDescriptions: a list of objects with a name")
            name = names[0].strip()
        elif key == "productCategoryRelations":
            ids = [r.get("category", {}).get("id") for r in value if isinstance(r, dict)] \
                if isinstance(value, list) else []
            found = [parse_id("categories", str(i)) for i in ids if isinstance(i, str)]
            if not found or any(n not in shop.categories for n in found):
                raise invalid("Invalid value for productCategoryRelations: category ids of the shop expected")
            category = found[0]
    if out["status"] not in (0, 1, 2):
        raise invalid(f"Invalid value for status: {out['status']} (0 disabled, 1 enabled, 2 deprecated)")
    if not out["sku"]:
        raise invalid("sku is required")
    return out, name, category


def change_product(shop: Shop, product: Product, body: dict, extend: bool, now) -> Product:
    """Apply a validated change; ``dateUpdated`` moves only when something really changed."""
    fields, name, category = apply_fields(shop, product.fields, body, extend)
    if fields["sku"] != product.fields["sku"] and shop.product_by_sku(fields["sku"]) is not None:
        raise ApiError(409, 40901, f"Product with sku {fields['sku']} already exists")
    changed = (fields != product.fields or (name and name != product.name)
               or (category and category != product.category_id))
    changed_product = Product(product.inner_id, fields, name or product.name, category or product.category_id,
                              product.created, now if changed else product.updated)
    shop.put_product(changed_product)
    return changed_product


def create_product(shop: Shop, body: dict, extend: bool, now) -> Product:
    defaults = {"sku": "", "status": 1}
    fields, name, category = apply_fields(shop, defaults, body, extend)
    if shop.product_by_sku(fields["sku"]) is not None:
        raise ApiError(409, 40901, f"Product with sku {fields['sku']} already exists")
    return add_product(shop, fields, name or fields["sku"], category, now)


def render_product(api: ShopApi, p: Product) -> dict:
    pid = make_id("products", p.inner_id)
    f = p.fields
    return {
        "href": f"{api.base}/products/{pid}", "id": pid, "innerId": str(p.inner_id), "sku": f["sku"],
        "modelNumber": f["modelNumber"], "gtin": f["gtin"], **{k: f"{f[k]:.4f}" for k in _DECIMAL},
        **{k: str(f[k]) for k in _INTEGER}, "taxClass": api.href("taxClasses", f["taxClass"]),
        "parentProduct": None, "dateCreated": fmt(p.created), "dateUpdated": fmt(p.updated),
        "productDescriptions": {"href": f"{api.base}/productDescriptions?productId={pid}"},
        "productCategoryRelations": {"href": f"{api.base}/productCategoryRelations?productId={pid}"},
    }


def render_product_extend(api: ShopApi, p: Product) -> dict:
    body = render_product(api, p)
    body["href"] = f"{api.base}/productExtend/{body['id']}"
    body["productDescriptions"] = [{"name": p.name, "shortDescription": "", "description": "",
                                    "language": api.href("languages", 1)}]
    body["productCategoryRelations"] = [{"category": {**api.href("categories", p.category_id),
                                                      "id": make_id("categories", p.category_id)}}] \
        if p.category_id else []
    return body


def _products(api: ShopApi, params: dict[str, str], extend: bool = False) -> list[Product]:
    rows = sorted(api.shop.products.values(), key=lambda p: p.inner_id)
    p = {k: v for k, v in params.items() if v != ""}
    if "innerId" in p:
        rows = [r for r in rows if str(r.inner_id) == p["innerId"]]
    if "sku" in p:
        rows = [r for r in rows if r.fields["sku"] == p["sku"]]
    if "parentProductId" in p:
        rows = []  # the fake has no variants
    for name, attr in (("createdAt", "created"), ("updatedAt", "updated")):
        if name in p:
            day = parse_date(name, p[name], date_only=True).date()
            rows = [r for r in rows if getattr(r, attr).date() == day]
    if extend:
        for name, attr, after in (("createdAfter", "created", True), ("createdBefore", "created", False),
                                  ("updatedAfter", "updated", True), ("updatedBefore", "updated", False)):
            if name in p:
                limit = parse_date(name, p[name])
                rows = [r for r in rows if (getattr(r, attr) >= limit if after else getattr(r, attr) <= limit)]
        if "published" in p:
            rows = [r for r in rows if (r.fields["status"] == 1) == (p["published"] == "1")]
    return rows


def _target(api: ShopApi, collection: str, item: str | None, params: dict[str, str]) -> Product:
    """The product a write addresses: by id in the path, or (productExtend) by ``?sku=``."""
    if item is not None:
        n = parse_id(collection, item)
        product = api.shop.products.get(n) if n is not None else None
        if product is None:
            raise not_found(f"{api.base}/{collection}/{item}")
        return product
    sku = params.get("sku")
    if not sku:
        raise not_found(f"{api.base}/{collection}")
    product = api.shop.product_by_sku(sku)
    if product is None:
        raise ApiError(404, 40033, f"Product not found with sku: {sku}")
    return product


def _writer(collection: str, action: str) -> Callable:
    extend = collection == "productExtend"

    def write(api: ShopApi, item: str | None, params: dict[str, str], fields: dict) -> tuple[int, object]:
        render = render_product_extend if extend else render_product
        now = api.now()
        if action == "create" and not (extend and params.get("sku")):
            return 201, render(api, create_product(api.shop, fields, extend, now))
        product = _target(api, collection, item, params)
        if action == "delete":
            api.shop.drop_product(product)
            return 204, None
        return 200, render(api, change_product(api.shop, product, fields, extend, now))
    return write


# -- prices, groups, categories, webhooks, small tables --------------------------------------------
def render_price(api: ShopApi, row: dict) -> dict:
    return {**api.href("customerGroupProductPrices", row["innerId"]),
            "id": make_id("customerGroupProductPrices", row["innerId"]), "innerId": str(row["innerId"]),
            "price": f"{row['price']:.4f}", "customerGroup": api.href("customerGroups", row["customerGroup"]),
            "product": api.href("products", row["product"])}


def _price_fields(api: ShopApi, fields: dict, row: dict) -> dict:
    out = dict(row)
    for key, collection in (("customerGroup", "customerGroups"), ("product", "products")):
        if key in fields:
            link = fields[key]
            n = parse_id(collection, str(link.get("id", ""))) if isinstance(link, dict) else None
            known = CUSTOMER_GROUPS if key == "customerGroup" else api.shop.products
            if n not in known:
                raise invalid(f"Invalid value for {key}: {link!r} is not the id of one of the shop's {collection}")
            out[key] = n
    if "price" in fields:
        try:
            out["price"] = float(str(fields["price"]).replace(",", "."))
        except ValueError:
            raise invalid(f"Invalid value for price: '{fields['price']}' is not a number") from None
    unknown = sorted(set(fields) - {"customerGroup", "product", "price"})
    if unknown:
        raise invalid(f"Unknown or read-only field(s): {', '.join(unknown)}")
    missing = [k for k in ("customerGroup", "product", "price") if k not in out]
    if missing:
        raise invalid(f"Missing field(s): {', '.join(missing)}")
    return out


def _prices(api: ShopApi, params: dict[str, str]) -> list[dict]:
    rows = [api.shop.prices[n] for n in sorted(api.shop.prices)]
    if params.get("productId"):  # [G] filter names
        rows = [r for r in rows if r["product"] == parse_id("products", params["productId"])]
    if params.get("customerGroupId"):
        rows = [r for r in rows if r["customerGroup"] == parse_id("customerGroups", params["customerGroupId"])]
    return rows


def write_price(api: ShopApi, item: str | None, params: dict[str, str], fields: dict) -> tuple[int, object]:
    if item is None:
        n = api.shop.new_id("price", 1)
        api.shop.prices[n] = _price_fields(api, fields, {"innerId": n})
        return 201, render_price(api, api.shop.prices[n])
    n = parse_id("customerGroupProductPrices", item)
    if n not in api.shop.prices:
        raise not_found(f"{api.base}/customerGroupProductPrices/{item}")
    if fields:
        api.shop.prices[n] = _price_fields(api, fields, api.shop.prices[n])
        return 200, render_price(api, api.shop.prices[n])
    del api.shop.prices[n]
    return 204, None


def _hook_fields(fields: dict, row: dict) -> dict:
    out = {**row, **{k: v for k, v in fields.items() if k in ("label", "event", "status", "webHookParameters",
                                                                "webHookDelay")}}
    unknown = sorted(set(fields) - set(out))
    if unknown:
        raise invalid(f"Unknown webHook field(s): {', '.join(unknown)}")
    if out.get("event") not in EVENTS:
        raise invalid(f"Invalid value for event: {out.get('event')!r}; one of {', '.join(EVENTS)}")
    params = out.get("webHookParameters")
    if isinstance(params, dict):
        params = [params]
    if not isinstance(params, list) or not params or not all(
            isinstance(p, dict) and str(p.get("url", "")).startswith(("http://", "https://"))
            and p.get("type", "json") in ("json", "xml") for p in params):
        raise invalid("Invalid value for webHookParameters: a list of {type: json|xml, url: http(s)://...}")
    out["webHookParameters"] = params
    out["status"] = int(out.get("status", 1))
    out.setdefault("label", "")
    out.setdefault("webHookDelay", [])
    return out


def render_hook(api: ShopApi, row: dict) -> dict:
    return {**api.href("webHooks", row["innerId"]), "id": make_id("webHooks", row["innerId"]),
            "innerId": str(row["innerId"]), "label": row["label"], "event": row["event"],
            "status": str(row["status"]), "webHookParameters": row["webHookParameters"],
            "webHookDelay": row["webHookDelay"]}


def write_hook(api: ShopApi, item: str | None, params: dict[str, str], fields: dict) -> tuple[int, object]:
    if item is None:
        n = api.shop.new_id("webhook", 1)
        api.shop.webhooks[n] = _hook_fields(fields, {"innerId": n})
        return 201, render_hook(api, api.shop.webhooks[n])
    n = parse_id("webHooks", item)
    if n not in api.shop.webhooks:
        raise not_found(f"{api.base}/webHooks/{item}")
    if fields:
        api.shop.webhooks[n] = _hook_fields(fields, api.shop.webhooks[n])
        return 200, render_hook(api, api.shop.webhooks[n])
    del api.shop.webhooks[n]
    return 204, None


def _table(collection: str, rows: dict[int, dict]) -> Callable:
    def render(api: ShopApi, row: dict) -> dict:
        return {**api.href(collection, row["innerId"]), "id": make_id(collection, row["innerId"]),
                "innerId": str(row["innerId"]), **{k: v for k, v in row.items() if k != "innerId"}}
    return lambda api, p: ([{"innerId": n, **r} for n, r in sorted(rows.items())], render, True)


def _categories(api: ShopApi, params: dict[str, str]):
    def render(a: ShopApi, row: dict) -> dict:
        # [G] the group's name is embedded; a real shop keeps it in categoryDescriptions.
        return {**a.href("categories", row["innerId"]), "id": make_id("categories", row["innerId"]),
                "innerId": str(row["innerId"]), "parentCategory": None, "status": "1",
                "categoryDescriptions": [{"name": row["name"], "language": a.href("languages", 1)}]}
    return [{"innerId": n, "name": name} for n, name in sorted(api.shop.categories.items())], render, True


READERS: dict[str, Callable] = {
    "products": lambda api, p: (_products(api, p), render_product, True),
    "productExtend": lambda api, p: (_products(api, p, extend=True), render_product_extend, True),
    "customerGroupProductPrices": lambda api, p: (_prices(api, p), render_price, True),
    "webHooks": lambda api, p: ([api.shop.webhooks[n] for n in sorted(api.shop.webhooks)], render_hook, True),
    "categories": _categories,
    "customerGroups": _table("customerGroups", {n: {"name": name} for n, name in CUSTOMER_GROUPS.items()}),
    "currencies": _table("currencies", {4: {"name": "Forint", "code": "HUF", "value": "1.00000000"}}),
    "languages": _table("languages", {1: {"name": "Magyar", "code": "hu"}}),
    "countries": _table("countries", {97: {"name": "Magyarország", "isoCode2": "HU", "isoCode3": "HUN"}}),
    "taxClasses": _table("taxClasses", {1: {"name": "ÁFA 27%", "description": "Általános forgalmi adó"}}),
}
WRITERS: dict[tuple[str, str, bool], Callable] = {
    ("POST", "products", False): _writer("products", "create"),
    ("PUT", "products", True): _writer("products", "change"),
    ("DELETE", "products", True): _writer("products", "delete"),
    ("POST", "productExtend", False): _writer("productExtend", "create"),
    ("PUT", "productExtend", False): _writer("productExtend", "change"),
    ("PUT", "productExtend", True): _writer("productExtend", "change"),
    ("DELETE", "productExtend", False): _writer("productExtend", "delete"),
    ("DELETE", "productExtend", True): _writer("productExtend", "delete"),
    ("POST", "customerGroupProductPrices", False): write_price,
    ("PUT", "customerGroupProductPrices", True): write_price,
    ("DELETE", "customerGroupProductPrices", True): write_price,
    ("POST", "webHooks", False): write_hook,
    ("PUT", "webHooks", True): write_hook,
    ("DELETE", "webHooks", True): write_hook,
}
