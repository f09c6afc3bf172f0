"""The operations digest DAG: the attention summary once an hour, after loads (``dagkit.digest_dag``).

(Airflow's DAG-file heuristic reads a file only if it mentions both "airflow" and "dag".)
"""

from __future__ import annotations

from orderbridge import dagkit

dagkit.digest_dag()
