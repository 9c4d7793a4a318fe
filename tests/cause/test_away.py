"""A working value removed while the agent is away (Break): the page when it is available says what and who."""

import json

from tests.activity.conftest import BREAK_SID
from tests.cause.conftest import outbox
from tests.cause.test_cause import BASE, HEALTHY, post
from tests.helpers import AVAILABLE_SID, WORKSPACE_SID, worker_sid

SCRIPT = "SK" + "7" * 32
AWAY = {"WorkerActivityName": "Break", "WorkerActivitySid": BREAK_SID}
BACK = {"WorkerActivityName": "Available", "WorkerActivitySid": AVAILABLE_SID}


def test_a_removal_on_break_is_named_in_the_page_when_the_agent_becomes_available(taskrouter, services, fake_api):
    post(taskrouter, 1, HEALTHY, **AWAY)
    sid = post(taskrouter, 2, {**BASE, "team": "north"}, **AWAY)  # a sync script replaced the attributes
    fake_api.add_event(
        WORKSPACE_SID, "worker.attributes.update", worker_sid(1), sid=sid, actor_sid=SCRIPT, actor_type="api_key"
    )
    assert outbox(services) == []  # away: nothing to page yet
    assert services.jobs.by_name["causes"].run() == 1  # asked all the same, for the page to come
    post(taskrouter, 3, {**BASE, "team": "north"}, **BACK)
    [(kind, page)] = outbox(services)
    assert kind == "urgent" and page["cause"]["actor_sid"] == SCRIPT
    assert "team" in json.dumps(page["changes"])
