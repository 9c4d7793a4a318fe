"""A worker's stored state as the core reads it, and the ordering rules that protect it from old events."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from guard.core.activity import unreachable
from guard.core.cause import Cause
from guard.core.changes import Changes
from guard.core.diagnosis import Diagnosis
from guard.core.history import REMOVAL_END, Known, came_back
from guard.core.trusted import NOTHING_TRUSTED, Trusted
from guard.core.verdict import Kind, Verdict

# An audit's or a removal's fetch is stamped by the guard's clock, and keeps the last version seen. A later version
# stamped this much before such a copy was made before it (a late delivery): older, whatever its version. Within
# it, the version decides, as the two clocks may differ by a little.
FETCH_SKEW_MS = 60_000
SECOND_MS = 1000


@dataclass(frozen=True)
class Intended:
    """An approver marked the worker's contact_uri intended ("Intended, ignore this worker")."""

    actor: str
    at: datetime
    value: str | None = None

    @property
    def label(self) -> str:
        """How a verdict names who marked the value intended, and when."""
        return f"{self.actor} on {self.at:%Y-%m-%d %H:%M} UTC"


@dataclass(frozen=True)
class WorkerState:
    """What the guard last concluded about one worker, and where that sits in the worker's history."""

    name: str
    verdict: Verdict
    since: datetime  # when the verdict (and its values) last changed
    updated_at: datetime
    version: int | None = None
    occurred_ms: int | None = None
    last_alert_at: datetime | None = None
    intended: Intended | None = None  # read with the state; written by the intended-value rules
    activity_sid: str | None = None
    activity_name: str | None = None
    available: bool | None = None  # whether its activity routes tasks; None: unknown
    urgent_at: datetime | None = None  # the last urgent alert of the current broken episode
    trusted: Trusted = NOTHING_TRUSTED  # the evidence no single update can erase (guard/core/history.py)
    attributes: str | None = None  # a safe, bounded copy of the latest attributes (JSON text)
    changes: Changes | None = None  # what else the update that raised the current drift changed
    cause: Cause | None = None  # who TaskRouter says made that update, once looked up
    removed: str | None = None  # the value the guard last removed (history.CAME_BACK), until one is accepted
    watched: tuple[str, ...] = ()  # earlier ones a login writes (history.still_watched), until one is accepted

    def known(self, adjacent: bool = False, skipped: bool = False) -> Known:
        """What the guard knew of the worker, as the judge reads it (`adjacent`: judging the next version).

        `skipped`: judging a version after some the guard never received.
        """
        verdict = self.verdict
        email = self.trusted.email or verdict.email
        return Known(
            email,
            self.trusted.name or self.name,
            self.trusted.identity,
            verdict.expected,
            verdict.actual,
            verdict.drifting,
            verdict.basis,
            self.removed,
            self.trusted.name_matched,
            adjacent,
            self._removal(),
            verdict.diagnosis,
            skipped,
            self.watched,
            self.trusted.set_aside,
            self.trusted.dropped,
        )

    def _removal(self) -> str | None:
        """The sentence naming a working value an update removed, while none is back (its notes left out)."""
        if self.verdict.kind is not Kind.PENDING or self.verdict.diagnosis is not Diagnosis.REMOVED:
            return None
        detail = self.verdict.detail
        cut = detail.find(REMOVAL_END)
        return detail if cut < 0 else detail[: cut + len(REMOVAL_END)]

    @property
    def came_back(self) -> bool:
        """True when its wrong value is one the guard removed before: alerted, never removed again (no loop)."""
        return self.verdict.drifting and came_back(self.known(), self.verdict.actual)

    @property
    def deleted(self) -> bool:
        """True once TaskRouter deleted the worker."""
        return self.verdict.kind is Kind.DELETED

    def outdates(
        self,
        version: int | None,
        occurred_ms: int | None,
        deleted: bool,
        whole_seconds: bool = False,
        fetched: bool = False,
    ) -> bool:
        """True when an event at this (version, time) is older than this state, so it must not overwrite it.

        A different WorkerVersion decides on its own. The same version is the same change seen again
        (another intake, a redelivery, a replay): then the time decides, so a newer observation, such as
        an audit's fetch, is not undone. A deletion is final for its version, and for anything from before it
        whatever its version: an audit's deletion has no version of its own (it keeps the last one seen), and
        every event of a worker comes before its deletion, however late Event Streams delivers it.
        """
        timed = occurred_ms is not None and self.occurred_ms is not None
        if self.deleted and not deleted and timed and occurred_ms <= self.occurred_ms:  # type: ignore[operator]
            return True
        if version is not None and self.version is not None:
            if version != self.version:  # a later version made well before a copy the guard fetched since is older
                return version < self.version or (timed and occurred_ms < self.occurred_ms - FETCH_SKEW_MS)  # type: ignore[operator]
            if self.deleted and not deleted:
                return True
            return timed and occurred_ms < self.occurred_ms  # type: ignore[operator]
        # By time alone (a side with no version): a stamp in whole seconds (a callback without TimestampMs) was
        # rounded down, so it is older only when a full second older. A fetch is stamped when it was asked: what
        # happened in that same millisecond may be newer than what it saw, and a drift it brought must stay seen
        # (a later change sends its own event; an event undone is never sent again). The state keeps no precision:
        # a stored stamp on a whole second may be a rounded one, so a fetch loses within that second.
        if fetched:
            rounded = SECOND_MS - 1 if timed and self.occurred_ms % SECOND_MS == 0 else 0  # type: ignore[operator]
            return timed and occurred_ms <= self.occurred_ms + rounded  # type: ignore[operator]
        slack = SECOND_MS if whole_seconds else 0
        return timed and occurred_ms + slack < self.occurred_ms  # type: ignore[operator]

    @property
    def unreachable(self) -> bool:
        """Available to TaskRouter and unable to ring."""
        return unreachable(self.verdict, self.available)
