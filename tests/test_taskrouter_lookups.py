"""The REST lookups (activities, who changed a worker) and the workers' activity, against the fake TaskRouter API."""

import json
import socket
import threading
import time
from collections.abc import Iterator
from urllib.parse import quote

import pytest
from twilio.base.exceptions import TwilioRestException

from guard.adapters.taskrouter_api import TaskRouterApi, WorkerRecord, describe
from guard.adapters.taskrouter_lookups import ActivityRecord, fetch_event, list_activities, list_worker_changes
from guard.config.accounts import Credentials
from guard.logs import configure_logging
from tests.fakes.taskrouter_api import FakeTaskRouter
from tests.helpers import ACCOUNT_SID, AUTH_TOKEN, WORKSPACE_SID, worker_sid

HOUR_MS = 3600 * 1000
DAY_MS = 24 * HOUR_MS


@pytest.fixture
def fake() -> Iterator[FakeTaskRouter]:
    """A fake with pages of 2, so a handful of records already spans several pages."""
    api = FakeTaskRouter(max_page_size=2).start()
    yield api
    api.stop()


@pytest.fixture
def api(fake: FakeTaskRouter) -> TaskRouterApi:
    """The guard's REST client on the fake, with two retries."""
    return TaskRouterApi(Credentials(ACCOUNT_SID, ACCOUNT_SID, AUTH_TOKEN), WORKSPACE_SID, fake.url, retries=2)


def requests_to(fake: FakeTaskRouter, part: str) -> list[str]:
    """The paths (with queries) of the requests whose path contains `part`."""
    return [path for _, path in fake.requests if part in path]


def now_ms() -> int:
    """The current time in epoch milliseconds."""
    return int(time.time() * 1000)


def test_list_activities_follows_every_page(fake, api):
    sids = fake.add_flex_activities(WORKSPACE_SID)
    fake.add_activity(WORKSPACE_SID, "WA" + "e" * 32, "Wrap-up", False)
    activities = list_activities(api)
    assert activities[:2] == [
        ActivityRecord(sids["Offline"], "Offline", False),
        ActivityRecord(sids["Available"], "Available", True),
    ]
    assert [a.name for a in activities] == ["Offline", "Available", "Unavailable", "Break", "Wrap-up"]
    assert len(requests_to(fake, "/Activities")) == 3


def test_workers_carry_their_activity_from_the_list_the_fetch_and_the_async_fetch(fake, api):
    sids = fake.add_flex_activities(WORKSPACE_SID)
    fake.add_worker(WORKSPACE_SID, worker_sid(1), "ann", {"email": "ann@example.com"})
    fake.add_worker(WORKSPACE_SID, worker_sid(2), "bob", {"email": "bob@example.com"})
    fake.set_activity(WORKSPACE_SID, worker_sid(1), sids["Available"])
    listed = {record.sid: record for record in api.list_workers()}
    fetched = api.fetch_worker(worker_sid(1))
    results: dict[str, WorkerRecord | Exception] = {}
    api.fetch_many([worker_sid(1), worker_sid(2)], 2, results.__setitem__)
    for record in (listed[worker_sid(1)], fetched, results[worker_sid(1)]):
        assert isinstance(record, WorkerRecord)
        assert (record.activity_sid, record.activity_name, record.available) == (sids["Available"], "Available", True)
    for record in (listed[worker_sid(2)], results[worker_sid(2)]):
        assert isinstance(record, WorkerRecord)
        assert (record.activity_sid, record.activity_name, record.available) == (sids["Offline"], "Offline", False)


def test_fetch_event_returns_who_changed_what(fake, api):
    fake.add_worker(WORKSPACE_SID, worker_sid(1), "ann", {"email": "ann@example.com"})
    sid = fake.add_event(
        WORKSPACE_SID, "worker.attributes.update", worker_sid(1), at_ms=1_790_000_000_123,
        actor_sid="US" + "1" * 32, actor_type="user", actor_url=None, source="web", source_ip_address="198.51.100.4",
    )  # fmt: skip
    change = fetch_event(api, sid)
    assert change.sid == sid
    assert (change.event_type, change.event_date_ms) == ("worker.attributes.update", 1_790_000_000_123)
    assert (change.actor_sid, change.actor_type, change.actor_url) == ("US" + "1" * 32, "user", None)
    assert (change.source, change.source_ip_address) == ("web", "198.51.100.4")
    assert (change.resource_sid, change.description) == (worker_sid(1), "Worker ann event worker.attributes.update")


