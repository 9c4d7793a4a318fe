"""The Slack message: blocks with a fallback text, a resolved one unlike a drift, and Block Kit's length limits."""

import json

import pytest
from werkzeug import Response

from guard.adapters.slack import HEADER_MAX, TEXT_MAX, render
from guard.core.decision import decide
from tests.activity.conftest import activity_callback
from tests.core.decisions import RULES, T0, snapshot
from tests.delivery.conftest import outbox, posted
from tests.fakes.slack import HOOK_PATH as HOOK
from tests.helpers import ANN_URI, AVAILABLE_SID, OFFLINE_SID, worker_event, worker_sid

PING = "<!subteam^S0ONCALL>"
READY = "WA" + "4" * 32


def test_drift_is_posted_with_blocks_and_fallback_text(taskrouter, services, httpserver, clock):
    httpserver.expect_request(HOOK, method="POST").respond_with_data("ok")
    taskrouter.post(worker_event(contact_uri="client:bob_40x_2Eio"))
    assert services.delivery.run_once() == 1
    [message] = posted(httpserver)
    rendered = json.dumps(message)
    for shown in ("Ann Veal", worker_sid(1), "ann.veal@arresteddevelopment.com", ANN_URI, "client:bob_40x_2Eio"):
        assert shown in rendered
    assert "contact_uri drifted. Decodes to a different email: bob@x.io" in rendered  # one sentence each
    assert "remove `contact_uri`" in rendered and "Never type a value in" in rendered
    assert message["blocks"][0]["type"] == "header"
    assert "drift" in message["text"] and ANN_URI in message["text"]
    assert outbox(services) == [("drift", "delivered", 1)]


def test_resolved_message_is_visibly_different(taskrouter, services, httpserver, clock):
    httpserver.expect_request(HOOK).respond_with_data("ok")
    taskrouter.post(worker_event(contact_uri="sip:x", version=1))
    taskrouter.post(worker_event(contact_uri=None, version=2))
    services.delivery.run_once()
    drift, resolved = posted(httpserver)
    assert "Resolved" in resolved["blocks"][0]["text"]["text"]
    assert "Resolved" not in drift["blocks"][0]["text"]["text"]
    assert "What to do" not in json.dumps(resolved)
    assert "regenerates it at the next login" in json.dumps(resolved)


def test_a_deleted_workers_resolved_message_shows_no_activity(taskrouter, services, httpserver, clock):
    httpserver.expect_request(HOOK).respond_with_data("ok")
    available = {"WorkerActivityName": "Available", "WorkerActivitySid": AVAILABLE_SID}
    taskrouter.post(worker_event(contact_uri="sip:x", version=1, **available))
    taskrouter.post(worker_event("worker.deleted", version=2, **available))
    services.delivery.run_once()
    drift, resolved = posted(httpserver)
    assert "`Available` (available)" in json.dumps(drift)
    fields = json.dumps([block["fields"] for block in resolved["blocks"] if "fields" in block])
    assert "Resolved" in json.dumps(resolved) and r"*Activity*\n\u2014" in fields and "Available" not in fields


def test_long_values_respect_block_kit_limits(taskrouter, services, httpserver, clock):
    httpserver.expect_request(HOOK).respond_with_data("ok")
    long_name = "N" * 400
    taskrouter.post(worker_event(name=long_name, contact_uri="client:" + "x" * 3900))
    services.delivery.run_once()
    [message] = posted(httpserver)
    assert len(message["blocks"][0]["text"]["text"]) <= HEADER_MAX
    assert len(message["text"]) <= TEXT_MAX
    for block in message["blocks"]:
        for field in block.get("fields", []):
            assert len(field["text"]) <= 2000
        if block["type"] == "section" and "text" in block:
            assert len(block["text"]["text"]) <= TEXT_MAX


def test_a_drift_with_nothing_to_remove_advises_signing_in_again(taskrouter, services, httpserver, clock):
    httpserver.expect_request(HOOK).respond_with_data("ok")
    taskrouter.post(worker_event(version=1))
    taskrouter.post(worker_event(version=2, WorkerAttributes=json.dumps({"type": "support"})))  # wiped
    services.delivery.run_once()
    [message] = posted(httpserver)
    rendered = json.dumps(message)
    assert "Attributes wiped" in rendered and "remove `contact_uri`" not in rendered
    assert "sign out and in again" in rendered


@pytest.fixture
def settings_overrides(httpserver):
    """Alerts to the stub's webhook path; urgent pages ping the on-call group."""
    return {"slack_webhook_url": httpserver.url_for(HOOK), "slack_timeout_seconds": 0.5, "slack_urgent_mention": PING}


