"""The guard against Twilio's own examples: Prism serves the description's static examples (`prism mock`).

Where the proxy tests check the fake's answers, these read what Twilio wrote down itself: a workspace whose only
worker is Twilio's example `testWorker` (attributes `{}`), an activity, and an event.
"""

import json
from collections.abc import Iterator
from typing import Any

import pytest

from guard.adapters.taskrouter_api import TaskRouterApi
from guard.adapters.taskrouter_lookups import (
    ActivityRecord,
    ChangeRecord,
    fetch_event,
    list_activities,
    list_worker_changes,
)
from guard.config.accounts import Credentials
from tests.conformance.prism import Prism, require_prism
from tests.helpers import ACCOUNT_SID, AUTH_TOKEN, WORKSPACE_SID, audit

EXAMPLE_WORKSPACE = "WS" + "a" * 32
EXAMPLE_WORKER = "WK" + "a" * 32
EXAMPLE_EVENT = ChangeRecord(
    sid="EV" + "a" * 32,
    event_type="worker.activity",
    event_date_ms=987654321111,
    actor_sid=EXAMPLE_WORKSPACE,
    actor_type="workspace",
    actor_url=f"https://taskrouter.twilio.com/v1/Workspaces/{EXAMPLE_WORKSPACE}",
    source="twilio",
    source_ip_address="1.2.3.4",
    resource_sid=EXAMPLE_WORKER,
    description="Worker JustinWorker updated to Idle Activity",
)


@pytest.fixture(scope="module")
def prism(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prism]:
    """Prism serving the description's static examples."""
    require_prism()
    server = Prism("mock", log_path=tmp_path_factory.mktemp("prism") / "mock.log").start()
    yield server
    server.stop()


@pytest.fixture
def database_url(tmp_path) -> str:
    """SQLite: these tests are about the REST calls."""
    return f"sqlite:///{tmp_path}/guard.db"


@pytest.fixture
def settings_overrides(prism: Prism) -> dict[str, Any]:
    """The guard's REST client talks to Prism's mock."""
    prism.checkpoint()  # start the test's share of the log here
    return {"account_sid": ACCOUNT_SID, "workspace_sid": WORKSPACE_SID, "taskrouter_base_url": prism.url}


@pytest.fixture
def api(prism: Prism) -> TaskRouterApi:
    """A REST client on Prism's mock, without retries."""
    prism.checkpoint()
    return TaskRouterApi(Credentials(ACCOUNT_SID, ACCOUNT_SID, AUTH_TOKEN), WORKSPACE_SID, prism.url, retries=0)


def test_the_audit_runs_end_to_end_on_twilios_example_workspace(runner, prism):
    code, out = audit(runner, "--format", "json")
    said = prism.checkpoint().assert_clean()
    report = json.loads(out)
    assert code == 0
    assert [(w["sid"], w["name"]) for w in report["workers"]] == [(EXAMPLE_WORKER, "testWorker")]
    assert said.paths("GET", "/Workers") == [f"/v1/Workspaces/{WORKSPACE_SID}/Workers"]


def test_twilios_example_worker_without_flex_attributes_is_ignored(runner, prism):
    _, out = audit(runner, "--format", "json")
    prism.checkpoint().assert_clean()
    [worker] = json.loads(out)["workers"]
    assert worker["verdict"] == "ignored"


def test_the_lookups_read_twilios_examples(prism, api):
    assert list_activities(api) == [ActivityRecord("WA" + "a" * 32, "New Activity", True)]
    assert fetch_event(api, EXAMPLE_EVENT.sid) == EXAMPLE_EVENT
    # The example event is from 2001, so the window has to reach back that far.
    assert list_worker_changes(api, EXAMPLE_WORKER, start_ms=0) == [EXAMPLE_EVENT]
    worker = api.fetch_worker(EXAMPLE_WORKER)
    assert (worker.name, worker.attributes_json) == ("NewWorker3", "{}")
    assert (worker.activity_sid, worker.activity_name, worker.available) == ("WA" + "a" * 32, "available", False)
    said = prism.checkpoint().assert_clean()
    assert len(said.requests) == 4