def test_an_unknown_event_is_a_404(fake, api):
    fake.add_event(WORKSPACE_SID, "worker.created", worker_sid(1))
    with pytest.raises(TwilioRestException) as raised:
        fetch_event(api, "EV" + "f" * 32)
    assert raised.value.status == 404


def test_a_failed_list_page_raises_with_its_status_like_a_fetch(fake, api):
    fake.add_flex_activities(WORKSPACE_SID)
    fake.inject(404, times=1, path_contains="/Activities")
    with pytest.raises(TwilioRestException) as raised:
        list_activities(api)
    assert raised.value.status == 404


def test_worker_changes_are_that_workers_of_that_type_over_30_days_newest_first(fake, api):
    now = now_ms()
    for age in (2 * DAY_MS, 5 * 60_000, 29 * DAY_MS, 3 * HOUR_MS, 31 * DAY_MS):
        fake.add_event(WORKSPACE_SID, "worker.attributes.update", worker_sid(1), at_ms=now - age, sid=f"EV{age:032x}")
    fake.add_event(WORKSPACE_SID, "worker.activity.update", worker_sid(1), at_ms=now - HOUR_MS)
    fake.add_event(WORKSPACE_SID, "worker.attributes.update", worker_sid(2), at_ms=now - HOUR_MS)
    changes = list_worker_changes(api, worker_sid(1))
    # Newest first, across pages of 2; the 2-day-old change proves StartDate was sent (the API's default is 15
    # minutes), and the 31-day-old one is past what TaskRouter keeps.
    ages = [now - change.event_date_ms for change in changes if change.event_date_ms is not None]
    assert ages == [5 * 60_000, 3 * HOUR_MS, 2 * DAY_MS, 29 * DAY_MS]
    [first, *_] = requests_to(fake, "/Events")
    assert "StartDate=" in first and f"WorkerSid={worker_sid(1)}" in first
    assert len(requests_to(fake, "/Events")) == 2
    assert len(list_worker_changes(api, worker_sid(1), limit=2)) == 2
    assert all(change.event_type == "worker.attributes.update" for change in changes)  # not its activity update


def test_a_worker_never_updated_since_has_its_creation_as_its_change(fake, api):
    """A provisioning script that wrote contact_uri when it created the worker: that Event is who did it."""
    fake.add_event(WORKSPACE_SID, "worker.created", worker_sid(1), at_ms=now_ms() - DAY_MS, sid="EV" + "c" * 32)
    assert list_worker_changes(api, worker_sid(1)) == []  # the updates only: one may not be listed yet
    [created] = list_worker_changes(api, worker_sid(1), created_too=True)
    assert (created.event_type, created.sid) == ("worker.created", "EV" + "c" * 32)
    assert [query.split("EventType=")[1].split("&")[0] for query in requests_to(fake, "/Events")] == [
        "worker.attributes.update",
        "worker.attributes.update",
        "worker.created",
    ]  # one type per request, as the Events list takes it; the creation only when nothing updated the worker