@pytest.mark.parametrize(
    ("held_up", "offline_since", "late"),
    [(120, False, False), (30 * 60, False, True), (3 * 3600, False, True), (3 * 3600, True, True)],
)
def test_a_page_held_up_says_when_it_was_raised(taskrouter, services, httpserver, clock, held_up, offline_since, late):
    """Sent hours late, "available now" spoke of a moment long past, and a flapping agent's pages each pinged."""
    httpserver.expect_ordered_request(HOOK).respond_with_data("rollup_error", status=500)
    httpserver.expect_ordered_request(HOOK).respond_with_data("ok")
    available = {"WorkerActivityName": "Available", "WorkerActivitySid": AVAILABLE_SID}
    taskrouter.post(worker_event(contact_uri="sip:x", version=1, **available))
    services.delivery.run_once()
    clock.advance(held_up)
    if offline_since:  # the agent left Available meanwhile (for an activity known to route no tasks): it is over
        taskrouter.post(activity_callback("activity.created", sid=OFFLINE_SID, name="Offline", available="false"))
        taskrouter.post(worker_event(contact_uri="sip:x", version=2))
    services.delivery.run_once()
    message = posted(httpserver)[-1]
    lead, header, rendered = (
        message["blocks"][0]["text"]["text"],
        message["blocks"][1]["text"]["text"],
        json.dumps(message),
    )
    assert PING in lead and PING in message["text"]  # its worker's latest page: counted as paged, so it pings
    assert ("available now" in lead, "Unreachable now" in header) == (not offline_since, not offline_since)
    assert ("routes no tasks now" in lead, "Unreachable at" in header) == (offline_since, offline_since)
    # The activity it was raised in, so named; the day too (an outage may last days): an on-call review
    assert ("*Activity when raised*" in rendered, "Unreachable at 20" in header) == (offline_since, offline_since)
    assert ("posted " in rendered) is late  # exactly 2 minutes is on time
    if late:
        assert f"posted {held_up // 60 if held_up < 7200 else held_up // 3600}" in rendered


def refusing(httpserver):
    """Slack refuses every post while the returned list holds True; answers ok once it is emptied."""
    down = [True]
    httpserver.expect_request(HOOK).respond_with_handler(
        lambda _request: Response("rollup_error", status=500) if down else Response("ok")
    )
    return down


def test_of_the_pages_an_outage_held_up_only_the_latest_of_an_agent_still_unreachable_pings(
    taskrouter, services, httpserver, clock
):
    """A flapping agent queued a page an hour: when Slack came back, each one pinged and said "available now"."""
    down = refusing(httpserver)
    available = {"WorkerActivityName": "Available", "WorkerActivitySid": AVAILABLE_SID}
    taskrouter.post(worker_event(contact_uri="sip:x", version=1, **available))
    services.delivery.run_once()
    clock.advance(3601)
    taskrouter.post(worker_event(contact_uri="sip:x", version=2))  # a break
    taskrouter.post(worker_event(contact_uri="sip:x", version=3, **available))  # back, still broken: paged again
    services.delivery.run_once()
    down.clear()
    clock.advance(300)
    services.delivery.run_once()
    first, latest = [json.loads(request.get_data()) for request, answer in httpserver.log if answer.status_code == 200]
    assert [PING in message["text"] for message in (first, latest)] == [False, True]
    assert "Unreachable at" in first["blocks"][1]["text"]["text"] and "for now, see the later messages" in first["text"]
    assert "available now" in latest["blocks"][0]["text"]["text"]


def test_a_page_whose_drift_was_fixed_before_it_went_out_pings_nobody_and_the_next_episodes_page_does(
    taskrouter, services, httpserver
):
    """Held back seconds (the cause lookup's wait) while the value was fixed: it pinged "available now" after all."""
    httpserver.expect_request(HOOK).respond_with_data("ok")
    available = {"WorkerActivityName": "Available", "WorkerActivitySid": AVAILABLE_SID}
    taskrouter.post(worker_event(contact_uri="sip:x", version=1, **available))
    taskrouter.post(worker_event(version=2, **available))  # fixed before the page was posted
    taskrouter.post(worker_event(contact_uri="sip:y", version=3, **available))  # broken again: a page of its own
    services.delivery.run_once()
    page, resolved, again = [json.loads(request.get_data()) for request, _ in httpserver.log]
    assert [PING in message["text"] for message in (page, resolved, again)] == [False, False, True]
    assert "for now, see the later messages" in page["text"] and "Raised" not in json.dumps(page)


def test_a_late_page_whose_agent_sits_in_an_activity_the_guard_cannot_place_pings_as_raised(
    taskrouter, services, httpserver, clock
):
    """Unknown is never guessed to be away: the agent may well be taking tasks in "Ready"."""
    down = refusing(httpserver)
    taskrouter.post(worker_event(contact_uri="sip:x", WorkerActivityName="Available", WorkerActivitySid=AVAILABLE_SID))
    services.delivery.run_once()
    clock.advance(600)
    taskrouter.post(worker_event(contact_uri="sip:x", version=2, WorkerActivityName="Ready", WorkerActivitySid=READY))
    down.clear()
    services.delivery.run_once()
    [page] = posted(httpserver)[-1:]
    assert PING in page["text"] and "Unreachable now" in page["blocks"][1]["text"]["text"]


def test_a_late_page_of_an_agent_with_no_value_now_away_says_flex_writes_one_at_the_login(
    taskrouter, services, httpserver, clock
):
    """Saying "unable to take calls once back" was false: signing in writes the value, and then the agent rings."""
    down = refusing(httpserver)
    taskrouter.post(activity_callback("activity.created", sid=OFFLINE_SID, name="Offline", available="false"))
    taskrouter.post(worker_event(contact_uri=None, WorkerActivityName="Available", WorkerActivitySid=AVAILABLE_SID))
    services.delivery.run_once()
    clock.advance(1800)
    taskrouter.post(worker_event(contact_uri=None, version=2))  # signed out: Offline
    down.clear()
    services.delivery.run_once()
    lead = posted(httpserver)[-1]["blocks"][0]["text"]["text"]
    assert "Flex writes one at the next login" in lead and "once back" not in lead


def test_a_contact_uri_without_email_says_so_once():
    # Its note and its verdict's detail are the same sentence: the message said it twice (an on-call review)
    decision = decide(snapshot("client:someone", email=None), None, RULES, T0)
    text, blocks = render(decision.alert)
    said = "contact_uri set but no email to check it against"
    assert (
        decision.alert.kind.value == "no_email" and text.count(said) == json.dumps(blocks[2].to_dict()).count(said) == 1
    )
