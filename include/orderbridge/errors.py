"""Errors sorted by what the task runner should do about them.

``Retryable`` (5xx, timeouts, dropped connections, malformed bodies) backs off and tries again;
``RateLimited`` is a 429 that outlasted the in-client wait; ``Permanent`` (bad credentials,
refused payloads, unknown ids) fails the task at once, because retrying cannot fix it. DAGs turn
this into an ``ExceptionRetryPolicy`` (see ``orderbridge.dagkit``).

Every error names the channel and account, and the external id when there is one, so a task log
line tells an operator which order or account to look at. Messages never contain secrets.
"""

from __future__ import annotations


class OrderbridgeError(Exception):
    """Base class: an error tied to a channel account (and maybe one external id)."""

    def __init__(self, message: str, *, channel: str = "", account: str = "", external_id: str = "",
                 status_code: int | None = None):
        self.status_code = status_code  # the HTTP status behind it, when there was one
        self.channel = channel
        self.account = account
        self.external_id = external_id
        where = "/".join(p for p in (channel, account) if p)
        prefix = f"[{where}{' ' + external_id if external_id else ''}] " if where else ""
        super().__init__(prefix + message)


class Retryable(OrderbridgeError):
    """Transient: 5xx, timeout, connection reset, truncated body. Back off and retry."""


class RateLimited(Retryable):
    """The channel kept answering 429 for longer than the client is willing to wait in-task."""


class Permanent(OrderbridgeError):
    """Retrying cannot help: a person has to fix credentials, data or configuration."""


class AuthError(Permanent):
    """The channel refused our credentials (401/403 or its own ``success: false`` equivalent)."""


class InvalidPayload(Permanent):
    """The channel refused what we sent, or sent something we cannot interpret at all."""


class EndpointNotFound(Permanent):
    """404/405/410 on a path we call: a wrong ``api_path``, host or route, not a refused row.

    Every row sent there would meet the same answer, so the task fails at once and the rows stay
    pending until the connection is fixed (``outbox.dispatch``).
    """


class SettingsError(Permanent):
    """A connection's extras cannot be read: an unknown extra, or a value of the wrong shape.

    The message names every such extra (never its value: extras hold secrets) and the connection,
    and its "Resolution:" lists the extras the channel takes. Raised by ``channels.settings``.
    """
