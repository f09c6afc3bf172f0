"""Faults, crashes and bad input: the checks behind orderbridge's promise.

No order lost, none duplicated, no acknowledgement before the order is committed in staging, no
tracking number or stock value applied twice, every failure visible with its reason. This package
holds what the chaos suite needs to say so with figures, for every channel:

- ``adapter``: ``ChannelAdapter``, what the harness needs to know about a channel (its sandbox,
  connection, DAG, job steps, faults, what of ours must serve it during a run, and how to read
  what the channel received). A new channel is one small module here, named like the channel, with its ``Adapter``;
  ``groupon``, ``plentymarkets`` and ``merkana`` are the three.
- ``invariants``: the checks, from the sandbox's own records and from staging (``check``).
- ``run``: fault-injection runs of the real DAGs (``dag.test()``), the results table.
- ``worker``: ``python -m orderbridge_chaos.worker``, a job step in a child process, for SIGKILL
  tests (``ORDERBRIDGE_CRASH_AT``, see ``orderbridge.steps.crash_point``).

``make chaos`` runs the full form (``tests/chaos`` with ``ORDERBRIDGE_CHAOS=full``) and writes
``chaos/results.md``; ``make test`` runs the same tests in a shorter form.
"""

from __future__ import annotations

from orderbridge_chaos.adapter import ChannelAdapter, Observed, adapter_for

__all__ = ["ChannelAdapter", "Observed", "adapter_for"]
