"""POST /taskrouter/events: signatures, event types, bad input, duplicates and ordering."""

import json
from typing import ClassVar

import pytest
from sqlalchemy import func, select

from guard.adapters.tables import alert, processed_event, worker_state
from guard.core.snapshot import WorkerKey
from tests.helpers import ACCOUNT_SID, ANN_URI, AUTH_TOKEN, WORKSPACE_SID, sign, stored_state, worker_event, worker_sid

KEY = WorkerKey(ACCOUNT_SID, WORKSPACE_SID, worker_sid(1))


def rows(services, table):
    """All rows of `table` as dicts, in primary-key order (PostgreSQL promises no order otherwise)."""
    with services.store.engine.connect() as connection:
        return [dict(r._mapping) for r in connection.execute(select(table).order_by(*table.primary_key))]


def row_count(services):
    """How many rows the three tables hold in total."""
    with services.store.engine.connect() as connection:
        return sum(
            connection.execute(select(func.count()).select_from(t)).scalar()
            for t in (worker_state, alert, processed_event)
        )


def test_drift_is_recorded_alerted_and_answered_204_json(taskrouter, services, capsys):
    response = taskrouter.post(worker_event(contact_uri="sip:ann@example.com"))
    assert response.status_code == 204
    assert response.content_type == "application/json"
    state = stored_state(services, KEY)
    assert state["verdict"] == "mismatch"
    assert (state["expected"], state["actual"]) == (ANN_URI, "sip:ann@example.com")
    assert state["name"] == "Ann Veal"
    assert state["version"] == 1
    [queued] = rows(services, alert)
    assert (queued["kind"], queued["channel"], queued["status"]) == ("drift", "log", "delivered")
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"alert"' in line]
    assert [(entry["event"], entry["kind"], entry["actual"]) for entry in lines] == [
        ("alert", "drift", "sip:ann@example.com")
    ]


@pytest.mark.parametrize("event_type", ["worker.created", "worker.attributes.update"])
def test_healthy_and_pending_workers_are_recorded_without_alert(taskrouter, services, event_type):
    assert taskrouter.post(worker_event(event_type, sid=worker_sid(1))).status_code == 204
    assert taskrouter.post(worker_event(event_type, sid=worker_sid(2), contact_uri=None)).status_code == 204
    assert stored_state(services, KEY)["verdict"] == "ok"
    assert stored_state(services, WorkerKey(ACCOUNT_SID, WORKSPACE_SID, worker_sid(2)))["verdict"] == "pending"
    assert rows(services, alert) == []


@pytest.mark.parametrize("event_type", ["reservation.created", "task.created", "worker.capacity.update"])
def test_other_events_get_204_and_no_work(taskrouter, services, event_type):
    fields = worker_event(event_type, contact_uri="sip:drift")
    assert taskrouter.post(fields).status_code == 204
    assert row_count(services) == 0


@pytest.mark.parametrize("attributes", [None, ""], ids=["absent", "blank"])
def test_deleted_worker_closes_its_drift(taskrouter, services, attributes):
    taskrouter.post(worker_event(contact_uri="sip:x", version=1))
    deleted = worker_event("worker.deleted", version=2)
    if attributes is None:
        del deleted["WorkerAttributes"]
    else:
        deleted["WorkerAttributes"] = attributes
    assert taskrouter.post(deleted).status_code == 204
    assert stored_state(services, KEY)["verdict"] == "deleted"
    kinds = [(r["kind"], json.loads(r["payload"])["note"]) for r in rows(services, alert)]
    assert kinds == [("drift", "contact_uri drifted"), ("resolved", "worker deleted")]


def test_same_event_sid_is_processed_once(taskrouter, services):
    fields = worker_event(contact_uri="sip:x")
    assert taskrouter.post(fields).status_code == 204
    assert taskrouter.post(fields).status_code == 204
    assert len(rows(services, alert)) == 1


def test_older_worker_version_never_overwrites_newer_state(taskrouter, services):
    taskrouter.post(worker_event(contact_uri="sip:new", version=5))
    taskrouter.post(worker_event(contact_uri=ANN_URI, version=4))
    state = stored_state(services, KEY)
    assert (state["verdict"], state["actual"], state["version"]) == ("mismatch", "sip:new", 5)
    assert [r["kind"] for r in rows(services, alert)] == ["drift"]


def test_stale_update_after_delete_does_not_resurrect(taskrouter, services):
    taskrouter.post(worker_event("worker.deleted", version=3))
    taskrouter.post(worker_event(contact_uri="sip:x", version=3))
    assert stored_state(services, KEY)["verdict"] == "deleted"
    assert rows(services, alert) == []


