"""The /status headline: all clear only when workers were judged, callbacks verify and no audit says otherwise."""

import html as html_text

import pytest

from guard.adapters.tables import audit_run
from guard.metrics import EVENTS
from tests.helpers import (
    ACCOUNT_SID,
    WORKSPACE_SID,
    audit,
    email,
    fake_api_settings,
    populate,
    uri,
    worker_event,
    worker_sid,
)
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
    said = headline(client)  # a warning, not an outage: a scanner's forged post looks the same
    assert "1 callback refused for a bad signature" in said and "state-warn" in said
    assert "PUBLIC_BASE_URL and TRUST_PROXY" in said and "the auth token it signs with" in said  # what to check
    assert taskrouter.post(worker_event(sid=worker_sid(1))).status_code == 204  # one verifies: the URL is right
    assert "refused" not in headline(client) and ALL_CLEAR in headline(client)


def test_a_plain_audit_that_found_drift_is_no_all_clear(client, taskrouter, runner, fake_api):
    populate(fake_api, 2, drifting={2})
    taskrouter.post(worker_event(sid=worker_sid(1)))  # the events know one healthy worker
    assert ALL_CLEAR in headline(client)
    assert audit(runner)[0] == 1  # without --alert: the state does not learn of worker 2
    said = headline(client)
    assert f"the last audit of {WORKSPACE_SID}" in said and "found 1 mismatch" in said and "state-warn" in said
    assert audit(runner, "--alert")[0] == 1
    assert "1 worker in drift" in headline(client) and "state-bad" in headline(client)
    fixed = worker_event(sid=worker_sid(2), email=email(2), contact_uri=uri(2), name="agent.2", version=99)
    assert taskrouter.post(fixed).status_code == 204  # an audit with --alert: the state it fed decides since
    assert ALL_CLEAR in headline(client)


def test_an_audit_that_could_not_finish_is_named_as_such(client, taskrouter, runner, fake_api):
    populate(fake_api, 2)
    taskrouter.post(worker_event(sid=worker_sid(1)))
    fake_api.null_list_attributes = True  # fetched one by one, and one of them keeps failing
    fake_api.inject(503, times=50, path_contains=f"/Workers/{worker_sid(2)}")
    assert audit(runner)[0] == 2
    assert "did not finish cleanly (1 worker in error)" in headline(client)


def test_a_clean_audit_of_another_workspace_hides_nothing(client, taskrouter, runner, fake_api, services):
    populate(fake_api, 2, drifting={2})
    taskrouter.post(worker_event(sid=worker_sid(1)))
    assert audit(runner)[0] == 1
    other = "WS" + "c" * 32
    now = services.pipeline.clock()
    services.store.records.add_audit_run(ACCOUNT_SID, other, now, now, {"ok": 3}, 0)  # later, and clean
    assert f"the last audit of {WORKSPACE_SID}" in headline(client)


def test_an_audit_from_before_the_upgrade_warns_of_nothing(client, taskrouter, services):
    """Migration 0012 cannot tell whether an older run fed the state (--alert): the state speaks for it."""
    taskrouter.post(worker_event(sid=worker_sid(1)))
    now = services.pipeline.clock()
    row = {"account_sid": ACCOUNT_SID, "workspace_sid": WORKSPACE_SID, "started_at": now, "finished_at": now}
    with services.store.engine.begin() as connection:
        connection.execute(audit_run.insert().values(**row, counts='{"mismatch": 1}', exit_code=1, alerted=None))
    assert ALL_CLEAR in headline(client)


def test_an_audit_with_alert_that_could_not_finish_still_warns(client, taskrouter, runner, fake_api):
    populate(fake_api, 2, drifting={2})
    taskrouter.post(worker_event(sid=worker_sid(1)))
    fake_api.null_list_attributes = True
    fake_api.inject(503, times=50, path_contains=f"/Workers/{worker_sid(2)}")  # the drifting one stays unjudged
    assert audit(runner, "--alert")[0] == 2
    assert "did not finish cleanly (1 worker in error)" in headline(client)


def test_an_audit_whose_only_failure_was_a_removal_warns_of_nothing_once_fixed(client, taskrouter, runner, fake_api):
    populate(fake_api, 2, drifting={2})
    taskrouter.post(worker_event(sid=worker_sid(1)))
    fake_api.inject(503, times=50, method="POST")  # every removal fails: exit 2, every worker judged
    assert audit(runner, "--alert", "--remediate", "--yes", "--actor", "ops")[0] == 2
    fixed = worker_event(sid=worker_sid(2), email=email(2), contact_uri=uri(2), name="agent.2", version=99)
    assert taskrouter.post(fixed).status_code == 204
    assert ALL_CLEAR in headline(client)


def test_an_audit_that_could_not_list_its_workers_is_no_all_clear(client, taskrouter, runner, fake_api):
    populate(fake_api, 1)
    taskrouter.post(worker_event(sid=worker_sid(1)))
    assert audit(runner)[0] == 0 and ALL_CLEAR in headline(client)
    fake_api.inject(503, times=50, path_contains="/Workers")  # the next audit cannot even list
    assert audit(runner)[0] == 2
    assert "could not list its workers" in headline(client)
