"""An Event Streams batch answers in time: activity learning past the batch's deadline is 503, and a retry goes on."""

import json

from sqlalchemy import func, select

import handlers.event_streams
from guard.adapters.tables import worker_state
from tests.activity.conftest import READY_SID
from tests.helpers import batch_answer, cloudevent, post_cloudevents, worker_sid

AGENTS = 130  # three chunks of the learning (LEARN_CHUNK 64)


def availability(services):
    """How many workers in Ready are known to route tasks, and how many are not known yet."""
    query = select(worker_state.c.available, func.count()).where(worker_state.c.activity_sid == READY_SID)
    with services.store.engine.connect() as connection:
        counts = dict(connection.execute(query.group_by(worker_state.c.available)).all())
    return counts.get(True, 0), counts.get(None, 0)


def test_activity_learning_past_the_batch_deadline_answers_503_and_each_retry_goes_on(
    client, services, monkeypatch, capsys
):
    in_ready = {"worker_activity_sid": READY_SID, "worker_activity_name": "Ready"}
    agents = [cloudevent(sid=worker_sid(n), **in_ready) for n in range(1, AGENTS + 1)]
    assert post_cloudevents(client, agents).status_code == 200
    assert availability(services) == (0, AGENTS)  # Ready's availability not learned yet
    fact = {"activity_sid": READY_SID, "activity_name": "Ready", "activity_available": True}
    batch = [cloudevent("activity.updated", email=None, contact_uri=None, **fact)]
    monkeypatch.setattr(handlers.event_streams, "BATCH_SECONDS", 0.0)  # every deadline already past
    answers, progress = [], []
    for _ in range(3):
        answers.append(post_cloudevents(client, batch).status_code)
        progress.append(availability(services)[0])
    assert answers == [503, 503, 200]  # Event Streams retries a 503: each retry judges one more chunk
    assert progress == [64, 128, AGENTS]
    unfinished = [json.loads(line) for line in capsys.readouterr().out.splitlines() if "activity_unfinished" in line]
    assert [line["activity_sid"] for line in unfinished] == [READY_SID, READY_SID]


def test_a_bad_element_is_logged_with_what_names_it(client, services, capsys):
    broken = cloudevent(sid=worker_sid(7))
    broken["data"]["payload"]["worker_version"] = 3.5
    assert post_cloudevents(client, [broken]).get_json() == batch_answer(bad=1)
    line = next(json.loads(x) for x in capsys.readouterr().out.splitlines() if "bad_cloudevent" in x)
    assert (line["id"], line["worker_sid"]) == (broken["id"], worker_sid(7))
    assert line["type"] == "com.twilio.taskrouter.worker.attributes.update"
