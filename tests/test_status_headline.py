"""The /status headline: all clear only when workers were judged, callbacks verify and no audit says otherwise."""

import html as html_text

import pytest

from guard.metrics import EVENTS
from tests.helpers import audit, fake_api_settings, populate, worker_event, worker_sid
from tests.test_status import OPERATOR, PASSWORD

ALL_CLEAR = "All agents' contact_uri values are as Flex derives them."


@pytest.fixture
def settings_overrides(fake_api):
    """The status page on, the REST client pointed at the local TaskRouter API."""
    return fake_api_settings(fake_api, status_password=PASSWORD)


@pytest.fixture(autouse=True)
def fresh_counters():
    """The intake counters as a fresh start has them (they live in the test process for its whole run)."""
    EVENTS.clear()


def headline(client) -> str:
    """The headline's class and text."""
    html = client.get("/status", headers=OPERATOR).get_data(as_text=True)
    tag = html.split('id="overall"')[0].rsplit("<p ", 1)[1] + html.split('id="overall">')[1].split("</p>")[0]
    return " ".join(html_text.unescape(tag).split())


def test_no_worker_seen_is_no_all_clear(client):
    assert "state-warn" in headline(client) and "No worker seen yet" in headline(client)


def test_callbacks_that_all_fail_their_signature_are_the_headline(client, taskrouter):
    taskrouter.post(worker_event(sid=worker_sid(1)), signed_url="https://elsewhere.example.com/taskrouter/events")
    assert "1 callback refused for a bad signature" in headline(client) and "state-bad" in headline(client)
    assert taskrouter.post(worker_event(sid=worker_sid(1))).status_code == 204  # one verifies: the URL is right
    assert "refused" not in headline(client) and ALL_CLEAR in headline(client)


def test_a_plain_audit_that_found_drift_is_no_all_clear(client, taskrouter, runner, fake_api):
    populate(fake_api, 2, drifting={2})
    taskrouter.post(worker_event(sid=worker_sid(1)))  # the events know one healthy worker
    assert ALL_CLEAR in headline(client)
    assert audit(runner)[0] == 1  # without --alert: the state does not learn of worker 2
    assert "the last audit exited 1 (1 mismatch)" in headline(client) and "state-warn" in headline(client)
    assert audit(runner, "--alert")[0] == 1
    assert "1 worker in drift" in headline(client) and "state-bad" in headline(client)
