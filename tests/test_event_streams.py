"""POST /event-streams: signed CloudEvent batches, dedup by id, order, and bad elements."""

import json
import time
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from guard.adapters.tables import alert
from guard.core.snapshot import WorkerKey
from tests.helpers import (
    ACCOUNT_SID,
    ANN_URI,
    WORKSPACE_SID,
    batch_answer,
    cloudevent,
    minutes_ago,
    post_cloudevents,
    stored_state,
    worker_event,
    worker_sid,
)

KEY = WorkerKey(ACCOUNT_SID, WORKSPACE_SID, worker_sid(1))


def alert_kinds(services):
    """(worker, kind) of every queued alert, oldest first."""
    with services.store.engine.connect() as connection:
        return [(r.worker_sid, r.kind) for r in connection.execute(select(alert).order_by(alert.c.id))]


def test_a_signed_batch_is_recorded_through_the_same_pipeline(client, services):
    batch = [cloudevent(contact_uri="sip:wrong"), cloudevent(sid=worker_sid(2), contact_uri=None)]
    response = post_cloudevents(client, batch)
    assert response.status_code == 200
    assert response.get_json() == batch_answer(recorded=2)
    assert stored_state(services, KEY)["verdict"] == "mismatch"
    assert stored_state(services, WorkerKey(ACCOUNT_SID, WORKSPACE_SID, worker_sid(2)))["verdict"] == "pending"
    assert alert_kinds(services) == [(worker_sid(1), "drift")]


def test_a_single_object_is_accepted_too(client, services):
    assert post_cloudevents(client, cloudevent(contact_uri="sip:x")).get_json()["recorded"] == 1


def test_mixed_batch_skips_other_types_and_logs_the_bad_element(client, services, capsys):
    reservation = cloudevent()
    reservation["type"] = "com.twilio.taskrouter.reservation.created"
    broken = cloudevent(sid=worker_sid(3))
    broken["data"]["payload"]["worker_attributes"] = "[not an object]"
    batch = [reservation, broken, "not even an object", cloudevent(contact_uri="sip:x")]
    response = post_cloudevents(client, batch)
    assert response.status_code == 200
    assert response.get_json() == batch_answer(recorded=1, skipped=1, bad=2)
    log = capsys.readouterr().out
    assert '"index": 1, "reason": "worker_attributes is not valid JSON"' in log
    assert '"index": 2, "reason": "event is not a JSON object"' in log
    assert stored_state(services, KEY)["verdict"] == "mismatch"


@pytest.mark.parametrize("where", ["element", "worker_version"])
def test_an_integer_past_pythons_digits_limit_is_one_bad_element_not_a_lost_batch(client, services, where):
    huge = "9" * 5000  # int() refuses more than 4,300 digits
    odd = cloudevent(sid=worker_sid(2))
    odd["data"]["payload"]["worker_version"] = 987654321
    batch = [cloudevent(contact_uri="sip:x"), odd if where == "worker_version" else {"x": 987654321}]
    text = json.dumps(batch).replace("987654321", huge)
    response = post_cloudevents(client, None, body=text)
    assert response.status_code == 200 and response.get_json() == batch_answer(recorded=1, bad=1)
    assert stored_state(services, KEY)["verdict"] == "mismatch"


def test_duplicate_ids_are_processed_once_and_the_answer_says_so(client, services):
    event = cloudevent(contact_uri="sip:x")
    first = post_cloudevents(client, [event, event]).get_json()
    assert first == batch_answer(recorded=1, duplicate=1)
    again = post_cloudevents(client, [event, cloudevent(contact_uri=None, timestamp=minutes_ago(60))]).get_json()
    assert again == batch_answer(duplicate=1, stale=1)
    assert alert_kinds(services) == [(worker_sid(1), "drift")]


