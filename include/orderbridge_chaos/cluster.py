"""Airflow as operators run it, on this machine: a real scheduler, API server and DAG processor on a
PostgreSQL metadata database, with the LocalExecutor or the CeleryExecutor (a real ``redis-server``
as broker and N ``airflow celery worker`` processes). The Celery chaos test and the accounts bench
(``bench/accounts.py``) drive it through Airflow's REST API, as an operator's tools would.

Every process gets its own process group, so a worker can be killed with everything under it
(SIGKILL: no goodbye to the broker or the API server), as a machine that dies would be.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Generator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import requests

from orderbridge_sandbox.process import free_port

REPO = Path(__file__).resolve().parents[2]
CELERY_PROVIDER = "airflow.providers.celery"


class ClusterError(RuntimeError):
    """A process of the cluster did not come up or died; the message carries the tail of its log."""


def redis_server() -> str | None:
    """The ``redis-server`` binary (the Debian package ``redis-server``), or None."""
    return shutil.which("redis-server")


def celery_missing() -> str | None:
    """Why the CeleryExecutor cannot run here, or None when it can."""
    if redis_server() is None:
        return "no redis-server binary on PATH (apt-get install redis-server)"
    try:
        __import__(CELERY_PROVIDER)
    except ImportError:
        return "apache-airflow-providers-celery is not installed (requirements.txt)"
    return None


@dataclass
class Cluster:
    home: Path
    url: str
    env: dict[str, str]
    executor: str
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)

    # -- the REST API (simple auth manager, every caller an admin: the cluster listens on loopback only)
    def api(self, method: str, path: str, body=None, **params):
        response = requests.request(method, f"{self.url}/api/v2/{path}", json=body, params=params or None,
                                    timeout=60)
        if response.status_code >= 400:
            raise ClusterError(f"{method} {path}: {response.status_code} {response.text[:500]}")
        return response.json() if response.content else None

    def every(self, path: str, key: str, **params) -> list[dict]:
        """Every item of a list endpoint, page by page (the API caps ``limit`` at 100 by default)."""
        out: list[dict] = []
        while True:
            page = self.api("GET", path, limit=100, offset=len(out), **params)
            out += page[key]
            if not page[key] or len(out) >= page["total_entries"]:
                return out

    def set_pool(self, name: str, slots: int) -> None:
        try:
            self.api("POST", "pools", {"name": name, "slots": slots})
        except ClusterError:
            self.api("PATCH", f"pools/{name}", {"name": name, "slots": slots})

    def wait_for_dags(self, dag_ids: set[str], timeout: float = 600) -> float:
        """Wait until the DAG processor has registered every one of ``dag_ids``; seconds it took."""
        began = time.monotonic()
        while True:
            seen = {d["dag_id"] for d in self.every("dags", "dags")}
            if dag_ids <= seen:
                return time.monotonic() - began
            self.alive()
            if time.monotonic() - began > timeout:
                raise ClusterError(f"DAGs not registered after {timeout}s: {sorted(dag_ids - seen)[:5]}"
                                   + self.tail("dag-processor"))
            time.sleep(1)

    def unpause(self, pattern: str = "%") -> None:
        """Unpause every DAG whose id matches ``pattern`` (SQL LIKE) in one call."""
        self.api("PATCH", f"dags?dag_id_pattern={pattern}", {"is_paused": False})

    def trigger(self, dag_id: str) -> str:
        return self.api("POST", f"dags/{dag_id}/dagRuns", {"logical_date": None})["dag_run_id"]

    def runs(self, dag_id: str) -> list[dict]:
        return self.api("GET", f"dags/{dag_id}/dagRuns", limit=100, order_by="run_after")["dag_runs"]

    def task_instances(self, state: str | None = None) -> list[dict]:
        return self.every("dags/~/dagRuns/~/taskInstances", "task_instances", **({"state": state} if state else {}))

    def wait_runs(self, dag_ids: set[str], count: int = 1, timeout: float = 600) -> dict[str, list[dict]]:
        """Wait until each DAG has ``count`` finished runs and none running; returns the runs."""
        deadline = time.monotonic() + timeout
        while True:
            runs = {d: self.runs(d) for d in dag_ids}
            if all(len([r for r in rs if r["state"] in ("success", "failed")]) >= count
                   and not [r for r in rs if r["state"] in ("queued", "running")] for rs in runs.values()):
                return runs
            self.alive()
            if time.monotonic() > deadline:
                late = {d: [r["state"] for r in rs] for d, rs in runs.items()}
                raise ClusterError(f"runs not finished after {timeout}s: {late}" + self.tail("scheduler"))
            time.sleep(1)

    # -- the processes ---------------------------------------------------------------------------
    def start(self, name: str, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
        log = open(self.home / f"{name}.log", "ab")  # noqa: SIM115 (open while the process runs)
        proc = subprocess.Popen([*args], env={**self.env, **(env or {})}, stdout=log, stderr=subprocess.STDOUT,
                                cwd=self.home, start_new_session=True)
        log.close()  # the child holds its own copy
        self.procs[name] = proc
        return proc

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        """Signal a process and everything under it, as a machine that dies would: its process group
        and every descendant (Airflow's supervisor puts each task process in a group of its own)."""
        import psutil

        proc = self.procs[name]
        proc.killed_on_purpose = True  # alive() must not take it for a crash
        try:
            tree = psutil.Process(proc.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            tree = []
        for target in [proc.pid, *(p.pid for p in tree)]:
            try:
                os.kill(target, sig)
            except ProcessLookupError:
                pass
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
        proc.wait(30)

    def owner(self, pid: int) -> str | None:
        """Which of our processes ``pid`` runs under (a task's process -> its worker), or None."""
        import psutil

        try:
            ancestors = {p.pid for p in psutil.Process(pid).parents()} | {pid}
        except psutil.NoSuchProcess:
            return None
        return next((name for name, p in self.procs.items() if p.pid in ancestors), None)

    def alive(self) -> None:
        for name, proc in self.procs.items():
            if proc.poll() is not None and not getattr(proc, "killed_on_purpose", False):
                raise ClusterError(f"{name} exited with {proc.returncode}" + self.tail(name))

    def tail(self, name: str, chars: int = 3000) -> str:
        path = self.home / f"{name}.log"
        return f"\n--- {name}.log ---\n" + (path.read_text(errors="replace")[-chars:] if path.exists() else "(none)")

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        for proc in self.procs.values():
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)


def airflow_env(home: Path, metadata_url: str, port: int, executor: str, extra: dict[str, str]) -> dict[str, str]:
    """The configuration every process of the cluster shares (Airflow reads it from the environment)."""
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("AIRFLOW__", "AIRFLOW_CONN_", "PYTEST"))}
    sqlalchemy_url = metadata_url.replace("postgresql://", "postgresql+psycopg2://", 1)
    env.update({
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": sqlalchemy_url,
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor" if executor == "celery" else "LocalExecutor",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
        "AIRFLOW__API_AUTH__JWT_SECRET": "orderbridge-cluster-" + "k" * 64,  # the same in every process
        "AIRFLOW__CORE__AUTH_MANAGER":
            "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
        # A worker killed mid-task stops heartbeating: its task is failed (and retried) after this, not 5 min.
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "20",
        # A task the dead worker had taken from the broker but not started is queued again after this.
        "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT": "60",
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
        "PYTHONPATH": os.pathsep.join(p for p in [str(REPO / "include"), os.environ.get("PYTHONPATH", "")] if p),
    })
    if executor == "celery":
        env["AIRFLOW__CELERY__RESULT_BACKEND"] = "db+" + metadata_url
    env.update(extra)
    return env


