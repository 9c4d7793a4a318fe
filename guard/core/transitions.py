"""Which alert, if any, a change of verdict or of availability deserves. Alerts go out on transitions only."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from guard.core.alerts import AlertKind
from guard.core.diagnosis import Diagnosis
from guard.core.state import WorkerState
from guard.core.verdict import Kind, Verdict

# An agent who flaps between activities while broken is paged once, not at every flap; a new stretch of
# availability after this long (the next morning, say) pages again.
URGENT_QUIET = timedelta(hours=1)
UNTIL_LOGIN = "still unreachable until the agent signs out and in again"
STILL_UNREACHABLE = f"available now: {UNTIL_LOGIN}"


@dataclass(frozen=True)
class Transition:
    """The outcome of comparing a new verdict (and availability) with the stored one."""

    alert: AlertKind | None
    note: str
    since: datetime
    urgent_at: datetime | None = None  # the last urgent alert of the current broken episode
    changed: bool = False  # the verdict or its values changed (a new drift, not the same one again)


_RESOLVED_NOTES = {
    Kind.OK: "contact_uri is correct again",
    Kind.PENDING: "contact_uri removed; Flex regenerates it at the next login",
    Kind.IGNORED: "worker is now ignored",  # and why: the verdict's detail (a rule, an intended value, no agent)
    Kind.NO_EMAIL: "email attribute removed; the contact_uri can no longer be checked",
    Kind.DELETED: "worker deleted",
}


def transition(
    prior: WorkerState | None,
    verdict: Verdict,
    now: datetime,
    repeat: timedelta | None = None,
    available: bool | None = None,
    activity_sid: str | None = None,
) -> Transition:
    """Decide the alert for moving from `prior` to `verdict` in an activity that is `available` (None: unknown).

    Into drift, wrong to wrong, resolved, no email, a reminder when due; and urgent when the worker becomes
    unreachable now (available and broken): a drift raised while available is one urgent alert, not two.
    """
    was_drifting = prior is not None and prior.verdict.drifting
    # A page is answered too: an agent paged with no contact_uri yet (pending) is resolved once it can ring.
    was_paged = prior is not None and prior.verdict.broken and prior.urgent_at is not None
    if verdict.kind is Kind.DELETED:
        if was_drifting or was_paged:
            return Transition(AlertKind.RESOLVED, _RESOLVED_NOTES[Kind.DELETED], now)
        return Transition(None, "", now)
    old = prior.verdict if prior is not None else None
    before = None if old is None else (old.kind, old.expected, old.actual, old.diagnosis)
    changed = before != (verdict.kind, verdict.expected, verdict.actual, verdict.diagnosis)
    since = now if changed or prior is None else prior.since
    alert: AlertKind | None = None
    note = ""
    if verdict.drifting:
        if not was_drifting:
            alert, note = AlertKind.DRIFT, "contact_uri drifted"
        elif changed and prior.verdict.actual != verdict.actual:
            alert, note = AlertKind.DRIFT, f"contact_uri changed from one wrong value ({prior.verdict.actual})"
        elif changed:  # the same wrong value, judged anew: the detail says why (identity rewritten, evidence edited)
            alert, note = AlertKind.DRIFT, "contact_uri still wrong"
        elif repeat is not None and now - (prior.last_alert_at or prior.since) >= repeat:
            alert, note = AlertKind.REMINDER, f"still drifting since {prior.since:%Y-%m-%d %H:%M} UTC"
    elif was_drifting or (was_paged and not verdict.broken):
        alert, note = AlertKind.RESOLVED, _RESOLVED_NOTES[verdict.kind]
        if verdict.kind is Kind.IGNORED and verdict.detail:
            note = f"{note}: {verdict.detail}"
        elif verdict.kind is Kind.NO_EMAIL and prior is not None and prior.verdict.email is None:  # never had any
            back = "a contact_uri is back" if prior.verdict.actual is None else "contact_uri no longer unusable"
            note = f"{back}; with no email to check it against, whether it rings is not known"
    elif verdict.kind is Kind.NO_EMAIL and changed:
        alert, note = AlertKind.NO_EMAIL, verdict.detail
    # Urgency: one page when the worker enters "unreachable now", unless it was paged for this episode lately.
    now_unreachable = available is True and verdict.broken
    # A "resolved" that does not say the agent is still unreachable ends the episode the admin was told of: coming
    # back unable to take calls (from a break: no login writes the value) pages, within the hour or not
    told_over = alert is AlertKind.RESOLVED and not now_unreachable
    episode = prior is not None and prior.verdict.broken and verdict.broken and not told_over
    urgent_at = prior.urgent_at if episode and prior is not None else None
    entering = now_unreachable and not (prior is not None and prior.unreachable)
    paged_lately = urgent_at is not None and now - urgent_at < URGENT_QUIET
    if entering and not paged_lately:  # a resolved drift still pages when the agent is available without a value
        # "became" only from an activity the guard knew of that routes no tasks, or moving from one it could not
        # place (`activity_sid`: the worker's now). With none stored (a release before 0006 kept none), the same
        # one just learned to route tasks, or one that routes tasks too, the agent may have been available all along
        was = (prior.activity_sid, prior.available) if prior is not None else (None, None)
        went = (
            "became"
            if was[0] is not None and (was[1] is False or (was[1] is None and was[0] != activity_sid))
            else "is"
        )
        if alert is AlertKind.DRIFT:  # one urgent alert, not a drift plus an escalation
            note = f"{note} while the agent is available"
        elif alert is AlertKind.RESOLVED:
            note = f"{note}; the agent {went} available with no contact_uri yet: {UNTIL_LOGIN}"
        else:
            value = "no contact_uri yet" if verdict.kind is Kind.PENDING else "a wrong contact_uri"
            if verdict.diagnosis is Diagnosis.WIPED:
                value = "no contact_uri: its attributes were wiped"
            if verdict.diagnosis is Diagnosis.REMOVED:  # not a first login's wait: the detail names the value
                value = f"no contact_uri: {'this' if old is not None and old.actual else 'an'} update removed it"
            note = f"the agent {went} available with {value}"
        alert, urgent_at = AlertKind.URGENT, now
    elif alert is AlertKind.RESOLVED and now_unreachable:
        note = f"{note}; {STILL_UNREACHABLE}"
    return Transition(alert, note, since, urgent_at, changed)
