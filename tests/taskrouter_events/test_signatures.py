"""Signatures: forged, missing or SharedKey ones refused and no trace left; the URL behind a TLS proxy; checks off."""

import time
from typing import ClassVar
from urllib.parse import urlencode

import pytest

from tests.helpers import (
    ACCOUNT_SID,
    ANN_URI,
    AUTH_TOKEN,
    PREVIOUS_AUTH_TOKEN,
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

    @pytest.mark.parametrize("settings_overrides", [{"previous_auth_token": PREVIOUS_AUTH_TOKEN}])
    def test_a_signature_made_with_the_previous_token_verifies_while_it_is_set(self, taskrouter, services):
        """Twilio signs with the old token until the new one is promoted: no callback is lost meanwhile."""
        assert taskrouter.post(worker_event(contact_uri="sip:x"), token=PREVIOUS_AUTH_TOKEN).status_code == 204
        assert taskrouter.post(worker_event(contact_uri=ANN_URI), token=AUTH_TOKEN).status_code == 204
        assert taskrouter.post(worker_event(contact_uri="sip:y"), token="another-token").status_code == 403
        assert stored_state(services, KEY)["actual"] == ANN_URI

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


def _raw_form() -> bytes:
    """A worker event's form as bytes, with a raw 0xE9 (Latin-1 é, no UTF-8) in the worker's name."""
    return urlencode(worker_event(contact_uri="sip:x")).encode().replace(b"WorkerName=", b"WorkerName=\xe9")


def test_a_body_that_is_no_utf8_is_forbidden_and_says_why(client, services, capsys):
    response = client.post(
        "/taskrouter/events", data=_raw_form(), content_type="application/x-www-form-urlencoded",
        headers={"X-Twilio-Signature": sign(worker_event(contact_uri="sip:x"), "http://localhost/taskrouter/events")},
    )  # fmt: skip
    assert response.status_code == 403
    assert '"reason": "body is not UTF-8"' in capsys.readouterr().out
    assert row_count(services) == 0


@pytest.mark.parametrize("settings_overrides", [{"validate_signature": False, "auth_token": None}])
def test_a_body_that_is_no_utf8_is_a_400_that_says_so_when_signatures_are_off(client, services, settings_overrides):
    form = _raw_form()
    response = client.post("/taskrouter/events", data=form, content_type="application/x-www-form-urlencoded")
    assert (response.status_code, response.get_json()) == (400, {"error": "body is not UTF-8"})  # not "EventType…"
    assert row_count(services) == 0


@pytest.mark.parametrize("settings_overrides", [{"account_sid": ACCOUNT_SID}])
def test_one_account_with_its_sid_set_refuses_events_naming_another(taskrouter, client, services, settings_overrides):
    """Signed with the token, but for another account: 403 on both intakes, nothing stored; its own still pass."""
    stranger = "AC" + "e" * 32
    assert taskrouter.post(worker_event(contact_uri="sip:x", AccountSid=stranger)).status_code == 403
    assert post_cloudevents(client, [cloudevent(account_sid=stranger)]).status_code == 403
    assert row_count(services) == 0
    assert taskrouter.post(worker_event(contact_uri="sip:x")).status_code == 204


def _recut(fields: dict[str, str], swallower: str, swallowed: tuple[str, ...]) -> dict[str, str]:
    """The same signed fields, `swallower`'s value now holding the names and values of `swallowed` (then dropped).

    Twilio signs the sorted names and values run together, so the signature stays valid.
    """
    recut = dict(fields)
    recut[swallower] += "".join(name + fields[name] for name in swallowed)
    for name in swallowed:
        del recut[name]
    return recut


class TestRecutFields:
    """A captured event whose fields were recut under the same signature cannot dodge the dedup or the replay window."""

    def test_an_old_event_recut_without_its_sid_and_times_is_refused(self, client, services, capsys):
        old_ms = int((time.time() - 3 * 86400) * 1000)
        fields = worker_event(contact_uri="sip:x", Timestamp=str(old_ms // 1000), TimestampMs=str(old_ms))
        recut = _recut(fields, "ResourceType", ("Sid", "Timestamp", "TimestampMs"))
        signature = sign(fields)
        assert sign(recut) == signature  # the attack: still authentic
        response = client.post("/taskrouter/events", data=recut, headers={"X-Twilio-Signature": signature})
        assert response.status_code == 400
        assert "Sid is missing" in response.get_json()["error"]
        assert row_count(services) == 0
        assert "bad_request" in capsys.readouterr().out

    def test_a_sid_that_swallowed_the_times_is_refused(self, client, services):
        fields = worker_event(contact_uri="sip:x")
        recut = _recut(fields, "Sid", ("Timestamp", "TimestampMs"))
        response = client.post("/taskrouter/events", data=recut, headers={"X-Twilio-Signature": sign(fields)})
        assert response.status_code == 400
        assert "Sid is not a EV… SID" in response.get_json()["error"]
        assert row_count(services) == 0

    def test_an_event_without_its_timestamp_is_refused(self, taskrouter, services):
        fields = worker_event(contact_uri="sip:x")
        del fields["Timestamp"], fields["TimestampMs"]
        response = taskrouter.post(fields)
        assert response.status_code == 400
        assert "Timestamp is missing" in response.get_json()["error"]
        assert row_count(services) == 0
