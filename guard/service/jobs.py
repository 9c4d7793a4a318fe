"""The background jobs: named jobs, run on every wake-up or on their own period, each lane in its own thread.

Not to be confused with a TaskRouter worker (an agent) or a gunicorn worker (a process): this runs jobs.
Jobs that wait on a slow outside API (who changed a worker) run in a lane of their own, so they never hold up
the delivery of alerts.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import Engine

from guard.adapters.db import OUTAGES, migration_fix, not_migrated
from guard.logs import log_event

log = logging.getLogger("guard.delivery")
MAIN = "main"


class Wakeup:
    """A wake-up call every lane hears: each waits for a call newer than the last one it saw."""

    def __init__(self) -> None:
        """No call yet."""
        self._calls = 0
        self._condition = threading.Condition()

    def set(self) -> None:
        """Wake every lane."""
        with self._condition:
            self._calls += 1
            self._condition.notify_all()

    def latest(self) -> int:
        """The number of the latest call."""
        with self._condition:
            return self._calls

    def wait(self, seen: int, timeout: float) -> int:
        """Wait up to `timeout` for a call after `seen`; return the latest call's number."""
        with self._condition:
            self._condition.wait_for(lambda: self._calls != seen, timeout)
            return self._calls


@dataclass(frozen=True)
class Job:
    """A named piece of background work: on every wake-up (`every` 0) or at most once per `every` seconds."""

    name: str
    run: Callable[[], object]
    every: float = 0.0
    enabled: bool = True  # off when its feature is (REMEDIATE, SLACK_SIGNING_SECRET)
    lane: str = MAIN  # jobs of one lane run one after the other, in one thread


class JobRunner:
    """Runs its jobs in threads of the web process (`start`) or in the foreground (`run_forever`)."""

    def __init__(
        self,
        jobs: Sequence[Job],
        wakeup: Wakeup,
        stopping: threading.Event,
        idle_seconds: Callable[[float], float],
        poll_seconds: float = 2.0,
        engine: Engine | None = None,
    ) -> None:
        """Run `jobs`; sleep `idle_seconds(poll_seconds)` between rounds unless woken; end on `stopping`.

        `engine`: the database the jobs use, to tell a release phase skipped (one line a round) from a bug.
        """
        self.engine = engine
        self.by_name = {job.name: job for job in jobs}
        self.idle_seconds = idle_seconds
        self.poll_seconds = poll_seconds
        self._next_run = dict.fromkeys(self.by_name, 0.0)
        self._stop = stopping
        self._lanes = list(dict.fromkeys([MAIN, *(job.lane for job in jobs)]))
        self._wakeup = wakeup
        self._threads: dict[str, threading.Thread] = {}

    def wake(self) -> None:
        """Ask every lane for a round now (a new alert, click or lookup was committed)."""
        self._wakeup.set()

    def run_due(self, lane: str = MAIN) -> bool:
        """One round of a lane: every job that is due, in the order given; one that fails does not stop the rest.

        True when a job failed (and said so): the database unavailable or behind the code's migrations, or a bug.
        The outbox may still read as due, and the next round must wait a poll, not come 50 ms later with the same line.
        """
        failed = False
        for job in self.by_name.values():
            if self._stop.is_set():
                break
            if job.lane == lane and job.enabled and time.monotonic() >= self._next_run[job.name]:
                self._next_run[job.name] = time.monotonic() + job.every
                try:
                    job.run()
                except OUTAGES as err:  # one line a round: a traceback every 2 s says nothing more
                    _unavailable(job.name, err)
                    failed = True
                except Exception as err:  # a bug: the others still run, and this one next round
                    failed = True
                    if (missing := self._not_migrated(err)) is None:
                        log.exception("job_failed", extra={"fields": {"job": job.name}})
                    else:
                        fix = migration_fix(self.engine) if self.engine is not None else ""
                        log_event(log, logging.ERROR, "job_database_not_migrated", job=job.name, error=missing, fix=fix)
        return failed

    def _not_migrated(self, err: Exception) -> str | None:
        """What is missing when `err` says the database is behind the code's migrations, else None."""
        return None if self.engine is None else not_migrated(err, self.engine)

    def run_forever(self, lane: str = MAIN) -> None:
        """Run rounds of a lane until stopped; the main lane in the foreground also starts the other lanes."""
        if lane == MAIN and threading.current_thread() is threading.main_thread():
            self._start_lanes(exclude=MAIN)
        log_event(log, logging.INFO, "delivery_started", lane=lane)
        seen = self._wakeup.latest()  # calls made before this lane started are answered by its first round
        while not self._stop.is_set():
            said = self.run_due(lane)
            # One round (one line) a poll while a job fails (a database that cannot serve, a bug), whatever wakes it
            if said:
                self._stop.wait(self.poll_seconds)
                continue
            sleep = self.poll_seconds
            try:
                sleep = self.idle_seconds(self.poll_seconds) if lane == MAIN else sleep
            except OUTAGES as err:  # one line a round, as the jobs' (a statement timeout, SQLite's "no such column")
                _unavailable("idle", err)
            except Exception as err:  # nothing must kill the lane
                if self._not_migrated(err) is None:
                    log.exception("delivery_loop_error")
            seen = self._wakeup.wait(seen, sleep)
        log_event(log, logging.INFO, "delivery_stopped", lane=lane)

    def start(self) -> None:
        """Run every lane in a background thread (once per process: threads do not survive a fork)."""
        self._stop.clear()
        self._start_lanes()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop after the jobs in flight; undelivered alerts stay in the outbox for the next start."""
        self._stop.set()
        self.wake()
        deadline = time.monotonic() + timeout  # one for all the lanes: Heroku kills the process 30 s after SIGTERM
        for thread in self._threads.values():
            thread.join(max(0.0, deadline - time.monotonic()))

    def _start_lanes(self, exclude: str | None = None) -> None:
        """A thread per lane not running yet."""
        for lane in self._lanes:
            running = self._threads.get(lane)
            if lane != exclude and not (running and running.is_alive()):
                self._threads[lane] = threading.Thread(
                    target=self.run_forever, args=(lane,), name=f"guard-jobs-{lane}", daemon=True
                )
                self._threads[lane].start()


def _unavailable(job: str, err: BaseException) -> None:
    """The one line a round for a job the database could not serve: the driver's error and its first line."""
    cause = getattr(err, "orig", None) or err
    first = (str(cause).strip().splitlines() or [""])[0][:300]
    log_event(log, logging.ERROR, "job_database_unavailable", job=job, error=type(cause).__name__, detail=first)
