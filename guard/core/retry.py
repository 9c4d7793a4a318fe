"""The retry policy every outbound call shares: which answers are worth another try, and how long to wait."""

from __future__ import annotations

import math
import random

# Rate limited, or the server failed: the same request may well succeed later.
RETRIED_STATUSES = frozenset({429, 500, 502, 503, 504})


def backoff_seconds(attempts: int, cap: float) -> float:
    """Exponential backoff with full jitter in its upper half: ~1, 2, 4 … seconds, capped."""
    base = min(cap, 2.0 ** min(max(0, attempts - 1), 64))  # 2 ** 1024 overflows: a day-long outage gets there
    return base * random.uniform(0.5, 1.0)  # noqa: S311 - jitter, not cryptography


def retry_delay(attempts: int, cap: float, retry_after: float | None = None) -> float:
    """Seconds until the next attempt: backoff, or a longer Retry-After, but never past `cap`."""
    delay = backoff_seconds(attempts, cap)
    if retry_after is not None:
        # A server's Retry-After is honoured up to the cap: a broken or hostile answer cannot stall us.
        delay = min(max(delay, retry_after), cap)
    return delay


def parse_retry_after(raw: object) -> float | None:
    """Seconds from a Retry-After value; inf when it is not a finite number (the caller caps it); None when absent."""
    if raw is None:
        return None
    try:
        seconds = float(raw)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return math.inf  # an HTTP date or junk: wait as long as we ever do
    return max(0.0, seconds) if math.isfinite(seconds) else math.inf
