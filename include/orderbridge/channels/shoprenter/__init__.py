"""Shoprenter webshops (issue 14): orders by poll and webhook, catalogue and stock both ways."""

CHANNEL = "shoprenter"
