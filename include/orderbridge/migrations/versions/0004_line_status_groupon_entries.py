"""Lines the channel no longer has open, and one staging order per Groupon entry.

- ``staging.order_lines.status``: ``open`` (pick it), ``cancelled`` (the channel cancelled or
  refunded it) or ``closed`` (not open on the channel for another reason, e.g. shipped there). Only
  ``open`` lines reserve stock, are picked and get tracking; the others stay visible with the
  channel's own word in ``channel_status``.
- Groupon: each ``get_orders`` entry is its own staging order, ``<orderid>#<lowest ci_lineitemid>``
  (one orderid may list entries with different ship-to addresses). Existing raw rows and staging
  orders are renamed to that id, their history follows, and the Groupon transform starts again
  from the first raw row, so the next run stages each entry on its own. An order the warehouse
  already took that held two entries keeps its row and gets ``attention``: the second entry comes
  back as an order of its own, and a person must check it was not shipped already.

Revision ID: 0004
Revises: 0003
"""

from alembic import op

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    op.execute("""
    ALTER TABLE staging.order_lines
        ADD COLUMN status text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'cancelled', 'closed')),
        ADD COLUMN channel_status text;

    UPDATE raw.orders r SET external_id = (r.payload->>'orderid') || '#' || k.first_line
    FROM (SELECT o.id, min((li->>'ci_lineitemid')::bigint) AS first_line
          FROM raw.orders o, jsonb_array_elements(CASE WHEN jsonb_typeof(o.payload->'line_items') = 'array'
                                                       THEN o.payload->'line_items' ELSE '[]' END) li
          WHERE o.channel = 'groupon' AND (li->>'ci_lineitemid') ~ '^[0-9]+$'
          GROUP BY o.id) k
    WHERE r.id = k.id AND coalesce(r.payload->>'orderid', '') <> '';

    UPDATE staging.orders o SET attention = concat_ws('; ', o.attention,
        'this order held ' || (o.channel_data->>'entries') || ' Groupon entries with their own ship-to addresses; '
        || 'each is now an order of its own. Resolution: check the other entry''s order was not shipped '
        || 'with this one, then clear staging.orders.attention.')
    WHERE o.channel = 'groupon' AND (o.channel_data->>'entries') ~ '^[0-9]+$'
      AND (o.channel_data->>'entries')::int > 1
      AND o.status IN ('in_progress', 'shipped', 'cancelled', 'returned', 'closed');

    UPDATE staging.orders o SET external_order_id = o.external_order_id || '#' || k.first_line,
                                channel_data = o.channel_data || jsonb_build_object('orderid', o.external_order_id)
    FROM (SELECT order_id, min(channel_line_id::bigint) AS first_line FROM staging.order_lines
          WHERE channel_line_id ~ '^[0-9]+$' GROUP BY order_id) k
    WHERE o.id = k.order_id AND o.channel = 'groupon' AND position('#' in o.external_order_id) = 0;

    UPDATE staging.order_events e SET external_order_id = o.external_order_id
    FROM staging.orders o WHERE e.order_id = o.id AND o.channel = 'groupon'
      AND e.external_order_id IS DISTINCT FROM o.external_order_id;

    DELETE FROM staging.sync_state WHERE channel = 'groupon' AND stream = 'transform';
    """)


def downgrade() -> None:
    # Groupon ids keep their entry suffix: merging entries back would put lines on the wrong address.
    op.execute("ALTER TABLE staging.order_lines DROP COLUMN status, DROP COLUMN channel_status;")
