"""The one clock: timezone-aware UTC. Everything that needs "now" takes it from here (or is handed it)."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)
