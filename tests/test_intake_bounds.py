"""Refuse cheaply (issue 20, row 1): a forged form of 40,000 fields is refused before any signature is computed."""

import hashlib
import io
import json

import pytest
from twilio.request_validator import RequestValidator

from guard.core.snapshot import WorkerKey
from handlers.bounds import MAX_FORM_FIELDS
from tests.fakes.slack_clicks import SIGNING_SECRET
from tests.helpers import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    WORKSPACE_SID,
    cloudevent,
    stored_state,
    worker_event,
    worker_sid,
)
from tests.test_metrics import sample, scrape

FORM = "application/x-www-form-urlencoded"
REFUSED = {"source": "taskrouter", "event_type": "unverified", "outcome": "too_large"}


def forged_form(event_type: str, fields: int = 40_000) -> bytes:
    """An unsigned form of `fields` blank fields (~230 KB, under MAX_BODY_BYTES) naming a served account."""
    head = f"EventType={event_type}&AccountSid={ACCOUNT_SID}"
    return (head + "".join(f"&{n:x}=" for n in range(fields - 2))).encode()


@pytest.fixture
def signatures(monkeypatch):
    """Count every signature twilio's validator computes (the fast path and the full path both go through it)."""
    computed = []
    original = RequestValidator.compute_signature

    def counting(self, *args, **kwargs):
        computed.append(args[0])
        return original(self, *args, **kwargs)

    monkeypatch.setattr(RequestValidator, "compute_signature", counting)
    return computed


@pytest.mark.parametrize("event_type", ["task.created", "worker.attributes.update"], ids=["fast path", "full path"])
@pytest.mark.parametrize("sent", ["Content-Length", "chunked"])
def test_a_forged_form_of_40000_fields_is_refused_before_any_signature(
    client, taskrouter, services, signatures, capsys, event_type, sent
):
    body = forged_form(event_type)
    before = scrape(client)
    headers = {"X-Twilio-Signature": "Zm9yZ2Vk", "Content-Type": FORM}
    if sent == "chunked":  # no Content-Length: the bound is found by reading one byte past it, no further
        response = client.post(
            "/taskrouter/events",
            input_stream=io.BytesIO(body),
            headers=headers,
            environ_overrides={"wsgi.input_terminated": True},
        )
    else:
        response = client.post("/taskrouter/events", data=body, headers=headers)
    assert response.status_code == 413
    assert response.get_json() == {"error": f"request too large: 40000 form fields, more than {MAX_FORM_FIELDS}"}
    assert signatures == []  # refused on a count of "&", with no parse and no HMAC
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert [line["event"] for line in lines] == ["request_too_large"]
    assert lines[0]["reason"] == f"40000 form fields, more than {MAX_FORM_FIELDS}"
    refused = sample(scrape(client), "guard_events_received_total", **REFUSED)
    assert refused - sample(before, "guard_events_received_total", **REFUSED) == 1
    # Signed events still go through, on both paths.
    assert taskrouter.post(worker_event("task.created")).status_code == 204
    assert taskrouter.post(worker_event(contact_uri="sip:x")).status_code == 204
    assert stored_state(services, WorkerKey(ACCOUNT_SID, WORKSPACE_SID, worker_sid(1)))["verdict"] == "mismatch"
    assert len(signatures) >= 2


def test_a_signed_event_with_as_many_fields_as_allowed_is_accepted(taskrouter, services):
    fields = worker_event(contact_uri="sip:x")
    fields.update({f"Extra{n}": "x" for n in range(MAX_FORM_FIELDS - len(fields))})  # Twilio may add fields
    assert len(fields) == MAX_FORM_FIELDS
    assert taskrouter.post(fields).status_code == 204
    assert stored_state(services, WorkerKey(ACCOUNT_SID, WORKSPACE_SID, worker_sid(1)))["verdict"] == "mismatch"
    fields["OneTooMany"] = "x"
    assert taskrouter.post(fields).status_code == 413


