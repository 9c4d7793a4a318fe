"""Who changed it names the update that made the drift: never the one before it, a later one, or twice."""

import time
from datetime import UTC, datetime

from guard.service.causes import CauseJobs
from tests.cause.conftest import outbox
from tests.cause.test_cause import BROKEN, HEALTHY, _answered_after_every_try, _expire_the_wait, post
from tests.helpers import WORKSPACE_SID, cloudevent, post_cloudevents, worker_sid

SYNC = {"actor_sid": "SK" + "5" * 32, "actor_type": "account", "source": "api", "source_ip_address": "198.51.100.5"}
USER = {"actor_sid": "US" + "a" * 32, "actor_type": "user", "source": "web", "source_ip_address": "203.0.113.10"}


def iso(ms):
    """An Event Streams timestamp, to the millisecond."""
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def test_an_update_not_listed_yet_is_never_blamed_on_the_one_before_it_that_the_guard_saw(
    taskrouter, services, fake_api
):
    now = int(time.time() * 1000)  # an HR sync edits the worker 4 min ago and leaves the value healthy
    sync = post(taskrouter, 1, HEALTHY, Timestamp=str((now - 240_000) // 1000), TimestampMs=str(now - 240_000))
    fake_api.add_event(WORKSPACE_SID, "worker.attributes.update", worker_sid(1), sid=sync, at_ms=now - 240_000, **SYNC)
    post(taskrouter, 2, BROKEN)  # its Event not listed yet (TaskRouter's lag): the fetch finds none, the list decides
    _answered_after_every_try(services)
    [(_, payload)] = outbox(services)
    assert payload["cause"] is None and "no worker.attributes.update event" in payload["cause_note"]


def test_a_second_edit_just_after_the_one_that_broke_the_value_is_not_named(client, services, fake_api):
    # Never on a whole second: the lookup takes such a stamp as a rounded Timestamp, good for 2 s (1 read in 1000)
    now = (int(time.time()) - 5) * 1000 + 500
    fake_api.add_worker(WORKSPACE_SID, worker_sid(1), "ann.veal", BROKEN)
    assert post_cloudevents(client, [cloudevent(timestamp=iso(now - 60_000), worker_version=1)]).status_code == 200
    fake_api.add_event(WORKSPACE_SID, "worker.attributes.update", worker_sid(1), at_ms=now, **USER)
    fake_api.add_event(WORKSPACE_SID, "worker.attributes.update", worker_sid(1), at_ms=now + 1200, **SYNC)
    broke = cloudevent(contact_uri="client:ann.veal", timestamp=iso(now), worker_version=2)
    later = cloudevent(contact_uri="client:ann.veal", timestamp=iso(now + 1200), worker_version=3, team="x")
    assert post_cloudevents(client, [broke, later]).status_code == 200
    services.jobs.by_name["causes"].run()
    assert outbox(services)[0][1]["cause"]["actor_sid"] == USER["actor_sid"]  # a sync 1.2 s later was named


def test_a_lookup_that_outlives_its_lease_is_answered_once(taskrouter, services, fake_api, clock):
    post(taskrouter, 1, HEALTHY)
    sid = post(taskrouter, 2, BROKEN)
    _expire_the_wait(services)
    assert services.delivery.run_once() == 1  # the drift went out without its cause
    fake_api.add_event(WORKSPACE_SID, "worker.attributes.update", worker_sid(1), sid=sid, **USER)
    first, second = CauseJobs(services.pipeline, services.accounts), CauseJobs(services.pipeline, services.accounts)
    look_up = first._look_up

    def slow(request):
        """The Events API paged past the lease: another process takes the lookup over and answers it."""
        answer = look_up(request)
        clock.advance(61)
        assert second.run_pending() == 1
        return answer

    first._look_up = slow
    first.run_pending()
    assert [kind for kind, _ in outbox(services)].count("cause") == 1


def test_an_event_stamped_up_to_100_ms_after_the_change_is_named_and_one_a_millisecond_later_is_not(
    client, services, fake_api
):
    # TaskRouter may stamp a change's Event a little after the change: within 100 ms it is the change's own
    now = (int(time.time()) - 5) * 1000 + 500
    fake_api.add_worker(WORKSPACE_SID, worker_sid(1), "ann.veal", BROKEN)
    assert post_cloudevents(client, [cloudevent(timestamp=iso(now - 60_000), worker_version=1)]).status_code == 200
    fake_api.add_event(WORKSPACE_SID, "worker.attributes.update", worker_sid(1), at_ms=now + 100, **USER)
    fake_api.add_event(WORKSPACE_SID, "worker.attributes.update", worker_sid(1), at_ms=now + 101, **SYNC)
    broke = cloudevent(contact_uri="client:ann.veal", timestamp=iso(now), worker_version=2)
    assert post_cloudevents(client, [broke]).status_code == 200
    services.jobs.by_name["causes"].run()
    assert outbox(services)[0][1]["cause"]["actor_sid"] == USER["actor_sid"]
