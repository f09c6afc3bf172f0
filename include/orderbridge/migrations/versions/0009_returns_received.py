"""What the warehouse received of a return: the fact a channel is told once.

- ``staging.returns.received_at``: written by the warehouse when it has booked the return in
  (the parcel arrived and was counted). NULL while the goods are still expected. Setting it is
  what makes orderbridge tell the channel (plentymarkets: the return order's "return received"
  status, 9.01 by default), once per return.
- ``staging.return_lines.received_quantity``: written by the warehouse, what it counted of that
  line, in channel units (NULL: not counted line by line). It travels with the write-back into
  the order's history; it does not hold the write-back back.

Revision ID: 0009
Revises: 0008
"""

from alembic import op

revision = "0009"
down_revision = "0008"


def upgrade() -> None:
    op.execute("""
    ALTER TABLE staging.returns ADD COLUMN received_at timestamptz;
    ALTER TABLE staging.return_lines ADD COLUMN received_quantity integer CHECK (received_quantity >= 0);
    CREATE INDEX returns_received ON staging.returns (channel, account) WHERE received_at IS NOT NULL;
    """)


def downgrade() -> None:
    op.execute("""
    DROP INDEX staging.returns_received;
    ALTER TABLE staging.return_lines DROP COLUMN received_quantity;
    ALTER TABLE staging.returns DROP COLUMN received_at;
    """)