def test_a_multipart_body_of_many_parts_is_refused_too(client, signatures):
    parts = {"EventType": "worker.attributes.update", "AccountSid": ACCOUNT_SID}
    parts.update({f"p{n}": "" for n in range(2 * MAX_FORM_FIELDS)})
    headers = {"X-Twilio-Signature": "Zm9yZ2Vk"}
    response = client.post("/taskrouter/events", data=parts, headers=headers, content_type="multipart/form-data")
    assert response.status_code == 413  # werkzeug's MAX_FORM_PARTS, set to the same bound
    assert signatures == []


@pytest.mark.parametrize("settings_overrides", [{"slack_signing_secret": SIGNING_SECRET}])
def test_slack_clicks_are_bounded_too(client, services, settings_overrides, capsys):
    body = b"payload=" + b"x" * services.settings.max_body_bytes
    response = client.post("/slack/interactions", data=body, headers={"Content-Type": FORM})
    assert response.status_code == 413  # not even Slack's signature is checked
    assert '"event": "request_too_large"' in capsys.readouterr().out


@pytest.mark.parametrize("media", [FORM + "X", FORM + "-extra", "text/plain"])
def test_a_form_under_another_media_type_never_has_its_fields_signed(client, services, media, monkeypatch):
    signed_fields = []
    original = RequestValidator.compute_signature
    monkeypatch.setattr(
        RequestValidator,
        "compute_signature",
        lambda self, uri, params, *rest: signed_fields.append(len(params or ())) or original(self, uri, params, *rest),
    )
    headers = {"X-Twilio-Signature": "Zm9yZ2Vk", "Content-Type": media}
    response = client.post("/taskrouter/events", data=forged_form("task.created"), headers=headers)
    assert 400 <= response.status_code < 500
    assert max(signed_fields, default=0) <= MAX_FORM_FIELDS  # the fast path read the type as the bound does


def test_an_unsigned_event_streams_body_is_refused_before_it_is_parsed(client, monkeypatch):
    from handlers import event_streams

    parsed = []
    monkeypatch.setattr(event_streams, "_json", lambda text: parsed.append(text))
    body = "[" + ",".join(["{}"] * 50_000) + "]"
    path = f"/event-streams?bodySHA256={hashlib.sha256(body.encode()).hexdigest()}"
    headers = {"X-Twilio-Signature": "Zm9yZ2Vk", "Content-Type": "application/json"}
    assert client.post(path, data=body, headers=headers).status_code == 403
    assert parsed == []


def _post_chunked(client, events):
    """A signed Event Streams batch with no Content-Length, as gunicorn hands a chunked body to the app."""
    text = json.dumps(events)
    path = f"/event-streams?bodySHA256={hashlib.sha256(text.encode()).hexdigest()}"
    signature = RequestValidator(AUTH_TOKEN).compute_signature(f"http://localhost{path}", {})
    headers = {"X-Twilio-Signature": signature, "Content-Type": "application/json"}
    chunked = {"CONTENT_LENGTH": "", "HTTP_TRANSFER_ENCODING": "chunked", "wsgi.input_terminated": True}
    return client.post(path, input_stream=io.BytesIO(text.encode()), headers=headers, environ_overrides=chunked)


def test_a_signed_event_streams_batch_past_the_bound_sent_chunked_gets_413_not_403(client, services, capsys):
    response = _post_chunked(client, [cloudevent()] * 1200)  # ~1.5 MB, past MAX_BODY_BYTES (1 MB)
    assert response.status_code == 413  # read as empty, its signature failed: a 403 "bad signature" before
    out = capsys.readouterr().out
    assert '"event": "request_too_large"' in out and "bad_signature" not in out
    assert stored_state(services, WorkerKey(ACCOUNT_SID, WORKSPACE_SID, worker_sid(1))) is None
