"""Reason-coded attention, and operator overrides that survive re-transforms.

- ``staging.attention``: one row per thing a person must act on, per order and ``reason`` (the
  fixed list in ``orderbridge.attention.REASONS``), with the message and its Resolution, ``detail``,
  when and by which run it was raised, and when, by which run and by whom it was cleared. At most
  one open row (``cleared_at IS NULL``) per order and reason.
- ``staging.orders.attention`` stays, as the readable summary of the order's open rows
  (``reason: message; ...``), kept by a trigger on ``staging.attention``. Setting it to NULL by
  hand, as the contract used to ask, clears the order's open rows (``cleared_by`` = the user).
- The free-text attention already set is moved into the table (``needs_review``, or
  ``cancel_after_pick`` for a refused cancellation); held orders get their hold's reason, failed
  write-backs ``writeback_failed`` and shipments still blocked ``tracking_blocked``.
- ``staging.order_overrides``: an operator's correction of one order (``address``, ``sku`` of one
  line, ``release_stock``), applied on every transform instead of editing ``raw``.

Revision ID: 0008
Revises: 0007
"""

from alembic import op

revision = "0008"
down_revision = "0007"

REASONS = ("awaiting_mapping", "invalid_address", "awaiting_stock", "tracking_blocked", "cancel_after_pick",
           "writeback_refused", "writeback_failed", "tracking_not_open", "partially_shipped_deadline", "needs_review")
ADDRESS_FIELDS = ("ship_name", "ship_address1", "ship_address2", "ship_city", "ship_state", "ship_postcode",
                  "ship_country", "ship_phone")


def _array(names: tuple[str, ...]) -> str:
    return "ARRAY[" + ", ".join(f"'{n}'" for n in names) + "]"


