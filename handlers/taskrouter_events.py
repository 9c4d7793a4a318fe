"""POST /taskrouter/events: the TaskRouter workspace Event Callback URL."""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, Response, request
from werkzeug.datastructures import MultiDict

from guard.container import services
from guard.core.activity import ActivityFact
from guard.core.fields import (
    MAX_EPOCH_MS,
    InvalidSnapshot,
    optional_int,
    parse_activity,
    parse_attributes,
    parse_available,
    require_sid,
)
from guard.core.snapshot import WorkerKey, WorkerSnapshot
from guard.core.text import shown
from guard.logs import log_event
from guard.metrics import count_event
from handlers.errors import bad_request, forbidden
from handlers.signing import CROSSED, UNKNOWN, refuse_non_utf8, signature_ok

bp = Blueprint("taskrouter_events", __name__)
log = logging.getLogger("guard.taskrouter_events")

# The events the guard acts on; every other authentic event is acknowledged and skipped.
CHECKED_EVENTS = frozenset({"worker.created", "worker.attributes.update", "worker.activity.update"})
DELETED_EVENT = "worker.deleted"
ACTIVITY_EVENTS = frozenset({"activity.created", "activity.updated", "activity.deleted"})  # what is available
WORKER_EVENTS = frozenset({*CHECKED_EVENTS, DELETED_EVENT})
ACTED_ON = frozenset({*WORKER_EVENTS, *ACTIVITY_EVENTS})
Fields = Any  # a form: werkzeug's MultiDict here, yarl's MultiDictProxy on the fast path (both answer .get)


def acknowledged() -> Response:
    """Twilio asks for 204 No Content with a JSON content type."""
    return Response(status=204, content_type="application/json")


@bp.post("/taskrouter/events")
def receive_event() -> Response:
    """Verify, parse the form into a worker snapshot, and hand it to the pipeline; skip the other types."""
    svc = services()
    if (refused := refuse_non_utf8(request, svc.settings, "taskrouter")) is not None:
        return refused  # werkzeug would drop the whole form: "EventType is missing", or a mismatched signature
    form = request.form
    event_type = form.get("EventType")
    account_sid = form.get("AccountSid")
    crossed = svc.accounts.crossed(account_sid, form.get("WorkspaceSid"))
    signer = None if crossed else svc.accounts.account_for(account_sid)
    if not signature_ok(request, svc.settings, [signer], form, CROSSED if crossed else UNKNOWN):
        count_event("taskrouter", event_type, "bad_signature")
        return forbidden()
    if event_type and event_type not in ACTED_ON:
        count_event("taskrouter", event_type, "ignored")
        return acknowledged()
    if event_type in ACTIVITY_EVENTS:
        return _learn_activity(form, event_type)
    try:
        if not event_type:
            raise InvalidSnapshot("EventType is missing")
        snapshot = snapshot_from_fields(form, event_type)
    except InvalidSnapshot as err:
        count_event("taskrouter", event_type, "bad_request")
        return bad_request(str(err), event_type=(event_type or "")[:64])
    count_event("taskrouter", event_type, "accepted")
    outcome = svc.writer.record(snapshot)
    log_event(log, logging.DEBUG, "event_processed", outcome=outcome, worker_sid=snapshot.key.worker_sid)
    return acknowledged()


def snapshot_from_fields(form: Fields, event_type: str) -> WorkerSnapshot:
    """A worker event's form fields (werkzeug's or yarl's) as a snapshot; InvalidSnapshot names a bad field."""
    deleted = event_type == DELETED_EVENT
    resource_is_worker = form.get("ResourceType", "").lower() == "worker"
    worker_sid = form.get("WorkerSid") or (form.get("ResourceSid") if resource_is_worker else None)
    key = WorkerKey(
        require_sid(form.get("AccountSid"), "AccountSid", "AC"),
        require_sid(form.get("WorkspaceSid"), "WorkspaceSid", "WS"),
        require_sid(worker_sid, "WorkerSid", "WK"),
    )
    event_id, occurred_ms = event_identity(form.get("Sid"), form.get("Timestamp"), form.get("TimestampMs"))
    return WorkerSnapshot(
        key=key,
        name=form.get("WorkerName", ""),  # judged as sent; the state keeps a safe rendering
        attributes=parse_attributes(form.get("WorkerAttributes"), "WorkerAttributes", optional=deleted),
        attributes_text=form.get("WorkerAttributes"),
        deleted=deleted,
        version=optional_int(form.get("WorkerVersion"), "WorkerVersion"),
        occurred_ms=occurred_ms,
        whole_seconds=not form.get("TimestampMs"),
        event_id=event_id,
        source="taskrouter",
        activity=parse_activity(form.get("WorkerActivitySid"), form.get("WorkerActivityName"), "WorkerActivitySid"),
    )


def event_identity(sid: Any, seconds: Any, milliseconds: Any) -> tuple[str, int]:
    """A callback's event `Sid` and when it happened (ms), both required: InvalidSnapshot names a bad one.

    Twilio signs the fields' names and values run together, so a field can be made to swallow the ones after it
    without breaking the signature: an old event recut without its Sid and times would pass the dedup and the
    replay window. Every TaskRouter callback carries both (FACTS.md); one without them is refused.
    """
    event_id = require_sid(sid, "Sid", "EV")
    second = optional_int(seconds, "Timestamp", MAX_EPOCH_MS // 1000)
    if second is None:
        raise InvalidSnapshot("Timestamp is missing")
    occurred_ms = optional_int(milliseconds, "TimestampMs", MAX_EPOCH_MS)
    return event_id, second * 1000 if occurred_ms is None else occurred_ms


def _learn_activity(form: MultiDict[str, str], event_type: str) -> Response:
    """An activity.* event says whether an activity routes tasks: remember it before the answer."""
    resource_is_activity = form.get("ResourceType", "").lower() == "activity"
    try:
        event_id, occurred_ms = event_identity(form.get("Sid"), form.get("Timestamp"), form.get("TimestampMs"))
        deleted = event_type == "activity.deleted"
        raw_available = form.get("ActivityAvailable")
        fact = ActivityFact(
            account_sid=require_sid(form.get("AccountSid"), "AccountSid", "AC"),
            workspace_sid=require_sid(form.get("WorkspaceSid"), "WorkspaceSid", "WS"),
            sid=require_sid(
                form.get("ActivitySid") or (form.get("ResourceSid") if resource_is_activity else None),
                "ActivitySid",
                "WA",
            ),
            name=shown(form.get("ActivityName", ""), 128),
            available=None if deleted and not raw_available else parse_available(raw_available, "ActivityAvailable"),
            deleted=deleted,
            occurred_ms=occurred_ms,
            event_id=event_id,
        )
    except InvalidSnapshot as err:
        count_event("taskrouter", event_type, "bad_request")
        return bad_request(str(err), event_type=event_type)
    count_event("taskrouter", event_type, "accepted")
    services().learning.learn(fact)
    return acknowledged()
