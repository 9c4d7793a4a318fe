"""One decision per event: the snapshot, the stored state, the rules and the time in; everything to apply out.

The service loads the stored state, calls `decide` once, and applies the Decision in one transaction: the
new state, the alert (if any), and the removal to queue. The other entry points decide the same way for a
value marked intended, a reminder and a remediation's outcome. Nothing here touches I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from guard.core.activity import Activity
from guard.core.alerts import Alert, AlertKind, Routing, raise_alert
from guard.core.aside import kept_aside, still_dropped
from guard.core.cause import NO_CREDENTIALS_NOTE, PENDING_NOTE, UNNAMED_NOTE, Lookup
from guard.core.contact_uri import contact_uri_for, same_identity
from guard.core.deep_json import without
from guard.core.diagnosis import Diagnosis
from guard.core.evidence import IDENTITY_ATTRIBUTE, Basis, usable_text, valid_identity
from guard.core.rules import Rules
from guard.core.snapshot import WorkerSnapshot
from guard.core.state import SECOND_MS, WorkerState
from guard.core.text import shown
from guard.core.transitions import transition
from guard.core.trusted import NOTHING_TRUSTED, Trusted
from guard.core.verdict import Kind, Verdict

EVENT_STREAMS = "event-streams"
LOOKED_UP = ("taskrouter", EVENT_STREAMS)  # deliveries TaskRouter keeps an Event resource for
FORCED = (Diagnosis.WIPED, Diagnosis.IDENTITY_CHANGED, Diagnosis.EVIDENCE_CHANGED)  # drifts the history decided
NAME_MAX = 256  # a worker name in the state and alerts (Slack's header takes 150 characters anyway)
REMEDIATION_ACTOR = "guard (REMEDIATE=remove)"  # who the webhook path's queued removals are recorded as


class Outcome(StrEnum):
    """What happened to one snapshot."""

    RECORDED = "recorded"
    DUPLICATE = "duplicate"  # its event id was seen before
    STALE = "stale"  # older than the stored state
    REPLAY = "replay"  # older than the dedup window


@dataclass(frozen=True)
class DecisionRules:
    """Everything a decision follows besides the event, the stored state and the time."""

    judging: Rules
    routing: Routing
    repeat: timedelta | None  # ALERT_REPEAT_HOURS
    remediate: bool  # REMEDIATE=remove
    available_names: frozenset[str] = frozenset({"available"})  # AVAILABLE_ACTIVITIES, casefolded
    cause_wait: float = 4.0  # CAUSE_WAIT_SECONDS: how long a drift alert waits for who changed it


@dataclass(frozen=True)
class Decision:
    """What to apply: the state to save (None: nothing), the alert to queue, and whether to queue a removal."""

    outcome: Outcome
    verdict: Verdict | None = None  # what the snapshot was judged, even when it is too old to apply
    state: WorkerState | None = None
    alert: Alert | None = None
    remove: bool = False  # queue the removal of the state's wrong value (never done in the request)
    lookup: Lookup | None = None  # hold the alert a few seconds; ask TaskRouter who made the change (in the background)
    closes: bool = False  # the episode ends, or a newer change takes over: its unpaged lookups are void (causes.py)


DUPLICATE = Decision(Outcome.DUPLICATE)


def decide(snapshot: WorkerSnapshot, stored: WorkerState | None, rules: DecisionRules, now: datetime) -> Decision:
    """Decide for one snapshot of a worker against its `stored` state."""
    if stored is not None and stored.removed is not None:  # the guard removed a value: this may predate that
        snapshot = _after_removal(snapshot, stored)
    versions = (stored.version, snapshot.version) if stored is not None else (None, None)
    known = stored.known(_next(*versions), _skipped(*versions)) if stored is not None and not stored.deleted else None
    if snapshot.deleted:
        verdict = Verdict(Kind.DELETED, stored.verdict.email if stored else None)
    else:  # a value an approver marked intended is recorded with the state
        judging = rules.judging
        if stored is not None and stored.intended is not None:
            judging = judging.with_intended({snapshot.key.worker_sid: (stored.intended.label, stored.intended.value)})
        verdict = judging.judge(snapshot.attributes, snapshot.key.worker_sid, snapshot.name, known)
    if snapshot.is_replay(now):
        return Decision(Outcome.REPLAY, verdict)
    if stored is not None and stored.outdates(
        snapshot.version, snapshot.occurred_ms, snapshot.deleted, snapshot.whole_seconds, snapshot.fetched
    ):
        return Decision(Outcome.STALE, verdict)
    activity = snapshot.activity
    if activity is None and stored is not None:  # the event named no activity: the stored one stands
        activity = Activity(stored.activity_sid, stored.activity_name, stored.available)
    available = activity.resolve(rules.available_names) if activity else None
    if available is None and activity and activity.sid and stored is not None and stored.activity_sid == activity.sid:
        available = stored.available  # what a source said of this activity (an audit) stands until one says otherwise
    change = transition(stored, verdict, now, rules.repeat, available, activity.sid if activity else None)
    if verdict.kind is Kind.DELETED:
        verdict = replace(verdict, detail=change.note)
    attributes = stored.attributes if snapshot.deleted and stored else snapshot.stored_copy()
    trusted = stored.trusted if stored else NOTHING_TRUSTED
    if not snapshot.deleted and verdict.diagnosis not in FORCED:  # a forced drift keeps what it is judged against
        email, recorded = usable_text(snapshot.attributes.get("email")), snapshot.attributes.get(IDENTITY_ATTRIBUTE)
        ok_otherwise = verdict.kind is Kind.OK and verdict.basis not in (None, Basis.TWILIO_CONTACT_IDENTITY)
        aside = kept_aside(trusted, recorded, ok_otherwise, rules.judging.policy)
        identity = recorded if valid_identity(recorded) and not (aside and same_identity(recorded, aside)) else None
        identity = identity or trusted.identity
        if aside and identity and same_identity(identity, aside):  # trusted before a login contradicted it
            identity = None
        if trusted.identity and identity and same_identity(identity, trusted.identity):
            identity = trusted.identity  # only re-escaped: the form the guard knew stays the one it trusts
        # The name an ok value matched stays trusted through renames and a wait for the next login (history.renamed),
        # until a value is ok again against another name or without one.
        name = shown(snapshot.name, NAME_MAX) or trusted.name
        ok = verdict.kind is Kind.OK
        matched = (ok and verdict.basis is Basis.WORKER_NAME) or (not ok and trusted.name_matched)
        if matched and (not ok or verdict.expected != shown(contact_uri_for(name))):
            name = trusted.name  # not ok now, or ok against the trusted name after a rename
        was = (stored.verdict.actual, stored.verdict.drifting) if stored else (None, False)
        dropped = still_dropped(*was, verdict.actual, trusted.dropped)
        trusted = Trusted(shown(email) if email else trusted.email, name, identity, matched, aside, dropped)
    # A new drift, or a value removed by an update (broken until the next login): what changed, and who did it
    removed = verdict.diagnosis is Diagnosis.REMOVED and stored is not None and stored.verdict.actual is not None
    new_drift = (verdict.drifting or removed) and change.changed and change.alert in (AlertKind.DRIFT, AlertKind.URGENT)
    # Removed while the agent is away (Break): no page now, but the one when it is available says what and who
    explained = new_drift or (removed and change.changed and change.alert is None)
    asked = explained and snapshot.source in LOOKED_UP and rules.routing.lookups
    after_ms = stored.occurred_ms if stored else None  # its update is not the cause (nor an older one)
    lookup = Lookup(
        snapshot.event_sid or snapshot.event_id,
        snapshot.source,
        snapshot.occurred_ms,
        rules.cause_wait,
        after_ms=after_ms,
    )
    lookup = lookup if asked else None
    changes = snapshot.changes_since(stored.attributes if stored else None) if explained else None
    if changes is not None and stored is not None and _skipped(stored.version, snapshot.version):
        changes = replace(changes, since_version=stored.version)  # not all of it this update's doing
        lookup = lookup and replace(lookup, since_version=stored.version)  # its cause may be days older
    # The same episode: broken, or a drift whose value still rings (an identity rewritten around it)
    carried = stored is not None and (verdict.broken or verdict.drifting) and stored.verdict.kind is verdict.kind
    state = WorkerState(
        name=shown(snapshot.name, NAME_MAX) if snapshot.name else (stored.name if stored else ""),
        verdict=verdict,
        since=change.since,
        updated_at=now,
        # Event Streams without a version came after the stored one by Twilio's clock: keep none, so a late callback
        # is ordered by its time, not undone by its higher version. An audit's clock is the guard's: the version stays.
        version=None
        if snapshot.version is None and snapshot.source == EVENT_STREAMS
        else _newest(snapshot.version, stored and stored.version),
        occurred_ms=_newest(snapshot.occurred_ms, stored and stored.occurred_ms),
        last_alert_at=now if change.alert else stored and stored.last_alert_at,
        intended=stored and stored.intended,
        activity_sid=activity.sid if activity else None,
        activity_name=activity.name if activity else None,
        available=available,
        urgent_at=change.urgent_at,
        trusted=trusted,
        attributes=attributes,
        changes=changes if explained else stored.changes if carried else None,
        cause=stored.cause if carried and not explained else None,
        removed=stored.removed if stored and verdict.broken else None,  # an accepted value ends the loop watch
        watched=stored.watched if stored and verdict.broken else (),
    )
    # The episode an unpaged lookup was asked for ends: a value back, or a newer change that is asked about itself
    closes = explained or (stored is not None and stored.verdict.broken and not verdict.broken)
    if change.alert is None:
        return Decision(Outcome.RECORDED, verdict, state, lookup=lookup, closes=closes)
    previous = stored.verdict.actual if stored else None
    # A page of a drift raised before (the agent now available) says why it names nobody, as the first alert did
    unnamed = not explained and state.cause is None and change.alert in (AlertKind.DRIFT, AlertKind.URGENT)
    unknown = NO_CREDENTIALS_NOTE if not rules.routing.lookups else UNNAMED_NOTE if unnamed else None
    note = PENDING_NOTE if asked else unknown if new_drift or unnamed else None
    context = {"source": snapshot.source, "version": snapshot.version, "previous_actual": previous, "cause_note": note}
    context["answers_page"] = change.alert is AlertKind.RESOLVED and stored is not None and stored.urgent_at is not None
    alert = raise_alert(change.alert, change.note, snapshot.key, state, rules.routing, now, **context)
    remove = rules.remediate and verdict.removable and not state.came_back
    remove = remove and change.alert in (AlertKind.DRIFT, AlertKind.URGENT)
    return Decision(Outcome.RECORDED, verdict, state, alert, remove, lookup, closes)


def _after_removal(snapshot: WorkerSnapshot, stored: WorkerState) -> WorkerSnapshot:
    """A later version made before the guard's removal and delivered after it: without the value removed since.

    Its version still counts (its activity may be the newest), but its value is not one that came back: TaskRouter
    holds its attributes without it. Timed against the removal's position (this clock); a stamp in whole seconds
    (a callback without TimestampMs) counts only a full second before it, so a value put back just after is not lost.
    """
    if (
        stored.verdict.actual is not None
        or snapshot.occurred_ms is None
        or stored.occurred_ms is None
        or snapshot.occurred_ms + (SECOND_MS if snapshot.whole_seconds else 0) >= stored.occurred_ms
        or snapshot.attributes.get("contact_uri") != stored.removed
    ):
        return snapshot
    attributes = {name: value for name, value in snapshot.attributes.items() if name != "contact_uri"}
    text = without(snapshot.attributes_text, "contact_uri") if snapshot.attributes_text is not None else None
    return replace(snapshot, attributes=attributes, attributes_text=text)


def _next(stored: int | None, version: int | None) -> bool:
    """True when `version` directly follows the stored one: the guard saw every update between them."""
    return stored is not None and version == stored + 1


def _skipped(stored: int | None, version: int | None) -> bool:
    """True when versions lie between the stored one and this event's: updates the guard never received."""
    return stored is not None and version is not None and version > stored + 1


def _newest(a: int | None, b: int | None) -> int | None:
    """The larger of two optional positions."""
    return b if a is None else a if b is None else max(a, b)
