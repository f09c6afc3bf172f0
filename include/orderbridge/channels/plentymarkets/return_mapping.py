"""plentymarkets return orders (typeId 3), pure: payloads -> ``ReturnOrder`` for ``returns.record``.

A return names its sales order in ``orderReferences`` and, per item, the sales-order item it
returns (B6); what is known of those shapes, and what is a guess, is said where it is read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from orderbridge.channels.plentymarkets.mapping import (
    RETURN_ORDER,
    WAREHOUSE,
    _is_type,
    _objects,
    _order_items,
    _others,
    _products,
    _properties,
    _quantity,
    _scalar,
    _sku,
    _status,
    _variation_id,
)
from orderbridge.errors import InvalidPayload
from orderbridge.orders import refuse, text_field


def parent_order_id(order: dict) -> str | None:
    """The sales order a return points at: ``orderReferences`` with referenceType ``parent`` (B6).

    Its ``referenceOrderId`` is the order referred to; ``originOrderId`` is read only when that is
    missing. For a return made from a sales order both name the sales order; which of the two
    plenty fills for a return of a return or a delivery order is not documented [G].

    Raises:
        InvalidPayload: ``orderReferences`` or a field read from it has the wrong type.
    """
    for index, ref in enumerate(_objects(order.get("orderReferences"), "orderReferences")):
        where = f"orderReferences[{index}]"
        if text_field(ref.get("referenceType"), f"{where}.referenceType") == "parent":
            key = "referenceOrderId" if ref.get("referenceOrderId") not in (None, "") else "originOrderId"
            return text_field(_scalar(ref.get(key), f"{where}.{key}"), f"{where}.{key}") or None
    return None


def _parent_item(item: dict, where: str) -> str | None:
    """The sales order item a returned item stands for: its ``references[]`` entry of type ``parent``.

    B6 lists ``references[]`` on order items but not its shape; ``{orderItemId,
    referenceOrderItemId, referenceType}`` (as ``orderReferences``) is a guess [G]. None when there
    is none: the line is then matched to the sales order's line by variation once that is staged.
    """
    for index, ref in enumerate(_objects(item.get("references"), f"{where}.references")):
        at = f"{where}.references[{index}]"
        if text_field(ref.get("referenceType"), f"{at}.referenceType") == "parent":
            return text_field(_scalar(ref.get("referenceOrderItemId"), f"{at}.referenceOrderItemId"),
                              f"{at}.referenceOrderItemId")
    return None


@dataclass
class ReturnLine:
    """One returned line: how many of what, and which line of the sales order it returns."""

    channel_line_id: str  # the return order's own item id
    order_channel_line_id: str | None  # the sales order's item (staging.order_lines.channel_line_id)
    channel_sku: str | None
    channel_product_id: str | None  # the variation id
    quantity: int  # in channel units


@dataclass
class ReturnOrder:
    """A return order in the form ``staging.returns`` and ``staging.return_lines`` keep it."""

    external_return_id: str
    external_order_id: str | None  # the sales order it points at; None when unreadable
    raw_id: int
    channel_status: str | None = None
    lines: list[ReturnLine] = field(default_factory=list)
    detail: dict[str, Any] = field(default_factory=dict)
    invalid_reason: str | None = None  # set when the payload cannot be used (the field is named)


def to_return(rows: list[tuple[int, dict]]) -> ReturnOrder:
    """Map every payload of one return order (the latest wins) to a ``ReturnOrder``.

    Product items (typeId 1) are what comes back, each with its own quantity; other items
    (a refunded shipping cost) stay in ``detail``.

    Raises:
        InvalidPayload: the return cannot be used, naming the field (also: it is no return order,
            or names no sales order).
    """
    raw_id, order = max(rows, key=lambda r: r[0])
    if not isinstance(order, dict) or order.get("id") in (None, ""):
        raise InvalidPayload("id is missing")
    return_id = text_field(_scalar(order["id"], "id"), "id")
    if order.get("typeId") is not None and not _is_type(order["typeId"], RETURN_ORDER, "typeId"):
        refuse("typeId", "3 (a return order)", order["typeId"])
    parent = parent_order_id(order)
    if parent is None:
        raise InvalidPayload('orderReferences names no parent order (referenceType "parent"): the return '
                             "cannot be matched to its sales order")
    status = _status(order.get("statusId")) if order.get("statusId") is not None else None
    items = _order_items(order)
    lines, seen = [], set()
    for index, item in _products(items):
        where = f"orderItems[{index}]"
        line_id = text_field(_scalar(item.get("id"), f"{where}.id"), f"{where}.id") or f"item{index}"
        if line_id in seen:
            raise InvalidPayload(f"{where}.id {line_id} appears twice in the return")
        seen.add(line_id)
        lines.append(ReturnLine(channel_line_id=line_id, order_channel_line_id=_parent_item(item, where),
                                channel_sku=_sku(item, where) or None,
                                channel_product_id=_variation_id(item, where),
                                quantity=_quantity(item.get("quantity"), f"{where}.quantity")))
    if not lines:
        raise InvalidPayload("orderItems has no product item (typeId 1): nothing comes back to the warehouse")
    warehouse = _properties(order).get(str(WAREHOUSE))
    return ReturnOrder(
        external_return_id=return_id, external_order_id=parent, raw_id=raw_id,
        channel_status=str(status) if status is not None else None, lines=lines,
        detail={"raw_id": raw_id, "statusName": text_field(order.get("statusName"), "statusName"),
                "createdAt": text_field(order.get("createdAt"), "createdAt"),
                "warehouseId": warehouse, "otherItems": _others(items)},
    )
