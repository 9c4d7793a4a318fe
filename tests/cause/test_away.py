"""A working value removed while the agent is away (Break): the page when it is available says what and who."""

import json
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from guard.adapters.tables import cause_lookup
from guard.core.cause import Cause, Lookup
from guard.core.snapshot import WorkerKey
from tests.activity.conftest import BREAK_SID
from tests.cause.conftest import outbox
from tests.cause.test_cause import BASE, BROKEN, HEALTHY, post
from tests.helpers import ACCOUNT_SID, AVAILABLE_SID, WORKSPACE_SID, cloudevent, post_cloudevents, worker_sid

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


def test_a_page_raised_before_the_answer_gets_it_when_it_comes(taskrouter, services, fake_api, slack):
    post(taskrouter, 1, HEALTHY, **AWAY)
    sid = post(taskrouter, 2, {**BASE, "team": "north"}, **AWAY)
    fake_api.add_event(WORKSPACE_SID, "worker.attributes.update", worker_sid(1), sid=sid, actor_sid=SCRIPT)
    post(taskrouter, 3, {**BASE, "team": "north"}, **BACK)  # back before the lookup ran: the page has no cause
    assert services.delivery.run_once() == 1 and "SK" not in json.dumps(slack.received)
    assert services.jobs.by_name["causes"].run() == 1
    services.delivery.run_once()
    assert [kind for kind, _ in outbox(services)] == ["urgent", "cause"]  # the answer follows the page
    assert SCRIPT in json.dumps(slack.received[-1])


def test_a_pages_lookup_is_answered_before_those_asked_for_the_state_only(services):
    key = WorkerKey(ACCOUNT_SID, WORKSPACE_SID, worker_sid(1))
    now, causes = services.pipeline.clock(), services.store.causes
    for alert_id in (None, None, 7):
        causes.queue(alert_id, key, Lookup("EV" + "1" * 32, "taskrouter", 1), now)
    assert causes.claim(now, timedelta(seconds=60)).alert_id == 7


def test_an_earlier_episodes_answer_never_reaches_a_later_page(taskrouter, services, fake_api, slack):
    post(taskrouter, 1, HEALTHY, **AWAY)
    first = post(taskrouter, 2, {**BASE, "team": "north"}, **AWAY)  # removed while away by one script
    fake_api.add_event(WORKSPACE_SID, "worker.attributes.update", worker_sid(1), sid=first, actor_sid=SCRIPT)
    post(taskrouter, 3, HEALTHY, **AWAY)  # the value back: that episode is over
    other = "SK" + "8" * 32
    second = post(taskrouter, 4, {**BASE, "team": "south"}, **AWAY)  # removed again, by another script
    fake_api.add_event(WORKSPACE_SID, "worker.attributes.update", worker_sid(1), sid=second, actor_sid=other)
    post(taskrouter, 5, {**BASE, "team": "south"}, **BACK)  # available: the page
    assert services.delivery.run_once() == 1
    services.jobs.by_name["causes"].run()
    services.delivery.run_once()
    follow_ups = [page["cause"]["actor_sid"] for kind, page in outbox(services) if kind == "cause"]
    assert follow_ups == [other]  # the script that removed it this time, not the one before


def test_an_edit_within_the_episode_keeps_its_answer(taskrouter, services, fake_api):
    """The email moved while the agent was away: the same episode (no value since), so the page names the remover."""
    post(taskrouter, 1, HEALTHY, **AWAY)
    sid = post(taskrouter, 2, {**BASE, "team": "north"}, **AWAY)
    fake_api.add_event(WORKSPACE_SID, "worker.attributes.update", worker_sid(1), sid=sid, actor_sid=SCRIPT)
    moved = {**BASE, "team": "north", "email": "ann.veal@bluthcompany.com"}
    post(taskrouter, 3, moved, **AWAY)
    services.jobs.by_name["causes"].run()
    post(taskrouter, 4, moved, **BACK)
    [(kind, page)] = outbox(services)
    assert kind == "urgent" and page["cause"]["actor_sid"] == SCRIPT


