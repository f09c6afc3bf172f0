"""plentymarkets write-back handlers, one per outbox effect kind.

- ``status``: ``PUT /rest/orders/{id}`` with the status the staging outcome calls for (5.1, 6.2,
  6.3, 8.8). Setting a status twice is harmless, so at-least-once delivery is safe.
- ``return_status``: one effect per return order the warehouse received: ``PUT /rest/orders/{id}``
  of the *return order* with the "return received" status (9.01), at most once: set only if the
  return order does not have it yet, and a lost answer is checked before trying again
  (``PlentyClient.set_status_once``).
- ``tracking``: one effect per line of each parcel (``shipments.enqueue_tracking``); the handler
  groups a batch by order and parcel, adds one package per parcel unless plenty already lists its
  number (so a resend after a crash adds no second package), then sets the shipping profile mapped
  from the warehouse's courier (``staging.carrier_codes``: courier service -> plenty shipping
  profile id) in one ``PUT`` with the shipped status (7) when the parcel completes the order, or
  the extra ``status_partly_shipped`` when it leaves lines to ship (none by default: the status
  stays as it is).
- ``stock``: one ``stock/correction`` call per batch into the configured warehouse and storage
  location; ``quantity`` is the absolute level there (the reference's strong hint, B9: a guess).
"""

from __future__ import annotations

from orderbridge.channels.plentymarkets.client import PlentyClient
from orderbridge.channels.plentymarkets.mapping import SHIPPING_PROFILE
from orderbridge.errors import InvalidPayload
from orderbridge.outbox import Handler, OutboxRow, Outcome


def tracking_payload(line_id: str, carrier_code: str, tracking_number: str, quantity: int,
                     complete: bool = True) -> dict:
    """One line of one parcel; ``carrier_code`` is the plenty shipping profile id, ``complete`` says
    the order is fully shipped with this parcel."""
    return {"order_item_id": line_id, "shipping_profile_id": carrier_code, "package_number": tracking_number,
            "quantity": quantity, "complete": complete}


def status_handler(client: PlentyClient) -> Handler:
    def send(rows: list[OutboxRow]) -> dict[int, Outcome]:
        outcomes = {}
        for row in rows:
            client.set_status(row.payload["order_id"], row.payload["statusId"])
            outcomes[row.id] = Outcome("sent", f"status {row.payload['statusId']} set ({row.payload['because']})")
        return outcomes

    return send


def return_status_handler(client: PlentyClient) -> Handler:
    def send(rows: list[OutboxRow]) -> dict[int, Outcome]:
        outcomes = {}
        for row in rows:
            return_id, status = row.payload["order_id"], row.payload["statusId"]
            done = client.set_status_once(return_id, status)
            outcomes[row.id] = Outcome("sent", f"return order {return_id}: status {status} "
                                               + ("set (return received)" if done else "was already set"),
                                       {"already_set": not done})
        return outcomes

    return send


def tracking_handler(client: PlentyClient) -> Handler:
    def send(rows: list[OutboxRow]) -> dict[int, Outcome]:
        parcels: dict[tuple[str, str, str], list[OutboxRow]] = {}
        for row in rows:
            key = (row.external_order_id, row.payload["package_number"], row.payload["shipping_profile_id"])
            parcels.setdefault(key, []).append(row)
        outcomes = {}
        for (order_id, number, profile), parcel_rows in parcels.items():
            if order_id is None:
                raise InvalidPayload("tracking effect without an order")
            known = number in client.package_numbers(int(order_id))
            if not known:
                client.add_package(int(order_id), number)
            # Rows enqueued before partial shipments existed carry no ``complete``: they shipped the order.
            complete = all(row.payload.get("complete", True) for row in parcel_rows)
            status = client.settings.shipped_status if complete else client.settings.partly_shipped_status
            client.set_status(int(order_id), status, properties=[{"typeId": SHIPPING_PROFILE, "value": str(profile)}])
            message = (f"package {number} already on the order" if known else f"package {number} added") + \
                f", shipping profile {profile}, " + (f"status {status}" if status is not None else
                                                     "status unchanged (order partly shipped)")
            outcomes.update({row.id: Outcome("sent", message, {"package_known": known}) for row in parcel_rows})
        return outcomes

    return send


def stock_handler(client: PlentyClient) -> Handler:
    def send(rows: list[OutboxRow]) -> dict[int, Outcome]:
        missing = [row for row in rows if not row.payload.get("product_id")]
        ready = [row for row in rows if row.payload.get("product_id")]
        if ready:
            client.correct_stock([{"variationId": int(row.payload["product_id"]), "quantity": row.payload["quantity"]}
                                  for row in ready])
        outcomes = {row.id: Outcome("sent", f"stock {row.payload['quantity']} set in warehouse "
                                            f"{client.settings.warehouse_id}") for row in ready}
        outcomes.update({row.id: Outcome("rejected", f"no plenty variation id known for {row.payload['channel_sku']}")
                         for row in missing})
        return outcomes

    return send
