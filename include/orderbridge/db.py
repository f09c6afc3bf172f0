"""Database plumbing: connections, migrations and COPY.

Tasks get their connection from Airflow (``PostgresHook`` on the ``orderbridge_staging``
connection); scripts and tests pass a DSN. Either way the package functions take an open psycopg2
connection and leave commit/rollback to the caller, so one transaction can span raw rows, staging
rows, events and outbox effects.

psycopg2 rather than psycopg 3: its ``copy_expert`` streams a file-like buffer into
``COPY ... FROM STDIN`` and ``execute_values`` batches small writes, which is all we need, and it is
the driver SQLAlchemy/Alembic use here by default. (``PostgresHook`` would pick psycopg 3 when both
are installed, so tasks only take the connection's parameters from the hook: see ``jobs``.)
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable, Sequence
from importlib import resources
from typing import Any

import psycopg2

STAGING_CONN_ID = "orderbridge_staging"


def connect(dsn: str):
    """Open a psycopg2 connection (autocommit off) to the staging database."""
    return psycopg2.connect(dsn)


def connect_params(**params):
    """Open a psycopg2 connection from separate parameters (None values are left out)."""
    return psycopg2.connect(**{k: v for k, v in params.items() if v not in (None, "")})


def sqlalchemy_url(dsn: str) -> str:
    """Turn a ``postgresql://`` DSN into the SQLAlchemy URL Alembic wants."""
    return dsn.replace("postgresql://", "postgresql+psycopg2://", 1).replace("postgres://", "postgresql+psycopg2://", 1)


def migrate(dsn: str, revision: str = "head") -> None:
    """Bring the ``raw`` and ``staging`` schemas to ``revision`` with the package's Alembic scripts."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(resources.files("orderbridge") / "migrations"))
    cfg.set_main_option("sqlalchemy.url", sqlalchemy_url(dsn).replace("%", "%%"))
    command.upgrade(cfg, revision)


def _copy_text(value: Any) -> str:
    if value is None:
        return "\\N"
    if isinstance(value, dict | list):
        value = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    text = str(value)
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def copy_rows(cur, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """Stream ``rows`` into ``table`` with ``COPY FROM STDIN`` (text format).

    Args:
        cur: an open psycopg2 cursor.
        table: target table, usually a ``TEMP`` table of the current transaction.
        columns: column names, in the order of each row's values.
        rows: tuples of Python values; ``None`` becomes NULL, dicts and lists become JSON text.
    """
    buf = io.StringIO()
    for row in rows:
        buf.write("\t".join(_copy_text(v) for v in row))
        buf.write("\n")
    buf.seek(0)
    cur.copy_expert(f"COPY {table} ({', '.join(columns)}) FROM STDIN", buf)


def get_state(cur, channel: str, account: str, stream: str) -> str | None:
    """Read a stored watermark (``staging.sync_state``), or None when there is none yet."""
    cur.execute(
        "SELECT watermark FROM staging.sync_state WHERE channel = %s AND account = %s AND stream = %s",
        (channel, account, stream),
    )
    row = cur.fetchone()
    return row[0] if row else None


def set_state(cur, channel: str, account: str, stream: str, watermark: str) -> None:
    """Store a watermark; call it inside the transaction that commits the data it covers."""
    cur.execute(
        """INSERT INTO staging.sync_state (channel, account, stream, watermark) VALUES (%s, %s, %s, %s)
           ON CONFLICT (channel, account, stream)
           DO UPDATE SET watermark = EXCLUDED.watermark, updated_at = now()
           WHERE staging.sync_state.watermark IS DISTINCT FROM EXCLUDED.watermark""",
        (channel, account, stream, watermark),
    )
