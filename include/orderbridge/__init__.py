"""orderbridge: Airflow 3 pipelines between a fulfilment warehouse and its merchants' marketplaces.

The package holds all the logic; the files in ``dags/`` only wire it into Airflow. Roles:

- ``http``: the one HTTP client base every channel client builds on (timeouts, rate, retries);
- ``errors``: what can go wrong, sorted by what the task runner should do about it;
- ``staging``: raw landing, SKU resolution and the set-based load into ``staging``;
- ``outbox``: every write-back to a channel, exactly once, with its history;
- ``stock``: stock reconciliation shared by every channel;
- ``channels``: the contract (``base``), one package per channel, and the ``registry`` of them;
- ``steps``: the generic steps every DAG task runs; ``dagkit``: the DAG factory and retry policy.

The local fakes of the marketplace APIs (``orderbridge_sandbox``) and the fault-injection suite
(``orderbridge_chaos``) are packages of their own: they import from this one, never the reverse.
"""
