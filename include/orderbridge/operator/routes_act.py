"""Fix and retry (``actor``, then the order's own DAG checked): each answers the order's new state."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from orderbridge.operator import actions
from orderbridge.operator.auth import Actor, check_order, name_of
from orderbridge.operator.routes_read import Staging

router = APIRouter()
Text = Field(min_length=1, max_length=200)


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Alias(Body):
    channel_sku: str = Text
    warehouse_sku: str = Text
    all_accounts: bool = False


class Component(Body):
    warehouse_sku: str = Text
    quantity: int = Field(ge=1, le=10_000)


class Bundle(Body):
    bundle_sku: str = Text
    components: list[Component] = Field(min_length=1, max_length=50)
    all_accounts: bool = False


class CarrierCode(Body):
    courier_service: str = Text
    carrier_code: str = Text
    carrier_name: str | None = Field(None, max_length=200)


class Override(Body):
    kind: Literal["address", "sku", "release_stock"]
    value: dict = {}
    why: str = Field(min_length=1, max_length=1000)


def _allowed(conn, user, order_id: int) -> str:
    with conn.cursor() as cur:
        check_order(user, *actions.order_account(cur, order_id))
    conn.rollback()
    return name_of(user)


@router.post("/orders/{order_id}/alias")
def alias(order_id: int, body: Alias, user: Actor, conn: Staging) -> dict:
    actions.add_alias(conn, order_id, _allowed(conn, user, order_id), body.channel_sku, body.warehouse_sku,
                      body.all_accounts)
    return {"ok": True}


@router.post("/orders/{order_id}/bundle")
def bundle(order_id: int, body: Bundle, user: Actor, conn: Staging) -> dict:
    actions.add_bundle(conn, order_id, _allowed(conn, user, order_id), body.bundle_sku,
                       [(c.warehouse_sku, c.quantity) for c in body.components], body.all_accounts)
    return {"ok": True}


@router.post("/orders/{order_id}/carrier-code")
def carrier_code(order_id: int, body: CarrierCode, user: Actor, conn: Staging) -> dict:
    actions.add_carrier_code(conn, order_id, _allowed(conn, user, order_id), body.courier_service,
                             body.carrier_code, body.carrier_name)
    return {"ok": True}


@router.post("/orders/{order_id}/override")
def override(order_id: int, body: Override, user: Actor, conn: Staging) -> dict:
    return {"override_id": actions.add_override(conn, order_id, _allowed(conn, user, order_id), body.kind,
                                                body.value, body.why)}


@router.post("/orders/{order_id}/retransform")
def retransform(order_id: int, user: Actor, conn: Staging) -> dict:
    return actions.retransform(conn, order_id, _allowed(conn, user, order_id))


@router.post("/orders/{order_id}/outbox/{outbox_id}/resend")
def resend(order_id: int, outbox_id: int, user: Actor, conn: Staging) -> dict:
    return actions.resend(conn, order_id, outbox_id, _allowed(conn, user, order_id))
