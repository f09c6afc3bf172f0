"""Merkana under chaos: the platform pushes orders to our endpoints, we post status and stock back.

The fault run serves our inbound app (``python -m orderbridge.channels.merkana.inbound``, see ``serving``)
on the test's staging database, and the fake platform replays its calls on it: product sync,
initial stock and orders first, then new orders (some delivered twice) and a cancel while each
run is under way. The sandbox's ``merkana`` routes fault our ``ff-orders-status`` and
``ff-supplies`` posts; the DAG's send tasks retry them through the outbox.

What the platform sent and what we answered come from the replay's own answers (the fake's state
keeps counts, not ids); what it received comes from its state. Every status update is a tracking
effect here (the shipped one carries the parcel, ``awb``): Merkana sets a status, so one received
again after a lost answer is a harmless resend (``idempotent_writebacks``). Stock goes as levels
(the connection's default ``stock_mode``, which the sandbox's default applies), so a stock post
received again after a lost answer changes nothing either: its faults lose answers too.
"""

from __future__ import annotations

from collections.abc import Generator
from contextlib import contextmanager

from orderbridge_chaos.adapter import ChannelAdapter, Observed

MID = 293  # the demo merchant: staging account <platform>/293
OUR_TOKEN, THEIR_TOKEN = "chaos-merkana-inbound-3e8b1d", "chaos-merkana-token-a94c27"


class MerkanaAdapter(ChannelAdapter):
    channel = "merkana"
    tracking_kinds = ("order_status",)  # merkana.writeback.ORDER_STATUS
    idempotent_writebacks = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.offered: set[str] = set()
        self.acknowledged: set[str] = set()
        self._sandbox = self._target = None

    @property
    def staging_account(self) -> str:
        from orderbridge.channels.merkana.settings import account_name

        return account_name(self.account.name, str(MID))

    def sandbox_args(self) -> list[str]:
        return ["--seed", str(self.seed), "--merkana", f"{self.account.name}:{OUR_TOKEN}:{THEIR_TOKEN}"]

    def connection(self, sandbox, secret: str | None = None) -> dict:
        from orderbridge_sandbox.merkana import demo_connection

        conn = demo_connection(sandbox.url, OUR_TOKEN, secret or THEIR_TOKEN, mids=(MID,))
        # Small batches, so a run posts several times and faults have something to hit, yet few
        # enough that a run's posts fit in a send task's 6 tries; a failed post waits half a second
        # for its next attempt, not 10 minutes.
        batch = max(2, self.orders // 40)
        conn["extra"].update(timeout=self.timeout, retry_delay_seconds=0.5, status_batch_size=batch,
                             stock_batch_size=batch)
        return conn

    @contextmanager
    def serving(self, sandbox, staging_dsn: str) -> Generator[None]:
        from orderbridge_sandbox.merkana import start_inbound

        env = {**self.env(sandbox), "AIRFLOW_CONN_ORDERBRIDGE_STAGING": staging_dsn}
        with start_inbound(env) as ours:
            self._sandbox, self._target = sandbox, f"{ours.url}/merkana/{self.account.name}"
            try:
                yield
            finally:
                self._sandbox = self._target = None

    def _replay(self, sandbox, **spec) -> dict:
        """Have the platform call our endpoints; note every order it sent and those we accepted."""
        if self._target is None:
            raise RuntimeError("the Merkana adapter replays only inside serving()")
        answer = self.control(sandbox, f"merkana/{self.account.name}/replay", "POST",
                              {"target": self._target, "mid": MID, **spec})
        for order in answer.get("orders", []):
            self.offered.add(str(order["id"]))
            if order["answer"] == {"status": True}:
                self.acknowledged.add(str(order["id"]))
        return answer

    def seed_warehouse(self, cur) -> None:
        from orderbridge_sandbox.merkana import seed_warehouse

        seed_warehouse(cur, mids=(MID,))
        cur.connection.commit()  # our endpoints read the warehouse on their own connections
        answer = self._replay(self._sandbox, steps=["products", "stock", "orders"], orders=self.orders, duplicates=3)
        if answer["products"][0] != 200 or answer["stock"][0] != 200:  # else the stock check would check nothing
            raise RuntimeError(f"our endpoints refused the platform's setup: {answer['products']}, {answer['stock']}")
        self.between_runs(cur, 0)  # and the warehouse has shipped some before the first run

    def faults(self, intensity: float) -> list[dict]:
        r, ch = intensity, "merkana"
        # Each post is one attempt of 6 per row, so rates stay low enough that no row runs out.
        return [
            {"channel": ch, "kind": "429", "retry_after": 1, "rate": 0.10 * r},
            {"channel": ch, "kind": "503", "rate": 0.10 * r},
            {"channel": ch, "kind": "reset", "rate": 0.04 * r},
            {"channel": ch, "kind": "malformed", "rate": 0.04 * r},
            # Answers lost after Merkana applied the post, on both write-backs as on every channel:
            # a status set again and a stock level posted again (the default stock_mode) change nothing.
            *({"channel": ch, "kind": "slow", "match": path, "delay": self.timeout + 0.5, "rate": 0.04 * r}
              for path in ("ff-orders-status", "ff-supplies")),
            *({"channel": ch, "kind": "cut", "match": path, "rate": 0.04 * r}
              for path in ("ff-orders-status", "ff-supplies")),
        ]

    def disturb(self, sandbox, run: int) -> str | None:
        answer = self._replay(sandbox, steps=["orders", "cancels"], orders=8, duplicates=2, cancels=1)
        ids = [o["id"] for o in answer["orders"]]
        cancelled = sum(1 for c in answer.get("cancels", []) if c["answer"] == {"status": True})
        return f"{len(set(ids))} new orders pushed to us ({len(ids) - len(set(ids))} twice), {cancelled} cancelled"

    def observe(self, sandbox) -> Observed:
        state = self.control(sandbox, f"merkana/{self.account.name}/state")
        tracking = {self._key(u["idextern"], u["status"], u["awb"]): u["times"] for u in state["status_updates"]}
        stock = state["merchants"].get(str(MID), {}).get("stock", {})
        return Observed(offered=set(self.offered), acknowledged=set(self.acknowledged), tracking=tracking, stock=stock)

    def tracking_key(self, payload: dict, external_order_id: str | None) -> str:
        return self._key(payload["idextern"], payload["status"], payload.get("awb"))

    @staticmethod
    def _key(idextern: str, status: str, awb: str | None) -> str:
        return f"{idextern}:{status}" + (f":{awb}" if awb else "")


Adapter = MerkanaAdapter
