"""Where the event writer leaves one event's answer for the request thread that waits on it."""

from __future__ import annotations

import threading
import time
from typing import cast

from guard.core.decision import Decision


class WriterBehind(TimeoutError):
    """No commit before the request's deadline: its process's writer is behind (or its database slow): 503."""

    stalled = False  # set by the writer: its batch then waited on the database longer than a SQLite turn may


class Slot:
    """Where the writer leaves one event's decision (or error) for the request that waits on it.

    A lock held from the start and released by the writer: cheaper than a Future's condition. Whoever
    holds the decision last announces it (its log line, metrics, delivery): the request, or the writer
    when the request gave up waiting, so no committed alert goes unlogged.
    """

    __slots__ = ("_ready", "abandoned", "decision", "droppable", "error")
    _handoff = threading.Lock()  # makes "filled" and "given up" exclusive; only contended on a timeout

    def __init__(self, droppable: bool = False) -> None:
        """An empty slot; `droppable`: once its request gives up, the event is not written (its sender retries)."""
        self.decision: Decision | None = None
        self.error: BaseException | None = None
        self.abandoned, self.droppable = False, droppable
        self._ready = threading.Lock()
        self._ready.acquire()

    def fill(self, decision: Decision | None = None, error: BaseException | None = None) -> bool:
        """The writer's answer (the decision, or the error it met); True when no request waits for it any more."""
        with self._handoff:
            self.decision, self.error = decision, error
            if self.abandoned:
                return True
            self._ready.release()
            return False

    def wait(self, deadline: float) -> Decision:
        """The decision once committed, or the error raised here; TimeoutError past `deadline` (503)."""
        if not self._ready.acquire(timeout=max(0.0, deadline - time.monotonic())) and not self.abandon():
            raise WriterBehind("no commit before the deadline")  # 503 (handlers/errors.py)
        if self.error is not None:
            raise self.error
        return cast(Decision, self.decision)

    def abandon(self) -> bool:
        """Stop waiting: True if the answer came just now (the caller has it), else the writer announces it."""
        with self._handoff:
            if self._ready.acquire(blocking=False):
                return True
            self.abandoned = True
            return False

    def dropped(self) -> bool:
        """True when its request gave up before the writer took the event, and its sender sends it again."""
        return self.abandoned and self.droppable
