"""Everywhere an admin looks: /status, /api/workers, the gauge and the audit say who cannot take calls now."""

import json

import pytest

from tests.activity.conftest import WRONG, activity_event, offline
from tests.helpers import WORKSPACE_SID, audit, populate, worker_sid
from tests.test_metrics import sample, scrape
from tests.test_status import OPERATOR, PASSWORD


@pytest.fixture
def settings_overrides(settings_overrides):
    """The status page on, besides the availability fixtures."""
    return {**settings_overrides, "status_password": PASSWORD}


def three_workers(taskrouter):
    """Worker 1 drifts while Offline, worker 2 drifts while Available, worker 3 is healthy and Available."""
    taskrouter.post(offline(1, sid=worker_sid(1), contact_uri=WRONG, name="Offline Olga"))
    taskrouter.post(activity_event(1, sid=worker_sid(2), contact_uri=WRONG, name="Available Ann"))
    taskrouter.post(activity_event(1, sid=worker_sid(3), name="Healthy Hal"))


def test_the_api_rows_carry_activity_availability_and_unreachable(taskrouter, client):
    three_workers(taskrouter)
    body = client.get("/api/workers", headers=OPERATOR).get_json()
    rows = {row["worker_sid"]: row for row in body["workers"]}
    got = {
        n: (rows[worker_sid(n)]["activity"], rows[worker_sid(n)]["available"], rows[worker_sid(n)]["unreachable"])
        for n in (1, 2, 3)
    }
    assert got == {1: ("Offline", None, False), 2: ("Available", True, True), 3: ("Available", True, False)}
    assert body["unreachable"] == 1


def test_the_status_page_puts_who_cannot_take_calls_first(taskrouter, client):
    three_workers(taskrouter)
    page = client.get("/status", headers=OPERATOR).get_data(as_text=True)
    assert "1 available now but cannot take calls; 2 workers in drift." in page
    assert page.index("Available Ann") < page.index("Offline Olga")
    assert "available now: cannot ring" in page and "Healthy Hal" not in page


def test_other_workers_leaves_out_the_pending_agents_listed_as_unable_to_take_calls(taskrouter, client):
    taskrouter.post(activity_event(1, sid=worker_sid(1), contact_uri=None, name="Waiting Walt"))
    taskrouter.post(offline(1, sid=worker_sid(2), contact_uri=None, name="Resting Rita"))
    page = client.get("/status", headers=OPERATOR).get_data(as_text=True)
    assert "1 available now but cannot take calls" in page and "Waiting Walt" in page
    assert "<strong>1</strong> waiting for a login (no contact_uri)" in page  # Rita only: Walt is counted once, above


def test_the_gauge_counts_the_unreachable_workers(taskrouter, client):
    three_workers(taskrouter)
    assert sample(scrape(client), "guard_workers_unreachable") == 1


def test_the_audit_counts_and_lists_the_unreachable(runner, fake_api, services):
    populate(fake_api, 4, drifting={1, 2}, pending={3})
    ids = fake_api.add_flex_activities(WORKSPACE_SID)
    for n in (2, 3, 4):
        fake_api.set_activity(WORKSPACE_SID, worker_sid(n), ids["Available"])
    code, out = audit(runner, "--format", "json")
    report = json.loads(out)
    assert (code, report["summary"]["unreachable"]) == (1, 2)
    rows = {row["sid"]: row for row in report["workers"]}
    assert (rows[worker_sid(2)]["activity"], rows[worker_sid(2)]["unreachable"]) == ("Available", True)
    assert rows[worker_sid(1)]["unreachable"] is False  # drifting, but Offline: it can wait
    _, out = audit(runner, "--format", "json", "--only", "unreachable")
    assert [row["sid"] for row in json.loads(out)["workers"]] == [worker_sid(2), worker_sid(3)]
    _, table = audit(runner, "--only", "unreachable")
    assert table.count("UNREACHABLE") == 2 and "2 unreachable" in table


def test_audit_alert_feeds_the_activity_into_the_state(runner, fake_api, services):
    populate(fake_api, 2, drifting={1})
    fake_api.set_activity(WORKSPACE_SID, worker_sid(1), fake_api.add_flex_activities(WORKSPACE_SID)["Available"])
    audit(runner, "--alert")
    assert services.store.listing.unreachable_count() == 1
    [row] = services.store.listing.listing(cannot_ring=True)
    assert (row["worker_sid"], row["activity"], row["available"]) == (worker_sid(1), "Available", True)
