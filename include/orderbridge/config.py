"""Which channel accounts exist: ``config/accounts.yaml`` (or the file ``ORDERBRIDGE_ACCOUNTS`` names).

Read at DAG-parse time, so it stays a small local file read: no network, no database. Secrets are
never here; each account names the Airflow connection that holds them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import yaml

DEFAULT_FILE = Path(__file__).resolve().parents[2] / "config" / "accounts.yaml"
EXTRACT_MODES = ("auto", "queue", "window")


@dataclass(frozen=True)
class Account:
    channel: str
    name: str
    conn_id: str
    currency: str | None = None
    extract_mode: str = "auto"

    @property
    def pool(self) -> str:
        """One Airflow pool per account, named like its connection."""
        return self.conn_id


def accounts_file() -> Path:
    return Path(os.environ.get("ORDERBRIDGE_ACCOUNTS", DEFAULT_FILE))


def load_accounts(channel: str, path: Path | None = None) -> list[Account]:
    """The configured accounts of one channel, validated.

    Raises:
        ValueError: an entry lacks ``name``/``conn_id`` or has an unknown ``extract_mode``.
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
        accounts.append(Account(channel=channel, name=str(entry["name"]), conn_id=str(entry["conn_id"]),
                                currency=entry.get("currency"), extract_mode=mode))
    return accounts
