"""Watchlist matching, rules, rendering and delivery of alerts."""
