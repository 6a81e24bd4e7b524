"""Watchlist matching, rules, rendering and delivery of alerts.

config (the settings dataclasses) -> watchlist (WatchlistMatcher: text -> Mentions) -> rules
(fired_rules) -> render (pure: email, Slack, console) -> deliver (one digest per channel, via
email_channel, slack_channel, console_channel). Imports nothing of ours but extractors.records.
"""
