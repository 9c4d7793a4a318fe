"""The removals the webhook path queued (REMEDIATE=remove), run by a background job, outside the request."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from guard.adapters.db import OUTAGES
from guard.adapters.journal import RemovalJournal
from guard.adapters.records import Records
from guard.config import ConfigError
from guard.core.snapshot import WorkerKey
from guard.core.statuses import RemediationStatus
from guard.service.pipeline import Pipeline
from guard.service.remediation import JOURNAL_BUSY_DETAIL, ApiFor, remove_contact_uri
from guard.service.removals import Removal, record_removal

# A removal that met a database error before it sent anything (a connection reset, a failover) is tried again after
# this, not failed for good nor held until its lease runs out
RETRY_SECONDS = 10


@dataclass(frozen=True)
class Unrecorded:
    """A removal done (TaskRouter answered) whose record met a database error: recorded from here, not done again."""

    job_id: int
    key: WorkerKey
    removal: Removal
    actor: str
    since: datetime


class RemediationJobs:
    """Runs the removals the webhook path queued (REMEDIATE=remove), outside the request."""

    def __init__(
        self,
        pipeline: Pipeline,
        records: Records,
        api_for: ApiFor,
        lease: timedelta,
    ) -> None:
        """Claim jobs from `records`, reach each workspace through `api_for(account_sid, workspace_sid)`."""
        self.pipeline, self.records, self.api_for = pipeline, records, api_for
        self.lease = lease
        self._unrecorded: list[Unrecorded] = []  # each still leased to this process, so no other takes it up

    def _record_unrecorded(self) -> int:
        """Record the removals done whose record failed, first: a database error ends the round, tried next round.

        One older than its lease is left: another process may have taken it up, and its journal knows it as ours.
        """
        done = 0
        while self._unrecorded:
            held = self._unrecorded[0]
            if self.pipeline.clock() - held.since < self.lease:
                record_removal(self.pipeline, held.key, held.removal, held.actor, job_id=held.job_id)
                done += 1
            self._unrecorded.pop(0)
        return done

    def run_pending(self) -> int:
        """Process every queued remediation (at the pipeline's time); return how many were handled."""
        handled = self._record_unrecorded()
        while (job := self.records.claim_remediation(self.pipeline.clock(), self.lease)) is not None:
            key = WorkerKey(job["account_sid"], job["workspace_sid"], job["worker_sid"])
            try:
                api = self.api_for(key.account_sid, key.workspace_sid)
            except ConfigError as err:  # credentials removed since it was queued: failed, not leased again for ever
                removal = Removal(RemediationStatus.FAILED, None, f"{err}; nothing was changed")
            else:
                try:
                    known = self.pipeline.known(key)
                    journal = RemovalJournal(self.pipeline.store.engine, key, self.lease)
                    removal = remove_contact_uri(
                        api, key.worker_sid, self.pipeline.rules(), True, known, journal=journal
                    )
                except OUTAGES:  # a read before anything was sent: the round ends on it (logged), this comes back
                    self._again(job["id"])
                    raise
                if removal.status is RemediationStatus.FAILED and removal.detail == JOURNAL_BUSY_DETAIL:
                    self._again(job["id"])  # nothing was sent either
                    continue
            try:
                record_removal(self.pipeline, key, removal, job["actor"], job_id=job["id"])
            except OUTAGES:  # TaskRouter did it: recorded as it was from here, in the next round, not sent again
                self._unrecorded.append(Unrecorded(job["id"], key, removal, job["actor"], self.pipeline.clock()))
                raise
            handled += 1
        return handled

    def _again(self, job_id: int) -> None:
        """Claim this removal again in RETRY_SECONDS; if even that fails, its lease runs out as after a crash."""
        with contextlib.suppress(*OUTAGES):
            self.records.retry_remediation(job_id, self.pipeline.clock() + timedelta(seconds=RETRY_SECONDS))