def test_one_batch_of_two_episodes_gives_each_page_its_own_answer(client, services, fake_api, slack):
    """Event Streams: one batch, so one time for both lookups; the value back voids the first one."""
    t = int(time.time() * 1000)
    post_cloudevents(client, [stream_event(HEALTHY, t - 50_000)])
    other = "SK" + "8" * 32
    batch = [
        stream_event({**BASE, "team": "north"}, t - 30_000),  # removed by one script while away
        stream_event(HEALTHY, t - 20_000),  # the value back: that episode is over
        stream_event({**BASE, "team": "south"}, t - 10_000),  # removed again, by another
        stream_event({**BASE, "team": "south"}, t - 5_000, ("Available", AVAILABLE_SID), "worker.activity.update"),
    ]
    fake_api.add_event(WORKSPACE_SID, "worker.attributes.update", worker_sid(1), at_ms=t - 30_000, actor_sid=SCRIPT)
    fake_api.add_event(WORKSPACE_SID, "worker.attributes.update", worker_sid(1), at_ms=t - 10_000, actor_sid=other)
    assert post_cloudevents(client, batch).status_code < 300
    services.delivery.run_once()  # the page goes out before any answer
    services.jobs.by_name["causes"].run()
    services.delivery.run_once()
    assert [page["cause"]["actor_sid"] for kind, page in outbox(services) if kind == "cause"] == [other]


def stream_event(attributes, at_ms, activity=("Break", BREAK_SID), kind="worker.attributes.update"):
    """An Event Streams worker event at `at_ms`, in `activity`, carrying `attributes`."""
    stamp = datetime.fromtimestamp(at_ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    event = cloudevent(kind, timestamp=stamp, worker_activity_name=activity[0], worker_activity_sid=activity[1])
    event["data"]["payload"]["worker_attributes"] = json.dumps(attributes)
    return event


def test_a_newer_change_takes_the_episode_over_from_an_unanswered_lookup(taskrouter, services, fake_api):
    post(taskrouter, 1, HEALTHY, **AWAY)
    removal = post(taskrouter, 2, {**BASE, "team": "north"}, **AWAY)  # a script removes it while away
    fake_api.add_event(WORKSPACE_SID, "worker.attributes.update", worker_sid(1), sid=removal, actor_sid=SCRIPT)
    user = "US" + "9" * 32
    wrong = post(taskrouter, 3, BROKEN, **AWAY)  # then someone writes a wrong value: that is what breaks it now
    fake_api.add_event(WORKSPACE_SID, "worker.attributes.update", worker_sid(1), sid=wrong, actor_sid=user)
    services.jobs.by_name["causes"].run()
    post(taskrouter, 4, BROKEN, **BACK)
    pages = [page for kind, page in outbox(services) if kind in ("drift", "urgent")]
    assert [page["cause"]["actor_sid"] for page in pages] == [user, user]


def test_an_answer_to_a_voided_lookup_changes_nothing(services):
    key = WorkerKey(ACCOUNT_SID, WORKSPACE_SID, worker_sid(1))
    now, causes = services.pipeline.clock(), services.store.causes
    causes.queue(None, key, Lookup("EV" + "1" * 32, "taskrouter", 1), now)
    request = causes.claim(now, timedelta(seconds=60))
    causes.void_unpaged([key], now)  # the episode ended while the lookup was being answered
    cause = Cause("EV" + "1" * 32, SCRIPT, "api_key", "api", None, 1)
    assert causes.finish(request, "found", cause, "", now) is None
    with services.store.engine.connect() as connection:
        assert connection.execute(select(cause_lookup.c.status)).scalar() == "void"


def test_one_batch_voids_the_unpaged_lookups_of_the_workers_it_names_only(services):
    """The batch's episodes that ended void in one statement: a paged lookup and another worker's stay pending."""
    now, causes = services.pipeline.clock(), services.store.causes
    keys = [WorkerKey(ACCOUNT_SID, WORKSPACE_SID, worker_sid(n)) for n in (1, 2, 3)]
    for n, key in enumerate(keys):
        causes.queue(None, key, Lookup(f"EV{n:032d}", "taskrouter", 1), now)
    causes.queue(7, keys[0], Lookup("EV" + "9" * 32, "taskrouter", 1), now)  # a page waits for this one
    causes.void_unpaged(keys[:2], now)
    with services.store.engine.connect() as connection:
        rows = connection.execute(select(cause_lookup.c.worker_sid, cause_lookup.c.alert_id, cause_lookup.c.status))
        statuses = {(sid[-1], alert_id): status for sid, alert_id, status in rows}
    assert statuses == {("1", None): "void", ("2", None): "void", ("3", None): "pending", ("1", 7): "pending"}
