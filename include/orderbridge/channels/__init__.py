"""Channels: the contract (``base``), one package per channel, and the registry that lists them."""
