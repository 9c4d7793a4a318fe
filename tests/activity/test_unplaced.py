"""An activity the guard cannot place is looked up in its workspace's list within seconds, not at the next refresh."""

from tests.activity.conftest import WRONG, activity_event, outbox
from tests.helpers import ACCOUNT_SID, WORKSPACE_SID

OVERFLOW_SID = "WA" + "a" * 32  # a custom activity that routes tasks, made after the guard's last refresh


def test_a_worker_in_an_activity_not_placed_yet_is_paged_once_its_list_is_fetched(taskrouter, services, fake_api):
    fake_api.add_activity(WORKSPACE_SID, OVERFLOW_SID, "Overflow", True)
    assert taskrouter.post(activity_event(1, "Overflow", OVERFLOW_SID, contact_uri=WRONG)).status_code == 204
    assert [kind for kind, _ in outbox(services)] == ["drift"]  # not known to route tasks: no page yet
    job = services.jobs.by_name["unplaced_activities"]
    assert job.enabled and job.every <= 10
    assert job.run() == 1
    assert services.store.activities.learned(ACCOUNT_SID, WORKSPACE_SID, OVERFLOW_SID) is True
    assert [kind for kind, _ in outbox(services)] == ["drift", "urgent"]
    assert services.store.listing.unreachable_count() == 1


def test_an_activity_the_list_does_not_place_is_asked_about_once_not_every_round(taskrouter, services, fake_api):
    fake_api.add_activity(WORKSPACE_SID, OVERFLOW_SID, "Overflow", None)  # the list says nothing of it
    taskrouter.post(activity_event(1, "Overflow", OVERFLOW_SID, contact_uri=WRONG))
    job = services.jobs.by_name["unplaced_activities"]
    assert job.run() == 0
    asked = len(fake_api.requests)
    assert job.run() == 0 and len(fake_api.requests) == asked  # the next refresh asks again, not every 10 s
