"""Octopia's OAuth2 token: the shared, encrypted token cache (``orderbridge.oauth``) with Octopia's
client authentication (the form body, ``client_secret_post``, octopia-api.md §1) and Resolution."""

from __future__ import annotations

from orderbridge.oauth import TokenCache as SharedTokenCache
from orderbridge.oauth import fernet_for, token_key

__all__ = ["RESOLUTION", "TokenCache", "fernet_for", "token_key"]

RESOLUTION = ("Resolution: check login (client id) and password (client secret) of the Octopia connection against "
              "the Octopia API credentials page.")


class TokenCache(SharedTokenCache):
    """``orderbridge.oauth.TokenCache`` for an Octopia client id (same arguments)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("channel", "octopia")
        kwargs.setdefault("resolution", RESOLUTION)
        kwargs.setdefault("auth_method", "client_secret_post")
        super().__init__(*args, **kwargs)
