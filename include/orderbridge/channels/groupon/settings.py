"""Groupon account settings, from the connection's extras.

One Airflow connection per Groupon supplier account (``orderbridge_groupon_<account>``): host,
port and schema are the CommerceInterface server, login the supplier id, password the token. Its
extras are the shared ones only (``api_path`` such as ``/api/v4``, ``timeout``, ``rate_per_second``,
``max_retry_after``): Groupon needs nothing else, so any other extra is refused.
"""

from __future__ import annotations

from typing import ClassVar

from orderbridge.channels.settings import ChannelSettings


class GrouponSettings(ChannelSettings):
    """A Groupon account's extras: the shared ones (``ChannelSettings``), none of its own."""

    channel: ClassVar[str] = "groupon"
