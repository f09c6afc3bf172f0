"""The one list of channels. DAGs, the sandbox, chaos, demo, bench and scripts all read it.

Adding a channel: its package under ``channels/``, its sandbox, its tests, its accounts in
``config/accounts.yaml``, and one line here. Importing this module is cheap (DAG-parse time): each
channel's definition imports its client and mapper only when a task runs.
"""

from __future__ import annotations

from orderbridge.channels.base import Channel
from orderbridge.channels.groupon.channel import GrouponChannel
from orderbridge.channels.merkana.channel import MerkanaChannel
from orderbridge.channels.plentymarkets.channel import PlentymarketsChannel

CHANNELS: dict[str, Channel] = {c.name: c for c in (GrouponChannel(), PlentymarketsChannel(), MerkanaChannel())}


def get(name: str) -> Channel:
    """The channel called ``name``.

    Raises:
        KeyError: no such channel, naming the ones there are.
    """
    try:
        return CHANNELS[name]
    except KeyError:
        raise KeyError(f"no channel {name!r}; the registry has {', '.join(CHANNELS)}") from None