class TestSignatures:
    """A forged or missing signature gets 403 and leaves no trace."""

    def test_missing_signature(self, client, services):
        response = client.post("/taskrouter/events", data=worker_event(contact_uri="sip:x"))
        assert response.status_code == 403
        assert row_count(services) == 0

    def test_signature_made_with_another_token(self, taskrouter, services):
        assert taskrouter.post(worker_event(contact_uri="sip:x"), token="another-token").status_code == 403
        assert row_count(services) == 0

    def test_signature_for_another_url(self, taskrouter, services):
        fields = worker_event(contact_uri="sip:x")
        assert taskrouter.post(fields, signed_url="http://localhost/other").status_code == 403
        assert row_count(services) == 0

    def test_tampered_parameter(self, client, services):
        fields = worker_event(contact_uri=ANN_URI)
        signature = sign(fields)
        fields["WorkerAttributes"] = fields["WorkerAttributes"].replace(ANN_URI, "sip:evil")
        response = client.post("/taskrouter/events", data=fields, headers={"X-Twilio-Signature": signature})
        assert response.status_code == 403
        assert row_count(services) == 0

    def test_bad_signature_is_logged_without_the_token(self, taskrouter, capsys):
        taskrouter.post(worker_event(), token="another-token")
        out = capsys.readouterr().out
        assert "bad_signature" in out and "signature does not match" in out
        assert AUTH_TOKEN not in out

    def test_an_hmac_sha256_signature_named_in_the_settings_header_is_accepted(self, client, services):
        fields = worker_event(contact_uri="sip:x")
        headers = {
            "X-Twilio-Signature": sign(fields, algorithm="HMAC_SHA256"),
            "X-Twilio-Webhooks-Signature-Settings": "algorithm=HMAC_SHA256",
        }
        assert client.post("/taskrouter/events", data=fields, headers=headers).status_code == 204
        assert row_count(services) == 3  # the worker's state, its drift alert and the event's id

    def test_an_hmac_sha256_signature_without_the_header_is_refused(self, client, services):
        fields = worker_event(contact_uri="sip:x")
        headers = {"X-Twilio-Signature": sign(fields, algorithm="HMAC_SHA256")}
        assert client.post("/taskrouter/events", data=fields, headers=headers).status_code == 403
        assert row_count(services) == 0

    @pytest.mark.parametrize("event_type", ["worker.attributes.update", "task.created"])
    def test_a_shared_key_signature_is_refused_with_its_reason(self, taskrouter, services, capsys, event_type):
        """Webhook Rules (public beta) can sign with a SharedKey and HMAC-SHA256, named in a header."""
        settings_header = {"X-Twilio-Webhooks-Signature-Settings": "key=webhooks_sharedkey_1,algorithm=HMAC_SHA256"}
        response = taskrouter.post(worker_event(event_type), token="shared-key-secret", headers=settings_header)
        assert response.status_code == 403
        assert row_count(services) == 0
        assert "Webhooks SharedKey" in capsys.readouterr().out


class TestBehindTlsProxy:
    """Twilio signs https://public-host/…; the app behind Heroku's router sees http://."""

    HTTPS_URL = "https://guard.example.com/taskrouter/events"
    FORWARDED: ClassVar[dict[str, str]] = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "guard.example.com"}

    @pytest.mark.parametrize("settings_overrides", [{"trust_proxy": True}], indirect=False)
    def test_trusted_forwarded_headers_rebuild_the_public_url(self, taskrouter, services, settings_overrides):
        response = taskrouter.post(worker_event(), signed_url=self.HTTPS_URL, headers=self.FORWARDED)
        assert response.status_code == 204

    def test_forwarded_headers_are_ignored_unless_trusted(self, taskrouter, services):
        response = taskrouter.post(worker_event(), signed_url=self.HTTPS_URL, headers=self.FORWARDED)
        assert response.status_code == 403
        assert row_count(services) == 0

    @pytest.mark.parametrize("settings_overrides", [{"public_base_url": "https://guard.example.com"}])
    def test_public_base_url_is_what_gets_validated(self, taskrouter, settings_overrides):
        assert taskrouter.post(worker_event(), signed_url=self.HTTPS_URL).status_code == 204
        assert taskrouter.post(worker_event()).status_code == 403


@pytest.mark.parametrize("settings_overrides", [{"validate_signature": False, "auth_token": None}])
def test_validation_off_accepts_unsigned_events(client, services, settings_overrides):
    assert client.post("/taskrouter/events", data=worker_event(contact_uri="sip:x")).status_code == 204
    assert stored_state(services, KEY)["verdict"] == "mismatch"


class TestBadInput:
    """Authentic but malformed events get a clear 400 and a log line; nothing is stored."""

    @pytest.mark.parametrize(
        ("change", "reason"),
        [
            ({"WorkerAttributes": "[1, 2]"}, "WorkerAttributes is not a JSON object"),
            ({"WorkerAttributes": "{not json"}, "WorkerAttributes is not valid JSON"),
            ({"WorkerAttributes": "[" * 50_000}, "WorkerAttributes is not valid JSON"),
            ({"WorkerSid": "", "ResourceSid": ""}, "WorkerSid is missing"),
            ({"WorkerSid": "WK123"}, "WorkerSid is not a WK… SID"),
            ({"WorkerVersion": "seven"}, "WorkerVersion must be a non-negative integer"),
            ({"EventType": ""}, "EventType is missing"),
            ({"WorkerVersion": "9" * 20}, f"WorkerVersion is out of range (at most {2**63 - 1})"),
            ({"Timestamp": "999999999999999999"}, "Timestamp is out of range (at most 253402300799)"),
            ({"TimestampMs": "1" + "0" * 18}, "TimestampMs is out of range (at most 253402300799999)"),
        ],
    )
    def test_400_with_reason(self, taskrouter, services, capsys, change, reason):
        fields = worker_event()
        fields.update(change)
        response = taskrouter.post(fields)
        assert response.status_code == 400
        assert response.get_json() == {"error": reason}
        assert "bad_request" in capsys.readouterr().out
        assert row_count(services) == 0

    def test_worker_sid_may_come_from_resource_sid(self, taskrouter, services):
        fields = worker_event()
        del fields["WorkerSid"]
        assert taskrouter.post(fields).status_code == 204
        assert stored_state(services, KEY)["verdict"] == "ok"

    def test_oversized_body_gets_413(self, taskrouter, services):
        fields = worker_event(name="x" * 300_000)
        response = taskrouter.post(fields)
        assert response.status_code == 413
        assert "error" in response.get_json()
        assert row_count(services) == 0
