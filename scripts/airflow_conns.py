"""Write Airflow connections into Airflow's metadata database, as `make up` does for the sandbox.

There Admin > Connections lists them (password and sensitive extras masked, as Airflow masks them)
and an operator's edit takes effect at the next task run. An `AIRFLOW_CONN_<ID>` environment
variable of the same id still wins: Airflow looks in the environment before the metadata database.

Through `airflow connections import` (Airflow's own CLI, run with the caller's Airflow environment):
the file it reads holds secrets, so it is private to this process and removed at once.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile

DESCRIPTION = "orderbridge sandbox (written by make up)"


def write_connections(connections: dict[str, dict | str], env: dict[str, str], *, overwrite: bool) -> str:
    """Import ``connections`` (conn id -> ``{"conn_type", "host", ..., "extra": {...}}`` or a URI)
    into the metadata DB of the Airflow that ``env`` configures.

    Args:
        overwrite: replace connections of the same id (the sandbox they pointed at is gone); False
            keeps them as an operator left them and adds only the missing ones.

    Returns:
        Airflow's report, one line per connection ("Imported ..." or "... already exists").

    Raises:
        subprocess.CalledProcessError: Airflow refused the file or could not reach its database.
    """
    entries = {}
    for conn_id, conn in connections.items():
        if isinstance(conn, str):
            conn = {"uri": conn}
        entry = {"description": DESCRIPTION, **{k: v for k, v in conn.items() if k != "extra"}}
        if "extra" in conn:
            entry["extra_dejson"] = conn["extra"]
        entries[conn_id] = entry
    fd, path = tempfile.mkstemp(suffix=".json", prefix="orderbridge-conns-")  # mode 0600
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(entries, f)
        args = ["airflow", "connections", "import", path, *(["--overwrite"] if overwrite else [])]
        done = subprocess.run(args, env={**os.environ, **env}, capture_output=True, text=True, check=True)
    finally:
        os.unlink(path)
    return "\n".join(line for line in done.stdout.splitlines() if "connection" in line.lower())
