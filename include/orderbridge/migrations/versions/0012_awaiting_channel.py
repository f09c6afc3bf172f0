"""Orders the channel has not released for shipping yet: ``staging.orders.status`` may be
``awaiting_channel`` (e.g. an Octopia order still ``Processing``: the marketplace is reviewing it).
The order is mapped and reserves its stock, but the warehouse must not pick it; the next read of
the order after the channel releases it makes it ``ready``.

Revision ID: 0012
Revises: 0011
"""

from alembic import op

revision = "0012"
down_revision = "0011"

STATUSES = ("ready", "awaiting_mapping", "awaiting_stock", "invalid_address", "invalid_payload", "in_progress",
            "partially_shipped", "shipped", "cancelled", "returned", "closed", "awaiting_payment", "held")


def _status_check(statuses: tuple[str, ...]) -> str:
    return ("ALTER TABLE staging.orders DROP CONSTRAINT orders_status_check, ADD CONSTRAINT orders_status_check"
            " CHECK (status IN (" + ", ".join(f"'{s}'" for s in statuses) + "))")


def upgrade() -> None:
    op.execute(_status_check((*STATUSES, "awaiting_channel")))


def downgrade() -> None:
    op.execute("""
    DO $$ BEGIN
        IF EXISTS (SELECT 1 FROM staging.orders WHERE status = 'awaiting_channel') THEN
            RAISE EXCEPTION 'staging.orders holds awaiting_channel orders: wait until their channel releases '
                            'them (or cancel them) before downgrading below 0012';
        END IF;
    END $$;
    """)
    op.execute(_status_check(STATUSES))
