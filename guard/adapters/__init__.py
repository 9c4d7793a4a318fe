"""Adapters: the I/O around the core (database store, Slack, TaskRouter API)."""
