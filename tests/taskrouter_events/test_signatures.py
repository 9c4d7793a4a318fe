"""Signatures: forged, missing or SharedKey ones refused and no trace left; the URL behind a TLS proxy; checks off."""

from typing import ClassVar

import pytest

from tests.helpers import (
    ACCOUNT_SID,
    ANN_URI,
    AUTH_TOKEN,
    cloudevent,
    post_cloudevents,
    sign,
    stored_state,
    worker_event,
)
from tests.taskrouter_events.support import KEY, row_count


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


@pytest.mark.parametrize("settings_overrides", [{"account_sid": ACCOUNT_SID}])
def test_one_account_with_its_sid_set_refuses_events_naming_another(taskrouter, client, services, settings_overrides):
    """Signed with the token, but for another account: 403 on both intakes, nothing stored; its own still pass."""
    stranger = "AC" + "e" * 32
    assert taskrouter.post(worker_event(contact_uri="sip:x", AccountSid=stranger)).status_code == 403
    assert post_cloudevents(client, [cloudevent(account_sid=stranger)]).status_code == 403
    assert row_count(services) == 0
    assert taskrouter.post(worker_event(contact_uri="sip:x")).status_code == 204
