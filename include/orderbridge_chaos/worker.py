"""One job step in its own process, as an Airflow worker runs a task: ``python -m orderbridge_chaos.worker``.

    python -m orderbridge_chaos.worker CHANNEL TASK_ID RUN_ID [RUN_TYPE]

Connections come from the environment (``AIRFLOW_CONN_*``) like in a task. With
``ORDERBRIDGE_CRASH_AT=<point>`` the process SIGKILLs itself at that step boundary
(``orderbridge.steps.crash_point``), so a test can kill a worker exactly where it hurts and then
run the task again as Airflow's retry would. ``run_step`` is the parent's side.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from orderbridge.steps import CRASH_ENV
from orderbridge_chaos.adapter import adapter_for


def run_step(channel: str, task_id: str, run_id: str, env: dict[str, str], crash_at: str | None = None,
             run_type: str = "manual", timeout: float = 120) -> subprocess.CompletedProcess:
    """Run one step in a child process; returns it (``returncode == -9`` when it was killed)."""
    child_env = {**os.environ, **env}
    child_env.pop(CRASH_ENV, None)
    if crash_at:
        child_env[CRASH_ENV] = crash_at
    return subprocess.run([sys.executable, "-m", "orderbridge_chaos.worker", channel, task_id, run_id, run_type],
                          env=child_env, capture_output=True, text=True, timeout=timeout)


def main(argv: list[str]) -> None:
    channel, task_id, run_id, *rest = argv
    step = adapter_for(channel).steps()[task_id]
    counts = step(run_id, rest[0]) if task_id == "extract_orders" and rest else step(run_id)
    print(json.dumps(counts, default=str))


if __name__ == "__main__":
    main(sys.argv[1:])
