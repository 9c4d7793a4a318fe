"""Database reads that cannot hold a request for ever: each on its own thread, a few at once, each waited for a bound.

A database that stops answering (a proxy that hangs, a network that drops packets) then holds those few threads,
and a request thread only for the bound: health checks and status pages answer 503 in seconds, events go on.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, TypeVar

T = TypeVar("T")
JOIN_SECONDS = 1.0  # a healthy database answers a shared read in milliseconds, under load in well under this
QUIET_SECONDS = 10.0  # after a slow failure, callers get it at once this long before a new read is tried


class DatabaseSlow(TimeoutError):
    """The database gave no answer in time, or as many reads as allowed already wait on it (answered as busy)."""


class BoundedReads:
    """Runs reads off the caller's thread: at most `slots` at once, each waited for at most `seconds` in all.

    `slot_wait`: how long a caller waits for a free slot (at most `seconds`): short where a burst of callers must
    not each hold a request thread for the whole bound while the database does not answer.
    """

    def __init__(self, slots: int, seconds: float, slot_wait: float | None = None) -> None:
        """Allow `slots` reads at once, each `seconds`."""
        self._slots = threading.BoundedSemaphore(slots)
        self.seconds, self.slot_wait = seconds, min(slot_wait or seconds, seconds)
        self._sharing = threading.Lock()
        self._runs: dict[str, tuple[int, float, Future[Any]]] = {}  # by name: its process, start and read under way
        self._answers: dict[str, tuple[int, float, Any]] = {}  # by name: its process, when, and the last answer

    def shared(self, name: str, read: Callable[[], T]) -> T:
        """`run(read)`, joined by every caller asking for `name` meanwhile: one read answers them all.

        Health checks and scrapes ask the same at once: they take one slot between them, never a false 503. A read
        under way for over JOIN_SECONDS gets no more waiters: the database is slow, and a burst of callers must not
        each hold a request thread for the whole bound (events queue behind them). They get the answer given in the
        last QUIET_SECONDS at once (a slow but healthy database), else DatabaseSlow.
        """
        with self._sharing:
            pid, began, run = self._runs.get(name, (0, 0.0, None))
            joined = True
            if run is not None and run.done() and pid == os.getpid() and time.monotonic() < began + self._quiet(run):
                raise DatabaseSlow("the database gave no answer to the read just before") from run.exception()
            if run is None or run.done() or pid != os.getpid():
                began, run, joined = time.monotonic(), Future(), False
                self._runs[name] = (os.getpid(), began, run)
                threading.Thread(target=self._settle, args=(name, run, read), name="guard-db-read", daemon=True).start()
        age = time.monotonic() - began
        if joined and age >= JOIN_SECONDS:
            return self._lately(name, age)
        try:
            return run.result(timeout=self.seconds + 1.0 - age)  # type: ignore[no-any-return]
        except FutureTimeout:
            raise DatabaseSlow(f"the database gave no answer within {self.seconds:g} s") from None

    def _lately(self, name: str, age: float) -> Any:
        """The answer to `name` given in the last QUIET_SECONDS here, or DatabaseSlow: a read under way is slow."""
        with self._sharing:
            pid, answered, answer = self._answers.get(name, (0, 0.0, None))
        if pid == os.getpid() and time.monotonic() - answered < QUIET_SECONDS:
            return answer
        raise DatabaseSlow(f"the database is slow: a read under way for {age:.1f} s has no answer yet")

    def _quiet(self, run: Future[Any]) -> float:
        """How long after a shared read began its answer stands for the next callers: a slow failure, a while."""
        failed = run.exception() is not None
        return self.seconds + QUIET_SECONDS if failed and run.took >= JOIN_SECONDS else 0.0  # type: ignore[attr-defined]

    def _settle(self, name: str, run: Future[Any], read: Callable[[], Any]) -> None:
        """Run one shared read and hand its outcome to everyone waiting on `run`; keep an answer for late callers."""
        started = time.monotonic()
        try:
            answer = self.run(read)
        except BaseException as err:  # noqa: BLE001 - handed to the callers as it is
            run.took = time.monotonic() - started  # type: ignore[attr-defined]
            run.set_exception(err)
        else:
            run.took = time.monotonic() - started  # type: ignore[attr-defined]
            with self._sharing:
                self._answers[name] = (os.getpid(), time.monotonic(), answer)
            run.set_result(answer)

    def run(self, read: Callable[[], T]) -> T:
        """`read()`'s result or exception; DatabaseSlow when no slot frees and it ends within `seconds` in all."""
        deadline = time.monotonic() + self.seconds
        if not self._slots.acquire(timeout=self.slot_wait):
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
