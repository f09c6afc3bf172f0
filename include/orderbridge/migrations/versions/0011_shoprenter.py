"""Shoprenter: orders held by the shop's payment or for a person, a request rate shared by every
task of a shop, and catalogue syncs that resume chunk by chunk.

- ``staging.orders.status`` may be ``awaiting_payment`` (a pro-forma order, shipped once the shop
  says paid) or ``held`` (a draft a person releases).
- ``staging.products`` gets ``price`` (net, the warehouse's selling price) and ``product_group``:
  what the catalogue upload sends and what excluded groups are matched against.
- ``staging.rate_slots``: one row per rate-limited key (a shop), the moment its next request may
  start; every worker takes its slot with one ``INSERT ... ON CONFLICT DO UPDATE`` (``channels.
  shoprenter.ratelimit``).
- ``staging.catalogue_chunks``: the plan of a catalogue sync, one row per ``/batch`` chunk with
  the items (before and after: what the sync overwrote), its state and the shop's answer per item.
  A run finds an unfinished plan and sends only the chunks not yet sent.

Revision ID: 0011
Revises: 0010
"""

from alembic import op

revision = "0011"
down_revision = "0010"

STATUSES = ("ready", "awaiting_mapping", "awaiting_stock", "invalid_address", "invalid_payload", "in_progress",
            "partially_shipped", "shipped", "cancelled", "returned", "closed")
HELD = ("awaiting_payment", "held")


def _status_check(statuses: tuple[str, ...]) -> str:
    return ("ALTER TABLE staging.orders DROP CONSTRAINT orders_status_check, ADD CONSTRAINT orders_status_check"
            " CHECK (status IN (" + ", ".join(f"'{s}'" for s in statuses) + "))")


def upgrade() -> None:
    op.execute(_status_check(STATUSES + HELD))
    op.execute("""
    ALTER TABLE staging.products ADD COLUMN price numeric(14, 4), ADD COLUMN product_group text;

    CREATE TABLE staging.rate_slots (
        key         text PRIMARY KEY,
        next_at     timestamptz NOT NULL
    );

    CREATE TABLE staging.catalogue_chunks (
        id          bigserial PRIMARY KEY,
        channel     text NOT NULL,
        account     text NOT NULL,
        direction   text NOT NULL CHECK (direction IN ('upload', 'download')),
        sync_id     text NOT NULL,
        chunk       integer NOT NULL CHECK (chunk >= 0),
        items       jsonb NOT NULL,
        state       text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sent', 'partial')),
        results     jsonb,
        created_at  timestamptz NOT NULL DEFAULT now(),
        sent_at     timestamptz,
        UNIQUE (channel, account, direction, sync_id, chunk)
    );
    CREATE INDEX catalogue_chunks_open ON staging.catalogue_chunks (channel, account, direction, sync_id, chunk)
        WHERE state = 'pending';
    """)


def downgrade() -> None:
    op.execute("""
    DO $$ BEGIN
        IF EXISTS (SELECT 1 FROM staging.orders WHERE status IN ('awaiting_payment', 'held')) THEN
            RAISE EXCEPTION 'staging.orders holds awaiting_payment or held orders: release or cancel them before '
                            'downgrading below 0011';
        END IF;
    END $$;
    DROP TABLE staging.catalogue_chunks;
    DROP TABLE staging.rate_slots;
    ALTER TABLE staging.products DROP COLUMN price, DROP COLUMN product_group;
    """)
    op.execute(_status_check(STATUSES))
