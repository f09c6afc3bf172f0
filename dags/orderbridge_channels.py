"""One Airflow DAG per configured channel account, for every channel in the registry.

Each DAG is built from its channel's contract (``orderbridge.channels``) by ``dagkit.channel_dag``:
its documentation, tasks, tags, pool and retry policy. Adding a channel adds no DAG file.
"""

from __future__ import annotations

from airflow.sdk import get_parsing_context

from orderbridge import dagkit
from orderbridge.channels.registry import CHANNELS
from orderbridge.config import load_accounts

# A task's process parses this file again before it runs, with the parsing context naming the
# task's DAG: build only that one. With 500 accounts, building every DAG cost each task 1.7 s of
# CPU, so the whole cycle's parsing grew with the square of the accounts. The DAG processor
# (no context) still builds them all.
_wanted = get_parsing_context().dag_id

for _channel in CHANNELS.values():
    for _account in load_accounts(_channel.name):
        if _wanted is None or _wanted == dagkit.dag_id(_account):
            dagkit.channel_dag(_channel, _account)