def test_an_older_event_never_overwrites_newer_state(client, services):
    newer = cloudevent(contact_uri=None, timestamp=minutes_ago(5))
    older = cloudevent(contact_uri="sip:old", timestamp=minutes_ago(10))
    post_cloudevents(client, [newer, older])
    assert stored_state(services, KEY)["verdict"] == "pending"
    assert alert_kinds(services) == []


def test_a_time_far_ahead_is_refused_and_outranks_no_later_event(client, services, capsys):
    ahead = cloudevent(contact_uri=ANN_URI, timestamp="9999-12-31T00:00:00+00:00")  # no worker_version
    assert post_cloudevents(client, [ahead]).status_code == 200
    assert '"event": "replayed_event"' in capsys.readouterr().out and stored_state(services, KEY) is None
    post_cloudevents(client, [cloudevent(contact_uri="sip:x")])
    assert stored_state(services, KEY)["verdict"] == "mismatch"


def test_a_time_past_9999_is_a_bad_element_not_one_that_outranks_every_later_event(client, services, capsys):
    far = cloudevent(contact_uri=ANN_URI, timestamp="9999-12-31T23:59:59-14:00")  # 10000-01-01 in UTC; no version
    assert post_cloudevents(client, [far]).get_json() == batch_answer(bad=1)
    assert "timestamp is out of range (1970 to 9999)" in capsys.readouterr().out
    post_cloudevents(client, [cloudevent(contact_uri="sip:x")])
    assert stored_state(services, KEY)["verdict"] == "mismatch"


def test_worker_version_wins_over_timestamps_when_present(client, services):
    post_cloudevents(client, [cloudevent(contact_uri="sip:v9", worker_version=9)])
    post_cloudevents(client, [cloudevent(contact_uri=ANN_URI, worker_version=8, timestamp=minutes_ago(-60))])
    assert stored_state(services, KEY)["actual"] == "sip:v9"


@pytest.mark.parametrize("attributes", [{}, {"worker_attributes": ""}, {"worker_attributes": None}])
def test_deleted_closes_a_drift(client, services, attributes):
    post_cloudevents(client, [cloudevent(contact_uri="sip:x", timestamp=minutes_ago(2))])
    deleted = cloudevent("worker.deleted", timestamp=minutes_ago(1))
    deleted["data"]["payload"].update(attributes)  # a deleted worker's attributes may be left out
    post_cloudevents(client, [deleted])
    assert alert_kinds(services) == [(worker_sid(1), "drift"), (worker_sid(1), "resolved")]


@pytest.mark.parametrize(
    ("kwargs", "status"),
    [
        ({"token": "not-the-token"}, 403),
        ({"tamper": '[{"specversion": "1.0"}]'}, 403),  # body changed after signing: bodySHA256 mismatch
        ({"body": "this is not json"}, 400),
        ({"body": "42"}, 400),
    ],
)
def test_forged_or_malformed_bodies(client, services, kwargs, status):
    response = post_cloudevents(client, [cloudevent(contact_uri="sip:x")], **kwargs)
    assert response.status_code == status
    assert stored_state(services, KEY) is None


@pytest.mark.parametrize(
    ("body", "said"),
    [("this is not json", "body is not JSON"), ("null", "body is not a CloudEvent or an array of them")],
)
def test_a_malformed_body_is_named_for_what_it_is(client, body, said):
    response = post_cloudevents(client, [cloudevent(contact_uri="sip:x")], body=body)
    assert (response.status_code, response.get_json()["error"]) == (400, said)  # null is JSON


def test_signature_without_body_hash_in_the_url_is_rejected(client, services):
    from tests.helpers import sign

    body = '[{"specversion": "1.0"}]'
    response = client.post(
        "/event-streams", data=body, content_type="application/json",
        headers={"X-Twilio-Signature": sign({}, "http://localhost/event-streams")},
    )  # fmt: skip
    assert response.status_code == 403


def test_non_utf8_body_is_forbidden(client):
    assert client.post("/event-streams?bodySHA256=00", data=b"\xff\xfe").status_code == 403


