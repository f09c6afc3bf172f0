"""Shared fixtures: a real throwaway PostgreSQL, the sandbox over loopback, Airflow on Postgres.

Airflow reads its configuration when first imported, so its environment is set here, before any
test module imports it: a private AIRFLOW_HOME, this repo's dags folder, no examples.
"""

from __future__ import annotations

import atexit
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest
from hypothesis import settings as hypothesis_settings

REPO = Path(__file__).resolve().parents[1]
_HOME = Path(tempfile.mkdtemp(prefix="orderbridge-airflow-"))
atexit.register(shutil.rmtree, _HOME, True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# The test cluster's port is fixed now, so Airflow's metadata URL is known before Airflow loads.
PG_PORT = _free_port()
os.environ.update({
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"postgresql+psycopg2://postgres@127.0.0.1:{PG_PORT}/airflow",
    "AIRFLOW_HOME": str(_HOME),
    "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
    "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
    "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
    "ORDERBRIDGE_ACCOUNTS": str(REPO / "config" / "accounts.yaml"),
})

# Hypothesis: `make test` draws the same examples on every run and machine ("ci": derandomized, no
# example database, so nothing a past run found changes what this one tries); `make chaos` explores
# ("explore": random, more examples where a test does not pin max_examples, failures kept in
# .hypothesis/). Both print the blob that replays a failure. Chosen here, before any test module
# builds its @settings: HYPOTHESIS_PROFILE, default ci (pytest --hypothesis-profile also works).
hypothesis_settings.register_profile("ci", derandomize=True, database=None, deadline=None, print_blob=True)
hypothesis_settings.register_profile("explore", derandomize=False, max_examples=1000, deadline=None, print_blob=True)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def _pg_bin() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin"))
    return found[-1] if found else Path(shutil.which("pg_ctl")).parent


def _as_pg(cmd: list[str]) -> list[str]:
    # PostgreSQL refuses to run as root.
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


class PgCluster:
    """A PostgreSQL cluster started from the installed binaries for this test session."""

    def __init__(self, port: int = PG_PORT) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="orderbridge-pg-"))
        self.port = port
        bin_ = _pg_bin()
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres")
        subprocess.run(_as_pg([str(bin_ / "initdb"), "-D", str(self.dir / "data"), "-U", "postgres",
                               "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8"]), check=True, capture_output=True)
        self._options = (f"-p {self.port} -k /tmp -c listen_addresses=127.0.0.1 -c fsync=off "
                         "-c max_connections=200 -c synchronous_commit=off")
        subprocess.run(_as_pg([str(bin_ / "pg_ctl"), "-D", str(self.dir / "data"), "-w", "-l",
                               str(self.dir / "server.log"), "-o", self._options, "start"]),
                       check=True, capture_output=True)
        self._bin = bin_

    def halt(self) -> None:
        """Stop the server abruptly (as a crash would), keeping its data: ``resume`` starts it again."""
        subprocess.run(_as_pg([str(self._bin / "pg_ctl"), "-D", str(self.dir / "data"), "-m", "immediate", "stop"]),
                       check=True, capture_output=True)

    def resume(self) -> None:
        subprocess.run(_as_pg([str(self._bin / "pg_ctl"), "-D", str(self.dir / "data"), "-w", "-l",
                               str(self.dir / "server.log"), "-o", self._options, "start"]),
                       check=True, capture_output=True)

    def url(self, dbname: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{dbname}"

    def sql(self, statement: str, dbname: str = "postgres") -> None:
        import psycopg2

        conn = psycopg2.connect(self.url(dbname))
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                cur.execute(statement)
        finally:
            conn.close()

    def stop(self) -> None:
        subprocess.run(_as_pg([str(self._bin / "pg_ctl"), "-D", str(self.dir / "data"), "-m", "immediate", "stop"]),
                       capture_output=True)
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="session")
def pg():
    cluster = PgCluster()
    from orderbridge import db

    cluster.sql("CREATE DATABASE orderbridge_template")
    db.migrate(cluster.url("orderbridge_template"))
    yield cluster
    cluster.stop()


