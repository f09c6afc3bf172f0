"""The Airflow Assets orderbridge declares: the staging orders of each channel account.

Each account's load task lists its Asset as an outlet and attaches the load's counts to the event,
so the Assets page shows every channel feeding staging and when; the attention digest DAG is
scheduled on any of them. Declared here once (STYLE 2.13) and imported at DAG-parse time: only the
task SDK, no I/O.

Naming (Airflow 3.3): ``name`` is what the UI shows and must be unique; the ``uri`` is a stable
identifier under a scheme of our own (``orderbridge``: no provider normalizes it, and ``airflow`` is
reserved). Not a ``postgres://`` URI: that names host, port and database, which differ per
deployment and are not known at parse time.
"""

from __future__ import annotations

from airflow.sdk import Asset

GROUP = "orderbridge"


def staging_orders(channel: str, account: str) -> Asset:
    """The staging orders of one channel account (``staging.orders`` rows with that channel, account).

    Merkana's accounts are platforms; their merchants' rows (``<platform>/<mid>``) count under it.
    """
    return Asset(name=f"staging.orders/{channel}/{account}", uri=f"orderbridge://staging/orders/{channel}/{account}",
                 group=GROUP)


def every_staging_orders() -> list[Asset]:
    """One Asset per configured account of every registered channel (``config/accounts.yaml``)."""
    from orderbridge.channels.registry import CHANNELS
    from orderbridge.config import load_accounts

    return [staging_orders(name, account.name) for name in CHANNELS for account in load_accounts(name)]


def event_extra(channel: str, account: str, run_id: str, result: dict) -> dict:
    """What a load's Asset event carries: who, which run, and the load's counts (orders, inserted,
    updated, lines, ``status_<status>``, ``attention_<reason>``; numbers only, so it stays JSON)."""
    counts = {key: value for key, value in result.items()
              if isinstance(value, int | float) and not isinstance(value, bool)}
    return {"channel": channel, "account": account, "run_id": run_id, **counts}
