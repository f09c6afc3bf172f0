"""Which channel accounts exist: one YAML file, found through a setting (``accounts_file``).

Read at DAG-parse time, so it stays a small local file read: no network, no database. Secrets are
never here; each account names the Airflow connection that holds them.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

ENV_VAR = "ORDERBRIDGE_ACCOUNTS"
AIRFLOW_SECTION, AIRFLOW_OPTION = "orderbridge", "accounts_file"  # AIRFLOW__ORDERBRIDGE__ACCOUNTS_FILE
AIRFLOW_ENV_VAR = f"AIRFLOW__{AIRFLOW_SECTION.upper()}__{AIRFLOW_OPTION.upper()}"
HOME_FILE = Path("orderbridge") / "accounts.yaml"  # under $AIRFLOW_HOME
# The repository's own file: only where this module runs from a checkout (include/orderbridge/config.py).
CHECKOUT_FILE = Path(__file__).resolve().parents[2] / "config" / "accounts.yaml"
EXTRACT_MODES = ("auto", "queue", "window")
DEFAULT_EVERY_MINUTES = 10
MAX_EVERY_MINUTES = 24 * 60


@dataclass(frozen=True)
class Account:
    channel: str
    name: str
    conn_id: str
    currency: str | None = None
    extract_mode: str = "auto"
    # How often the account's DAG runs (its data interval), in minutes: the merchant's import delay.
    every_minutes: int = DEFAULT_EVERY_MINUTES

    @property
    def pool(self) -> str:
        """One Airflow pool per account, named like its connection."""
        return self.conn_id


def accounts_file() -> Path:
    """Where the accounts are; the first of these that is set (or, for files, exists) wins.

    1. The environment variable ``ORDERBRIDGE_ACCOUNTS``.
    2. Airflow's option ``[orderbridge] accounts_file`` (``AIRFLOW__ORDERBRIDGE__ACCOUNTS_FILE``).
    3. ``$AIRFLOW_HOME/orderbridge/accounts.yaml``, if that file exists (``AIRFLOW_HOME`` defaults to
       ``~/airflow``, as in Airflow).
    4. The checkout's ``config/accounts.yaml``, when orderbridge runs from a checkout.

    Returns:
        The file to read. With none of the above it is the ``$AIRFLOW_HOME`` path, which does not
        exist: no accounts, so no DAGs.
    """
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR]).expanduser()
    configured = _airflow_option()
    if configured:
        return Path(configured).expanduser()
    home_file = _airflow_home() / HOME_FILE
    if home_file.is_file():
        return home_file
    if CHECKOUT_FILE.is_file():
        return CHECKOUT_FILE
    return home_file


def _airflow_option() -> str | None:
    """``[orderbridge] accounts_file``, without importing Airflow.

    Inside an Airflow process (the DAG processor, a worker, the API server) ``airflow.configuration``
    is already loaded, and its ``conf`` reads ``airflow.cfg`` as well as the environment. Elsewhere
    (scripts, the sandbox, unit tests) importing it would cost over a second and create
    ``$AIRFLOW_HOME/logs``, so only the environment variable form is read there.
    """
    configuration = sys.modules.get("airflow.configuration")
    if configuration is None:
        return os.environ.get(AIRFLOW_ENV_VAR) or None
    return configuration.conf.get(AIRFLOW_SECTION, AIRFLOW_OPTION, fallback=None) or None


def _airflow_home() -> Path:
    # As airflow.configuration.get_airflow_home() does it, without importing Airflow.
    return Path(os.path.expandvars(os.environ.get("AIRFLOW_HOME") or "~/airflow")).expanduser()


def load_accounts(channel: str, path: Path | None = None) -> list[Account]:
    """The configured accounts of one channel, validated.

    Raises:
        ValueError: an entry lacks ``name``/``conn_id``, has an unknown ``extract_mode`` or an
            ``every_minutes`` that is not a whole number from 1 to 1440.
    """
    path = path or accounts_file()
    if not path.exists():
        return []
    entries = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get(channel) or []
    accounts = []
    for i, entry in enumerate(entries):
        missing = [k for k in ("name", "conn_id") if not entry.get(k)]
        if missing:
            raise ValueError(f"{path}: {channel}[{i}] lacks {', '.join(missing)}")
        mode = entry.get("extract_mode", "auto")
        if mode not in EXTRACT_MODES:
            raise ValueError(f"{path}: {channel}[{i}].extract_mode must be one of {EXTRACT_MODES}, not {mode!r}")
        every = entry.get("every_minutes", DEFAULT_EVERY_MINUTES)
        if isinstance(every, bool) or not isinstance(every, int) or not 1 <= every <= MAX_EVERY_MINUTES:
            raise ValueError(f"{path}: {channel}[{i}].every_minutes must be a whole number of minutes from 1 to "
                             f"{MAX_EVERY_MINUTES}, not {every!r}")
        accounts.append(Account(channel=channel, name=str(entry["name"]), conn_id=str(entry["conn_id"]),
                                currency=entry.get("currency"), extract_mode=mode, every_minutes=every))
    return accounts
