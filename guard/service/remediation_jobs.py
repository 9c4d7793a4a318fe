"""The removals the webhook path queued (REMEDIATE=remove), run by a background job, outside the request."""

from __future__ import annotations

import contextlib
from datetime import timedelta

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

    def run_pending(self) -> int:
        """Process every queued remediation (at the pipeline's time); return how many were handled."""
        handled = 0
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
            record_removal(self.pipeline, key, removal, job["actor"], job_id=job["id"])
            handled += 1
        return handled

    def _again(self, job_id: int) -> None:
        """Claim this removal again in RETRY_SECONDS; if even that fails, its lease runs out as after a crash."""
        with contextlib.suppress(*OUTAGES):
            self.records.retry_remediation(job_id, self.pipeline.clock() + timedelta(seconds=RETRY_SECONDS))
