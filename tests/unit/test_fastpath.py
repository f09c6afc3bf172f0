"""The process-wide speed tricks: off unless a task turns them on, the same results either way."""

from __future__ import annotations

import gc
import json
import subprocess
import sys
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from orderbridge import fastpath

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(params=[False, True], ids=["plain", "enabled"])
def mode(request, monkeypatch):
    monkeypatch.setattr(fastpath, "_enabled", request.param)
    return request.param


def test_json_encoder_writes_what_json_dumps_writes(mode):
    value = [{"b": Decimal("1.20"), "a": [None, 1.5, "Zoë \"x\" \\"]}, datetime(2026, 1, 1, tzinfo=UTC), True]
    assert fastpath.json_encoder(sort_keys=True, default=str)(value) == json.dumps(value, sort_keys=True, default=str)
    plain = json.loads(json.dumps(value, default=str))
    assert fastpath.json_encoder(ensure_ascii=False, separators=(",", ":"))(plain) == json.dumps(
        plain, ensure_ascii=False, separators=(",", ":"))


def test_bulk_work_pauses_the_garbage_collector_only_when_enabled(mode):
    assert gc.isenabled()
    with fastpath.paused_gc():
        assert gc.isenabled() is not mode
        with fastpath.paused_gc():
            assert gc.isenabled() is not mode
        assert gc.isenabled() is not mode  # only the outermost resumes
    assert gc.isenabled()
    with pytest.raises(ValueError), fastpath.paused_gc():
        raise ValueError("a failing batch")
    assert gc.isenabled()


def test_thread_switching_is_fast_only_while_enabled_pipelines_run(mode):
    before = sys.getswitchinterval()
    with fastpath.fast_thread_switching():
        with fastpath.fast_thread_switching():
            assert (sys.getswitchinterval() < before) is mode
        assert (sys.getswitchinterval() < before) is mode  # one pipeline still runs
    assert sys.getswitchinterval() == before
    with pytest.raises(ValueError), fastpath.fast_thread_switching():
        raise ValueError("a failing pipeline")
    assert sys.getswitchinterval() == before


def test_nothing_but_a_task_process_turns_them_on():
    """Importing the product (DAGs, Merkana's API-server app) leaves the tricks off; only the DAG
    factory's task wrapper (and the benchmark's workers) call ``enable``."""
    code = ("import orderbridge.staging, orderbridge.dagkit, orderbridge.channels.registry, "
            "orderbridge.channels.merkana.inbound as inbound; inbound.create_app(); "
            "from orderbridge import fastpath; print(fastpath.enabled())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert out.stdout.strip() == "False"
    callers = [p.relative_to(REPO) for p in (REPO / "include").rglob("*.py")
               if "fastpath.enable()" in p.read_text(encoding="utf-8")]
    assert callers == [Path("include/orderbridge/dagkit.py")]
