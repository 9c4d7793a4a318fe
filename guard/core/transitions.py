"""Which alert, if any, a change of verdict deserves. Alerts go out on transitions only."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from guard.core.alerts import AlertKind
from guard.core.state import WorkerState
from guard.core.verdict import Kind, Verdict


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
    Kind.DELETED: "worker deleted",
}


def transition(
    prior: WorkerState | None, verdict: Verdict, now: datetime, repeat: timedelta | None = None
) -> Transition:
    """Decide the alert for moving from `prior` to `verdict` (Kind.DELETED: the worker was deleted)."""
    was_drifting = prior is not None and prior.verdict.drifting
    if verdict.kind is Kind.DELETED:
        if was_drifting:
            return Transition(AlertKind.RESOLVED, _RESOLVED_NOTES[Kind.DELETED], now)
        return Transition(None, "", now)
    before = None if prior is None else (prior.verdict.kind, prior.verdict.expected, prior.verdict.actual)
    changed = before != (verdict.kind, verdict.expected, verdict.actual)
    since = now if changed or prior is None else prior.since
    if verdict.drifting and not was_drifting:
        return Transition(AlertKind.DRIFT, "contact_uri drifted", since)
    if verdict.drifting and changed:
        return Transition(AlertKind.DRIFT, f"contact_uri changed from one wrong value ({prior.verdict.actual})", since)
    if verdict.drifting:  # the same drift again: remind about it when due
        last = prior.last_alert_at or prior.since
        due = repeat is not None and now - last >= repeat
        note = f"still drifting since {prior.since:%Y-%m-%d %H:%M} UTC" if due else ""
        return Transition(AlertKind.REMINDER if due else None, note, since)
    if was_drifting:
        return Transition(AlertKind.RESOLVED, _RESOLVED_NOTES[verdict.kind], since)
    if verdict.kind is Kind.NO_EMAIL and changed:
        return Transition(AlertKind.NO_EMAIL, verdict.detail, since)
    return Transition(None, "", since)
