"""Octopia Seller API v2 (Cdiscount and the other Octopia sales channels)."""