@pytest.mark.parametrize("settings_overrides", [{"validate_signature": False, "auth_token": None}])
def test_non_utf8_body_is_a_400_when_signatures_are_off(client, settings_overrides):
    response = client.post("/event-streams", data=b"\xff\xfe")
    assert (response.status_code, response.get_json()) == (400, {"error": "body is not UTF-8"})


def test_a_batch_of_junk_logs_its_first_bad_elements_and_one_line_for_the_rest(client, services, capsys):
    """200,000 bad elements were 200,000 log lines (40 MB from one request): a log drain's quota, not a record."""
    response = post_cloudevents(client, [0] * 500 + [cloudevent(contact_uri="sip:x")])
    assert response.get_json() == batch_answer(recorded=1, bad=500)
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if "bad_cloudevent" in line]
    assert [line["index"] for line in lines[:-1]] == list(range(20))
    assert (lines[-1]["event"], lines[-1]["more"], lines[-1]["level"]) == ("bad_cloudevents_not_logged", 480, "warning")


def _untimed(event, time=None):
    """The event without data's timestamps; its CloudEvent `time` set to `time` (removed when None)."""
    del event["data"]["timestamp"], event["data"]["payload"]["timestamp"]
    event.pop("time") if time is None else event.update(time=time)
    return event


def test_an_event_without_data_timestamps_is_ordered_by_its_cloudevent_time(client, services):
    post_cloudevents(client, [cloudevent(contact_uri="sip:x", timestamp=minutes_ago(1))])
    older = _untimed(cloudevent(contact_uri=ANN_URI), time=minutes_ago(10))  # no worker_version either
    assert post_cloudevents(client, [older]).get_json() == batch_answer(stale=1)  # read, and older
    assert stored_state(services, KEY)["verdict"] == "mismatch"  # the late copy does not end the drift
    newer = _untimed(cloudevent(contact_uri=ANN_URI), time=minutes_ago(0))
    assert post_cloudevents(client, [newer]).get_json() == batch_answer(recorded=1)
    assert alert_kinds(services) == [(worker_sid(1), "drift"), (worker_sid(1), "resolved")]


def test_an_event_with_no_time_at_all_is_a_bad_element_it_could_not_be_ordered(client, services, capsys):
    post_cloudevents(client, [cloudevent(contact_uri="sip:x", timestamp=minutes_ago(1))])
    response = post_cloudevents(client, [_untimed(cloudevent(contact_uri=ANN_URI))])
    assert response.get_json() == batch_answer(bad=1)
    assert "no time: data.payload.timestamp and time are missing" in capsys.readouterr().out
    assert stored_state(services, KEY)["verdict"] == "mismatch"


@pytest.mark.parametrize(("milliseconds", "applied"), [(True, False), (False, True)])
def test_only_a_callback_without_timestampms_gets_the_second_its_stamp_was_rounded_by(
    client, services, taskrouter, milliseconds, applied
):
    base = (int(time.time()) - 60) * 1000  # a TimestampMs can end in 000 too: to the millisecond all the same
    drift = cloudevent(contact_uri="sip:x", timestamp=datetime.fromtimestamp((base + 800) / 1000, UTC).isoformat())
    post_cloudevents(client, [drift])  # no worker_version: what follows is ordered by time
    fixed = worker_event(contact_uri=ANN_URI, version=4, Timestamp=str(base // 1000), TimestampMs=str(base))
    if not milliseconds:
        del fixed["TimestampMs"]  # rounded down to its second: it may have come after the drift
    assert taskrouter.post(fixed).status_code == 204
    assert stored_state(services, KEY)["verdict"] == ("ok" if applied else "mismatch")


def test_an_element_with_an_empty_id_is_a_bad_element_it_could_never_be_deduplicated(client, services):
    event = cloudevent(contact_uri="sip:x")
    event["id"] = ""
    assert post_cloudevents(client, [event]).get_json()["bad"] == 1
    assert stored_state(services, KEY) is None
