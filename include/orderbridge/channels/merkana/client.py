"""What we send Merkana: order status updates (``ff-orders-status``) and stock (``ff-supplies``).

Both go through the outbox. Status effects are per order: one per (order, status, parcel), so a
status is posted once per order and parcel whatever reruns follow; stock effects come from the
shared reconciliation (``stock.reconcile``). One handler call posts a whole batch: ff-orders-status
takes many orders in one array, ff-supplies many products of one merchant (``mid``).

Retries follow the seed's own policy for its jobs: 6 attempts (1 + 5 retries) 10 minutes apart
(the delay: extra ``retry_delay_seconds``, see ``settings``), then the rows are ``failed`` and stay
visible (``staging.outbox``, ``staging.order_events``) for a person. Each attempt is one HTTP request
(no quick in-client retries): the outbox counts them.

``stock_mode`` ``delta`` (default) posts ``br`` = new level minus the level Merkana last
accepted (the seed: "new stock reported", negative after an audit); ``absolute`` posts the level.
Delivery is at-least-once: a delta Merkana applied but whose answer was lost (timeout) is sent
again on the next attempt, so delta mode may count such a change twice; ``absolute`` cannot.
"""

from __future__ import annotations

from orderbridge.channels.merkana import CHANNEL
from orderbridge.channels.merkana.settings import PlatformSettings, merchant_of
from orderbridge.errors import InvalidPayload
from orderbridge.http import ChannelClient
from orderbridge.outbox import Effect, Handler, OutboxRow, Outcome, enqueue
from orderbridge.shipments import mark_shipped, record_blocked

ORDER_STATUS = "order_status"
MAX_ATTEMPTS = 6  # the first try and 5 retries
STATUS_PATH, SUPPLIES_PATH = "ff-orders-status", "ff-supplies"


class MerkanaClient(ChannelClient):
    """Posts to one platform's API. Connection: host/schema/port and ``api_path`` (``/v1``) give the
    API, ``password`` is the token Merkana gave us (sent as ``api-token``); the extras are
    ``PlatformSettings``."""

    channel = CHANNEL
    settings_class = PlatformSettings
    settings: PlatformSettings

    def __init__(self, conn_id: str, account: str = "", **kwargs):
        kwargs.setdefault("max_attempts", 1)
        super().__init__(conn_id, account, **kwargs)  # reads self.settings (PlatformSettings)
        # The inbound secret is a secret too: never in a log line or an error.
        self.secrets += [s for s in (self.settings.inbound_token,) if s]

    def read_settings(self) -> PlatformSettings:
        """The platform's settings: the platform is the first part of the account (``<platform>/<mid>``).

        Raises:
            SettingsError: an unknown or malformed extra, named in the message.
        """
        return PlatformSettings.from_extra(self.account.split("/")[0], self.conn_id, self.extra,
                                           headers=self.header_extras)

    def post(self, path: str, body: dict) -> dict:
        """POST a JSON body with our ``api-token``; Merkana's ``status: false`` becomes ``InvalidPayload``.

        Raises:
            AuthError: 401/403 (our token refused).
            InvalidPayload: another 4xx, or an answer with ``status`` false (its message included).
            Retryable: 5xx, timeout, connection error, an answer that is not JSON.
        """
        answer = self.request_json("POST", path, json=body, headers={"api-token": self.connection.password or ""})
        if isinstance(answer, dict) and answer.get("status") in (False, "false", 0):
            raise self._error(InvalidPayload, f"POST {path}: Merkana answered status false "
                                              f"({str(answer.get('message') or 'no message')[:200]})")
        return answer if isinstance(answer, dict) else {}

    def orders_status(self, updates: list[dict]) -> dict:
        """``updates``: canonical ``{idextern, status, awb, courier}`` dicts."""
        return self.post(STATUS_PATH, self.settings.fields.to_wire({"orders": updates}))

    def supplies(self, mid: str, products: list[dict]) -> dict:
        """``products``: canonical ``{sku, br}`` dicts of one merchant."""
        return self.post(SUPPLIES_PATH, self.settings.fields.to_wire({"mid": _mid_json(mid), "products": products}))


def _mid_json(mid: str) -> int | str:
    # The seed sends and expects numbers; "²" is a digit to str.isdigit but not to int().
    return int(mid) if mid.isascii() and mid.isdigit() and len(mid) <= 18 else mid


