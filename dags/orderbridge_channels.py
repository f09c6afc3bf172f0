"""One Airflow DAG per configured channel account, for every channel in the registry.

Each DAG is built from its channel's contract (``orderbridge.channels``) by ``dagkit.channel_dag``:
its documentation, tasks, tags, pool and retry policy. Adding a channel adds no DAG file.
"""

from __future__ import annotations

from orderbridge import dagkit
from orderbridge.channels.registry import CHANNELS
from orderbridge.config import load_accounts

for _channel in CHANNELS.values():
    for _account in load_accounts(_channel.name):
        dagkit.channel_dag(_channel, _account)
