"""Every REST call of the guard, and every answer of the fake TaskRouter API, checked against Twilio's description.

Prism runs as a validating proxy between the guard and the fake (`prism proxy <description> <fake> --errors`).
A request the description rejects is answered 422 instead of reaching the fake, a response it rejects becomes a
500, and both are logged; each test reads Prism's log up to its own end and asserts it is clean.
"""

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from twilio.base.exceptions import TwilioRestException

from guard.adapters.taskrouter_api import TaskRouterApi
from guard.adapters.taskrouter_lookups import ActivityRecord, fetch_event, list_activities, list_worker_changes
from guard.config.accounts import Credentials
from tests.conformance.prism import Prism, require_prism
from tests.fakes.taskrouter_api import FakeTaskRouter
from tests.helpers import ACCOUNT_SID, AUTH_TOKEN, WORKSPACE_SID, audit, email, fake_api_settings, populate, worker_sid

DAY_MS = 24 * 3600 * 1000


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeTaskRouter]:
    """One fake for the module: Prism's upstream URL is fixed when it starts."""
    fake = FakeTaskRouter().start()
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def prism(upstream: FakeTaskRouter, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prism]:
    """Prism as a validating proxy in front of the fake."""
    require_prism()
    server = Prism("proxy", upstream.url, log_path=tmp_path_factory.mktemp("prism") / "proxy.log").start()
    yield server
    server.stop()


@pytest.fixture
def fake(upstream: FakeTaskRouter, prism: Prism) -> FakeTaskRouter:
    """The module's fake, emptied, with pages of 100; Prism's log starts afresh for the test."""
    upstream.reset()
    upstream.max_page_size = 100
    prism.checkpoint()
    return upstream


@pytest.fixture
def database_url(tmp_path) -> str:
    """SQLite: these tests are about the REST calls."""
    return f"sqlite:///{tmp_path}/guard.db"


@pytest.fixture
def settings_overrides(fake: FakeTaskRouter, prism: Prism) -> dict[str, Any]:
    """The guard's REST client goes through Prism."""
    return {**fake_api_settings(fake), "taskrouter_base_url": prism.url}


@pytest.fixture
def api(prism: Prism) -> TaskRouterApi:
    """A REST client through Prism, without retries: an error answer shows at once."""
    return TaskRouterApi(Credentials(ACCOUNT_SID, ACCOUNT_SID, AUTH_TOKEN), WORKSPACE_SID, prism.url, retries=0)


def answers(api: TaskRouterApi) -> list[requests.Response]:
    """Every HTTP answer the client gets from now on (a requests response hook), to read Prism's headers."""
    seen: list[requests.Response] = []
    api.client.http_client.session.hooks["response"].append(lambda response, *_, **__: seen.append(response))
    return seen


def assert_no_violation_headers(seen: list[requests.Response]) -> None:
    """Prism adds sl-violations to any answer that broke the description, and --errors turns errors into 4xx/5xx."""
    assert seen, "no request went through Prism"
    assert [(r.status_code, r.headers.get("sl-violations")) for r in seen] == [(200, None)] * len(seen)


def test_audit_of_listed_attributes_over_two_pages(runner, fake, prism):
    populate(fake, 150, drifting={7}, pending={9})
    code, out = audit(runner, "--format", "json")
    said = prism.checkpoint().assert_clean()
    assert (code, json.loads(out)["summary"]["ok"]) == (1, 148)
    assert len(said.paths("GET", "/Workers")) == 2


def test_audit_that_fetches_every_worker_on_the_async_path(runner, fake, prism):
    fake.null_list_attributes = True
    populate(fake, 30, drifting={4})
    code, out = audit(runner, "--format", "json", "--concurrency", "4")
    said = prism.checkpoint().assert_clean()
    assert (code, json.loads(out)["summary"]["mismatch"]) == (1, 1)
    assert len(said.paths("GET", "/Workers/WK")) == 30