def upgrade() -> None:
    op.execute(f"""
    CREATE TABLE staging.attention (
        id                 bigserial PRIMARY KEY,
        order_id           bigint NOT NULL REFERENCES staging.orders (id) ON DELETE CASCADE,
        channel            text NOT NULL,
        account            text NOT NULL,
        external_order_id  text NOT NULL,
        reason             text NOT NULL CONSTRAINT attention_reason_known CHECK (reason = ANY ({_array(REASONS)})),
        message            text NOT NULL,
        detail             jsonb NOT NULL DEFAULT '{{}}',
        raised_at          timestamptz NOT NULL DEFAULT now(),
        raised_run_id      text,
        cleared_at         timestamptz,
        cleared_run_id     text,
        cleared_by         text,
        CONSTRAINT attention_cleared_by_whom CHECK (cleared_at IS NULL OR cleared_by IS NOT NULL)
    );
    CREATE UNIQUE INDEX attention_one_open_per_reason ON staging.attention (order_id, reason) WHERE cleared_at IS NULL;
    CREATE INDEX attention_open_by_account ON staging.attention (channel, account, reason) WHERE cleared_at IS NULL;
    CREATE INDEX attention_by_raise ON staging.attention (channel, raised_at);

    -- staging.orders.attention: the open rows, readable, in the order they were raised.
    CREATE FUNCTION staging.attention_summary(p_order_id bigint) RETURNS text LANGUAGE sql STABLE AS $$
        SELECT string_agg(reason || ': ' || message, '; ' ORDER BY raised_at, id)
        FROM staging.attention WHERE order_id = p_order_id AND cleared_at IS NULL
    $$;
    CREATE FUNCTION staging.attention_summarise() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'DELETE' THEN
            UPDATE staging.orders o SET attention = staging.attention_summary(o.id)
            WHERE o.id IN (SELECT order_id FROM changed_old)
              AND o.attention IS DISTINCT FROM staging.attention_summary(o.id);
        ELSE
            UPDATE staging.orders o SET attention = staging.attention_summary(o.id)
            WHERE o.id IN (SELECT order_id FROM changed_new)
              AND o.attention IS DISTINCT FROM staging.attention_summary(o.id);
        END IF;
        RETURN NULL;
    END $$;
    CREATE TRIGGER attention_summary_insert AFTER INSERT ON staging.attention
        REFERENCING NEW TABLE AS changed_new FOR EACH STATEMENT EXECUTE FUNCTION staging.attention_summarise();
    CREATE TRIGGER attention_summary_update AFTER UPDATE ON staging.attention
        REFERENCING NEW TABLE AS changed_new FOR EACH STATEMENT EXECUTE FUNCTION staging.attention_summarise();
    CREATE TRIGGER attention_summary_delete AFTER DELETE ON staging.attention
        REFERENCING OLD TABLE AS changed_old FOR EACH STATEMENT EXECUTE FUNCTION staging.attention_summarise();

    -- The old contract: "clear staging.orders.attention when handled". A person doing so (not the
    -- summary trigger above, which runs one level deeper) clears the order's open rows.
    CREATE FUNCTION staging.attention_cleared_by_hand() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF NEW.attention IS NULL AND OLD.attention IS NOT NULL AND pg_trigger_depth() = 1 THEN
            UPDATE staging.attention SET cleared_at = now(), cleared_by = session_user
            WHERE order_id = NEW.id AND cleared_at IS NULL;
        END IF;
        RETURN NULL;
    END $$;
    CREATE TRIGGER attention_cleared_by_hand AFTER UPDATE OF attention ON staging.orders
        FOR EACH ROW EXECUTE FUNCTION staging.attention_cleared_by_hand();

    INSERT INTO staging.attention (order_id, channel, account, external_order_id, reason, message, detail)
    SELECT id, channel, account, external_order_id,
           CASE WHEN attention LIKE 'cancellation requested on % after the warehouse started%'
                THEN 'cancel_after_pick' ELSE 'needs_review' END,
           attention, '{{"migrated": "staging.orders.attention"}}'
    FROM staging.orders WHERE attention IS NOT NULL;

    INSERT INTO staging.attention (order_id, channel, account, external_order_id, reason, message, detail)
    SELECT id, channel, account, external_order_id, status, coalesce(status_reason, status),
           jsonb_build_object('status', status)
    FROM staging.orders WHERE status IN ('awaiting_mapping', 'invalid_address', 'awaiting_stock');

    INSERT INTO staging.attention (order_id, channel, account, external_order_id, reason, message, detail)
    SELECT DISTINCT ON (b.order_id) b.order_id, b.channel, b.account, o.external_order_id, 'writeback_failed',
           b.kind || ' write-back failed after ' || b.attempts || ' attempts: ' || coalesce(b.last_error, '?'),
           jsonb_build_object('kind', b.kind, 'outbox_id', b.id)
    FROM staging.outbox b JOIN staging.orders o ON o.id = b.order_id
    WHERE b.status = 'failed' ORDER BY b.order_id, b.id;

    INSERT INTO staging.attention (order_id, channel, account, external_order_id, reason, message, detail)
    SELECT DISTINCT ON (e.order_id) e.order_id, e.channel, e.account, e.external_order_id, 'tracking_blocked',
           e.message, e.detail
    FROM staging.order_events e
    WHERE e.event = 'tracking_blocked' AND e.order_id IS NOT NULL AND e.external_order_id IS NOT NULL
      AND NOT EXISTS (SELECT 1 FROM staging.outbox b WHERE b.order_id = e.order_id AND b.kind = 'tracking')
    ORDER BY e.order_id, e.id;

    CREATE TABLE staging.order_overrides (
        id                 bigserial PRIMARY KEY,
        channel            text NOT NULL,
        account            text NOT NULL,
        external_order_id  text NOT NULL,
        kind               text NOT NULL CONSTRAINT order_overrides_kind_is_address_sku_or_release_stock
                               CHECK (kind IN ('address', 'sku', 'release_stock')),
        value              jsonb NOT NULL DEFAULT '{{}}' CONSTRAINT order_overrides_value_is_a_json_object
                               CHECK (jsonb_typeof(value) = 'object'),
        created_by         text NOT NULL CONSTRAINT order_overrides_created_by_names_a_person
                               CHECK (btrim(created_by) <> ''),
        created_at         timestamptz NOT NULL DEFAULT now(),
        why                text NOT NULL CONSTRAINT order_overrides_why_is_given CHECK (btrim(why) <> ''),
        active             boolean NOT NULL DEFAULT true,
        applied_at         timestamptz,
        CONSTRAINT order_overrides_address_takes_only_ship_fields CHECK (
            kind <> 'address' OR (value <> '{{}}' AND (value - {_array(ADDRESS_FIELDS)}) = '{{}}')),
        CONSTRAINT order_overrides_sku_takes_channel_line_id_and_warehouse_sku CHECK (
            kind <> 'sku' OR (coalesce(jsonb_typeof(value->'channel_line_id'), '') IN ('string', 'number')
                              AND coalesce(jsonb_typeof(value->'warehouse_sku'), '') = 'string'
                              AND (value - ARRAY['channel_line_id', 'warehouse_sku']) = '{{}}')),
        CONSTRAINT order_overrides_release_stock_takes_no_value CHECK (kind <> 'release_stock' OR value = '{{}}')
    );
    CREATE INDEX order_overrides_active ON staging.order_overrides (channel, account, external_order_id)
        WHERE active;
    """)


def downgrade() -> None:
    op.execute("""
    DROP TABLE staging.order_overrides;
    DROP TRIGGER attention_cleared_by_hand ON staging.orders;
    DROP FUNCTION staging.attention_cleared_by_hand();
    DROP TABLE staging.attention;
    DROP FUNCTION staging.attention_summarise();
    DROP FUNCTION staging.attention_summary(bigint);
    """)
