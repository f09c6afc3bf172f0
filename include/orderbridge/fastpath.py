"""Speed tricks that touch the whole Python process, in one place, off unless a task turns them on.

Three things made the 100,000-order load 2-3x faster (measured in ``make bench``): pausing the
cyclic garbage collector around bulk work, faster thread switching while a COPY thread runs, and a
JSON encoder built once from CPython's private ``json.encoder.c_make_encoder``. Each changes
state the whole process shares, so they must never run inside the Airflow API server, where
Merkana's endpoints serve many requests at once: there the staging code runs plainly.

``enable()`` turns them on for the current process; the DAG factory calls it in the task process
(``dagkit.channel_dag``), the benchmark in its workers. Everything else gets the plain behaviour:
the same results, only slower.
"""

from __future__ import annotations

import gc
import json
import sys
import threading
from collections.abc import Callable, Generator
from contextlib import contextmanager
from typing import Any

_enabled = False


def enable() -> None:
    """Use the speed tricks in this process from now on (a task or benchmark process only)."""
    global _enabled
    _enabled = True


def enabled() -> bool:
    return _enabled


@contextmanager
def paused_gc() -> Generator[None, None, None]:
    """Pause Python's cyclic garbage collector for one batch of bulk work (usable as a decorator).

    Decoding payloads and building rows allocates millions of small containers, and every few
    hundred allocations the collector walks all tracked objects looking for cycles there are none
    of (measured: a fifth of the staging load's CPU). Reference counting still frees everything;
    the collector resumes at the end of the batch, so a cycle made meanwhile waits one batch.
    Nested and concurrent uses are safe: only the outermost one that paused it resumes it. A no-op
    unless ``enable()`` was called.
    """
    paused = _enabled and gc.isenabled()
    if paused:
        gc.disable()
    try:
        yield
    finally:
        if paused:
            gc.enable()


# While a COPY pipeline runs, Python threads switch every 0.5 ms instead of every 5 ms: the COPY
# thread needs the GIL for a moment at each step (to hand over the text, to return from a
# statement), and with the default interval it waits up to 5 ms each time while the caller
# computes, PostgreSQL idling meanwhile (measured: the 100,000-order load took about 20% longer).
# Counted for concurrent pipelines, and restored when the last one ends.
_FAST_SWITCH = 0.0005
_switching = threading.Lock()
_switch_users = 0
_switch_saved = 0.005


@contextmanager
def fast_thread_switching() -> Generator[None, None, None]:
    """Fast thread switching while the block runs; a no-op unless enabled when it starts."""
    global _switch_users, _switch_saved
    if not _enabled:
        yield
        return
    with _switching:
        if _switch_users == 0:
            _switch_saved = sys.getswitchinterval()
            sys.setswitchinterval(min(_switch_saved, _FAST_SWITCH))
        _switch_users += 1
    try:
        yield
    finally:
        with _switching:
            _switch_users -= 1
            if _switch_users == 0:
                sys.setswitchinterval(_switch_saved)


def json_encoder(*, ensure_ascii: bool = True, separators: tuple[str, str] = (", ", ": "), sort_keys: bool = False,
                 default: Callable[[Any], Any] | None = None) -> Callable[[Any], str]:
    """A reusable ``json.dumps`` with fixed options: the same text whether enabled or not.

    ``json.dumps`` with any non-default option builds a new encoder on every call, which costs more
    than encoding a small dict. Enabled, the C encoder is built once, from CPython's private
    ``c_make_encoder`` (values must not be self-referencing: nothing checks for cycles); otherwise
    the public ``JSONEncoder`` encodes.
    """
    plain = json.JSONEncoder(ensure_ascii=ensure_ascii, separators=separators, sort_keys=sort_keys,
                             default=default).encode
    try:
        from json.encoder import c_make_encoder, encode_basestring, encode_basestring_ascii
    except ImportError:  # pragma: no cover - a Python without the C accelerator
        return plain
    if c_make_encoder is None:  # pragma: no cover
        return plain
    item_separator, key_separator = separators
    encode = c_make_encoder(None, default or json.JSONEncoder().default,
                            encode_basestring_ascii if ensure_ascii else encode_basestring, None,
                            key_separator, item_separator, sort_keys, False, True)

    def dumps(value: Any) -> str:
        return "".join(encode(value, 0)) if _enabled else plain(value)

    return dumps
