"""The background jobs: named jobs, run on every wake-up or on their own period, in one thread or loop.

Not to be confused with a TaskRouter worker (an agent) or a gunicorn worker (a process): this runs jobs.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from guard.logs import log_event

log = logging.getLogger("guard.delivery")


@dataclass(frozen=True)
class Job:
    """A named piece of background work: on every wake-up (`every` 0) or at most once per `every` seconds."""

    name: str
    run: Callable[[], object]
    every: float = 0.0
    enabled: bool = True  # off when its feature is (REMEDIATE, SLACK_SIGNING_SECRET)


class JobRunner:
    """Runs its jobs in a thread of the web process (`start`) or in the foreground (`run_forever`)."""

    def __init__(
        self,
        jobs: Sequence[Job],
        wakeup: threading.Event,
        stopping: threading.Event,
        idle_seconds: Callable[[float], float],
        poll_seconds: float = 2.0,
    ) -> None:
        """Run `jobs`; sleep `idle_seconds(poll_seconds)` between rounds unless `wakeup` is set; end on `stopping`."""
        self.by_name = {job.name: job for job in jobs}
        self.wakeup = wakeup
        self.idle_seconds = idle_seconds
        self.poll_seconds = poll_seconds
        self._next_run = dict.fromkeys(self.by_name, 0.0)
        self._stop = stopping
        self._thread: threading.Thread | None = None

    def wake(self) -> None:
        """Ask for a round now (a new alert was committed)."""
        self.wakeup.set()

    def run_due(self) -> None:
        """One round: every job that is due, in the order they were given."""
        for job in self.by_name.values():
            if self._stop.is_set():
                return
            if job.enabled and time.monotonic() >= self._next_run[job.name]:
                self._next_run[job.name] = time.monotonic() + job.every
                try:
                    job.run()
                except Exception:  # one failing job (a database outage, a bug) must not keep the others from running
                    log.exception("job_failed", extra={"fields": {"job": job.name}})

    def run_forever(self) -> None:
        """Run rounds until stopped, sleeping until the next due alert, a wake-up or the poll interval."""
        log_event(log, logging.INFO, "delivery_started")
        while not self._stop.is_set():
            sleep = self.poll_seconds
            try:
                self.run_due()
                sleep = self.idle_seconds(self.poll_seconds)
            except Exception:
                # A database outage must not kill the worker; the rows wait in the outbox.
                log.exception("delivery_loop_error")
            self.wakeup.wait(sleep)
            self.wakeup.clear()
        log_event(log, logging.INFO, "delivery_stopped")

    def start(self) -> None:
        """Run in a background thread (once per process: threads do not survive a fork)."""
        if self._thread and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self.run_forever, name="guard-jobs", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop after the job in flight; undelivered alerts stay in the outbox for the next start."""
        self._stop.set()
        self.wakeup.set()
        if self._thread:
            self._thread.join(timeout)
