"""Partial shipments: what each parcel carries, line by line, and the ``partially_shipped`` status.

- ``staging.shipments.lines`` gains a third form beside NULL (every open line's remaining
  quantity) and a JSON array of channel line ids (those lines' remaining quantities): a JSON
  object ``{"<channel line id>": <quantity>}``, quantities in channel units (the line as ordered;
  a bundle line ships whole bundles).
- ``staging.shipment_lines``: what each parcel carries, resolved from ``lines`` when the parcel is
  inserted (one row per line, ``quantity`` > 0). orderbridge reads only this table, so "the
  remaining quantity" means what remained when the warehouse wrote the parcel, not whenever a
  task happens to look.
- A parcel for more than was ordered, or than remains unshipped, for a line the order does not
  have, or with a malformed ``lines`` is refused by a trigger (SQLSTATE 23514, check_violation)
  naming order, line and quantities; the INSERT fails and nothing is recorded. A trigger, because
  the warehouse writes staging directly. The order row is locked meanwhile, so two parcels of one
  order written at once cannot both take the same remaining units.
- A parcel's ``order_id`` and ``lines`` cannot change once recorded (its tracking may be posted):
  delete it and insert it again instead.
- Existing shipments are resolved as the code before this revision read them (each named line
  whole), capped at what remained, in id order; their tracking write-backs, keyed by line alone,
  are re-keyed by line and parcel (``shipments.enqueue_tracking``) so nothing is posted again.

Revision ID: 0006
Revises: 0005
"""

from alembic import op

revision = "0006"
down_revision = "0005"

STATUSES = ("ready", "awaiting_mapping", "awaiting_stock", "invalid_address", "invalid_payload", "in_progress",
            "partially_shipped", "shipped", "cancelled", "returned", "closed")


def _status_check(statuses: tuple[str, ...]) -> str:
    return ("ALTER TABLE staging.orders DROP CONSTRAINT orders_status_check, ADD CONSTRAINT orders_status_check"
            " CHECK (status IN (" + ", ".join(f"'{s}'" for s in statuses) + "))")


RESOLVE = r"""
CREATE FUNCTION staging.resolve_shipment(p_shipment bigint, p_strict boolean) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    s        staging.shipments%ROWTYPE;
    ord      record;
    wanted   record;
    ordered  integer;
    done     integer;
    qty      integer;
    n        integer := 0;
    what     text;
BEGIN
    SELECT * INTO s FROM staging.shipments WHERE id = p_shipment;
    -- One parcel of an order at a time: the remaining quantities below must not move meanwhile.
    SELECT o.channel, o.account, o.external_order_id INTO ord FROM staging.orders o
    WHERE o.id = s.order_id FOR NO KEY UPDATE;
    what := format('staging.shipments: parcel %s of order %s (%s/%s)', s.tracking_number,
                   ord.external_order_id, ord.channel, ord.account);
    IF s.lines IS NOT NULL AND jsonb_typeof(s.lines) NOT IN ('array', 'object') THEN
        RAISE EXCEPTION USING ERRCODE = 'check_violation',
            MESSAGE = format('%s: lines must be NULL, a JSON array of channel line ids or a JSON object'
                             ' {"<channel line id>": quantity}, not %s', what, s.lines);
    END IF;
    IF s.lines IS NOT NULL AND jsonb_typeof(s.lines) = 'object' THEN
        FOR wanted IN SELECT key FROM jsonb_each(s.lines)
                      WHERE CASE WHEN jsonb_typeof(value) = 'number'
                                 THEN (value #>> '{}')::numeric NOT BETWEEN 1 AND 2147483647
                                      OR (value #>> '{}')::numeric <> trunc((value #>> '{}')::numeric)
                                 ELSE true END LOOP
            RAISE EXCEPTION USING ERRCODE = 'check_violation',
                MESSAGE = format('%s: line %s: the quantity must be a whole number above 0, not %s',
                                 what, wanted.key, s.lines -> wanted.key);
        END LOOP;
    END IF;
    -- One query per parcel: what it names, what each line ordered and what earlier parcels carry.
    FOR wanted IN
        WITH want AS (
            SELECT l.channel_line_id AS line, NULL::integer AS asked
            FROM staging.order_lines l WHERE s.lines IS NULL AND l.order_id = s.order_id AND l.status = 'open'
            GROUP BY l.channel_line_id
            UNION ALL
            SELECT DISTINCT e #>> '{}', NULL::integer
            FROM jsonb_array_elements(CASE WHEN jsonb_typeof(s.lines) = 'array' THEN s.lines END) e
            UNION ALL
            SELECT key, (value #>> '{}')::integer
            FROM jsonb_each(CASE WHEN jsonb_typeof(s.lines) = 'object' THEN s.lines END)),
        line_ordered AS (
            SELECT l.channel_line_id AS line, max(l.channel_quantity) AS ordered_q
            FROM staging.order_lines l WHERE l.order_id = s.order_id GROUP BY 1),
        line_done AS (
            SELECT sl.channel_line_id AS line, sum(sl.quantity)::integer AS done_q
            FROM staging.shipments p JOIN staging.shipment_lines sl ON sl.shipment_id = p.id
            WHERE p.order_id = s.order_id AND p.id <> s.id GROUP BY 1)
        SELECT w.line, w.asked, o.ordered_q, coalesce(d.done_q, 0) AS done_q
        FROM want w LEFT JOIN line_ordered o USING (line) LEFT JOIN line_done d USING (line)
        ORDER BY 1
    LOOP
        ordered := wanted.ordered_q;
        done := wanted.done_q;
        IF ordered IS NULL THEN
            CONTINUE WHEN NOT p_strict;
            RAISE EXCEPTION USING ERRCODE = 'check_violation',
                MESSAGE = format('%s: the order has no line %s', what, wanted.line),
                HINT = 'lines names channel line ids: staging.order_lines.channel_line_id of this order.';
        END IF;
        qty := coalesce(wanted.asked, ordered - done);
        IF NOT p_strict THEN
            qty := least(qty, ordered - done);
        END IF;
        IF qty <= 0 AND s.lines IS NULL THEN
            CONTINUE;  -- the whole order: lines already shipped are simply not in this parcel
        END IF;
        IF qty <= 0 OR done + qty > ordered THEN
            CONTINUE WHEN NOT p_strict;
            RAISE EXCEPTION USING ERRCODE = 'check_violation',
                MESSAGE = format('%s: line %s would ship %s, but %s were ordered and %s already shipped'
                                 ' (%s remain)', what, wanted.line, coalesce(wanted.asked, ordered - done),
                                 ordered, done, ordered - done),
                HINT = 'Nothing of this parcel was recorded. Write the quantities the parcel really carries.';
        END IF;
        INSERT INTO staging.shipment_lines (shipment_id, channel_line_id, quantity) VALUES (s.id, wanted.line, qty);
        n := n + 1;
    END LOOP;
    IF n = 0 AND p_strict THEN
        RAISE EXCEPTION USING ERRCODE = 'check_violation',
            MESSAGE = format('%s: carries nothing: every open line of the order is already shipped', what),
            HINT = 'Nothing of this parcel was recorded.';
    END IF;
    RETURN n;
END $$;

CREATE FUNCTION staging.shipment_recorded() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        IF NEW.order_id IS DISTINCT FROM OLD.order_id OR NEW.lines IS DISTINCT FROM OLD.lines THEN
            RAISE EXCEPTION USING ERRCODE = 'check_violation',
                MESSAGE = format('staging.shipments: parcel %s (id %s) is recorded: its order_id and lines cannot'
                                 ' change', OLD.tracking_number, OLD.id),
                HINT = 'Delete the parcel and insert it again with what it really carries.';
        END IF;
        RETURN NULL;
    END IF;
    PERFORM staging.resolve_shipment(NEW.id, true);
    RETURN NULL;
END $$;
"""


