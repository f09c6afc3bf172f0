"""plentymarkets (seed 003)."""
