"""Start and stop the sandbox as a child process, for tests and scripts.

``start_sandbox`` runs ``python -m orderbridge_sandbox`` in its own process group on a free port
(unless given one), waits until ``/_sandbox/health`` answers and hands back a ``SandboxProcess``.
If the child dies or never answers, the error carries the tail of its log, which is what one needs
to see. The child lives in its own session, so it outlives its parent unless stopped (the demo
relies on that to reuse one sandbox across runs); ``stop_at_exit=True`` stops it at interpreter exit.
"""

from __future__ import annotations

import atexit
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

_INCLUDE_DIR = Path(__file__).resolve().parents[1]  # .../include: the child imports orderbridge_sandbox and orderbridge
_STOP_AT_EXIT: set[SandboxProcess] = set()  # strong refs: a dropped handle must still be stopped


class SandboxStartError(RuntimeError):
    """The sandbox did not come up; the message ends with the tail of its log."""


def free_port(host: str = "127.0.0.1") -> int:
    """A port nobody listens on right now (another process may still take it before we do)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except OSError as err:
        return f"(log unreadable: {err})"


class SandboxProcess:
    """A running sandbox child; also a context manager that stops it on exit."""

    def __init__(self, popen: subprocess.Popen, host: str, port: int, log_path: Path, own_log: bool) -> None:
        self.popen, self.host, self.port, self.log_path, self._own_log = popen, host, port, log_path, own_log
        self.url = f"http://{host}:{port}"

    @property
    def pid(self) -> int:
        return self.popen.pid

    def log_tail(self, lines: int = 30) -> str:
        """The last ``lines`` lines of the child's output."""
        return _tail(self.log_path, lines)

    def stop(self, timeout: float = 5.0) -> None:
        """Terminate the child's process group (SIGTERM, then SIGKILL after ``timeout``); idempotent."""
        if self.popen.poll() is None:
            self._signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self._signal(signal.SIGKILL)
                self.popen.wait(timeout)
        _STOP_AT_EXIT.discard(self)
        if self._own_log:
            self.log_path.unlink(missing_ok=True)

    def _signal(self, sig: int) -> None:
        try:
            os.killpg(self.popen.pid, sig)  # the child leads its own group (start_new_session)
        except ProcessLookupError:
            pass  # already gone

    def __enter__(self) -> SandboxProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _healthy(url: str, pid: int) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_sandbox/health", timeout=1) as response:
            body = json.loads(response.read())
    except (urllib.error.URLError, OSError, ValueError):
        return False
    # Another server already on the port would answer too; only our own child counts.
    return body.get("ok") is True and body.get("pid") == pid


def _start_once(args: list[str], host: str, port: int, log_path: Path, own_log: bool,
                timeout: float) -> SandboxProcess:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(_INCLUDE_DIR), env.get("PYTHONPATH")) if p)
    with open(log_path, "ab") as log:
        popen = subprocess.Popen([sys.executable, "-m", "orderbridge_sandbox", "--host", host, "--port", str(port),
                                  *args], stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                 env=env, start_new_session=True)
    proc = SandboxProcess(popen, host, port, log_path, own_log)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if popen.poll() is not None:
            raise SandboxStartError(f"sandbox exited with code {popen.returncode} before it was ready; "
                                    f"log {log_path}:\n{_tail(log_path)}")
        if _healthy(proc.url, popen.pid):
            return proc
        time.sleep(0.1)
    tail = _tail(log_path)
    proc.stop()
    raise SandboxStartError(f"sandbox not healthy after {timeout:.0f} s; log tail:\n{tail}")


def start_sandbox(args: list[str], port: int | None = None, log_path: str | Path | None = None,
                  host: str = "127.0.0.1", timeout: float = 20.0, stop_at_exit: bool = False) -> SandboxProcess:
    """Start ``python -m orderbridge_sandbox`` with ``args`` and wait until it answers.

    Args:
        args: CLI arguments other than ``--host``/``--port`` (e.g. ``["--groupon", "1:tok:40"]``).
        port: the port to listen on; None picks a free one (and retries if that one gets taken).
        log_path: where the child's output goes; None means a temporary file removed on ``stop()``.
        host: interface to listen on.
        timeout: seconds to wait for ``/_sandbox/health``.
        stop_at_exit: also stop the child when this interpreter exits (otherwise it keeps running
            until ``stop()``, e.g. for a demo that reuses it later).

    Returns:
        The running sandbox, with ``url``, ``port``, ``pid`` and ``stop()``.

    Raises:
        ValueError: ``args`` already hold ``--host`` or ``--port``.
        SandboxStartError: the child exited early or never became healthy.
    """
    if any(a.split("=")[0] in ("--host", "--port") for a in args):
        raise ValueError("pass host and port as start_sandbox arguments, not in args")
    attempts = 3 if port is None else 1
    for attempt in range(attempts):
        own_log = log_path is None
        if own_log:
            fd, name = tempfile.mkstemp(prefix="orderbridge-sandbox-", suffix=".log")
            os.close(fd)
            path = Path(name)
        else:
            path = Path(log_path)
        try:
            proc = _start_once(list(args), host, port or free_port(host), path, own_log, timeout)
            if stop_at_exit:
                _STOP_AT_EXIT.add(proc)
            return proc
        except SandboxStartError as err:
            # Only a lost race for the picked port is worth another try; anything else is real.
            if attempt + 1 == attempts or "address already in use" not in str(err).lower():
                raise
            if own_log:
                path.unlink(missing_ok=True)
    raise AssertionError("unreachable")


@atexit.register
def _stop_leftovers() -> None:
    for proc in list(_STOP_AT_EXIT):
        proc.stop()
