"""Merkana fulfilment API (seed 004): orderbridge is the fulfilment centre (FF).

The platform pushes to us -- product sync, an initial-stock request, order create and order
cancel -- and we post back order status updates and stock changes. Modules:

- ``fields``: the JSON field names of each platform (the seed lets a platform rename any of them);
- ``settings``: a platform's configuration, read from its Airflow connection;
- ``mapping``: request shapes (validation) and the pure mapper to ``StagedOrder``;
- ``store``: what each inbound call does to staging, one transaction each;
- ``inbound``: the FastAPI app Airflow's API server mounts (``plugins/merkana.py``);
- ``client``: the outbound client, status/stock enqueueing and the outbox handlers.

Accounts: a *platform* is the configured account (one connection, one DAG, one pool); in staging
each merchant of a platform is its own account, ``<platform>/<mid>`` (see ``settings.account_name``).
"""

CHANNEL = "merkana"
