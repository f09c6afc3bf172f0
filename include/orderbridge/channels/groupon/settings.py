"""Groupon account settings, from the connection's extras.

One Airflow connection per Groupon supplier account (``orderbridge_groupon_<account>``): host,
port and schema are the CommerceInterface server, login the supplier id, password the token. Its
extras are the shared ones (``api_path`` such as ``/api/v4``, ``timeout``, ``rate_per_second``,
``max_retry_after``) plus the merchant's options below; any other extra is refused.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from orderbridge.channels.settings import ChannelSettings

# A month of 24-hour get_orders windows is 30 requests a run, each page more: more than that is a
# typo, not a choice (the look-back exists to catch cancellations before the warehouse picks).
MAX_LOOKBACK_DAYS = 30


class GrouponSettings(ChannelSettings):
    """A Groupon account's extras: the shared ones (``ChannelSettings``) and the merchant's options.

    Attributes:
        mark_exported: tell Groupon every imported line is exported (the seed's "Mark Exported
            Option", ticked by default). Then Groupon stops offering the order in the unexported
            queue and in CommerceInterface's own export. False: nothing is ever marked, the queue
            returns the same orders every run, and staging still holds each once.
        lookback_days: every queue read also re-reads the last N days by date window (at most 24 h
            a request), so a line cancelled or refunded after we exported it is seen before the
            warehouse picks it. 0 turns the look-back off.
    """

    channel: ClassVar[str] = "groupon"

    mark_exported: bool = True
    lookback_days: int = Field(3, ge=0, le=MAX_LOOKBACK_DAYS)
