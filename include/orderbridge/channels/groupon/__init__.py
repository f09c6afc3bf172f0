"""Groupon Goods (CommerceInterface supplier API, seed 000)."""
