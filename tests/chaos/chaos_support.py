"""Shared by the chaos tests: the profile (short in ``make test``, full in ``make chaos``), a sandbox
per channel adapter, and the results file the full run writes.

``ORDERBRIDGE_CHAOS=full`` selects the full profile; ``ORDERBRIDGE_CHAOS_RESULTS=<path>`` makes
the fault-run test write its table there (``scripts/chaos.py`` sets both).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from orderbridge.channels.registry import CHANNELS
from orderbridge_chaos import adapter_for
from orderbridge_chaos.shoprenter import ShoprenterAdapter
from orderbridge_sandbox.process import start_sandbox

FULL = os.environ.get("ORDERBRIDGE_CHAOS") == "full"
RESULTS = os.environ.get("ORDERBRIDGE_CHAOS_RESULTS")
FAULT_CHANNELS = tuple(CHANNELS)  # every registered channel gets a fault run


@dataclass(frozen=True)
class Profile:
    orders: int
    runs: int
    clean_runs: int
    intensity: float


PROFILE = Profile(orders=120, runs=4, clean_runs=2, intensity=1.0) if FULL else \
    Profile(orders=30, runs=2, clean_runs=1, intensity=1.0)
ShoprenterAdapter.rate = 3 if FULL else 12  # the quick form's one shortcut: see ShoprenterAdapter.rate


@pytest.fixture(name="channel")
def channel_fixture(request, monkeypatch):
    """``(adapter, sandbox)`` for the parametrized channel, with its connection set in the environment."""
    adapter = adapter_for(request.param, orders=PROFILE.orders)
    with start_sandbox(adapter.sandbox_args()) as sandbox:
        for name, value in adapter.env(sandbox).items():
            monkeypatch.setenv(name, value)
        yield adapter, sandbox


def results_path() -> Path | None:
    return Path(RESULTS) if RESULTS else None


def append_json(path: Path, record: dict) -> None:
    with path.open("a", encoding="utf-8") as f:
        f.write(json.dumps(record) + "\n")
