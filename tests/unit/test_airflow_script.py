"""`make up`'s first check (scripts/airflow.sh check-port): a port another program holds stops it
with a clear message before anything starts."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys

from conftest import REPO


def check_port(port: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(REPO / "scripts" / "airflow.sh"), "check-port"], capture_output=True,
                          text=True, timeout=60, env={"PATH": "/usr/bin:/bin", "AIRFLOW_PORT": port,
                                                      "ORDERBRIDGE_PYTHON": sys.executable})


def test_a_port_in_use_stops_make_up_with_the_reason_and_a_way_out():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))  # loopback only: the API server's 0.0.0.0 still collides
        taken.listen()
        port = str(taken.getsockname()[1])
        done = check_port(port)
    assert done.returncode == 1, done
    assert f"port {port} is already in use by another program; nothing was started" in done.stderr
    assert "AIRFLOW_PORT=" in done.stderr


def test_a_free_port_passes():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = str(probe.getsockname()[1])
    done = check_port(port)
    assert done.returncode == 0, done.stderr


def test_a_port_that_is_no_number_is_named():
    done = check_port("80a")
    assert done.returncode == 2 and "AIRFLOW_PORT must be a port number from 1 to 65535, not '80a'" in done.stderr


def check_executor(executor: str, path: str = "/usr/bin:/bin") -> subprocess.CompletedProcess:
    return subprocess.run([shutil.which("bash"), str(REPO / "scripts" / "airflow.sh"), "check-executor"],
                          capture_output=True, text=True, timeout=60, env={"PATH": path, "EXECUTOR": executor,
                                                      "ORDERBRIDGE_PYTHON": sys.executable})


def test_an_unknown_executor_is_named_before_anything_starts():
    done = check_executor("kubernetes")
    assert done.returncode == 2 and "EXECUTOR must be local or celery, not 'kubernetes'" in done.stderr


def test_celery_without_a_redis_server_says_how_to_get_one(tmp_path):
    (tmp_path / "dirname").symlink_to(shutil.which("dirname"))
    done = check_executor("celery", path=str(tmp_path))  # a PATH with no redis-server on it
    assert done.returncode == 2, done
    assert "no redis-server on PATH" in done.stderr and "apt-get install redis-server" in done.stderr
