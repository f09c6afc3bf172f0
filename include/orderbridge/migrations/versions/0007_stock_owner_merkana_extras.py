"""Stock has an owner; what a Merkana order carries for the warehouse gets a documented home.

- ``staging.products`` and ``staging.stock_levels`` get ``owner``: whose goods they are. ``''``
  (the default, and every row written before) is the warehouse's own stock, what every channel
  with one owner per warehouse sells. A 3PL keeping goods per merchant writes each merchant's rows
  under its owner (Merkana: the FF's merchant id, ``mid``), so two merchants with the same SKU
  code keep two stock figures. The owner is part of both primary keys.
- ``staging.stock_owners``: whose stock a channel account sells and reserves, ``(channel,
  account) -> owner``; an account without a row sells the warehouse's own (``''``). Written by
  the channels that have owners (Merkana, per merchant); read by stock reconciliation, ``SkuMap``
  and the reservations of open orders.
- ``staging.channel_product_mappings`` looks for a direct mapping among the account owner's
  products only.
- ``staging.merkana_order_extras`` (view): cash on delivery, insurance, the platform's invoice and
  label, the notes and the problem e-mail of each Merkana order, as typed columns read from
  ``staging.orders.channel_data`` (where the mapper puts them). A view rather than columns on
  ``staging.orders``: no other channel has these fields, and the shared load path (and the content
  hash of every channel's orders) stays as it is.

Revision ID: 0007
Revises: 0006
"""

from alembic import op

revision = "0007"
down_revision = "0006"

MAPPINGS_VIEW = """
CREATE OR REPLACE VIEW staging.channel_product_mappings AS
SELECT cp.channel, cp.account, cp.channel_sku, cp.name, cp.first_seen_at, cp.confirmed_stock,
       CASE WHEN EXISTS (SELECT 1 FROM staging.bundles b WHERE b.channel = cp.channel
                         AND b.account IN (cp.account, '*') AND b.bundle_sku = cp.channel_sku) THEN 'bundle'
            WHEN EXISTS (SELECT 1 FROM staging.sku_aliases a WHERE a.channel = cp.channel
                         AND a.account IN (cp.account, '*') AND a.channel_sku = cp.channel_sku) THEN 'alias'
            WHEN EXISTS (SELECT 1 FROM staging.products p WHERE p.sku = cp.channel_sku {owner}) THEN 'direct'
            WHEN cp.kit_spec IS NOT NULL AND cp.kit_spec <> '' THEN 'kit'
       END AS mapping
FROM staging.channel_products cp
"""
OWNER_OF_ACCOUNT = """AND p.owner = coalesce((SELECT so.owner FROM staging.stock_owners so
                                              WHERE so.channel = cp.channel AND so.account = cp.account), '')"""


def upgrade() -> None:
    op.execute("""
    ALTER TABLE staging.products ADD COLUMN owner text NOT NULL DEFAULT '';
    ALTER TABLE staging.products DROP CONSTRAINT products_pkey, ADD PRIMARY KEY (owner, sku);
    ALTER TABLE staging.stock_levels ADD COLUMN owner text NOT NULL DEFAULT '';
    ALTER TABLE staging.stock_levels DROP CONSTRAINT stock_levels_pkey, ADD PRIMARY KEY (owner, sku, warehouse);

    CREATE TABLE staging.stock_owners (
        channel     text NOT NULL,
        account     text NOT NULL,
        owner       text NOT NULL,
        updated_at  timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (channel, account)
    );

    CREATE VIEW staging.merkana_order_extras AS
    SELECT o.id AS order_id, o.account, o.external_order_id,
           o.channel_data->>'mid' AS mid,
           o.channel_data->>'payment_method' AS payment_method,
           coalesce((o.channel_data->>'cod')::boolean, false) AS cod,
           (o.channel_data->>'cod_amount')::numeric(14, 2) AS cod_amount,
           (o.channel_data->>'insurance')::numeric(14, 2) AS insurance,
           o.currency,
           o.channel_data->>'url_factura' AS invoice_url,
           o.channel_data->>'awb' AS awb,
           o.channel_data->>'awb_url' AS label_url,
           o.channel_data->>'ff_note' AS ff_note,
           o.channel_data->>'customer_note' AS customer_note,
           o.channel_data->>'shipping_instructions' AS shipping_instructions,
           o.channel_data->>'email_ff_problem' AS problem_email
    FROM staging.orders o WHERE o.channel = 'merkana';
    """)
    op.execute(MAPPINGS_VIEW.format(owner=OWNER_OF_ACCOUNT))


def downgrade() -> None:
    # Rows of other owners cannot go back into one figure per SKU: refuse rather than merge stock.
    op.execute("""
    DO $$ BEGIN
        IF EXISTS (SELECT 1 FROM staging.products WHERE owner <> '')
           OR EXISTS (SELECT 1 FROM staging.stock_levels WHERE owner <> '') THEN
            RAISE EXCEPTION 'staging.products or stock_levels hold rows of owners other than the warehouse '
                            '(owner <> ''''): delete or merge them before downgrading below 0007';
        END IF;
    END $$;
    """)
    op.execute(MAPPINGS_VIEW.format(owner=""))
    op.execute("""
    DROP VIEW staging.merkana_order_extras;
    DROP TABLE staging.stock_owners;
    ALTER TABLE staging.stock_levels DROP CONSTRAINT stock_levels_pkey, ADD PRIMARY KEY (sku, warehouse);
    ALTER TABLE staging.stock_levels DROP COLUMN owner;
    ALTER TABLE staging.products DROP CONSTRAINT products_pkey, ADD PRIMARY KEY (sku);
    ALTER TABLE staging.products DROP COLUMN owner;
    """)
