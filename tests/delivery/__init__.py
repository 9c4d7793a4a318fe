"""Outbox delivery against a real local HTTP server playing Slack's incoming webhook."""
