"""Authentic but malformed events: a 400 naming the field, a 413 for an oversized body, nothing stored."""

import pytest

from tests.helpers import batch_answer, cloudevent, post_cloudevents, stored_state, worker_event
from tests.taskrouter_events.support import KEY, row_count


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
            ({"WorkerSid": "WK" + "1" * 32 + "\n"}, "WorkerSid is not a WK… SID"),
            ({"Sid": "EV" + "2" * 32 + "\n"}, "Sid is not a EV… SID"),
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
        fields = worker_event(name="x" * 1_100_000)  # past MAX_BODY_BYTES (1 MB)
        response = taskrouter.post(fields)
        assert response.status_code == 413
        assert "error" in response.get_json()
        assert row_count(services) == 0


def deeply_nested(**options):
    """A worker event whose attributes hold a value nested past the JSON parser's depth."""
    fields = worker_event(**options)
    fields["WorkerAttributes"] = fields["WorkerAttributes"][:-1] + ', "deep": ' + "[" * 5000 + "]" * 5000 + "}"
    return fields


def test_a_wrong_value_beside_attributes_nested_past_the_parser_is_still_judged(taskrouter, services):
    assert taskrouter.post(deeply_nested(contact_uri="sip:x")).status_code == 204  # a 400 before: unjudged
    assert stored_state(services, KEY)["verdict"] == "mismatch"


@pytest.mark.parametrize("value", ["1" + "0" * 4400, '{"badge": [' + "9" * 5000 + "]}"], ids=["top", "nested"])
def test_a_wrong_value_beside_a_number_too_long_for_python_is_still_judged(taskrouter, services, value):
    fields = worker_event(contact_uri="sip:x")
    fields["WorkerAttributes"] = fields["WorkerAttributes"][:-1] + f', "employee_no": {value}}}'
    assert taskrouter.post(fields).status_code == 204  # a 400 before ("not valid JSON"): unjudged
    assert stored_state(services, KEY)["verdict"] == "mismatch"
    assert taskrouter.post(worker_event(contact_uri="sip:y", version=2)).status_code == 204  # the copy read back
    assert stored_state(services, KEY)["verdict"] == "mismatch"


def test_the_update_after_deeply_nested_attributes_is_judged_and_alerted_too(taskrouter, services, client):
    assert taskrouter.post(deeply_nested(version=1)).status_code == 204  # ok, and its attributes kept
    assert taskrouter.post(worker_event(contact_uri="sip:y", version=2)).status_code == 204  # the copy read back
    assert stored_state(services, KEY)["verdict"] == "mismatch"
    batch = [cloudevent(contact_uri="sip:z", worker_version=3)]
    assert post_cloudevents(client, batch).get_json() == batch_answer(recorded=1)
