"""Shoprenter write-backs, sent from the outbox: the "accepted" order status and stock levels.

- ``accept``: ``PUT /orders/{id}`` with the configured ``orderStatus`` (A6), once per order (the
  outbox key is the order and the status). The status is read first: an order already there is
  done without a write, an order the shop no longer has is refused for a person. Setting a status
  is idempotent, so the client's retries of a lost answer are harmless.
- ``stock``: the warehouse's level (the sum of ``stock_up_warehouses``) as ``stock_field`` of the
  product, by SKU (``PUT /productExtend?sku=``), ``batch_size`` a ``/batch``. An item the shop
  refuses (an unknown SKU: 404 40033) is rejected and visible; one that failed transiently waits
  for the next run.
"""

from __future__ import annotations

from urllib.parse import quote

from orderbridge.channels.shoprenter import batch as batches
from orderbridge.errors import InvalidPayload
from orderbridge.outbox import Handler, OutboxRow, Outcome


def accept_handler(client) -> Handler:
    def send(rows: list[OutboxRow]) -> dict[int, Outcome]:
        outcomes = {}
        for row in rows:
            inner, status = row.payload["inner_id"], row.payload["status"]
            current = client.order_status(inner)
            if current is None:
                outcomes[row.id] = Outcome("rejected", f"order {inner} is not in shop {client.settings.shop} any "
                                           "more: its status was not set")
                continue
            if current != status:
                try:
                    client.set_status(row.payload["order_id"], status)
                except InvalidPayload as err:
                    outcomes[row.id] = Outcome("rejected", f"shop refused status {status} for order {inner}: {err}")
                    continue
            outcomes[row.id] = Outcome("sent", f"order {inner} set to status {status} (was {current})")
        return outcomes

    return send


def stock_handler(client, account=None) -> Handler:
    field = client.settings.stock_field

    def send(rows: list[OutboxRow]) -> dict[int, Outcome]:
        outcomes: dict[int, Outcome] = {}
        size = client.settings.batch_size
        for start in range(0, len(rows), size):
            part = rows[start:start + size]
            requests_ = [{"method": "PUT", "uri": f"productExtend?sku={quote(r.payload['channel_sku'], safe='')}",
                          "data": {field: r.payload["quantity"]}} for r in part]
            outcome = batches.send(client.batch, requests_)
            for i in outcome.done:
                outcomes[part[i].id] = Outcome("sent", f"{field} = {part[i].payload['quantity']}")
            for i, why in outcome.refused.items():
                outcomes[part[i].id] = Outcome("rejected", f"stock of {part[i].payload['channel_sku']} refused: {why}")
            for i in outcome.retry:
                outcomes[part[i].id] = Outcome("waiting", "the shop failed this item transiently; sent again next run")
        return outcomes

    return send
