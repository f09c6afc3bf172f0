"""Return orders: landed as sent, and what each one brings back, line by line.

Some channels report a return as an order of its own (plentymarkets: an order of type 3 that
points at its sales order), not as a status of the sales order. Such returns never go through
``raw.orders``, whose every external id ``transform`` stages as an order to ship.

- ``raw.return_orders``: return payloads exactly as the channel sent them, the twin of
  ``raw.orders`` (append-only, a payload seen before is skipped by its hash).
- ``staging.return_lines``: per return (``staging.returns``), the quantity of each line that comes
  back, in channel units, and the sales order line it returns (``order_channel_line_id``: the
  ``staging.order_lines.channel_line_id`` of the return's order). Lines are joined by that id, not
  by ``order_lines.id``, which changes whenever an order's lines are rewritten; a bundle line
  joins its components, each coming back ``quantity * order_lines.quantity / channel_quantity``.
  ``order_channel_line_id`` is NULL while it is unknown (the return names no line and its order
  is not staged yet).
- ``staging.returns.external_order_id`` may be NULL: a return whose payload cannot be read may not
  say which order it belongs to, and is kept all the same (``detail`` says why).

Revision ID: 0005
Revises: 0004
"""

from alembic import op

revision = "0005"
down_revision = "0004"


def upgrade() -> None:
    op.execute("""
    CREATE TABLE raw.return_orders (
        id            bigserial PRIMARY KEY,
        channel       text NOT NULL,
        account       text NOT NULL,
        external_id   text NOT NULL,
        payload       jsonb NOT NULL,
        payload_hash  text NOT NULL,
        fetched_at    timestamptz NOT NULL DEFAULT now(),
        run_id        text,
        UNIQUE (channel, account, external_id, payload_hash)
    );
    CREATE INDEX return_orders_by_id ON raw.return_orders (channel, account, id);

    CREATE TABLE staging.return_lines (
        id                     bigserial PRIMARY KEY,
        return_id              bigint NOT NULL REFERENCES staging.returns (id) ON DELETE CASCADE,
        channel_line_id        text NOT NULL,
        order_channel_line_id  text,
        channel_sku            text,
        channel_product_id     text,
        quantity               integer NOT NULL CHECK (quantity > 0),
        UNIQUE (return_id, channel_line_id)
    );

    ALTER TABLE staging.returns ALTER COLUMN external_order_id DROP NOT NULL;
    CREATE INDEX returns_waiting_for_their_order ON staging.returns (channel, account) WHERE order_id IS NULL;
    """)


def downgrade() -> None:
    op.execute("""
    DROP INDEX staging.returns_waiting_for_their_order;
    DELETE FROM staging.returns WHERE external_order_id IS NULL;
    ALTER TABLE staging.returns ALTER COLUMN external_order_id SET NOT NULL;
    DROP TABLE staging.return_lines;
    DROP TABLE raw.return_orders;
    """)
