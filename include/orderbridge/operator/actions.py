"""Fix and retry one order without rerunning a DAG; each action is one transaction that also writes an
``operator_<action>`` entry in the order's history naming the person (``detail.by``)."""

from __future__ import annotations

import json
from contextlib import closing

import psycopg2

from orderbridge import outbox
from orderbridge.channels.registry import get as get_channel
from orderbridge.config import load_accounts
from orderbridge.errors import OrderbridgeError
from orderbridge.staging.history import record_event
from orderbridge.staging.overrides import ADDRESS_FIELDS
from orderbridge.staging.retransform import transform_one


class Refused(Exception):
    """The action cannot be done as asked; ``status_code`` and a message naming what is wrong."""

    def __init__(self, status_code: int, message: str):
        super().__init__(message)
        self.status_code, self.message = status_code, message


def _order(cur, order_id: int) -> tuple[str, str, str, str]:
    cur.execute("SELECT channel, account, external_order_id, status FROM staging.orders WHERE id = %s", (order_id,))
    found = cur.fetchone()
    if found is None:
        raise Refused(404, f"no staging order with id {order_id}")
    return found


def order_account(cur, order_id: int) -> tuple[str, str]:
    return _order(cur, order_id)[:2]


def _history(cur, order_id: int, event: str, message: str, by: str, **detail) -> None:
    channel, account, ext, _status = _order(cur, order_id)
    record_event(cur, channel, account, f"operator_{event}", f"{message} (by {by})", order_id=order_id,
                 external_order_id=ext, detail={"by": by, **detail})


def _known_sku(cur, sku: str) -> None:
    cur.execute("SELECT 1 FROM staging.products WHERE sku = %s", (sku,))
    if cur.fetchone() is None:
        raise Refused(422, f"warehouse SKU {sku!r} is not in staging.products; nothing was added")


def add_alias(conn, order_id: int, by: str, channel_sku: str, warehouse_sku: str, all_accounts: bool) -> None:
    with conn.cursor() as cur:
        channel, account = order_account(cur, order_id)
        _known_sku(cur, warehouse_sku)
        scope = "*" if all_accounts else account
        cur.execute("""INSERT INTO staging.sku_aliases (channel, account, channel_sku, warehouse_sku)
                       VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING RETURNING 1""",
                    (channel, scope, channel_sku, warehouse_sku))
        if cur.fetchone() is None:
            conn.rollback()
            raise Refused(409, f"{channel} SKU {channel_sku!r} already has an alias for account {scope!r}; "
                               "nothing was changed")
        _history(cur, order_id, "sku_alias", f"SKU alias {channel_sku} -> {warehouse_sku} added for {channel}/{scope}",
                 by, channel_sku=channel_sku, warehouse_sku=warehouse_sku, account=scope)
    conn.commit()


def add_bundle(conn, order_id: int, by: str, bundle_sku: str, components: list[tuple[str, int]],
               all_accounts: bool) -> None:
    with conn.cursor() as cur:
        channel, account = order_account(cur, order_id)
        for sku, _qty in components:
            _known_sku(cur, sku)
        scope = "*" if all_accounts else account
        cur.execute("SELECT 1 FROM staging.bundles WHERE channel = %s AND account = %s AND bundle_sku = %s",
                    (channel, scope, bundle_sku))
        if cur.fetchone():
            raise Refused(409, f"{channel} bundle {bundle_sku!r} already exists for account {scope!r}; "
                               "nothing was changed")
        for sku, qty in components:
            cur.execute("INSERT INTO staging.bundles (channel, account, bundle_sku, warehouse_sku, quantity)"
                        " VALUES (%s, %s, %s, %s, %s)", (channel, scope, bundle_sku, sku, qty))
        parts = ", ".join(f"{qty} x {sku}" for sku, qty in components)
        _history(cur, order_id, "bundle", f"bundle {bundle_sku} = {parts} added for {channel}/{scope}", by,
                 bundle_sku=bundle_sku, components=[list(c) for c in components], account=scope)
    conn.commit()


def add_carrier_code(conn, order_id: int, by: str, courier_service: str, carrier_code: str,
                     carrier_name: str | None) -> None:
    with conn.cursor() as cur:
        channel, _account = order_account(cur, order_id)
        cur.execute("""INSERT INTO staging.carrier_codes (channel, courier_service, carrier_code, carrier_name)
                       VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING RETURNING 1""",
                    (channel, courier_service, carrier_code, carrier_name))
        if cur.fetchone() is None:
            raise Refused(409, f"{channel} already has a carrier code for courier service {courier_service!r}; "
                               "nothing was changed")
        _history(cur, order_id, "carrier_code", f"carrier code {courier_service} -> {carrier_code} added for "
                 f"{channel}", by, courier_service=courier_service, carrier_code=carrier_code)
    conn.commit()


