"""Octopia: tracking URLs on parcels, a shared OAuth2 token cache, offer packages in flight.

- ``staging.shipments.tracking_url``: written by the warehouse when it has one (NULL otherwise).
- ``staging.tracking_url_templates``: courier service -> URL template with ``{tracking}``; a parcel
  without a URL gets its courier's template filled in. Seeded with common carriers from
  ``orderbridge/data/carrier_tracking.csv``; operators edit the table.
- ``staging.carrier_codes`` gains Octopia's ``carrierName`` for the same carriers (same file).
- ``staging.oauth_tokens``: one access token per (token URL, client id), Fernet-encrypted with a
  key derived from the client secret (``channels.octopia.auth``); ``issued`` counts tokens fetched.
  Workers share it, so the 500-tokens-an-hour quota is spent once per two hours, not per task.
- ``staging.offer_packages``: stock offer packages set Ready and not yet integrated, polled by
  later runs; per-item results once the channel has them.

Revision ID: 0010
Revises: 0009
"""

import csv
from importlib import resources

from alembic import op

revision = "0010"
down_revision = "0009"  # the issue said 0005; 0009 is this tree's head (the lead re-chains at merge)


def upgrade() -> None:
    op.execute("""
    ALTER TABLE staging.shipments ADD COLUMN tracking_url text;

    CREATE TABLE staging.tracking_url_templates (
        courier_service  text PRIMARY KEY,
        url_template     text NOT NULL CHECK (strpos(url_template, '{tracking}') > 0),
        updated_at       timestamptz NOT NULL DEFAULT now()
    );
    CREATE UNIQUE INDEX tracking_url_templates_lower ON staging.tracking_url_templates (lower(courier_service));

    CREATE TABLE staging.oauth_tokens (
        token_key        text PRIMARY KEY,
        token_url        text NOT NULL,
        client_id        text NOT NULL,
        token            bytea,
        expires_at       timestamptz,
        issued           bigint NOT NULL DEFAULT 0,
        issued_at        timestamptz
    );

    CREATE TABLE staging.offer_packages (
        id               bigserial PRIMARY KEY,
        channel          text NOT NULL,
        account          text NOT NULL,
        sales_channel    text NOT NULL,
        package_id       text NOT NULL,
        state            text NOT NULL,
        items            jsonb NOT NULL,
        results          jsonb,
        rejected         integer,
        created_at       timestamptz NOT NULL DEFAULT now(),
        checked_at       timestamptz,
        done_at          timestamptz,
        UNIQUE (channel, account, package_id)
    );
    CREATE INDEX offer_packages_open ON staging.offer_packages (channel, account) WHERE done_at IS NULL;
    """)
    with resources.files("orderbridge.data").joinpath("carrier_tracking.csv").open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    bind = op.get_bind()
    for row in rows:
        bind.exec_driver_sql(
            "INSERT INTO staging.tracking_url_templates (courier_service, url_template) VALUES (%(s)s, %(t)s)",
            {"s": row["courier_service"], "t": row["tracking_url_template"]})
        bind.exec_driver_sql(
            "INSERT INTO staging.carrier_codes (channel, courier_service, carrier_code, carrier_name)"
            " VALUES ('octopia', %(s)s, %(n)s, %(n)s) ON CONFLICT DO NOTHING",
            {"s": row["courier_service"], "n": row["octopia_carrier_name"]})


def downgrade() -> None:
    op.execute("""
    DELETE FROM staging.carrier_codes WHERE channel = 'octopia';
    DROP TABLE staging.offer_packages;
    DROP TABLE staging.oauth_tokens;
    DROP TABLE staging.tracking_url_templates;
    ALTER TABLE staging.shipments DROP COLUMN tracking_url;
    """)
