"""POST /taskrouter/events: the TaskRouter workspace Event Callback URL."""

from __future__ import annotations

import logging

from flask import Blueprint, Response, request
from werkzeug.datastructures import MultiDict

from guard.container import services
from guard.core.snapshot import (
    MAX_EPOCH_MS,
    InvalidSnapshot,
    WorkerKey,
    WorkerSnapshot,
    optional_int,
    parse_attributes,
    require_sid,
    storable_text,
)
from guard.logs import log_event
from guard.metrics import count_event
from handlers.errors import bad_request, forbidden
from handlers.signing import signature_ok

bp = Blueprint("taskrouter_events", __name__)
log = logging.getLogger("guard.taskrouter_events")

# The worker events the guard acts on; every other authentic event is acknowledged and skipped.
CHECKED_EVENTS = frozenset({"worker.created", "worker.attributes.update"})
DELETED_EVENT = "worker.deleted"


def acknowledged() -> Response:
    """Twilio asks for 204 No Content with a JSON content type."""
    return Response(status=204, content_type="application/json")


@bp.post("/taskrouter/events")
def receive_event() -> Response:
    """Verify, parse and hand a TaskRouter event to the pipeline."""
    form = request.form
    svc = services()
    event_type = form.get("EventType")
    if not signature_ok(request, svc.settings, [svc.settings.account_for(form.get("AccountSid"))], form):
        count_event("taskrouter", event_type, "bad_signature")
        return forbidden()
    try:
        snapshot = snapshot_from_form(form)
    except InvalidSnapshot as err:
        count_event("taskrouter", event_type, "bad_request")
        return bad_request(str(err), event_type=(event_type or "")[:64])
    if snapshot is None:
        count_event("taskrouter", event_type, "ignored")
        return acknowledged()
    count_event("taskrouter", event_type, "accepted")
    outcome = svc.pipeline.record(snapshot)
    log_event(log, logging.DEBUG, "event_processed", outcome=outcome, worker_sid=snapshot.key.worker_sid)
    return acknowledged()


def snapshot_from_form(form: MultiDict[str, str]) -> WorkerSnapshot | None:
    """Turn TaskRouter's form fields into a worker snapshot, or None for an event we skip."""
    event_type = form.get("EventType")
    if not event_type:
        raise InvalidSnapshot("EventType is missing")
    if event_type not in CHECKED_EVENTS and event_type != DELETED_EVENT:
        return None
    deleted = event_type == DELETED_EVENT
    resource_is_worker = form.get("ResourceType", "").lower() == "worker"
    worker_sid = form.get("WorkerSid") or (form.get("ResourceSid") if resource_is_worker else None)
    key = WorkerKey(
        require_sid(form.get("AccountSid"), "AccountSid", "AC"),
        require_sid(form.get("WorkspaceSid"), "WorkspaceSid", "WS"),
        require_sid(worker_sid, "WorkerSid", "WK"),
    )
    attributes = parse_attributes(form.get("WorkerAttributes"), "WorkerAttributes", optional=deleted)
    seconds = optional_int(form.get("Timestamp"), "Timestamp", MAX_EPOCH_MS // 1000)
    occurred_ms = optional_int(form.get("TimestampMs"), "TimestampMs", MAX_EPOCH_MS)
    event_id = form.get("Sid") or None
    return WorkerSnapshot(
        key=key,
        name=form.get("WorkerName", ""),  # judged as sent; the state keeps a safe rendering
        attributes=attributes,
        deleted=deleted,
        version=optional_int(form.get("WorkerVersion"), "WorkerVersion"),
        occurred_ms=occurred_ms if occurred_ms is not None else (seconds * 1000 if seconds is not None else None),
        event_id=storable_text(event_id, "Sid", limit=64) if event_id else None,
        source="taskrouter",
    )
