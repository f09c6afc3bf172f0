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

from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from datetime import date, datetime
from decimal import Decimal
from importlib import resources
from typing import Any

import msgspec
import psycopg2
import psycopg2.errors

from orderbridge import fastpath

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


# COPY text format: NULL is \N; backslash, tab, newline and carriage return are escaped.
_NULL = "\\N"
_JSON_ENCODER = msgspec.json.Encoder()


def _json_text(value: Any) -> str:
    # jsonb re-reads the text, so its spelling does not matter here (unlike the hashed texts made by
    # json_encoder): msgspec, 10x faster than json on the small dicts of events and outbox rows.
    return _JSON_ENCODER.encode(value).decode()


def _escape(text: str) -> str:
    # Four str.replace calls, not str.translate: translate maps character by character in Python
    # terms and took 150 us on a 1.5 kB JSON payload (most of land_raw's CPU); replace is a C scan.
    if "\\" in text:
        text = text.replace("\\", "\\\\")
    if "\t" in text or "\n" in text or "\r" in text:
        text = text.replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    return text


def _other_text(value: Any) -> str:
    return _json_text(value) if isinstance(value, dict | list) else str(value)


def _copy_text(value: Any) -> str:
    if value is None:
        return _NULL
    return _escape(value if type(value) is str else _other_text(value))


# ``_copy_line``'s conversions by exact type, for values other than str and None. Anything else
# (dict and list subclasses, str subclasses, ...) is converted and escaped, so it can never pass
# for a NULL; so is a str that reads exactly like one (the ``str`` entry).
_FAST_TEXT = {dict: _json_text, list: _json_text, str: _escape, int: str, Decimal: str, datetime: str, date: str,
              float: str, bool: str}


def _escaped_text(value: Any) -> str:
    return _escape(_other_text(value))


_COPY_CHUNK = 1 << 18  # characters of COPY text built per read: the server parses one while we build the next


def _copy_line(row: Sequence[Any]) -> str:
    get = _FAST_TEXT.get
    values = [v if type(v) is str and v != _NULL else _NULL if v is None else get(type(v), _escaped_text)(v)
              for v in row]
    line = "\t".join(values)
    # Fast path: every tab is a separator and every backslash belongs to a NULL, so no value held a
    # character that needs escaping. Otherwise escape value by value.
    if (line.count("\t") != len(row) - 1 or line.count("\\") != values.count(_NULL) or "\n" in line
            or "\r" in line):
        line = "\t".join([_copy_text(v) for v in row])
    return line


class _CopyStream:
    """A read-only file over COPY text, built chunk by chunk as psycopg2 asks for it.

    ``copy_expert`` sends each chunk as soon as it is read, so PostgreSQL can parse and insert one
    chunk while the next is built here, and the whole text never sits in memory at once.
    """

    def __init__(self, rows: Iterable[Sequence[Any]]):
        self._rows = iter(rows)
        self.rows = 0

    def read(self, size: int = -1) -> str:
        parts, length = [], 0
        for row in self._rows:
            line = _copy_line(row)
            parts.append(line)
            length += len(line) + 1
            self.rows += 1
            if length >= _COPY_CHUNK:
                break
        if not parts:
            return ""
        parts.append("")
        return "\n".join(parts)

    readline = read


