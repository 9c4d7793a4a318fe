"""How long a lookup waits before TaskRouter is asked again: Events' lag, and a 429's Retry-After for the account."""

from sqlalchemy import select

from guard.adapters.tables import cause_lookup
from tests.cause.test_cause import BROKEN, HEALTHY, _release_retries, post
from tests.helpers import WORKSPACE_SID, worker_sid


def _waits(services):
    """Each lookup's (seconds from its creation to its next try, tries so far), by worker."""
    columns = (cause_lookup.c.worker_sid, cause_lookup.c.next_attempt_at, cause_lookup.c.created_at)
    with services.store.engine.connect() as connection:
        rows = connection.execute(select(*columns, cause_lookup.c.attempts).order_by(cause_lookup.c.id))
        return {sid: ((due - created).total_seconds(), tries) for sid, due, created, tries in rows}


def test_an_update_not_listed_yet_is_asked_about_again_after_5_10_and_20_seconds(taskrouter, services, fake_api):
    fake_api.add_event(WORKSPACE_SID, "worker.activity.update", worker_sid(7))  # a workspace TaskRouter knows
    post(taskrouter, 1, HEALTHY)
    post(taskrouter, 2, BROKEN)  # its Event is not listed yet: "none"
    waits = []
    for _ in range(3):
        services.jobs.by_name["causes"].run()
        [(wait, _)] = _waits(services).values()
        waits.append(wait)
        _release_retries(services)
    assert [round(wait) for wait in waits] == [5, 10, 20]  # as README says (the test's own seconds are far less)


def test_a_429_holds_back_the_accounts_other_lookups_without_spending_their_tries(taskrouter, services, fake_api):
    for number in range(1, 11):
        post(taskrouter, 1, HEALTHY, WorkerSid=worker_sid(number))
        post(taskrouter, 2, BROKEN, WorkerSid=worker_sid(number))
    fake_api.inject(429, times=1000, path_contains="/Events", Retry_After="60")
    services.jobs.by_name["causes"].run()
    asked = [path for _, path in fake_api.requests if "/Events" in path]
    assert len(asked) <= 2  # the first lookup and the client's own retry: TaskRouter asked for a minute's pause
    waits = _waits(services)
    assert len(waits) == 10 and all(wait >= 60 for wait, _ in waits.values())
    assert sorted(tries for _, tries in waits.values()) == [0] * 9 + [1]  # the held ones were never asked
