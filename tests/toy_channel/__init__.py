"""A toy marketplace as a channel **plug-in**: the proof that a channel is one package behind the contract.

Nothing in ``include/`` names it. ``ORDERBRIDGE_CHANNEL_PLUGINS=toy_channel`` (with ``tests/`` on
``PYTHONPATH``) registers it; the registry then finds its three parts by the plug-in convention:

- ``channel``: ``CHANNEL``, the contract filled in (an HTTP client on ``orderbridge.http``, a
  mapper, one write-back kind ``ack``, report-only stock);
- ``sandbox``: ``FAKE``, its marketplace (bearer token, a paged queue of unacknowledged orders,
  ``POST .../ack``), served by ``python -m orderbridge_sandbox`` beside the real channels' fakes;
- ``chaos``: ``Adapter``, so the chaos harness can run its DAG under faults.
"""
