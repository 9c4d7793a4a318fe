"""The hourly prune: event ids past the replay window, and finished history past HISTORY_DAYS."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from guard.adapters.records import Records
from guard.adapters.retention import Retention
from guard.core.snapshot import DEDUP_WINDOW
from guard.logs import log_event

log = logging.getLogger("guard.retention")


ABANDONED = "abandoned: the process applying it stopped before its outcome was known; audit again"


def prune(retention: Retention, now: datetime, history: timedelta | None, records: Records | None = None) -> int:
    """Forget what is past its time (`history` None keeps every finished record); log and return how many rows.

    With `records` (REMEDIATE off, so no job takes them up), a removal an audit left leased when it died is failed.
    """
    counts = {"processed_event": retention.prune_events(now - DEDUP_WINDOW)}
    if records is not None:
        counts["abandoned_removal"] = records.abandon_expired(now, ABANDONED)
    if history is not None:
        counts |= retention.prune_history(now - history)
    pruned = {table: count for table, count in counts.items() if count}
    if pruned:
        log_event(log, logging.INFO, "pruned", **pruned)
    return sum(pruned.values())
