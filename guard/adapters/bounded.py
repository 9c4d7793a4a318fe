"""Database reads that cannot hold a request for ever: each on its own thread, a few at once, each waited for a bound.

A database that stops answering (a proxy that hangs, a network that drops packets) then holds those few threads,
and a request thread only for the bound: health checks and status pages answer 503 in seconds, events go on.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")
SLOT_WAIT_SECONDS = 0.25


class DatabaseSlow(TimeoutError):
    """The database gave no answer in time, or as many reads as allowed already wait on it (answered as busy)."""


class BoundedReads:
    """Runs reads off the caller's thread: at most `slots` at once, each waited for at most `seconds` in all."""

    def __init__(self, slots: int, seconds: float) -> None:
        """Allow `slots` reads at once, each `seconds`."""
        self._slots = threading.BoundedSemaphore(slots)
        self.seconds = seconds

    def run(self, read: Callable[[], T]) -> T:
        """`read()`'s result or exception; DatabaseSlow when no slot frees and it ends within `seconds` in all."""
        deadline = time.monotonic() + self.seconds
        # While the database answers, a slot frees in milliseconds; while it does not, a burst of callers must not
        # each hold a request thread for the whole bound (events queue behind them): they wait briefly, then 503
        if not self._slots.acquire(timeout=min(SLOT_WAIT_SECONDS, self.seconds)):
            raise DatabaseSlow("every database read slot is taken by a read still waiting on the database")
        outcome: list[Any] = []
        done = threading.Event()

        def reading() -> None:
            try:
                outcome.append(read())
            except BaseException as err:  # noqa: BLE001 - handed to the caller as it is
                outcome.append(err)
            finally:
                self._slots.release()  # only once the read is over: a hung one keeps its slot
                done.set()

        threading.Thread(target=reading, name="guard-db-read", daemon=True).start()
        if not done.wait(max(0.0, deadline - time.monotonic())):
            raise DatabaseSlow(f"the database gave no answer within {self.seconds:g} s")
        if isinstance(outcome[0], BaseException):
            raise outcome[0]
        return outcome[0]  # type: ignore[no-any-return]
