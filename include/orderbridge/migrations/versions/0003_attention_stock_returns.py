"""Orders a person must look at, orders waiting for stock, returns, and a richer product catalogue.

- ``staging.orders.attention``: why a person must look at the order (NULL when nothing is wrong
  that orderbridge cannot handle itself): a cancellation that came after picking started, a line
  put on the merchant's "unknown product", ...
- statuses ``awaiting_stock`` (the warehouse cannot cover the lines yet; re-checked every run) and
  ``returned`` (the channel reports the order as returned).
- ``staging.returns``: one row per return a channel reported, for the warehouse to expect goods.
- ``staging.channel_products``: the channel's own product id, EAN and image, for channels that
  send us their catalogue (Merkana product sync).

Revision ID: 0003
Revises: 0002
"""

from alembic import op

revision = "0003"
down_revision = "0002"

STATUSES = ("ready", "awaiting_mapping", "awaiting_stock", "invalid_address", "invalid_payload", "in_progress",
            "shipped", "cancelled", "returned", "closed")


def _status_check(statuses: tuple[str, ...]) -> str:
    return ("ALTER TABLE staging.orders DROP CONSTRAINT orders_status_check, ADD CONSTRAINT orders_status_check"
            " CHECK (status IN (" + ", ".join(f"'{s}'" for s in statuses) + "))")


def upgrade() -> None:
    op.execute(_status_check(STATUSES))
    op.execute("""
    ALTER TABLE staging.orders ADD COLUMN attention text;
    CREATE INDEX orders_needing_attention ON staging.orders (channel, account) WHERE attention IS NOT NULL;

    CREATE TABLE staging.returns (
        id                  bigserial PRIMARY KEY,
        order_id            bigint REFERENCES staging.orders (id),
        channel             text NOT NULL,
        account             text NOT NULL,
        external_order_id   text NOT NULL,
        external_return_id  text NOT NULL,
        channel_status      text,
        detail              jsonb NOT NULL DEFAULT '{}',
        recorded_at         timestamptz NOT NULL DEFAULT now(),
        UNIQUE (channel, account, external_return_id)
    );

    ALTER TABLE staging.channel_products
        ADD COLUMN external_product_id text,
        ADD COLUMN ean text,
        ADD COLUMN image_url text,
        ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now();
    """)


def downgrade() -> None:
    op.execute("""
    ALTER TABLE staging.channel_products DROP COLUMN external_product_id, DROP COLUMN ean, DROP COLUMN image_url,
        DROP COLUMN updated_at;
    DROP TABLE staging.returns;
    DROP INDEX staging.orders_needing_attention;
    ALTER TABLE staging.orders DROP COLUMN attention;
    """)
    op.execute(_status_check(tuple(s for s in STATUSES if s not in ("awaiting_stock", "returned"))))
