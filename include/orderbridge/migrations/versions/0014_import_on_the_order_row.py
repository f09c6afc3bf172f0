"""The import is a fact of the order row, not a history row; the history a person reads is a view.

A load wrote one ``staging.order_events`` row per new order ("imported as <status>"): a fifth of
the rows of a 100k-order load, saying nothing the order row could not say. The order row now keeps
what the entry held -- the status and reason it was imported with and the run that imported it --
and ``staging.order_history`` is ``staging.order_events`` plus one synthesized ``imported`` entry
per order that has those columns (``id`` NULL, ``created_at`` the order's). Orders imported before
this revision keep their stored entry and get no synthesized one, so each order has exactly one.

Downgrade writes the synthesized entries into ``staging.order_events`` first: nothing is lost.

Revision ID: 0014
Revises: 0013
"""

from alembic import op

revision = "0014"
down_revision = "0013"

HISTORY_VIEW = """
CREATE VIEW staging.order_history AS
    SELECT id, order_id, channel, account, external_order_id, event, message, detail, run_id, created_at
    FROM staging.order_events
    UNION ALL
    SELECT NULL::bigint, id, channel, account, external_order_id, 'imported', 'imported as ' || imported_status,
           jsonb_build_object('status', imported_status, 'reason', imported_reason), imported_run_id, created_at
    FROM staging.orders WHERE imported_status IS NOT NULL;
COMMENT ON VIEW staging.order_history IS
    'The history a person reads: staging.order_events plus each order''s import, read from its row.';
"""


def upgrade() -> None:
    op.execute("""
    ALTER TABLE staging.orders ADD COLUMN imported_status text, ADD COLUMN imported_reason text,
                               ADD COLUMN imported_run_id text;
    """ + HISTORY_VIEW)


def downgrade() -> None:
    op.execute("""
    INSERT INTO staging.order_events (order_id, channel, account, external_order_id, event, message, detail, run_id,
                                      created_at)
    SELECT order_id, channel, account, external_order_id, event, message, detail, run_id, created_at
    FROM staging.order_history WHERE id IS NULL;
    DROP VIEW staging.order_history;
    ALTER TABLE staging.orders DROP COLUMN imported_status, DROP COLUMN imported_reason, DROP COLUMN imported_run_id;
    """)
