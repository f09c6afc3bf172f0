"""The toy channel: a queue of orders read page by page, acknowledged by id, stock not pushed.

Its wire (``/toy/<shop>/orders?page=N``, ``POST /toy/<shop>/ack``) is the one ``sandbox`` serves.
The connection: host/port/schema the server, ``api_path`` ``/toy/<shop>``, password the bearer token.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import nullcontext

from orderbridge.channels.base import Channel, Stock, StockPolicy, Stream
from orderbridge.errors import InvalidPayload
from orderbridge.http import ChannelClient
from orderbridge.orders import StagedLine, StagedOrder
from orderbridge.outbox import Effect, Handler, OutboxRow, Outcome

NAME = "toy"


class ToyClient(ChannelClient):
    channel = NAME

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.connection.password or ''}"}

    def iter_orders(self) -> Iterator[list[dict]]:
        """Every page of the unacknowledged queue, until a page says it is the last."""
        page = 1
        while True:
            body = self.request_json("GET", "orders", params={"page": page}, headers=self._headers())
            if not isinstance(body, dict) or not isinstance(body.get("orders"), list):
                raise self._error(InvalidPayload, f"orders page {page}: expected {{'orders': [...]}}")
            yield body["orders"]
            if page >= int(body.get("pages") or 0) or not body["orders"]:
                return
            page += 1

    def ack(self, ids: list[str]) -> dict:
        return self.request_json("POST", "ack", json={"ids": ids}, headers=self._headers())


class ToyMapper:
    channel = NAME
    checks_stock = False

    def to_order(self, rows: list[tuple[int, dict]]) -> StagedOrder:
        raw_id, order = rows[-1]
        to = order["ship_to"]
        return StagedOrder(
            external_order_id=order["id"], raw_id=raw_id, ship_name=to["name"], ship_address1=to["street"],
            ship_city=to["city"], ship_postcode=to["zip"], ship_country=to["country"],
            lines=[StagedLine(line["line_id"], line["sku"], line["qty"], line["price"]) for line in order["lines"]])

    def acknowledgements(self, order: StagedOrder, status: str) -> list[Effect]:
        ext = order.external_order_id
        return [Effect("ack", ext, {"id": ext}, ext)]


def ack_handler(client: ToyClient) -> Handler:
    def send(rows: list[OutboxRow]) -> dict[int, Outcome]:
        unknown = set(client.ack([row.payload["id"] for row in rows]).get("unknown") or [])
        return {row.id: Outcome("rejected", "the toy shop does not know this order") if row.payload["id"] in unknown
                else Outcome("sent", "acknowledged") for row in rows}

    return send


class ToyChannel(Channel):
    name = NAME
    title = "Toy marketplace"
    doc = "### A toy channel\n\nA plug-in from `tests/toy_channel`, only for the contract tests."
    writebacks = {"ack": ack_handler}
    stock = Stock(StockPolicy.REPORT_ONLY, not_pushed_reason="toys are infinite")

    @property
    def streams(self) -> tuple[Stream, ...]:
        return (Stream("orders", lambda client, window: client.iter_orders(), lambda order: order["id"]),)

    def client(self, account):
        return nullcontext(ToyClient(account.conn_id, account.name))

    def mapper(self, account):
        return ToyMapper()


CHANNEL = ToyChannel()
