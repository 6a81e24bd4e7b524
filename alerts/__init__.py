"""Watchlist matching, rules, rendering and delivery of alerts.

config (the settings dataclasses) -> watchlist (WatchlistMatcher: one pass, text -> Mentions) ->
query (the rule query language, parsed) -> matching (RuleMatcher: mentions and the rules that fire,
in one pass) -> render (pure: email, Slack, console) -> batching (mutes, digests: what goes out in
which message) -> deliver (via email_channel, slack_channel, console_channel). Beside them: outbox
(outbox rows to Alerts), retro (matching the archive again when the watchlist or a rule changed),
preview (`rules test`). Imports nothing of ours but extractors.records.
"""
