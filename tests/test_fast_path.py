"""The WSGI fast path: authentic ignored events are answered before Flask; everything else takes the full path."""

from typing import ClassVar
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers import PREVIOUS_AUTH_TOKEN, sign, worker_event

IGNORED_TYPES = ["task.created", "reservation.accepted", "worker.capacity.update"]


@pytest.fixture
def flask_saw(app):
    """The paths of the requests that reached Flask (the fast path answers before it)."""
    seen = []
    app.before_request(lambda: seen.append("/taskrouter/events"))
    return seen


@pytest.mark.parametrize("settings_overrides", [{"previous_auth_token": PREVIOUS_AUTH_TOKEN}])
def test_an_ignored_event_signed_with_the_previous_token_is_answered_before_flask_too(taskrouter, flask_saw):
    """During a token rotation Twilio signs everything with the previous token: the fast path must still answer."""
    assert taskrouter.post(worker_event("task.created"), token=PREVIOUS_AUTH_TOKEN).status_code == 204
    assert taskrouter.post(worker_event("task.created")).status_code == 204
    assert flask_saw == []
    assert taskrouter.post(worker_event("task.created"), token="a-third-token").status_code == 403


@pytest.mark.parametrize("event_type", IGNORED_TYPES)
def test_authentic_ignored_types_get_204_before_flask(taskrouter, services, flask_saw, event_type):
    response = taskrouter.post(worker_event(event_type, contact_uri="sip:x"))
    assert response.status_code == 204
    assert response.content_type == "application/json"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert flask_saw == []
    assert services.store.listing.verdict_counts() == {}


@pytest.mark.parametrize("event_type", IGNORED_TYPES)
def test_forged_ignored_types_get_403_from_the_full_path(client, taskrouter, flask_saw, capsys, event_type):
    fields = worker_event(event_type)
    assert taskrouter.post(fields, token="another-token").status_code == 403
    response = client.post("/taskrouter/events", data=fields, headers={"X-Twilio-Signature": "junk"})
    assert response.status_code == 403
    assert client.post("/taskrouter/events", data=fields).status_code == 403  # no signature at all
    assert len(flask_saw) == 3
    assert capsys.readouterr().out.count("bad_signature") == 3


def test_a_tampered_ignored_event_gets_403(client, flask_saw):
    fields = worker_event("task.created")
    signature = sign(fields)
    fields["TaskAttributes"] = "{}"
    assert client.post("/taskrouter/events", data=fields, headers={"X-Twilio-Signature": signature}).status_code == 403
    assert flask_saw == ["/taskrouter/events"]


@pytest.mark.parametrize(
    "body",
    [
        "EventType=worker.attributes.update&WorkerSid=x",  # acted on: verified
        "EventType=worker%2Eattributes%2Eupdate&WorkerSid=x",  # unusual spelling: the full path decides
        "EventType=&x=1",
        "x=1",
        "EventType=worker.created&EventType=task.created",  # the first value counts, as in the form parser
        "EventType=task.created&WorkerName=%FF",  # not UTF-8 once decoded
    ],
)
def test_everything_else_takes_the_verified_path(client, flask_saw, body):
    response = client.post(
        "/taskrouter/events", data=body, content_type="application/x-www-form-urlencoded",
        headers={"X-Twilio-Signature": "junk"},
    )  # fmt: skip
    assert response.status_code == 403
    assert flask_saw == ["/taskrouter/events"]


@pytest.mark.parametrize(("algorithm", "status"), [("HMAC_SHA256", 204), ("HMAC_SHA1", 403)])
def test_a_signature_settings_header_sends_ignored_events_to_the_full_path(client, flask_saw, algorithm, status):
    """The header names the algorithm (here HMAC-SHA256); a SHA-1 signature under it is what the full path refuses."""
    fields = worker_event("task.created")
    headers = {
        "X-Twilio-Signature": sign(fields, algorithm=algorithm),
        "X-Twilio-Webhooks-Signature-Settings": "algorithm=HMAC_SHA256",
    }
    assert client.post("/taskrouter/events", data=fields, headers=headers).status_code == status
    assert flask_saw == ["/taskrouter/events"]


def test_a_raw_hash_in_a_value_is_read_as_the_form_parser_reads_it(client, flask_saw):
    fields = worker_event("task.created", TaskAttributes='{"ticket": "#42"}')
    body = urlencode(fields, safe="#")  # a raw '#': a URL parser would cut a fragment there, a form parser does not
    response = client.post(
        "/taskrouter/events", data=body, content_type="application/x-www-form-urlencoded",
        headers={"X-Twilio-Signature": sign(fields)},
    )  # fmt: skip
    assert response.status_code == 204
    assert flask_saw == []  # verified and answered by the fast path


