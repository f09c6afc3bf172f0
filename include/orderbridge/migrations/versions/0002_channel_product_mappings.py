"""staging.channel_product_mappings: every channel SKU and how (or whether) it maps.

The operator's to-do list for mappings: ``mapping`` is NULL for a SKU nothing maps yet.

Revision ID: 0002
Revises: 0001
"""

from alembic import op

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    op.execute("""
    CREATE VIEW staging.channel_product_mappings AS
    SELECT cp.channel, cp.account, cp.channel_sku, cp.name, cp.first_seen_at, cp.confirmed_stock,
           CASE WHEN EXISTS (SELECT 1 FROM staging.bundles b WHERE b.channel = cp.channel
                             AND b.account IN (cp.account, '*') AND b.bundle_sku = cp.channel_sku) THEN 'bundle'
                WHEN EXISTS (SELECT 1 FROM staging.sku_aliases a WHERE a.channel = cp.channel
                             AND a.account IN (cp.account, '*') AND a.channel_sku = cp.channel_sku) THEN 'alias'
                WHEN EXISTS (SELECT 1 FROM staging.products p WHERE p.sku = cp.channel_sku) THEN 'direct'
                WHEN cp.kit_spec IS NOT NULL AND cp.kit_spec <> '' THEN 'kit'
           END AS mapping
    FROM staging.channel_products cp
    """)


def downgrade() -> None:
    op.execute("DROP VIEW staging.channel_product_mappings")
