"""Which alert, if any, a change of verdict deserves. Alerts go out on transitions only."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from guard.core.verdict import Kind, Verdict

DELETED = "deleted"  # the stored verdict of a worker that TaskRouter deleted


class AlertKind(StrEnum):
    """What an alert announces."""

    DRIFT = "drift"
    RESOLVED = "resolved"
    REMINDER = "reminder"
    NO_EMAIL = "no_email"
    REMEDIATION = "remediation"


@dataclass(frozen=True)
class Prior:
    """The part of the stored state that decides the next transition."""

    verdict: str
    expected: str | None
    actual: str | None
    since: datetime
    last_alert_at: datetime | None


@dataclass(frozen=True)
class Transition:
    """The outcome of comparing a new verdict with the stored one."""

    alert: AlertKind | None
    note: str
    since: datetime


_RESOLVED_NOTES = {
    Kind.OK: "contact_uri is correct again",
    Kind.PENDING: "contact_uri removed; Flex regenerates it at the next login",
    Kind.IGNORED: "worker is now ignored (IGNORE_WORKERS)",
    Kind.NO_EMAIL: "email attribute removed; the contact_uri can no longer be checked",
}


def transition(
    prior: Prior | None, verdict: Verdict | None, now: datetime, repeat: timedelta | None = None
) -> Transition:
    """Decide the alert for moving from `prior` to `verdict` (None means the worker was deleted)."""
    was_drifting = prior is not None and prior.verdict == Kind.MISMATCH
    if verdict is None:
        if was_drifting:
            return Transition(AlertKind.RESOLVED, "worker deleted", now)
        return Transition(None, "", now)
    changed = (
        prior is None
        or prior.verdict != verdict.kind
        or (prior.expected, prior.actual) != (verdict.expected, verdict.actual)
    )
    since = now if changed or prior is None else prior.since
    if verdict.drifting:
        return _drift_transition(prior, changed, now, since, repeat)
    if was_drifting:
        return Transition(AlertKind.RESOLVED, _RESOLVED_NOTES[verdict.kind], since)
    if verdict.kind is Kind.NO_EMAIL and changed:
        return Transition(AlertKind.NO_EMAIL, verdict.detail, since)
    return Transition(None, "", since)


def _drift_transition(
    prior: Prior | None, changed: bool, now: datetime, since: datetime, repeat: timedelta | None
) -> Transition:
    """Alert on a new drift or a new wrong value; remind about an old one when due."""
    if prior is None or prior.verdict != Kind.MISMATCH:
        return Transition(AlertKind.DRIFT, "contact_uri drifted", since)
    if changed:
        return Transition(AlertKind.DRIFT, f"contact_uri changed from one wrong value ({prior.actual})", since)
    last = prior.last_alert_at or prior.since
    if repeat and now - last >= repeat:
        return Transition(AlertKind.REMINDER, f"still drifting since {prior.since:%Y-%m-%d %H:%M} UTC", since)
    return Transition(None, "", since)