@contextmanager
def airflow_cluster(metadata_url: str, *, executor: str = "local", workers: int = 2, concurrency: int = 4,
                    parallelism: int = 32, env: dict[str, str] | None = None,
                    timeout: float = 180) -> Generator[Cluster]:
    """Start Airflow on ``metadata_url`` (an empty PostgreSQL database: migrated here) and yield it.

    Args:
        executor: ``local`` or ``celery`` (then a redis-server on a free port and ``workers``
            Celery workers of ``concurrency`` slots each, named ``worker1``...).
        env: what the tasks need besides Airflow's own settings: ``ORDERBRIDGE_ACCOUNTS``, the
            ``AIRFLOW_CONN_*`` of the staging database and of every account.
    """
    if executor not in ("local", "celery"):
        raise ValueError(f"executor must be 'local' or 'celery', not {executor!r}")
    if executor == "celery" and (why := celery_missing()):
        raise ClusterError(why)
    home = Path(tempfile.mkdtemp(prefix=f"orderbridge-{executor}-"))
    port = free_port()
    extra = {"AIRFLOW__CORE__PARALLELISM": str(parallelism), **(env or {})}
    if executor == "celery":
        extra["AIRFLOW__CELERY__BROKER_URL"] = f"redis://127.0.0.1:{(redis_port := free_port())}/0"
    cluster = Cluster(home, f"http://127.0.0.1:{port}", airflow_env(home, metadata_url, port, executor, extra),
                      executor)
    airflow = str(Path(sys.executable).with_name("airflow"))
    try:
        migrated = subprocess.run([airflow, "db", "migrate"], env=cluster.env, cwd=home, capture_output=True,
                                  text=True, timeout=300)
        if migrated.returncode:
            raise ClusterError(f"airflow db migrate failed: {migrated.stdout[-2000:]}{migrated.stderr[-2000:]}")
        if executor == "celery":
            cluster.start("redis", redis_server(), "--port", str(redis_port), "--bind", "127.0.0.1",
                          "--save", "", "--appendonly", "no", "--dir", str(home))
        cluster.start("api-server", airflow, "api-server", "--port", str(port), "--host", "127.0.0.1",
                      "--workers", "2")
        cluster.start("scheduler", airflow, "scheduler")
        cluster.start("dag-processor", airflow, "dag-processor")
        if executor == "celery":
            for n in range(1, workers + 1):
                # Each worker serves its own logs: two on one machine need two ports.
                cluster.start(f"worker{n}", airflow, "celery", "worker", "--celery-hostname", f"worker{n}@%h",
                              "--concurrency", str(concurrency),
                              env={"AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port())})
        deadline = time.monotonic() + timeout
        while True:
            cluster.alive()
            try:
                if requests.get(f"{cluster.url}/api/v2/monitor/health", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise ClusterError("the API server did not answer" + cluster.tail("api-server"))
            time.sleep(0.5)
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(home, ignore_errors=True)
