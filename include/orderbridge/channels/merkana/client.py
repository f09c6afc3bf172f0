"""Merkana's wire: ``ff-orders-status`` and ``ff-supplies`` posts, and which merchants a platform has.

The write-back rules (what is enqueued, the handlers) are ``writeback``; the policy below is theirs.

Both go through the outbox. Status effects are per order: one per (order, status, parcel), so a
status is posted once per order and parcel whatever reruns follow; stock effects come from the
shared reconciliation (``stock.reconcile``). One handler call posts a whole batch: ff-orders-status
takes many orders in one array, ff-supplies many products of one merchant (``mid``).

Retries follow the seed's own policy for its jobs: 6 attempts (1 + 5 retries) 10 minutes apart
(the delay: extra ``retry_delay_seconds``, see ``settings``), then the rows are ``failed`` and stay
visible (``staging.outbox``, ``staging.order_events``) for a person. Each attempt is one HTTP request
(no quick in-client retries): the outbox counts them.

``stock_mode`` ``absolute`` (default) posts ``br`` = the level the merchant can sell; ``delta``
posts the new level minus the level Merkana last accepted (negative after an audit). Delivery is
at-least-once: a post Merkana applied but whose answer was lost (timeout, connection cut) is sent
again on the next attempt. The seed gives ff-supplies no idempotency key Merkana would ignore on a
repeat, so only levels make that resend harmless; a delta would count twice (README, guesses).
"""

from __future__ import annotations

from orderbridge.channels.merkana import CHANNEL
from orderbridge.channels.merkana.settings import PlatformSettings
from orderbridge.errors import InvalidPayload
from orderbridge.http import ChannelClient

ORDER_STATUS = "order_status"
MAX_ATTEMPTS = 6  # the first try and 5 retries
STATUS_PATH, SUPPLIES_PATH = "ff-orders-status", "ff-supplies"


class MerkanaClient(ChannelClient):
    """Posts to one platform's API. Connection: host/schema/port and ``api_path`` (``/v1``) give the
    API, ``password`` is the token Merkana gave us (sent as ``api-token``); the extras are
    ``PlatformSettings``."""

    channel = CHANNEL
    settings_class = PlatformSettings
    settings: PlatformSettings

    def __init__(self, conn_id: str, account: str = "", **kwargs):
        kwargs.setdefault("max_attempts", 1)
        super().__init__(conn_id, account, **kwargs)  # reads self.settings (PlatformSettings)
        # The inbound secret is a secret too: never in a log line or an error.
        self.secrets += [s for s in (self.settings.inbound_token,) if s]

    def read_settings(self) -> PlatformSettings:
        """The platform's settings: the platform is the first part of the account (``<platform>/<mid>``).

        Raises:
            SettingsError: an unknown or malformed extra, named in the message.
        """
        return PlatformSettings.from_extra(self.account.split("/")[0], self.conn_id, self.extra,
                                           headers=self.header_extras)

    def post(self, path: str, body: dict) -> dict:
        """POST a JSON body with our ``api-token``; Merkana's ``status: false`` becomes ``InvalidPayload``.

        Raises:
            AuthError: 401/403 (our token refused).
            InvalidPayload: another 4xx, or an answer with ``status`` false (its message included).
            Retryable: 5xx, timeout, connection error, an answer that is not JSON.
        """
        answer = self.request_json("POST", path, json=body, headers={"api-token": self.connection.password or ""})
        if isinstance(answer, dict) and answer.get("status") in (False, "false", 0):
            raise self._error(InvalidPayload, f"POST {path}: Merkana answered status false "
                                              f"({str(answer.get('message') or 'no message')[:200]})")
        return answer if isinstance(answer, dict) else {}

    def orders_status(self, updates: list[dict]) -> dict:
        """``updates``: canonical ``{idextern, status, awb, courier}`` dicts."""
        return self.post(STATUS_PATH, self.settings.fields.to_wire({"orders": updates}))

    def supplies(self, mid: str, products: list[dict]) -> dict:
        """``products``: canonical ``{sku, br}`` dicts of one merchant."""
        return self.post(SUPPLIES_PATH, self.settings.fields.to_wire({"mid": _mid_json(mid), "products": products}))


def _mid_json(mid: str) -> int | str:
    # The seed sends and expects numbers; "²" is a digit to str.isdigit but not to int().
    return int(mid) if mid.isascii() and mid.isdigit() and len(mid) <= 18 else mid


# -- what waits -----------------------------------------------------------------------------------
def merchant_accounts(cur, settings: PlatformSettings) -> list[str]:
    """Staging accounts of the platform's merchants: those configured (extra ``merchants``) and every
    one staging has seen (product sync, orders), so a new merchant needs no configuration."""
    cur.execute(
        """SELECT account FROM staging.channel_products WHERE channel = %(c)s AND split_part(account, '/', 1) = %(p)s
           UNION SELECT account FROM staging.orders WHERE channel = %(c)s AND split_part(account, '/', 1) = %(p)s""",
        {"c": CHANNEL, "p": settings.platform},
    )
    seen = {r[0] for r in cur.fetchall()}
    return sorted(seen | {settings.account(mid) for mid in settings.merchants or {}})
