"""How a channel's fake plugs into the sandbox: ``Fake``, and ``fake_for`` that finds it.

The convention: every registered channel ``<name>`` has its fake in the package (or module)
``orderbridge_sandbox.<name>``, which exposes ``FAKE``, a ``Fake``. The app and the command line
(``app.create_app``, ``__main__``) walk the channel registry and ask each channel's ``FAKE`` for
its command-line options and its routes; neither names a channel. A registered channel without a
fake is an error naming it.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from fastapi import FastAPI


class FakeNotFound(LookupError):
    """A registered channel has no fake (no ``orderbridge_sandbox.<name>``, or no ``FAKE`` in it)."""


def _no_check(options: argparse.Namespace) -> str | None:
    return None


def _no_summary(options: argparse.Namespace) -> str | None:
    return None


@dataclass(frozen=True)
class Fake:
    """One channel's fake, as the sandbox app and its command line see it.

    Attributes:
        channel: the channel's registry name, also the first path segment of its routes, the
            ``channel`` of its fault rules and the ``app.state`` attribute holding its state.
        add_arguments: adds the fake's command-line options to a parser (``--<channel>...``).
        build: ``build(app, options, seed, anchor, days)``: makes the fake's state from the parsed
            ``options`` (``anchor``: aware datetime the generated orders end at, spread over
            ``days``; ``seed`` drives them), includes its control and API routers on ``app`` and
            returns the state (the app keeps it as ``app.state.<channel>``).
        content_type: what its answers are sent as, if not ``application/json``; fault answers
            (429, malformed) use it, so they look like the channel's own.
        rate_limit_body: the JSON body of its 429, if not the fault middleware's default.
        keywords: ``create_app`` keywords that are not an option's ``dest``, kept for callers of
            the time before plug-ins: keyword -> (option dest, conversion of the value).
        check: the options' cross-checks for the command line: an error message, or None.
        summary: what the start-up line says about the served accounts, or None for nothing.
    """

    channel: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    build: Callable[[FastAPI, argparse.Namespace, int, datetime, float], Any]
    content_type: str | None = None
    rate_limit_body: dict | None = None
    keywords: Mapping[str, tuple[str, Callable[[Any], Any]]] = field(default_factory=dict)
    check: Callable[[argparse.Namespace], str | None] = _no_check
    summary: Callable[[argparse.Namespace], str | None] = _no_summary


def fake_for(channel: str) -> Fake:
    """The ``FAKE`` of ``orderbridge_sandbox.<channel>`` (of ``<package>.sandbox`` for a plug-in channel).

    Raises:
        FakeNotFound: no such module, or it has no ``Fake`` called ``FAKE``; the message names the
            channel. An error inside the fake's own imports is raised as it is.
    """
    from orderbridge.channels.registry import part_module

    module_name = part_module(channel, "sandbox")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        if err.name != module_name:
            raise
        raise FakeNotFound(f"channel {channel!r} is registered but has no sandbox fake: add the package "
                           f"{module_name} exposing FAKE (an orderbridge_sandbox.plugin.Fake)") from None
    fake = getattr(module, "FAKE", None)
    if not isinstance(fake, Fake):
        raise FakeNotFound(f"channel {channel!r}: {module_name} has no FAKE (an orderbridge_sandbox.plugin.Fake)")
    if fake.channel != channel:
        raise FakeNotFound(f"channel {channel!r}: {module_name}.FAKE is the fake of {fake.channel!r}")
    return fake


def spec_type(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    """An argparse ``type`` from a spec's ``parse``: its ValueError becomes a usage error."""
    def convert(text: str):
        try:
            return parse(text)
        except ValueError as err:
            raise argparse.ArgumentTypeError(str(err)) from err

    return convert


__all__ = ["Fake", "FakeNotFound", "fake_for", "spec_type"]
