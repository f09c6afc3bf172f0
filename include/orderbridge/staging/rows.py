"""The columns the load writes, and orders new to staging COPYed with their lines, history and outbox rows
while the load maps the next ones."""


from __future__ import annotations

from orderbridge import db
from orderbridge.outbox import OUTBOX_COLUMNS, Effect, outbox_rows
from orderbridge.staging.history import EVENT_COLUMNS

# staging.orders.attention is not written here: it is the summary of staging.attention (a trigger keeps it).
ORDER_COLUMNS = (
    "external_order_id", "status", "status_reason", "channel_status", "customer_name", "customer_email",
    "customer_phone", "ship_name", "ship_address1", "ship_address2", "ship_city", "ship_state", "ship_postcode",
    "ship_country", "ship_phone", "total", "shipping_total", "currency", "placed_at", "channel_data", "raw_id",
    "content_hash",
)
LINE_COLUMNS = ("external_order_id", "channel_line_id", "component", "channel_sku", "warehouse_sku", "quantity",
                "channel_quantity", "unit_price", "bundle_sku", "status", "channel_status")
ORDER_TABLE_COLUMNS = ("id", "channel", "account", *ORDER_COLUMNS)
# Written once, when the order is inserted: its import, which the history view reads from the row
# (``staging.order_history``) instead of a history row per order.
IMPORT_COLUMNS = ("imported_status", "imported_reason", "imported_run_id")
NEW_ORDER_COLUMNS = (*ORDER_TABLE_COLUMNS, *IMPORT_COLUMNS)
LINE_TABLE_COLUMNS = ("order_id", *LINE_COLUMNS[1:])


class _NewOrders:
    """Orders not in staging yet, COPYed with their lines, history and outbox rows as they come.

    Ids are drawn from ``staging.orders``' sequence up front, so every row is complete before it is
    sent, and the rows go out in chunks through a ``db.CopyPipeline``: PostgreSQL inserts one chunk
    while ``load_orders`` maps the next. Everything is kept until ``finish`` so that, if one order
    existed after all (a concurrent load), the batch can take the ``ON CONFLICT`` path instead.
    """

    CHUNK = 500  # orders per round of COPYs: enough to amortise a statement, few enough to start early

    def __init__(self, cur, channel: str, account: str, run_id: str | None, expected: int):
        self.channel, self.account, self.run_id = channel, account, run_id
        # Up to one chunk everything is sent at ``finish``, with nothing left to overlap: a thread
        # would only cost its start (most of an order's time on Merkana's one-order calls).
        self.pipeline = db.CopyPipeline(cur, "staging_new_orders", background=expected > self.CHUNK)
        self.ids: list[int] = []
        if expected:
            cur.execute("SELECT nextval(pg_get_serial_sequence('staging.orders', 'id'))"
                        " FROM generate_series(1, %s)", (expected,))
            self.ids = [r[0] for r in cur.fetchall()]
        self.rows: list[tuple] = []
        self.lines: dict[str, list[tuple]] = {}
        self.events: list[tuple] = []
        self.effects: list[Effect] = []
        self.effects_written = 0
        self._sent = 0  # orders already handed to the pipeline
        self._events_sent = self._effects_sent = 0

    def add(self, row: tuple, lines: list[tuple], history: list[tuple], effects: list[Effect]) -> None:
        self.rows.append(row)
        self.lines[row[0]] = lines
        self.events += history
        self.effects += effects
        if len(self.rows) - self._sent >= self.CHUNK:
            self._ship()

    def _ship(self) -> None:
        if not self.pipeline.usable:
            return
        channel, account = self.channel, self.account
        start, self._sent = self._sent, len(self.rows)
        ids = {row[0]: order_id for row, order_id in zip(self.rows[start:], self.ids[start:], strict=False)}
        self.pipeline.copy("staging.orders", NEW_ORDER_COLUMNS,
                           [(ids[row[0]], channel, account, *row, row[1], row[2], self.run_id)
                            for row in self.rows[start:]])
        self.pipeline.copy("staging.order_lines", LINE_TABLE_COLUMNS,
                           [(ids[ext], *line) for ext in ids for line in self.lines[ext]])
        self.pipeline.copy("staging.order_events", EVENT_COLUMNS,
                           [(ids[ext], channel, account, ext, event, message, detail, self.run_id)
                            for ext, event, message, detail in self.events[self._events_sent:]])
        outbox = outbox_rows(channel, account, self.effects[self._effects_sent:], ids)
        self.pipeline.copy("staging.outbox", OUTBOX_COLUMNS, outbox)
        self._events_sent, self._effects_sent = len(self.events), len(self.effects)
        self.effects_written += len(outbox)

    def finish(self, order_ids: dict[str, int]) -> bool:
        """Send what is left and wait.

        Returns:
            True when every row is in (``order_ids`` then has the new ids); False when nothing
            was kept, and the caller must write these orders the ``ON CONFLICT`` way.
        """
        if not self.rows:
            return True
        if self.pipeline.usable:
            self._ship()
            if self.pipeline.finish():
                order_ids.update((row[0], order_id) for row, order_id in zip(self.rows, self.ids, strict=True))
                return True
        self.effects_written = 0
        return False

    def abandon(self) -> None:
        self.pipeline.abandon()
