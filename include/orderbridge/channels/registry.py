"""The one list of channels. DAGs, the sandbox, chaos, demo, bench and scripts all read it.

Adding a channel: its package under ``channels/``, its sandbox, its tests, its accounts in
``config/accounts.yaml``, and one line here. Importing this module is cheap (DAG-parse time): each
channel's definition imports its client and mapper only when a task runs.

A channel kept outside this repository (a merchant's own marketplace) is a **plug-in**: a package
named in ``ORDERBRIDGE_CHANNEL_PLUGINS`` (comma-separated, importable from the DAG processor, the
workers and the sandbox) whose ``channel`` module exposes ``CHANNEL``, and, for the sandbox and the
chaos harness, whose ``sandbox`` module exposes ``FAKE`` and ``chaos`` module ``Adapter``. The
built-in channels keep theirs in ``orderbridge_sandbox.<name>`` and ``orderbridge_chaos.<name>``
(``part_module`` says where to look).
"""

from __future__ import annotations

import importlib
import os

from orderbridge.channels.base import Channel
from orderbridge.channels.groupon.channel import GrouponChannel
from orderbridge.channels.merkana.channel import MerkanaChannel
from orderbridge.channels.octopia.channel import OctopiaChannel
from orderbridge.channels.plentymarkets.channel import PlentymarketsChannel
from orderbridge.channels.shoprenter.channel import ShoprenterChannel

PLUGINS_ENV = "ORDERBRIDGE_CHANNEL_PLUGINS"
BUILT_IN: tuple[Channel, ...] = (GrouponChannel(), PlentymarketsChannel(), MerkanaChannel(), OctopiaChannel(),
                                  ShoprenterChannel())
# where a built-in channel's sandbox fake and chaos adapter live (outside the product package)
_BUILT_IN_PARTS = {"sandbox": "orderbridge_sandbox", "chaos": "orderbridge_chaos"}


class PluginError(ImportError):
    """A package named in ``ORDERBRIDGE_CHANNEL_PLUGINS`` is not a channel plug-in (message says why)."""


def load_plugin(package: str) -> Channel:
    """The ``CHANNEL`` of plug-in ``package`` (its ``channel`` module).

    Raises:
        PluginError: the package or its ``channel`` module is missing, has no ``Channel`` called
            ``CHANNEL``, or its name is taken by a built-in channel.
    """
    try:
        module = importlib.import_module(f"{package}.channel")
    except ModuleNotFoundError as err:
        raise PluginError(f"{PLUGINS_ENV} names {package!r}, but {err.name!r} cannot be imported; is it on "
                          "PYTHONPATH of the scheduler, the workers and the sandbox?") from err
    channel = getattr(module, "CHANNEL", None)
    if not isinstance(channel, Channel):
        raise PluginError(f"{package}.channel has no CHANNEL (an orderbridge.channels.base.Channel instance)")
    if channel.name in {c.name for c in BUILT_IN}:
        raise PluginError(f"plug-in {package!r} calls its channel {channel.name!r}, a built-in channel's name")
    return channel


_PLUGGED = {package: load_plugin(package) for package in
            (p.strip() for p in os.environ.get(PLUGINS_ENV, "").split(",")) if package}
PLUGINS: dict[str, str] = {channel.name: package for package, channel in _PLUGGED.items()}  # name -> package
CHANNELS: dict[str, Channel] = {c.name: c for c in (*BUILT_IN, *_PLUGGED.values())}


def get(name: str) -> Channel:
    """The channel called ``name``.

    Raises:
        KeyError: no such channel, naming the ones there are.
    """
    try:
        return CHANNELS[name]
    except KeyError:
        raise KeyError(f"no channel {name!r}; the registry has {', '.join(CHANNELS)}") from None


def part_module(name: str, part: str) -> str:
    """The module holding channel ``name``'s ``part``: ``sandbox`` (its fake) or ``chaos`` (its adapter)."""
    if name in PLUGINS:
        return f"{PLUGINS[name]}.{part}"
    return f"{_BUILT_IN_PARTS[part]}.{name}"