def test_the_window_is_cut_to_the_millisecond_though_the_api_takes_whole_seconds(fake, api):
    second = (now_ms() // 1000 - 3600) * 1000
    for offset in (100, 900, 1500, 2100):
        fake.add_event(WORKSPACE_SID, "worker.attributes.update", worker_sid(1), at_ms=second + offset)
    changes = list_worker_changes(api, worker_sid(1), start_ms=second + 500, end_ms=second + 1200)
    assert [change.event_date_ms for change in changes] == [second + 900]


def test_5xx_is_retried(fake, api):
    fake.add_event(WORKSPACE_SID, "worker.attributes.update", worker_sid(1))
    fake.inject(500, times=1, path_contains="/Events")
    fake.inject(503, times=1, path_contains="/Events")
    assert len(list_worker_changes(api, worker_sid(1))) == 1
    assert len(requests_to(fake, "/Events")) == 3


def test_a_retried_connection_failure_is_said_by_the_guard_alone(caplog):
    """urllib3's own warning for each retry names no job, account or worker: the guard's failure line does."""
    configure_logging("INFO")  # as the service runs
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{closed.getsockname()[1]}"  # bound, not listening: refused
        down = TaskRouterApi(Credentials(ACCOUNT_SID, AUTH_TOKEN, ACCOUNT_SID), WORKSPACE_SID, url, retries=1)
        with pytest.raises(Exception):  # noqa: B017 - whichever: the call failed
            list_activities(down)
    assert [r.getMessage() for r in caplog.records if r.name.startswith("urllib3")] == []


def test_429_waits_as_long_as_retry_after_says(fake, api):
    fake.add_flex_activities(WORKSPACE_SID)
    fake.inject(429, times=1, path_contains="/Activities")
    started = time.monotonic()
    assert len(list_activities(api)) == 4
    without_header = time.monotonic() - started
    fake.inject(429, times=1, path_contains="/Activities", Retry_After="1")
    started = time.monotonic()
    assert len(list_activities(api)) == 4
    with_header = time.monotonic() - started
    # urllib3 retries a first 429 at once unless Retry-After says otherwise; the margin absorbs a loaded machine.
    assert with_header >= 1.0 and with_header - without_header >= 0.5
    assert len(requests_to(fake, "/Activities")) == 2 * (1 + 2)  # two listings of 2 pages, one retry each


@pytest.mark.parametrize("asked", ["0.5", "soon"])
def test_a_retry_after_that_is_no_whole_number_or_date_is_still_a_429_retried(fake, asked):
    """urllib3 refuses `Retry-After: 0.5` (InvalidHeader, a ValueError): the listing failed as "HTTP 200, not JSON"."""
    quick = TaskRouterApi(Credentials(ACCOUNT_SID, AUTH_TOKEN, ACCOUNT_SID), WORKSPACE_SID, fake.url, retry_after_max=1)
    fake.add_flex_activities(WORKSPACE_SID)
    fake.inject(429, times=1, path_contains="/Activities", Retry_After=asked)
    assert len(list_activities(quick)) == 4  # junk waits the longest honoured (1 s here), as a date far off would
    assert len(requests_to(fake, "/Activities")) == 3  # the 429, its retry, the second page


def test_a_server_that_keeps_failing_surfaces_the_last_status(fake):
    api = TaskRouterApi(Credentials(ACCOUNT_SID, ACCOUNT_SID, AUTH_TOKEN), WORKSPACE_SID, fake.url, retries=1)
    fake.add_event(WORKSPACE_SID, "worker.attributes.update", worker_sid(1))
    fake.inject(503, times=10, path_contains="/Events")
    with pytest.raises(TwilioRestException) as raised:
        list_worker_changes(api, worker_sid(1))
    assert raised.value.status == 503
    assert len(requests_to(fake, "/Events")) == 2


def test_a_fetch_that_hangs_is_cut_at_the_timeout_and_tried_again(fake):
    """Twilio's async client passes timeout=None, which switched aiohttp's off: one hung fetch stalled the sweep."""
    fake.add_worker(WORKSPACE_SID, worker_sid(1), "agent.1", {"email": "a@example.com"})
    released, original = threading.Event(), fake.worker_json

    def hang_first_fetch(workspace_sid, worker, listing):
        """The first single fetch answers only once the test is over (or after 30 s)."""
        if not listing and len(requests_to(fake, worker_sid(1))) == 1:
            released.wait(30)
        return original(workspace_sid, worker, listing)

    fake.worker_json = hang_first_fetch
    api = TaskRouterApi(Credentials(ACCOUNT_SID, ACCOUNT_SID, AUTH_TOKEN), WORKSPACE_SID, fake.url, 2, 1, timeout=0.5)
    results = {}
    try:
        api.fetch_many([worker_sid(1)], 2, results.__setitem__)
    finally:
        released.set()
    assert isinstance(results[worker_sid(1)], WorkerRecord) and len(requests_to(fake, worker_sid(1))) == 2


def test_an_api_secret_echoed_json_escaped_or_percent_encoded_in_lower_case_is_redacted():
    secret = "s3cr3t/api+secret/0123456789ABCDEF"
    TaskRouterApi(Credentials(ACCOUNT_SID, "SK" + "7" * 32, secret), WORKSPACE_SID)
    echoed = [json.dumps(secret).replace("/", "\\/"), quote(secret, safe="").lower(), secret.lower()]
    text = describe(TwilioRestException(401, "uri", msg=" ".join(echoed)))
    assert text == 'HTTP 401: "<secret>" <secret> <secret>'
