"""Plug a channel whose client is not registered yet into the registry, so its sandbox fake can be
tested on its own: here (``registry.CHANNELS``) and in sandbox child processes (a tiny plug-in
package in a temporary folder, named in ``ORDERBRIDGE_CHANNEL_PLUGINS``, whose ``channel`` module
names the channel and whose ``sandbox`` module re-exports the fake's ``FAKE``)."""

from __future__ import annotations

import os
import textwrap
from collections.abc import Generator
from contextlib import contextmanager

import pytest

from orderbridge.channels import registry
from orderbridge.channels.base import Channel


@contextmanager
def plugged_channel(name: str, fake_module: str, tmp_path_factory) -> Generator[None, None, None]:
    """Make ``name`` a channel while the block runs, unless it is a built-in one already.

    Args:
        name: the channel's name (the fake's first path segment).
        fake_module: the module exposing the fake's ``FAKE`` (``orderbridge_sandbox.<name>``).
        tmp_path_factory: pytest's, for the plug-in package's folder.
    """
    with pytest.MonkeyPatch.context() as mp:
        if name not in {c.name for c in registry.BUILT_IN}:
            folder = tmp_path_factory.mktemp(f"{name}plug")
            package = folder / f"{name}_fake_plug"
            package.mkdir()
            (package / "__init__.py").write_text("")
            (package / "channel.py").write_text(textwrap.dedent(f"""\
                from orderbridge.channels.base import Channel


                class Plugged(Channel):
                    name = {name!r}


                CHANNEL = Plugged()
                """))
            (package / "sandbox.py").write_text(f"from {fake_module} import FAKE  # noqa: F401\n")
            mp.setenv(registry.PLUGINS_ENV, package.name)
            mp.setenv("PYTHONPATH", os.pathsep.join(p for p in (str(folder), os.environ.get("PYTHONPATH")) if p))
            mp.setitem(registry.CHANNELS, name, type("Plugged", (Channel,), {"name": name})())
        yield
