"""POST /event-streams: a Twilio Event Streams webhook sink (CloudEvents batches)."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from flask import Blueprint, Response, jsonify, request

from guard.adapters.accounts import AccountDirectory
from guard.config.accounts import Account
from guard.container import services
from guard.core.activity import ActivityFact
from guard.core.fields import (
    InvalidSnapshot,
    optional_int,
    optional_time_ms,
    parse_activity,
    parse_attributes,
    parse_available,
    require_sid,
    storable_text,
)
from guard.core.sid import is_sid
from guard.core.snapshot import WorkerKey, WorkerSnapshot
from guard.core.text import shown
from guard.logs import log_event
from guard.metrics import count_event
from guard.service.writer import WAIT_SECONDS
from handlers.errors import bad_request, forbidden
from handlers.signing import CROSSED, UNKNOWN, refuse_non_utf8, signature_ok

bp = Blueprint("event_streams", __name__)
log = logging.getLogger("guard.event_streams")

PREFIX = "com.twilio.taskrouter."
CHECKED_TYPES = frozenset(
    PREFIX + name for name in ("worker.created", "worker.attributes.update", "worker.activity.update")
)
DELETED_TYPE = PREFIX + "worker.deleted"
ACTIVITY_TYPES = frozenset(PREFIX + name for name in ("activity.created", "activity.updated", "activity.deleted"))
BATCH_SECONDS = WAIT_SECONDS  # a whole batch committed within this, or 503: inside Event Streams' 5 s
NOT_JSON = object()  # a body that does not parse
BAD_LOGGED = 20  # bad elements logged one by one per batch; the rest in one line


@bp.post("/event-streams")
def receive_batch() -> Response | tuple[Response, int]:
    """Verify a batch, then record each relevant CloudEvent; bad elements are logged and skipped."""
    # From the start: verifying and parsing a large batch takes part of Event Streams' 5 s too
    deadline = time.monotonic() + BATCH_SECONDS  # activity facts and worker events alike: 503 in time, then a retry
    svc = services()
    if (refused := refuse_non_utf8(request, svc.settings, "event-streams")) is not None:
        return refused  # it cannot match a bodySHA256 Twilio computed
    text = request.get_data(cache=True).decode("utf-8")
    # Verified before the body is parsed (an unsigned megabyte of JSON costs nothing but a hash), then again with the
    # one account the batch names when that narrows it: one sink belongs to one account.
    served = list(svc.accounts.accounts)
    if not signature_ok(request, svc.settings, served, text):
        return _forged()
    events = _json(text)
    signers, why_none = _signing_accounts(svc.accounts, events)
    if signers != served and not signature_ok(request, svc.settings, signers, text, why_none):
        return _forged()
    if not isinstance(events, list | dict):
        count_event("event-streams", None, "bad_request")
        return bad_request("body is not JSON" if events is NOT_JSON else "body is not a CloudEvent or an array of them")
    batch = events if isinstance(events, list) else [events]
    counts = {"recorded": 0, "duplicate": 0, "stale": 0, "replay": 0, "skipped": 0, "bad": 0}
    snapshots: list[WorkerSnapshot] = []
    for index, event in enumerate(batch):
        event_type = event.get("type") if isinstance(event, dict) else None
        event_type = event_type if isinstance(event_type, str) else None  # a label from what was sent, if text
        try:
            snapshot = snapshot_from_cloudevent(event)
        except InvalidSnapshot as err:
            counts["bad"] += 1
            count_event("event-streams", event_type, "bad_request")
            if counts["bad"] <= BAD_LOGGED:
                log_event(log, logging.WARNING, "bad_cloudevent", index=index, reason=str(err), **_named(event))
            continue
        if snapshot is None:
            counts["skipped"] += 1
            count_event("event-streams", event_type, "ignored")
            continue
        count_event("event-streams", event_type, "accepted")
        if isinstance(snapshot, ActivityFact):
            counts[svc.learning.learn(snapshot, deadline).value] += 1
        else:
            snapshots.append(snapshot)
    if counts["bad"] > BAD_LOGGED:  # one line for the rest: a batch of junk is no reason to flood the log
        log_event(log, logging.WARNING, "bad_cloudevents_not_logged", more=counts["bad"] - BAD_LOGGED)
    # A few transactions for the whole batch, committed before the answer; past the deadline, what is not taken is left
    for outcome in svc.writer.record_all(snapshots, deadline, droppable=True):
        counts[outcome.value] += 1  # what each came to, as guard_worker_events_total counts it
    return jsonify(counts), 200


def snapshot_from_cloudevent(event: Any) -> WorkerSnapshot | ActivityFact | None:
    """Turn one CloudEvent into a worker snapshot or an activity fact, or None for a type the guard skips."""
    if not isinstance(event, dict):
        raise InvalidSnapshot("event is not a JSON object")
    if event.get("specversion") != "1.0":
        raise InvalidSnapshot("specversion is not 1.0")
    event_id = event.get("id")
    if not isinstance(event_id, str) or not event_id:
        raise InvalidSnapshot("id is missing")
    event_type = event.get("type")
    if not isinstance(event_type, str):
        raise InvalidSnapshot("type is not a string")
    if event_type not in CHECKED_TYPES and event_type != DELETED_TYPE and event_type not in ACTIVITY_TYPES:
        return None
    data = event.get("data")
    payload = data.get("payload") if isinstance(data, dict) else None
    if not isinstance(payload, dict):
        raise InvalidSnapshot("data.payload is missing")
    stamp = payload.get("timestamp") or data.get("timestamp")
    occurred_ms = (
        optional_time_ms(stamp, "data.payload.timestamp") if stamp else optional_time_ms(event.get("time"), "time")
    )
    if occurred_ms is None:  # unordered, a late copy would overwrite newer state, and no replay window would hold it
        raise InvalidSnapshot("no time: data.payload.timestamp and time are missing")
    account_sid = require_sid(payload.get("account_sid") or data.get("account_sid"), "data.payload.account_sid", "AC")
    if event_type in ACTIVITY_TYPES:
        return _activity_fact(payload, account_sid, event_type, occurred_ms, storable_text(event_id, "id", limit=64))
    deleted = event_type == DELETED_TYPE
    key = WorkerKey(
        account_sid,
        require_sid(payload.get("workspace_sid"), "data.payload.workspace_sid", "WS"),
        require_sid(payload.get("worker_sid"), "data.payload.worker_sid", "WK"),
    )
    attributes = parse_attributes(payload.get("worker_attributes"), "worker_attributes", optional=deleted)
    return WorkerSnapshot(
        key=key,
        name=name if isinstance(name := payload.get("worker_name"), str) else "",  # judged as sent
        attributes=attributes,
        attributes_text=text if isinstance(text := payload.get("worker_attributes"), str) else None,
        deleted=deleted,
        version=optional_int(payload.get("worker_version"), "data.payload.worker_version"),
        occurred_ms=occurred_ms,
        event_id=storable_text(event_id, "id", limit=64),
        event_sid=sid if is_sid(sid := payload.get("sid"), "EV") else None,  # who made it: TaskRouter's Event
        source="event-streams",
        activity=parse_activity(
            payload.get("worker_activity_sid"), payload.get("worker_activity_name"), "data.payload.worker_activity_sid"
        ),
    )


def _activity_fact(
    payload: dict[str, Any], account_sid: str, event_type: str, occurred_ms: int | None, event_id: str
) -> ActivityFact:
    """An activity.* CloudEvent: whether the activity routes tasks (`activity_available`)."""
    deleted = event_type.endswith(".deleted")
    raw_available = payload.get("activity_available")
    name = payload.get("activity_name")
    return ActivityFact(
        account_sid=account_sid,
        workspace_sid=require_sid(payload.get("workspace_sid"), "data.payload.workspace_sid", "WS"),
        sid=require_sid(payload.get("activity_sid"), "data.payload.activity_sid", "WA"),
        name=shown(name, 128) if isinstance(name, str) else "",
        available=None if deleted and raw_available is None else parse_available(raw_available, "activity_available"),
        deleted=deleted,
        occurred_ms=occurred_ms or 0,
        event_id=event_id,
        source="event-streams",
    )


def _named(event: Any) -> dict[str, str]:
    """What names a bad element in its log line (its id, type, worker or activity), where it is text."""
    if not isinstance(event, dict):
        return {}
    data = event.get("data")
    payload = data.get("payload") if isinstance(data, dict) else None
    payload = payload if isinstance(payload, dict) else {}
    fields = {"id": event.get("id"), "type": event.get("type")}
    fields |= {name: payload.get(name) for name in ("workspace_sid", "worker_sid", "activity_sid")}
    return {name: shown(value, 80) for name, value in fields.items() if isinstance(value, str)}


def _forged() -> Response:
    """403 for a batch no served account signed, counted (signature_ok logged why)."""
    count_event("event-streams", None, "bad_signature")
    return forbidden()


def _json(text: str | None) -> Any:
    """The parsed body, or NOT_JSON (`null` is JSON, though no CloudEvent)."""
    if text is None:
        return NOT_JSON
    try:
        return json.loads(text, parse_int=_integer)
    except (ValueError, RecursionError):
        return NOT_JSON


def _integer(digits: str) -> int | str:
    """A JSON integer; past int()'s 4,300 digits, its text: that element alone is bad, not the whole batch."""
    try:
        return int(digits)
    except ValueError:
        return digits


def _signing_accounts(accounts: AccountDirectory, events: Any) -> tuple[list[Account | None], str]:
    """Whose token may have signed: the one account the batch names, or every account if it names none; and why none.

    One sink belongs to one account: a batch naming several, or a workspace another account lists, is forged.
    """
    batch = events if isinstance(events, list) else [events]
    named = {sid for event in batch if (sid := _claimed(event, "account_sid"))}
    if not named:
        return list(accounts.accounts), UNKNOWN
    if len(named) > 1:
        return [], "the batch names several accounts; one sink belongs to one account"
    sid = named.pop()
    if any(accounts.crossed(sid, _claimed(event, "workspace_sid")) for event in batch):
        return [], CROSSED
    return [accounts.account_for(sid)], UNKNOWN


def _claimed(event: Any, field: str) -> str | None:
    """The account or workspace SID (`field`) a CloudEvent claims, if any."""
    data = event.get("data") if isinstance(event, dict) else None
    payload = data.get("payload") if isinstance(data, dict) else None
    sid = (payload.get(field) if isinstance(payload, dict) else None) or (
        data.get(field) if isinstance(data, dict) else None
    )
    return sid if isinstance(sid, str) else None