@pytest.mark.parametrize("database_url", ["sqlite://"])
def test_any_signed_ignored_event_gets_204_and_any_tampered_one_403(client):
    """Whatever the field values, both paths agree: genuine is 204, one changed character is 403."""
    awkward = st.text(st.characters(blacklist_categories=["Cs"]) | st.sampled_from("#%&=+;?/ _"), max_size=30)

    @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(extra=st.dictionaries(st.text(st.characters(min_codepoint=65, max_codepoint=122), min_size=1), awkward))
    def post(extra):
        fields = {**extra, **worker_event("reservation.created")}
        headers = {"X-Twilio-Signature": sign(fields)}
        assert client.post("/taskrouter/events", data=fields, headers=headers).status_code == 204
        tampered = {**fields, "WorkerName": fields["WorkerName"] + "!"}
        assert client.post("/taskrouter/events", data=tampered, headers=headers).status_code == 403

    post()


def test_a_body_read_by_the_fast_path_is_still_readable_by_the_app(taskrouter, services):
    assert taskrouter.post(worker_event(contact_uri="sip:x")).status_code == 204
    assert services.store.listing.verdict_counts() == {"mismatch": 1}


class TestPublicUrl:
    """The fast path verifies against the same public URL as the full path."""

    HTTPS_URL = "https://guard.example.com/taskrouter/events"
    FORWARDED: ClassVar[dict[str, str]] = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "guard.example.com"}

    @pytest.mark.parametrize("settings_overrides", [{"trust_proxy": True}])
    def test_behind_a_trusted_proxy(self, taskrouter, flask_saw, settings_overrides):
        fields = worker_event("task.created")
        assert taskrouter.post(fields, signed_url=self.HTTPS_URL, headers=self.FORWARDED).status_code == 204
        assert flask_saw == []

    def test_forwarded_headers_are_ignored_unless_trusted(self, taskrouter, flask_saw):
        fields = worker_event("task.created")
        assert taskrouter.post(fields, signed_url=self.HTTPS_URL, headers=self.FORWARDED).status_code == 403

    def test_each_request_is_checked_against_its_own_host(self, taskrouter, flask_saw):
        fields = worker_event("task.created")
        signed_for_a = "http://a.example/taskrouter/events"
        for host, status in [("a.example", 204), ("b.example", 403), ("a.example", 204)]:
            assert taskrouter.post(fields, signed_url=signed_for_a, headers={"Host": host}).status_code == status
        assert flask_saw == ["/taskrouter/events"]  # only the request for b.example needed the full path

    @pytest.mark.parametrize("settings_overrides", [{"public_base_url": "https://guard.example.com"}])
    def test_public_base_url(self, taskrouter, flask_saw, settings_overrides):
        assert taskrouter.post(worker_event("task.created"), signed_url=self.HTTPS_URL).status_code == 204
        assert flask_saw == []


@pytest.mark.parametrize("settings_overrides", [{"validate_signature": False, "auth_token": None}])
def test_validation_off_answers_unsigned_ignored_events(client, flask_saw, settings_overrides):
    assert client.post("/taskrouter/events", data=worker_event("task.created")).status_code == 204
    assert flask_saw == []


@pytest.mark.parametrize("event_type", ["task.created", "worker.attributes.update"])
def test_an_escape_that_is_no_utf8_gets_the_full_paths_answer(client, services, flask_saw, event_type):
    # yarl read `%FF` as U+FFFD, werkzeug as it is: the fast path took a body the full path refuses (403)
    fields = worker_event(event_type, WorkerName="ann\ufffd")
    body = urlencode(fields).replace("%EF%BF%BD", "%FF")  # signed over U+FFFD, sent as a bare %FF
    headers = {"X-Twilio-Signature": sign(fields)}
    response = client.post(
        "/taskrouter/events", data=body, content_type="application/x-www-form-urlencoded", headers=headers
    )
    assert (response.status_code, flask_saw) == (403, ["/taskrouter/events"])


def test_a_content_type_ending_in_a_no_break_space_is_no_form_on_either_path(client, flask_saw):
    # str.strip() took U+00A0 off; werkzeug keeps it, reads no form, and refuses the event (403)
    fields = worker_event("task.created")
    headers = {"X-Twilio-Signature": sign(fields), "Content-Type": "application/x-www-form-urlencoded\xa0"}
    response = client.post("/taskrouter/events", data=urlencode(fields), headers=headers)
    assert (response.status_code, flask_saw) == (403, ["/taskrouter/events"])


def test_an_unknown_signature_algorithm_is_one_short_log_line(client, capsys):
    # twilio's validator logged the sender's whole header (8 KB a request); the reason named a SharedKey
    fields = worker_event("worker.attributes.update")
    junk = "A" * 5000
    headers = {"X-Twilio-Signature": sign(fields), "X-Twilio-Webhooks-Signature-Settings": f"algorithm={junk}"}
    assert client.post("/taskrouter/events", data=fields, headers=headers).status_code == 403
    out = capsys.readouterr().out
    assert junk[:100] not in out
    assert "unsupported algorithm in X-Twilio-Webhooks-Signature-Settings" in out