def upgrade() -> None:
    op.execute(_status_check(STATUSES))
    op.execute("""
    CREATE TABLE staging.shipment_lines (
        shipment_id      bigint NOT NULL REFERENCES staging.shipments (id) ON DELETE CASCADE,
        channel_line_id  text NOT NULL,
        quantity         integer NOT NULL CHECK (quantity > 0),
        PRIMARY KEY (shipment_id, channel_line_id)
    );
    CREATE INDEX shipments_by_order ON staging.shipments (order_id);
    """)
    op.execute(RESOLVE)
    op.execute("""
    SELECT staging.resolve_shipment(id, false) FROM (SELECT id FROM staging.shipments ORDER BY id) s;

    -- Tracking keyed by line alone was posted for the first parcel that named the line.
    UPDATE staging.outbox b SET idempotency_key = b.idempotency_key || ':' || f.tracking_number
    FROM (SELECT DISTINCT ON (p.order_id, sl.channel_line_id) p.order_id, sl.channel_line_id, p.tracking_number
          FROM staging.shipment_lines sl JOIN staging.shipments p ON p.id = sl.shipment_id
          ORDER BY p.order_id, sl.channel_line_id, p.id) f
    WHERE b.kind = 'tracking' AND b.order_id = f.order_id
      AND b.idempotency_key = b.channel || ':' || b.account || ':tracking:' || f.channel_line_id;

    CREATE CONSTRAINT TRIGGER shipment_lines_resolved AFTER INSERT OR UPDATE ON staging.shipments
        FOR EACH ROW EXECUTE FUNCTION staging.shipment_recorded();
    """)


def downgrade() -> None:
    op.execute("""
    DROP TRIGGER shipment_lines_resolved ON staging.shipments;
    UPDATE staging.outbox b SET idempotency_key = b.channel || ':' || b.account || ':tracking:' || f.channel_line_id
    FROM (SELECT DISTINCT ON (p.order_id, sl.channel_line_id) p.order_id, sl.channel_line_id, p.tracking_number
          FROM staging.shipment_lines sl JOIN staging.shipments p ON p.id = sl.shipment_id
          ORDER BY p.order_id, sl.channel_line_id, p.id) f
    WHERE b.kind = 'tracking' AND b.order_id = f.order_id
      AND b.idempotency_key = b.channel || ':' || b.account || ':tracking:' || f.channel_line_id
                              || ':' || f.tracking_number;
    DROP FUNCTION staging.shipment_recorded();
    DROP FUNCTION staging.resolve_shipment(bigint, boolean);
    DROP TABLE staging.shipment_lines;
    DROP INDEX staging.shipments_by_order;
    -- The code before this revision took any parcel as the whole order.
    UPDATE staging.orders SET status = 'shipped' WHERE status = 'partially_shipped';
    """)
    op.execute(_status_check(tuple(s for s in STATUSES if s != "partially_shipped")))