def copy_rows(cur, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    """Stream ``rows`` into ``table`` with ``COPY FROM STDIN`` (text format); returns how many were sent.

    Args:
        cur: an open psycopg2 cursor.
        table: target table, usually a ``TEMP`` table of the current transaction.
        columns: column names, in the order of each row's values.
        rows: tuples of Python values (any iterable, consumed while the server loads); ``None``
            becomes NULL, dicts and lists become JSON text, other values ``str(value)``.
    """
    stream = _CopyStream(rows)
    cur.copy_expert(f"COPY {table} ({', '.join(columns)}) FROM STDIN", stream, size=_COPY_CHUNK)
    return stream.rows


def copy_if_new(cur, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> bool:
    """``COPY`` rows that should all be new straight into ``table``, in the caller's thread.

    The same write path as the load's (``CopyPipeline``: a savepoint, plain ``COPY``, and False
    when a row existed after all, for the caller's ``INSERT ... ON CONFLICT`` path), without a
    background thread: a page of raw payloads is too small to overlap with anything.
    """
    pipeline = CopyPipeline(cur, "copy_if_new", background=False)
    if not pipeline.usable:
        return False
    pipeline.copy(table, columns, rows)
    return pipeline.finish()


class _Text:
    """A read-only file over COPY text built beforehand: one ``read`` hands over all of it."""

    def __init__(self, text: str):
        self._text = text

    def read(self, size: int = -1) -> str:
        text, self._text = self._text, ""
        return text

    readline = read


class CopyPipeline:
    """COPY rows that should all be new into tables with unique constraints, on a background thread.

    For bulk loads: while PostgreSQL inserts a chunk (and checks its indexes and foreign keys) the
    caller goes on computing the next, so our CPU and the server's work overlap instead of taking
    turns. The COPY text is built in the caller's thread when a chunk is queued; the background
    thread only sends it and waits, which it does without the GIL. Plain ``COPY`` into the real
    tables is also the cheapest way in (no temp table, no ``ON CONFLICT`` probe).

    Everything runs under one savepoint: if a row breaks a unique constraint (it existed after
    all, or a concurrent transaction just wrote it), nothing the pipeline sent is kept, and the
    caller takes its ``INSERT ... ON CONFLICT`` path instead. The caller must not use the
    connection between the first ``copy`` and ``finish`` (or ``abandon``).

    Args:
        cur: cursor in the caller's transaction.
        savepoint: name of the savepoint the pipeline works under.
        background: send on a background thread (bulk loads); False sends in the caller's thread.
    """

    def __init__(self, cur, savepoint: str, background: bool = True):
        self.cur, self.savepoint, self.background = cur, savepoint, background
        self.usable = not cur.connection.autocommit  # no savepoints outside a transaction
        self._pool: ThreadPoolExecutor | None = None
        self._fast_switching = ExitStack()  # held while the background thread runs
        self._started = False
        self._error: BaseException | None = None

    def copy(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
        """Queue one ``COPY`` of ``rows`` (statements run in the order they were queued)."""
        text = "".join([_copy_line(row) + "\n" for row in rows])
        if not text:
            return
        statement = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
        if not self._started:
            self.cur.execute(f"SAVEPOINT {self.savepoint}")
            self._started = True
            if self.background:
                self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="orderbridge-copy")
                self._fast_switching.enter_context(fastpath.fast_thread_switching())
        if self._pool is None:
            self._send(statement, text)
        else:
            self._pool.submit(self._send, statement, text)

    def _send(self, statement: str, text: str) -> None:
        if self._error is None:  # after a failure the transaction is aborted: skip the rest
            try:
                self.cur.copy_expert(statement, _Text(text), size=len(text))
            except BaseException as err:  # handed to the caller's thread by finish()
                self._error = err

    def finish(self) -> bool:
        """Wait for every queued ``COPY``.

        Returns:
            True when all rows were written (or none were queued); False when a unique violation
            undid everything the pipeline sent (rolled back to its savepoint).

        Raises:
            Any other error a ``COPY`` raised.
        """
        if not self._started:
            return True
        self._stop()
        if self._error is None:
            self.cur.execute(f"RELEASE SAVEPOINT {self.savepoint}")
            return True
        error, self._error = self._error, None
        if isinstance(error, psycopg2.errors.UniqueViolation):
            self.cur.execute(f"ROLLBACK TO SAVEPOINT {self.savepoint}")
            return False
        raise error

    def abandon(self) -> None:
        """Wait for the background thread, ignoring its outcome: the caller is failing anyway and
        must not roll back while a ``COPY`` still uses the connection."""
        if self._started:
            self._stop()

    def _stop(self) -> None:
        self._started = False
        if self._pool is None:
            return
        try:
            self._pool.shutdown(wait=True)
        finally:
            self._pool = None
            self._fast_switching.close()


class PlannerStatistics:
    """Refresh a table's planner statistics while a task writes many rows into it.

    Our lookups are keyed by ``channel, account, external id = ANY(batch)``. During a big first
    load of an account, the statistics still say the account has no rows (autovacuum analyzes up
    to a minute later), so PostgreSQL scans every row of the account for each batch and the load
    slows down as it grows (measured: 100,000 orders landed 4x slower at the end than at the
    start). Every ``every`` rows written, ``ANALYZE`` of the key columns (a fixed-size sample,
    a few milliseconds) tells it the truth.
    """

    def __init__(self, table: str, columns: Sequence[str], every: int = 20_000):
        self.table, self.columns, self.every = table, columns, every
        self._written = 0

    def wrote(self, cur, rows: int) -> None:
        """Count ``rows`` written; analyze (in the caller's transaction) when enough have been."""
        self._written += rows
        if self._written >= self.every:
            self.refresh(cur)

    def refresh(self, cur) -> None:
        cur.execute(f"ANALYZE {self.table} ({', '.join(self.columns)})")
        self._written = 0


def order_ids(cur, channel: str, account: str, external_order_ids: Iterable[str],
              known: Mapping[str, int] | None = None) -> dict[str, int]:
    """Staging order id by external order id, for those of the account that are in ``staging.orders``:
    from ``known`` where the caller has them (a load does), the rest in one lookup by key."""
    known = known or {}
    wanted = set(external_order_ids)
    found = {ext: known[ext] for ext in wanted if ext in known}
    missing = sorted(wanted - found.keys())
    if missing:
        cur.execute("SELECT external_order_id, id FROM staging.orders"
                    " WHERE channel = %s AND account = %s AND external_order_id = ANY(%s)", (channel, account, missing))
        found.update(cur.fetchall())
    return found


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