# -- status updates ------------------------------------------------------------------------------
def enqueue_status_updates(cur, settings: PlatformSettings, account: str, run_id: str | None = None) -> dict:
    """Mark orders with a shipment as shipped, then enqueue one status effect per new (order, status,
    parcel) for the statuses Merkana is told about (``settings.status_values``), in the caller's
    transaction.

    A shipped order's update carries the parcel: ``awb`` is its tracking number and ``courier``
    Merkana's name for the warehouse's courier service (``staging.carrier_codes``, channel
    ``merkana``). A service with no row blocks the parcel, as on every channel: the shipment gets
    one ``tracking_blocked`` history entry saying which row to add, and the status still goes, with
    ``awb`` and ``courier`` null (the seed's own example), unless another parcel of the order
    carries it; once the row exists, the next run posts the status again with the parcel. With the
    extra ``unmapped_courier: service_name`` the service's own name is sent instead. Returns counts.
    """
    shipped = mark_shipped(cur, CHANNEL, account, run_id)
    cur.execute(
        """SELECT o.id, o.external_order_id, o.status, s.id, s.tracking_number, s.courier_service, c.carrier_code
           FROM staging.orders o
           LEFT JOIN staging.shipments s ON s.order_id = o.id AND o.status = 'shipped'
           LEFT JOIN staging.carrier_codes c ON c.channel = o.channel
                AND lower(c.courier_service) = lower(s.courier_service)
           WHERE o.channel = %s AND o.account = %s AND o.status = ANY(%s)
           ORDER BY o.id, s.id""",
        (CHANNEL, account, list(settings.status_values)),
    )
    rows = cur.fetchall()
    free_text = settings.unmapped_courier == "service_name"
    carried = {r[0] for r in rows if r[3] is None or r[6] is not None or free_text}  # orders with a status to send
    effects, blocked = [], []
    for order_id, ext, status, shipment_id, awb, service, code in rows:
        courier = code or (service if free_text else None)
        if shipment_id is not None and courier is None:
            blocked.append((order_id, ext, shipment_id, service))
            if order_id in carried:
                continue
            carried.add(order_id)
            awb = None  # the status alone; the parcel waits for its courier
        effects.append(Effect(ORDER_STATUS, f"{ext}:{status}:{awb or ''}",
                              {"idextern": ext, "status": settings.status_values[status], "awb": awb,
                               "courier": courier}, ext))
    return {"orders_marked_shipped": shipped, "status_updates_enqueued": enqueue(cur, CHANNEL, account, effects),
            "parcels_blocked": _record_blocked(cur, account, blocked, run_id)}


def _record_blocked(cur, account: str, blocked: list[tuple[int, str, int, str]], run_id: str | None) -> int:
    return record_blocked(
        cur, CHANNEL, account, blocked, run_id,
        consequence="so this parcel (awb, courier) is not sent; the order's status goes without it",
        code_name="<the courier as Merkana names it>",
        alternative=" A platform that takes any courier name can instead get the service name as is: "
                    "connection extra unmapped_courier service_name.")


def status_handler(client: MerkanaClient) -> Handler:
    """One ff-orders-status post per batch. A batch Merkana refuses is split (``outbox._send``) so
    one bad order is ``rejected`` with Merkana's message and the others are sent."""

    def send(rows: list[OutboxRow]) -> dict[int, Outcome]:
        client.orders_status([{k: row.payload[k] for k in ("idextern", "status", "awb", "courier")} for row in rows])
        return {row.id: Outcome("sent", f"status {row.payload['status']} posted"
                                + (f" (awb {row.payload['awb']})" if row.payload.get("awb") else ""))
                for row in rows}

    return send


# -- stock ------------------------------------------------------------------------------------------
def stock_handler(client: MerkanaClient, account: str) -> Handler:
    """One ff-supplies post per batch, for the merchant of ``account``.

    Each row holds the new level (``quantity``) and the level Merkana last accepted
    (``confirmed``, from the reconciliation that made it; a new initial-stock answer supersedes
    rows made against an older one). ``stock.confirm_sent`` then records what was accepted.
    """
    mid = merchant_of(account)
    delta = client.settings.stock_mode == "delta"

    def send(rows: list[OutboxRow]) -> dict[int, Outcome]:
        products, outcomes = [], {}
        for row in rows:
            quantity, confirmed = row.payload["quantity"], row.payload.get("confirmed")
            br = quantity - (confirmed or 0) if delta else quantity
            if delta and br == 0:
                outcomes[row.id] = Outcome("sent", "no change to report", {"br": 0})
                continue
            products.append({"sku": row.payload["channel_sku"], "br": br})
            outcomes[row.id] = Outcome("sent", f"br {br:+d} posted" if delta else f"br {br} posted", {"br": br})
        if products:
            client.supplies(mid, products)
        return outcomes

    return send


# -- what waits -----------------------------------------------------------------------------------
def merchant_accounts(cur, settings: PlatformSettings) -> list[str]:
    """Staging accounts of the platform's merchants: those configured (extra ``merchants``) and every
    one staging has seen (product sync, orders), so a new merchant needs no configuration."""
    cur.execute(
        """SELECT account FROM staging.channel_products WHERE channel = %(c)s AND split_part(account, '/', 1) = %(p)s
           UNION SELECT account FROM staging.orders WHERE channel = %(c)s AND split_part(account, '/', 1) = %(p)s""",
        {"c": CHANNEL, "p": settings.platform},
    )
    seen = {r[0] for r in cur.fetchall()}
    return sorted(seen | {settings.account(mid) for mid in settings.merchants or {}})
