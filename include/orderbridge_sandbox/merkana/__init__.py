"""A fake Merkana platform: receives our status and stock posts, and replays its own calls on us.

Merkana is the platform and we are its fulfilment centre, so this fake plays both of Merkana's
roles (seed 004):

- the API we post to: ``POST /merkana/v1/ff-orders-status`` and ``/merkana/v1/ff-supplies``,
  checking ``api-token`` (401 with the seed's ``{"status": false, "message"}`` otherwise),
  recording every update, and applying supply ``br`` values to its per-merchant stock view
  (as deltas, or as levels with ``--merkana-stock-mode absolute``). Faults (``/_sandbox/faults``,
  channel ``merkana``) make it fail like any channel;
- the caller: ``POST /_sandbox/merkana/<platform>/replay`` sends the collection's four calls to
  our endpoints -- product sync, initial stock, generated orders (Bulgarian in Cyrillic and
  Romanian, mostly cash on delivery, some SKUs the merchant never synced, some sent twice as the
  platform's retries do) and cancels -- and returns what we answered.

Field names are the seed's defaults. ``GET /_sandbox/merkana/<platform>/state`` shows it all.
The demo drives it through ``demo_run`` and reports with ``summary_rows``.

Modules, by role: ``state`` (catalogue, generated orders, what each platform sent and received),
``routes`` (the API we post to), ``control`` (``/_sandbox/merkana`` and the replay) and ``demo``
(connection, warehouse seed, our endpoints in a child process, summary).
"""

from __future__ import annotations

from orderbridge_sandbox.merkana.control import control_router, replay
from orderbridge_sandbox.merkana.demo import demo_connection, demo_run, seed_warehouse, start_inbound, summary_rows
from orderbridge_sandbox.merkana.routes import api_router
from orderbridge_sandbox.merkana.state import (
    CHANNEL,
    UNKNOWN_SKU_TEMPLATE,
    UNSYNCED,
    MerkanaOrderFactory,
    MerkanaSandbox,
    PlatformSpec,
    catalogue,
)

__all__ = ["CHANNEL", "UNKNOWN_SKU_TEMPLATE", "UNSYNCED", "MerkanaOrderFactory", "MerkanaSandbox", "PlatformSpec",
           "api_router", "catalogue", "control_router", "demo_connection", "demo_run", "replay", "seed_warehouse",
           "start_inbound", "summary_rows"]