def test_remediation_fetches_and_updates_with_if_match(runner, fake, prism):
    populate(fake, 5, drifting={2})
    code, _ = audit(runner, "--format", "json", "--remediate", "--yes")
    said = prism.checkpoint().assert_clean()
    assert code == 0  # removed: nothing left drifting
    assert "contact_uri" not in fake.attributes(WORKSPACE_SID, worker_sid(2))
    assert fake.attributes(WORKSPACE_SID, worker_sid(2))["email"] == email(2)
    [update] = fake.updates
    assert update.if_match == '"1"'
    assert len(said.paths("POST", f"/Workers/{worker_sid(2)}")) == 1


def test_activities_events_and_a_workers_activity(fake, prism, api):
    fake.max_page_size = 2
    sids = fake.add_flex_activities(WORKSPACE_SID)
    fake.add_worker(WORKSPACE_SID, worker_sid(1), "ann", {"email": "ann@example.com"})
    fake.set_activity(WORKSPACE_SID, worker_sid(1), sids["Available"])
    now = int(time.time() * 1000)
    for age in (DAY_MS, 2 * DAY_MS, 3 * DAY_MS):
        fake.add_event(WORKSPACE_SID, "worker.attributes.update", worker_sid(1), at_ms=now - age)
    by_user = fake.add_event(
        WORKSPACE_SID, "worker.attributes.update", worker_sid(1), actor_sid="US" + "1" * 32, actor_type="user",
        actor_url=None, source="web",
    )  # fmt: skip
    seen = answers(api)
    assert list_activities(api)[1] == ActivityRecord(sids["Available"], "Available", True)
    assert api.fetch_worker(worker_sid(1)).activity_name == "Available"
    assert [r.activity_name for r in api.list_workers()] == ["Available"]
    change = fetch_event(api, by_user)
    assert (change.actor_type, change.source) == ("user", "web")
    changes = list_worker_changes(api, worker_sid(1), start_ms=now - 5 * DAY_MS, end_ms=now + 60_000)
    assert changes[0] == change and len(changes) == 4
    said = prism.checkpoint().assert_clean()
    assert_no_violation_headers(seen)
    assert len(said.paths("GET", "/Activities")) == 2 and len(said.paths("GET", "/Events")) == 3


def test_the_description_documents_no_404_so_prism_only_warns(fake, prism, api):
    """Spec gap: the description lists only 200 for these GETs, while TaskRouter answers 404 for an unknown SID."""
    fake.add_event(WORKSPACE_SID, "worker.created", worker_sid(1))
    with pytest.raises(TwilioRestException) as raised:
        fetch_event(api, "EV" + "f" * 32)
    said = prism.checkpoint()
    assert raised.value.status == 404
    assert said.errors == []
    assert [line.split("Violation: ")[1] for line in said.warnings] == [
        "response Unable to match the returned status code with those defined in the document: 200"
    ]


def test_a_request_the_description_rejects_fails_and_never_reaches_the_fake(fake, prism, api):
    fake.add_event(WORKSPACE_SID, "worker.created", worker_sid(1))
    with pytest.raises(TwilioRestException) as raised:
        fetch_event(api, "EV-not-a-sid")
    said = prism.checkpoint()
    assert raised.value.status == 422
    assert len(said.errors) == 1 and "UNPROCESSABLE_ENTITY" in said.errors[0]
    assert not [path for _, path in fake.requests if "EV-not-a-sid" in path]


def test_a_response_the_description_rejects_fails_and_is_logged(fake, prism, api):
    sids = fake.add_flex_activities(WORKSPACE_SID)
    fake.activities[WORKSPACE_SID][sids["Break"]]["available"] = "no"  # the description says boolean
    seen = answers(api)
    with pytest.raises(TwilioRestException) as raised:
        list_activities(api)
    said = prism.checkpoint()
    assert raised.value.status == 500
    [violation] = json.loads(seen[0].headers["sl-violations"])
    assert violation["message"] == "Response body property activities.3.available must be boolean,null"
    assert len(said.errors) == 1 and "VIOLATIONS" in said.errors[0]