@pytest.fixture(scope="session")
def airflow_db(pg):
    """Airflow's metadata database, on the same test cluster (dag.test() needs one)."""
    import sys

    pg.sql("CREATE DATABASE airflow")
    subprocess.run([str(Path(sys.executable).with_name("airflow")), "db", "migrate"], check=True,
                   capture_output=True, env=os.environ.copy())
    return pg.url("airflow")


@pytest.fixture
def staging_dsn(pg, monkeypatch):
    """A fresh, migrated staging database for one test, also exposed as the Airflow connection."""
    name = f"t_{uuid.uuid4().hex[:10]}"
    pg.sql(f"CREATE DATABASE {name} TEMPLATE orderbridge_template")
    monkeypatch.setenv("AIRFLOW_CONN_ORDERBRIDGE_STAGING", pg.url(name))
    yield pg.url(name)
    pg.sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def conn(staging_dsn):
    from orderbridge import db

    connection = db.connect(staging_dsn)
    yield connection
    connection.close()


def run_task(channel: str, task_id: str, account, run_id: str, run_type=None, start=None, end=None, *,
             key: str = "", **params) -> dict:
    """Run one task of a channel's DAG outside Airflow, as the DAG's task does (the registry's contract).

    Args:
        key: the run's reconciliation key (the DAG gives the interval end); default the run id.
        params: the DAG run's params (``resend_failed=True``, ...).
    """
    from orderbridge.channels.base import Run
    from orderbridge.channels.registry import get

    return get(channel).run_task(task_id, account, Run(run_id, run_type, start, end, key=key, params=params))


def rows(conn, sql: str, *args) -> list[tuple]:
    """Run one statement and commit; its rows (none for a statement that returns none)."""
    with conn.cursor() as cur:
        cur.execute(sql, args)
        result = cur.fetchall() if cur.description else []
    conn.commit()
    return result


def database_at(pg, name: str, revision: str) -> str:
    """A fresh database ``name`` migrated to ``revision`` (a migration test's starting point); its DSN."""
    from orderbridge import db

    pg.sql(f"DROP DATABASE IF EXISTS {name}")
    pg.sql(f"CREATE DATABASE {name}")
    dsn = pg.url(name)
    db.migrate(dsn, revision)
    return dsn


def downgrade(dsn: str, revision: str) -> None:
    """Migrate the database at ``dsn`` down to ``revision`` (``db.migrate`` only goes up)."""
    from importlib import resources

    from alembic import command
    from alembic.config import Config

    from orderbridge import db

    cfg = Config()
    cfg.set_main_option("script_location", str(resources.files("orderbridge") / "migrations"))
    cfg.set_main_option("sqlalchemy.url", db.sqlalchemy_url(dsn).replace("%", "%%"))
    command.downgrade(cfg, revision)


@pytest.fixture
def warehouse(conn):
    """The staging database with the sandbox merchant's products, stock and Groupon mappings (a
    channel's test module may define its own)."""
    from orderbridge_sandbox.warehouse import seed_catalogue

    with conn.cursor() as cur:
        seed_catalogue(cur)
    conn.commit()
    return conn


@pytest.fixture
def toy_plugin(monkeypatch, tmp_path):
    """The toy marketplace of ``tests/toy_channel`` plugged in as a channel, with accounts a1 and a2:
    here (the registry's dicts) and for child processes (``ORDERBRIDGE_CHANNEL_PLUGINS``, ``PYTHONPATH``)."""
    from orderbridge.channels import registry
    from toy_channel.channel import CHANNEL

    monkeypatch.setitem(registry.CHANNELS, CHANNEL.name, CHANNEL)
    monkeypatch.setitem(registry.PLUGINS, CHANNEL.name, "toy_channel")
    monkeypatch.setenv(registry.PLUGINS_ENV, "toy_channel")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in (str(REPO / "tests"), os.environ.get("PYTHONPATH"))
                                                     if p))
    accounts = tmp_path / "accounts.yaml"
    accounts.write_text("toy:\n  - name: a1\n    conn_id: orderbridge_toy_a1\n  - name: a2\n"
                        "    conn_id: orderbridge_toy_a2\n")
    monkeypatch.setenv("ORDERBRIDGE_ACCOUNTS", str(accounts))
    return CHANNEL
