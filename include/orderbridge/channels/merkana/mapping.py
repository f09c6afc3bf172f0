"""What Merkana sends us, checked, and the pure mapper from an order to a ``StagedOrder``.

Pure: no database, no network, no Airflow. The request models use the canonical field names
(``fields``); ``parse`` renames a received body first and names a bad field the way the
platform spelled it. They check shape only -- ids, numbers, lists -- because a structural error
is refused (HTTP 422, nothing stored) and the platform retries; an order that is well-formed but
cannot ship as it is (no street, unknown SKU) is stored and held with its reason, like every
channel's. Unknown extra fields are allowed and kept in ``raw``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from orderbridge.channels.merkana import CHANNEL
from orderbridge.channels.merkana.fields import Fields
from orderbridge.channels.merkana.settings import PlatformSettings
from orderbridge.errors import InvalidPayload
from orderbridge.orders import StagedLine, StagedOrder
from orderbridge.outbox import Effect

MAX_PRODUCTS = 10_000  # one product sync; a bigger catalogue comes in several calls
MAX_LINES = 500
MAX_ERRORS = 5  # named in one refusal message


def _id(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        raise ValueError("must be a number or a non-empty string")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int | str) and str(value).strip():
        return str(value).strip()
    raise ValueError("must be a number or a non-empty string")


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError("must be text, a number or null")
    return str(value).strip() or None


def _quantity(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("must be a whole number")
    return value


def _currency(value: Any) -> str | None:
    text = _text(value)
    if text is not None and not (len(text) == 3 and text.isascii() and text.isalpha()):
        raise ValueError("must be a 3-letter ISO 4217 code")
    return text.upper() if text else None


Id = Annotated[str, BeforeValidator(_id)]
Text = Annotated[str | None, BeforeValidator(_text)]
# decimal_places: "1E-1000000000000000000" is a finite Decimal under the cap that PostgreSQL's numeric
# cannot take ("value overflows numeric format"): refused here, naming the field, not at load. 30, not 2:
# a platform's float sums arrive with binary noise (0.30000000000000004, 17 places) and are amounts.
Money = Annotated[Decimal | None, Field(ge=0, lt=10**12, decimal_places=30)]
Quantity = Annotated[int, BeforeValidator(_quantity), Field(gt=0, le=100_000)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="allow")


class Product(_Body):
    id: Id
    sku: Id
    ean: Text = None
    title: Text = None
    img: Text = None


class ProductSync(_Body):
    mid: Id
    products: Annotated[list[Product], Field(max_length=MAX_PRODUCTS)]


class StockRequest(_Body):
    mid: Id


class Cancel(_Body):
    mid: Id
    id: Id


class Shipping(_Body):
    shipping_contact: Text = None
    shipping_phone: Text = None
    shipping_country: Text = None
    shipping_suburb: Text = None
    shipping_city: Text = None
    shipping_street: Text = None
    shipping_postal_code: Text = None
    shipping_locality_id: Text = None
    shipping_instructions: Text = None
    shipping_method: Text = None
    company: Text = None
    email: Text = None
    shipping_country_id: Text = None
    shipping_city_id: Text = None
    shipping_street_id: Text = None
    shipping_courier_office: Text = None
    shipping_courier: Text = None


class LineItem(_Body):
    sku: Id
    quantity: Quantity


class OrderCreate(_Body):
    mid: Id
    id: Id
    unknownproductid: Text = None
    email_ff_problem: Text = None
    status: Text = None
    total: Money = None
    insurance: Money = None
    currency: Annotated[str | None, BeforeValidator(_currency)] = None
    payment_method: Text = None
    customer_note: Text = None
    shipping: Shipping
    awb: Text = None
    awb_url: Text = None
    url_factura: Text = None
    line_items: Annotated[list[LineItem], Field(min_length=1, max_length=MAX_LINES)]
    ff_note: Text = None


Model = TypeVar("Model", bound=BaseModel)


def parse(model: type[Model], body: Any, fields: Fields) -> Model:
    """Check a received body against ``model``.

    Raises:
        InvalidPayload: naming each bad field as the platform spells it (up to ``MAX_ERRORS``).
    """
    if not isinstance(body, dict):
        raise InvalidPayload(f"body must be a JSON object, not {type(body).__name__}")
    try:
        return model.model_validate(fields.to_canonical(body))
    except ValidationError as err:
        problems = [f"{fields.path(e['loc'])}: {_message(e)}" for e in err.errors()[:MAX_ERRORS]]
        more = err.error_count() - len(problems)
        raise InvalidPayload("; ".join(problems) + (f" (and {more} more)" if more > 0 else "")) from None


def _message(error: dict) -> str:
    if error["type"] in ("model_type", "dict_type"):
        return "must be a JSON object"  # pydantic would name our model class
    return error["msg"].removeprefix("Value error, ")


def parse_product_sync(body: Any, fields: Fields) -> ProductSync:
    """``parse`` plus: a SKU may appear once (it identifies the product in every later call)."""
    sync = parse(ProductSync, body, fields)
    first: dict[str, int] = {}
    for i, product in enumerate(sync.products):
        if product.sku in first:
            raise InvalidPayload(f"{fields.path(('products', i, 'sku'))}: {product.sku!r} repeats "
                                 f"{fields.path(('products', first[product.sku], 'sku'))}")
        first[product.sku] = i
    return sync


def _json_value(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _ship_address1(shipping: Shipping) -> str | None:
    # Delivery to a courier office (Econt, Speedy) is common with COD and has no street: the office
    # is the address the parcel goes to.
    if shipping.shipping_street:
        return shipping.shipping_street
    if shipping.shipping_courier_office:
        return f"{shipping.shipping_courier or 'courier'} office {shipping.shipping_courier_office}"
    return None


def to_staged(order: OrderCreate, raw_id: int, settings: PlatformSettings) -> StagedOrder:
    """One checked order create -> the canonical order.

    Lines have no id of their own on Merkana: their position (1, 2, ...) is their line id. A line
    whose SKU nothing maps goes onto the merchant's unknown product (``settings.unknown_sku``),
    and the order is flagged for a person (``orders.line_rows``).
    """
    ship = order.shipping
    fallback = settings.unknown_sku(order.mid, order.unknownproductid)
    method = (order.payment_method or "").upper() or None
    lines = [StagedLine(channel_line_id=str(i), channel_sku=item.sku, channel_quantity=item.quantity,
                        unit_price=None, fallback_sku=fallback)
             for i, item in enumerate(order.line_items, start=1)]
    channel_data = {
        "mid": order.mid, "unknownproductid": order.unknownproductid, "payment_method": method,
        "cod": method == "COD", "cod_amount": _json_value(order.total) if method == "COD" else None,
        "insurance": _json_value(order.insurance), "ff_note": order.ff_note, "customer_note": order.customer_note,
        "url_factura": order.url_factura, "email_ff_problem": order.email_ff_problem, "awb": order.awb,
        "awb_url": order.awb_url, "company": ship.company, "shipping_instructions": ship.shipping_instructions,
        "shipping_method": ship.shipping_method, "shipping_courier": ship.shipping_courier,
        "shipping_courier_office": ship.shipping_courier_office, "shipping_suburb": ship.shipping_suburb,
        "shipping_locality_id": ship.shipping_locality_id, "shipping_country_id": ship.shipping_country_id,
        "shipping_city_id": ship.shipping_city_id, "shipping_street_id": ship.shipping_street_id,
    }
    return StagedOrder(
        external_order_id=order.id, raw_id=raw_id, lines=lines, channel_status=order.status,
        currency=order.currency, total=order.total,
        customer_name=ship.shipping_contact, customer_email=ship.email, customer_phone=ship.shipping_phone,
        ship_name=ship.shipping_contact, ship_address1=_ship_address1(ship),
        ship_address2=ship.shipping_suburb if ship.shipping_street else None,
        ship_city=ship.shipping_city, ship_postcode=ship.shipping_postal_code, ship_country=ship.shipping_country,
        ship_phone=ship.shipping_phone,
        channel_data={k: v for k, v in channel_data.items() if v is not None},
    )


class MerkanaMapper:
    """The ``staging.ChannelMapper`` of one platform: raw order creates -> ``StagedOrder``.

    Merkana expects nothing back for a stored order (the HTTP answer is the acknowledgement), so
    there are no acknowledgement effects.
    """

    channel = CHANNEL
    checks_stock = False  # orders are taken as they come; stock is the warehouse's to chase

    def __init__(self, settings: PlatformSettings):
        self.settings = settings

    def to_order(self, rows: list[tuple[int, dict]]) -> StagedOrder:
        raw_id, payload = rows[-1]  # the latest create of this order id is the order
        return to_staged(parse(OrderCreate, payload, self.settings.fields), raw_id, self.settings)

    def acknowledgements(self, order: StagedOrder, status: str) -> list[Effect]:
        return []
