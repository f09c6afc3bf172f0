"""Alembic environment for the ``raw`` and ``staging`` schemas (run through ``orderbridge.db.migrate``)."""

from alembic import context
from sqlalchemy import create_engine

config = context.config
engine = create_engine(config.get_main_option("sqlalchemy.url"))
with engine.connect() as connection:
    # Our own version table name: the database may be shared with other Alembic users (Airflow).
    context.configure(connection=connection, version_table="orderbridge_alembic_version")
    with context.begin_transaction():
        context.run_migrations()
engine.dispose()
