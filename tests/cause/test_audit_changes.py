"""The audit names the last change of every drifting worker: time, actor, type, source, IP and event."""

import csv
import io
import json

import pytest

from tests.helpers import WORKSPACE_SID, audit, populate, worker_sid


@pytest.fixture
def settings_overrides(fake_api):
    """SQLite and the local TaskRouter API with its Events."""
    from tests.helpers import fake_api_settings

    return fake_api_settings(fake_api)


def test_json_table_and_csv_name_who_changed_a_drifting_worker_last(runner, fake_api):
    populate(fake_api, 3, drifting={2})
    older = fake_api.add_event(WORKSPACE_SID, "worker.attributes.update", worker_sid(2), at_ms=1_700_000_000_000)
    newest = fake_api.add_event(
        WORKSPACE_SID, "worker.attributes.update", worker_sid(2), source="web", actor_type="user"
    )
    _, out = audit(runner, "--format", "json")
    rows = {row["sid"]: row for row in json.loads(out)["workers"]}
    change = rows[worker_sid(2)]["last_change"]
    assert (change["event_sid"], change["source"], change["actor_type"]) == (newest, "web", "user")
    assert change["source_ip_address"] == "203.0.113.7" and change["time"].startswith("20")
    assert older != newest and "last_change" not in rows[worker_sid(1)]  # healthy workers are not looked up
    _, table = audit(runner)
    assert "CHANGED BY" in table and "(web)" in table
    assert table.splitlines()[0].rstrip().endswith("DETAIL")  # the detail sentence, not the diagnosis code
    _, out = audit(runner, "--format", "csv", "--only", "drift")
    [row] = list(csv.DictReader(io.StringIO(out)))
    assert (row["last_change_event_sid"], row["last_change_source"]) == (newest, "web")


def test_a_worker_never_updated_since_its_creation_names_who_created_it(runner, fake_api):
    """A provisioning script that wrote the wrong value when it created the worker: that is the last change."""
    populate(fake_api, 2, drifting={2})
    created = fake_api.add_event(WORKSPACE_SID, "worker.created", worker_sid(2), source="api", actor_type="account")
    _, out = audit(runner, "--format", "json")
    change = {row["sid"]: row for row in json.loads(out)["workers"]}[worker_sid(2)]["last_change"]
    assert (change["event_sid"], change["source"], change["actor_type"]) == (created, "api", "account")


def test_a_failed_lookup_is_said_and_the_audit_goes_on(runner, fake_api):
    populate(fake_api, 2, drifting={1})
    fake_api.inject(403, times=5, path_contains="/Events")
    code, out = audit(runner, "--format", "json")
    row = next(r for r in json.loads(out)["workers"] if r["sid"] == worker_sid(1))
    assert code == 1 and row["last_change"] is None and "HTTP 403" in row["last_change_note"]
    fake_api.inject(403, times=5, path_contains="/Events")
    _, out = audit(runner, "--format", "csv", "--only", "drift")
    [row] = list(csv.DictReader(io.StringIO(out)))  # the CSV says why it names nobody, as the JSON does
    assert row["last_change_event_sid"] == "" and "HTTP 403" in row["last_change_note"]


def test_once_a_lookup_fails_on_a_busy_or_failing_events_api_the_rest_are_not_asked(runner, fake_api):
    """Events answering 503 (or 429) must not hold the drift report, alerts and removals for every worker's retries."""
    populate(fake_api, 6, drifting={1, 2, 3, 4, 5, 6})
    fake_api.inject(503, times=1000, path_contains="/Events")
    code, out = audit(runner, "--format", "json", "--concurrency", "1")
    asked = [path for _, path in fake_api.requests if "/Events" in path]
    assert len(asked) == 2  # one lookup and its one retry; before, each of the six took the sweep's three
    notes = [row["last_change_note"] for row in json.loads(out)["workers"]]
    assert code == 1 and sum("HTTP 503" in note for note in notes) == 6
    assert sum(note.startswith("not looked up") for note in notes) == 5


def test_a_429_on_the_events_api_holds_the_report_seconds_not_every_retry_it_asks_for(runner, fake_api):
    """Lookups under way when TaskRouter asks for a pause: one retry each, its Retry-After waited 2 s at most."""
    populate(fake_api, 4, drifting={1, 2, 3, 4})
    fake_api.inject(429, times=1000, path_contains="/Events", Retry_After="20")
    code, out = audit(runner, "--format", "json", "--concurrency", "4")
    asked = [path for _, path in fake_api.requests if "/Events" in path]
    assert code == 1 and len(asked) == 4 * 2  # before: the sweep's client, 3 tries each, 20 s before each retry
    assert all("HTTP 429" in row["last_change_note"] for row in json.loads(out)["workers"])