def add_override(conn, order_id: int, by: str, kind: str, value: dict, why: str) -> int:
    """An address correction, a line's SKU or a stock release (``staging/overrides.py``); applied at the
    next transform (``retransform`` below does it now)."""
    if kind == "address" and (unknown := sorted(set(value) - set(ADDRESS_FIELDS))):
        raise Refused(422, f"address override: unknown field(s) {', '.join(unknown)}; "
                           f"known: {', '.join(ADDRESS_FIELDS)}")
    with conn.cursor() as cur:
        channel, account, ext, _status = _order(cur, order_id)
        try:
            cur.execute("""INSERT INTO staging.order_overrides (channel, account, external_order_id, kind, value,
                                                                created_by, why)
                           VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING id""",
                        (channel, account, ext, kind, json.dumps(value), by, why))
        except psycopg2.errors.CheckViolation as err:
            conn.rollback()
            raise Refused(422, f"override refused by {err.diag.constraint_name}; nothing was added") from err
        override_id = cur.fetchone()[0]
        _history(cur, order_id, "override", f"override {kind} {json.dumps(value)} added: {why}", by,
                 override_id=override_id, kind=kind, value=value)
    conn.commit()
    return override_id


def _account(channel: str, account: str):
    base = account.split("/", 1)[0]
    found = next((a for a in load_accounts(channel) if a.name == base), None)
    if found is None:
        raise Refused(409, f"{channel} account {base!r} is not in the accounts file; cannot act on it")
    return found


def retransform(conn, order_id: int, by: str) -> dict:
    """Map this one order again from ``raw`` now; returns its status after."""
    with conn.cursor() as cur:
        channel, account, ext, before = _order(cur, order_id)
    try:
        mapper = get_channel(channel).mapper(_account(channel, account))
    except OrderbridgeError as err:
        raise Refused(503, f"{channel}/{account}: {err}") from err
    except Exception as err:  # the account's connection is missing or unreadable here
        raise Refused(503, f"{channel}/{account}: cannot read its connection: {type(err).__name__}: {err}") from err
    try:
        transform_one(conn, mapper, account, ext, f"operator:{by}")
    except LookupError as err:
        raise Refused(409, str(err)) from err
    with conn.cursor() as cur:
        after = _order(cur, order_id)[3]
        _history(cur, order_id, "retransform", f"re-transformed from raw: {before} -> {after}", by,
                 before=before, after=after)
    conn.commit()
    return {"before": before, "after": after}


def resend(conn, order_id: int, outbox_id: int, by: str) -> dict:
    """Send one ``failed`` or ``rejected`` write-back of this order again now, once, through its channel."""
    with conn.cursor() as cur:
        cur.execute("SELECT channel, account, kind, status FROM staging.outbox WHERE id = %s AND order_id = %s",
                    (outbox_id, order_id))
        found = cur.fetchone()
        if found is None:
            raise Refused(404, f"order {order_id} has no write-back {outbox_id}")
        channel, account, kind, status = found
        if status not in ("failed", "rejected"):
            raise Refused(409, f"write-back {outbox_id} is {status}; only a failed or rejected one is re-sent")
        cur.execute("""UPDATE staging.outbox SET status = 'pending', attempts = 0, next_attempt_at = now(),
                       updated_at = now() WHERE id = %s""", (outbox_id,))
        _history(cur, order_id, "resend", f"{kind} write-back {outbox_id} ({status}) sent again", by,
                 outbox_id=outbox_id, kind=kind, was=status)
    conn.commit()
    ch = get_channel(channel)
    handler_of = ch.writebacks.get(kind) or (ch.tracking.handler if ch.tracking and kind == "tracking" else None)
    if handler_of is None:
        raise Refused(409, f"{channel} has no sender for {kind} write-backs")
    error = None
    try:
        with ch.client(_account(channel, account)) as client:
            outbox.dispatch(conn, channel, account, kind, handler_of(client), max_attempts=1, only=[outbox_id],
                            run_id=f"operator:{by}")
    except OrderbridgeError as err:  # recorded on the row by dispatch; the page shows it
        error = str(err)
    with closing(conn.cursor()) as cur:
        cur.execute("SELECT status, last_error FROM staging.outbox WHERE id = %s", (outbox_id,))
        status, last_error = cur.fetchone()
    return {"status": status, "error": error or last_error}
