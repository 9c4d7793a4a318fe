"""The hourly prune: event ids past the replay window, and finished history past HISTORY_DAYS."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from guard.adapters.retention import Retention
from guard.core.snapshot import DEDUP_WINDOW
from guard.logs import log_event

log = logging.getLogger("guard.retention")


def prune(retention: Retention, now: datetime, history: timedelta | None) -> int:
    """Forget what is past its time (`history` None keeps every finished record); log and return how many rows."""
    counts = {"processed_event": retention.prune_events(now - DEDUP_WINDOW)}
    if history is not None:
        counts |= retention.prune_history(now - history)
    pruned = {table: count for table, count in counts.items() if count}
    if pruned:
        log_event(log, logging.INFO, "pruned", **pruned)
    return sum(pruned.values())
