"""A fake Merkana platform: receives our status and stock posts, and replays its own calls on us.

Merkana is the platform and we are its fulfilment centre, so this fake plays both of Merkana's
roles (seed 004):

- the API we post to: ``POST /merkana/v1/ff-orders-status`` and ``/merkana/v1/ff-supplies``,
  checking ``api-token`` (401 with the seed's ``{"status": false, "message"}`` otherwise),
  recording every update, and applying supply ``br`` values to its per-merchant stock view
  (as levels, the reading orderbridge assumes, or as changes with ``--merkana-stock-mode delta``).
  Faults (``/_sandbox/faults``, channel ``merkana``) make it fail like any channel;
- the caller: ``POST /_sandbox/merkana/<platform>/replay`` sends the collection's four calls to
  our endpoints -- product sync, initial stock, generated orders (Bulgarian in Cyrillic and
  Romanian, mostly cash on delivery, some SKUs the merchant never synced, some sent twice as the
  platform's retries do) and cancels -- and returns what we answered.

Field names are the seed's defaults. ``GET /_sandbox/merkana/<platform>/state`` shows it all.
The demo drives it through ``demo_run`` and reports with ``summary_rows``.

Modules, by role: ``state`` (catalogue, generated orders, what each platform sent and received),
``routes`` (the API we post to), ``control`` (``/_sandbox/merkana`` and the replay) and ``demo``
(connection, warehouse seed, our endpoints in a child process, summary). ``FAKE`` plugs it into the
sandbox app and its command line (``orderbridge_sandbox.plugin``).
"""

from __future__ import annotations

import argparse
from datetime import datetime

from fastapi import FastAPI

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
from orderbridge_sandbox.plugin import Fake, spec_type


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--merkana", action="append", type=spec_type(PlatformSpec.parse), default=[],
                        metavar="PLATFORM:OUR_TOKEN:THEIR_TOKEN",
                        help="a fake Merkana platform: it sends OUR_TOKEN when it calls our endpoints and requires "
                             "THEIR_TOKEN on our ff-orders-status / ff-supplies posts (repeatable)")
    parser.add_argument("--merkana-stock-mode", choices=("delta", "absolute"), default="absolute",
                        help="how the fake applies ff-supplies br: added to its stock (delta) or as the level")


def build(app: FastAPI, options: argparse.Namespace, seed: int, anchor: datetime, days: float) -> MerkanaSandbox:
    """The platforms of ``--merkana`` and their routes on ``app`` (its orders are made at replay)."""
    sandbox = MerkanaSandbox(seed, options.merkana_stock_mode)
    for spec in options.merkana:
        sandbox.add_platform(spec)
    app.include_router(control_router(sandbox))
    app.include_router(api_router(sandbox))
    return sandbox


# Its 429 body is the seed's error shape; ``keywords``: create_app's older names.
FAKE = Fake(CHANNEL, add_arguments, build, rate_limit_body={"status": False, "message": "Too many requests"},
            keywords={"merkana_platforms": ("merkana", list)})

__all__ = ["CHANNEL", "FAKE", "UNKNOWN_SKU_TEMPLATE", "UNSYNCED", "MerkanaOrderFactory", "MerkanaSandbox",
           "PlatformSpec", "api_router", "build", "catalogue", "control_router", "demo_connection", "demo_run",
           "replay", "seed_warehouse", "start_inbound", "summary_rows"]
