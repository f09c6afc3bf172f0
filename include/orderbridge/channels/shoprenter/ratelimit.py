"""Shoprenter's 3 requests a second per shop, held across every task of that shop at once.

Shoprenter allows 3 requests per application, shop and second and answers 429 past it (A2 [C]).
Each task has its own client, and a shop's DAG runs several tasks in parallel (orders, catalogue,
stock), on several workers: a limiter inside one client cannot see the others.

Why a row in PostgreSQL and not a pool slot per shop: a pool of one slot caps *concurrent tasks*,
not requests per second; it would serialise the shop's tasks (an hour-long first catalogue sync
would hold its orders back) and still not space the requests of the one task running. An
advisory lock would have to be held across the sleep. A row per shop with the moment its next
request may start is one statement per request, in autocommit, on every worker alike: it books
the next slot (``greatest(next_at, now) + interval``) and the caller sleeps until its slot.
The row lock lasts only that statement, so no task ever waits on another's sleep. Times are the
database's (``clock_timestamp()``), so workers with skewed clocks share one timeline.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import closing
from typing import Any

# Added to every spacing: starts arrive at the shop with some jitter, and a request that reaches a
# second 20 ms too early must not make four in it.
MARGIN = 0.02

BOOK = """
INSERT INTO staging.rate_slots AS r (key, next_at)
VALUES (%(key)s, clock_timestamp() + make_interval(secs => %(cost)s))
ON CONFLICT (key) DO UPDATE SET next_at = greatest(r.next_at, clock_timestamp()) + make_interval(secs => %(cost)s)
RETURNING extract(epoch FROM (r.next_at - make_interval(secs => %(cost)s) - clock_timestamp()))
"""


class SharedRateLimiter:
    """At most ``rate`` request starts a second for ``key``, across every process sharing staging.

    Args:
        connect: opens a psycopg2 connection to staging (kept open by the limiter, autocommit).
        key: what is limited, e.g. ``shoprenter/<shop>``.
        rate: requests per second.
        sleep: how to wait (the client's logged wait).
    """

    def __init__(self, connect: Callable[[], Any], key: str, rate: float, sleep: Callable[[float], None] = time.sleep):
        self.connect, self.key, self.sleep = connect, key, sleep
        self.interval = 1.0 / rate + MARGIN
        self._conn = None
        self.waited = 0.0

    def wait(self, cost: int = 1) -> None:
        """Book ``cost`` consecutive slots and sleep until the first starts."""
        if self._conn is None or self._conn.closed:
            self._conn = self.connect()
            self._conn.autocommit = True
        with self._conn.cursor() as cur:
            cur.execute(BOOK, {"key": self.key, "cost": self.interval * cost})
            delay = float(cur.fetchone()[0])
        if delay > 0:
            self.waited += delay
            self.sleep(delay)

    def close(self) -> None:
        if self._conn is not None:
            with closing(self._conn):
                pass
            self._conn = None
