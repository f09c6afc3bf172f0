"""plentymarkets (seed 003): orders by status, the status machine, packages and stock.

``client`` is the wire, ``mapping`` the pure mapper of orders and the status each staging outcome
sends back, ``return_mapping`` the pure mapper of return orders (typeId 3), ``returns`` what they
do to staging, ``writeback``
one handler per outbox kind, ``settings`` the account's ids and statuses from its Airflow connection.
API facts: shoprenter-plenty-api.md part B and plenty's OpenAPI spec.
"""
