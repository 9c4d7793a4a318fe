"""Database reads that cannot hold a request for ever: each on its own thread, a few at once, each waited for a bound.

A database that stops answering (a proxy that hangs, a network that drops packets) then holds those few threads,
never the request threads that take events: health checks and status pages answer 503 in seconds instead.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


class DatabaseSlow(TimeoutError):
    """The database gave no answer in time, or as many reads as allowed already wait on it (answered as busy)."""


class BoundedReads:
    """Runs reads off the caller's thread: at most `slots` at once, each waited for at most `seconds`."""

    def __init__(self, slots: int, seconds: float) -> None:
        """Allow `slots` reads at once, each `seconds`."""
        self._slots = threading.BoundedSemaphore(slots)
        self.seconds = seconds

    def run(self, read: Callable[[], T]) -> T:
        """`read()`'s result or exception; DatabaseSlow when it takes longer than `seconds`, or no slot is free."""
        if not self._slots.acquire(blocking=False):
            raise DatabaseSlow("every database read slot waits on an answer")
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
        if not done.wait(self.seconds):
            raise DatabaseSlow(f"the database gave no answer within {self.seconds:g} s")
        if isinstance(outcome[0], BaseException):
            raise outcome[0]
        return outcome[0]  # type: ignore[no-any-return]
