"""raw and staging schemas: the data contract the warehouse integrates with.

Who writes what (also in the README): orderbridge writes raw.*, staging.orders, order_lines,
channel_products, outbox, order_events, stock_drift and sync_state; the warehouse writes
products, stock_levels and shipments (and may move orders to in_progress); operators maintain
sku_aliases, bundles and carrier_codes.

Revision ID: 0001
Revises:
"""

import csv
from importlib import resources

from alembic import op

revision = "0001"
down_revision = None

DDL = """
CREATE SCHEMA IF NOT EXISTS raw;
CREATE SCHEMA IF NOT EXISTS staging;

-- Payloads exactly as each channel sent them. Append-only: a payload that changed adds a row,
-- one that did not is skipped by the hash, so reruns and backfills add nothing.
CREATE TABLE raw.orders (
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
CREATE INDEX raw_orders_by_id ON raw.orders (channel, account, id);

CREATE TABLE staging.orders (
    id                 bigserial PRIMARY KEY,
    channel            text NOT NULL,
    account            text NOT NULL,
    external_order_id  text NOT NULL,
    status             text NOT NULL,
    status_reason      text,
    channel_status     text,
    customer_name      text,
    customer_email     text,
    customer_phone     text,
    ship_name          text,
    ship_address1      text,
    ship_address2      text,
    ship_city          text,
    ship_state         text,
    ship_postcode      text,
    ship_country       text,
    ship_phone         text,
    total              numeric(14, 2),
    shipping_total     numeric(14, 2),
    currency           text,
    placed_at          timestamptz,
    channel_data       jsonb NOT NULL DEFAULT '{}',
    raw_id             bigint,
    content_hash       text NOT NULL,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    UNIQUE (channel, account, external_order_id),
    CHECK (status IN ('ready', 'awaiting_mapping', 'invalid_address', 'invalid_payload',
                      'in_progress', 'shipped', 'cancelled', 'closed'))
);
CREATE INDEX orders_by_status ON staging.orders (channel, account, status);

-- One row per warehouse SKU to pick: a bundle line becomes one row per component
-- (component 0, 1, ...); an unmapped line has warehouse_sku NULL.
CREATE TABLE staging.order_lines (
    id                bigserial PRIMARY KEY,
    order_id          bigint NOT NULL REFERENCES staging.orders (id) ON DELETE CASCADE,
    channel_line_id   text NOT NULL,
    component         smallint NOT NULL DEFAULT 0,
    channel_sku       text NOT NULL,
    warehouse_sku     text,
    quantity          integer NOT NULL CHECK (quantity > 0),
    channel_quantity  integer NOT NULL CHECK (channel_quantity > 0),
    unit_price        numeric(14, 4),
    bundle_sku        text,
    UNIQUE (order_id, channel_line_id, component)
);
CREATE INDEX order_lines_by_sku ON staging.order_lines (warehouse_sku);

CREATE TABLE staging.products (
    sku         text PRIMARY KEY,
    name        text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE staging.stock_levels (
    sku         text NOT NULL,
    warehouse   text NOT NULL DEFAULT 'main',
    on_hand     integer NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (sku, warehouse)
);

-- account '*' means every account of the channel.
CREATE TABLE staging.sku_aliases (
    channel        text NOT NULL,
    account        text NOT NULL DEFAULT '*',
    channel_sku    text NOT NULL,
    warehouse_sku  text NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (channel, account, channel_sku)
);

CREATE TABLE staging.bundles (
    channel        text NOT NULL,
    account        text NOT NULL DEFAULT '*',
    bundle_sku     text NOT NULL,
    warehouse_sku  text NOT NULL,
    quantity       integer NOT NULL CHECK (quantity > 0),
    PRIMARY KEY (channel, account, bundle_sku, warehouse_sku)
);

CREATE TABLE staging.carrier_codes (
    channel          text NOT NULL,
    courier_service  text NOT NULL,
    carrier_code     text NOT NULL,
    carrier_name     text,
    PRIMARY KEY (channel, courier_service)
);

-- Every SKU a channel has shown us, mapped or not, and the stock it last confirmed.
CREATE TABLE staging.channel_products (
    channel          text NOT NULL,
    account          text NOT NULL,
    channel_sku      text NOT NULL,
    name             text,
    kit_spec         text,
    first_seen_at    timestamptz NOT NULL DEFAULT now(),
    confirmed_stock  integer,
    confirmed_at     timestamptz,
    PRIMARY KEY (channel, account, channel_sku)
);

CREATE TABLE staging.shipments (
    id               bigserial PRIMARY KEY,
    order_id         bigint NOT NULL REFERENCES staging.orders (id),
    courier_service  text NOT NULL,
    tracking_number  text NOT NULL,
    shipped_at       timestamptz NOT NULL DEFAULT now(),
    lines            jsonb,
    created_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (order_id, tracking_number)
);

CREATE TABLE staging.outbox (
    id               bigserial PRIMARY KEY,
    channel          text NOT NULL,
    account          text NOT NULL,
    kind             text NOT NULL,
    idempotency_key  text NOT NULL UNIQUE,
    order_id         bigint REFERENCES staging.orders (id),
    payload          jsonb NOT NULL,
    status           text NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'sent', 'rejected', 'failed', 'superseded')),
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    last_error       text,
    result           jsonb,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    sent_at          timestamptz
);
CREATE INDEX outbox_pending ON staging.outbox (channel, account, kind, id) WHERE status = 'pending';

CREATE TABLE staging.order_events (
    id                 bigserial PRIMARY KEY,
    order_id           bigint REFERENCES staging.orders (id) ON DELETE SET NULL,
    channel            text NOT NULL,
    account            text NOT NULL,
    external_order_id  text,
    event              text NOT NULL,
    message            text,
    detail             jsonb NOT NULL DEFAULT '{}',
    run_id             text,
    created_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX order_events_by_order ON staging.order_events (order_id, id);

CREATE TABLE staging.stock_drift (
    id             bigserial PRIMARY KEY,
    run_key        text NOT NULL,
    channel        text NOT NULL,
    account        text NOT NULL,
    channel_sku    text NOT NULL,
    channel_value  integer,
    our_value      integer,
    difference     integer,
    action         text NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (run_key, channel, account, channel_sku)
);

CREATE TABLE staging.sync_state (
    channel     text NOT NULL,
    account     text NOT NULL,
    stream      text NOT NULL,
    watermark   text NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (channel, account, stream)
);
"""


def upgrade() -> None:
    op.execute(DDL)
    # Groupon's approved carrier codes (seed 000, July 2018): the default mapping is the carrier's
    # own name as the warehouse courier service. Operators add their service names beside these.
    with resources.files("orderbridge.data").joinpath("groupon_carriers.csv").open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    table = op.get_bind()
    for row in rows:
        table.exec_driver_sql(
            "INSERT INTO staging.carrier_codes (channel, courier_service, carrier_code, carrier_name)"
            " VALUES ('groupon', %(name)s, %(code)s, %(name)s)",
            {"name": row["carrier_name"], "code": row["code"]},
        )


def downgrade() -> None:
    op.execute("DROP SCHEMA staging CASCADE; DROP SCHEMA raw CASCADE;")
