"""The audit against a TaskRouter or a database that misbehaves: one line and exit 2, and no removal unrecorded."""

import fcntl
import getpass
import json
import pwd
import threading
import time

import pytest
from sqlalchemy import select

from guard.adapters.tables import alert
from guard.core.snapshot import WorkerKey
from tests.helpers import (
    ACCOUNT_SID,
    WORKSPACE_SID,
    audit,
    email,
    fake_api_settings,
    populate,
    remediations,
    stored_state,
    worker_event,
    worker_sid,
)

PROXY_PAGE = "<html>\r\n<h1>\x1b[31mSign in to the proxy</h1>\n</html>"


@pytest.fixture
def settings_overrides(fake_api, request):
    """Point the REST client at the fake API."""
    return fake_api_settings(fake_api, **getattr(request, "param", {}))


def test_a_listing_that_answers_200_with_no_json_exits_2_with_one_line(runner, fake_api):
    populate(fake_api, 2)
    fake_api.inject(200, times=5, path_contains="/Workers", body=PROXY_PAGE)
    result = runner.invoke(args=["audit"])
    assert result.exit_code == 2 and isinstance(result.exception, SystemExit)
    assert f"error: {WORKSPACE_SID}: listing workers failed: HTTP 200: the answer is not JSON" in result.stderr


def test_a_server_error_page_is_one_line_with_its_control_characters_escaped(runner, fake_api):
    populate(fake_api, 2)
    fake_api.inject(502, times=10, path_contains="/Workers", body=PROXY_PAGE)
    result = runner.invoke(args=["audit"])
    [line] = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert result.exit_code == 2 and "\x1b" not in result.stderr and "\\x1b[31m" in line and "\\r\\n" in line


def test_a_lookup_that_answers_200_with_no_json_keeps_the_report(runner, fake_api):
    populate(fake_api, 2, drifting={2})
    fake_api.inject(200, times=20, path_contains="/Events", body=PROXY_PAGE)
    code, out = audit(runner, "--format", "json")
    assert code == 1 and '"mismatch": 1' in out


def test_a_user_with_no_passwd_entry_can_audit(runner, fake_api, monkeypatch):
    """A container's arbitrary UID: getpass.getuser() raises, and --actor's default used to end every audit."""
    populate(fake_api, 1)
    for name in ("LOGNAME", "USER", "LNAME", "USERNAME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(pwd, "getpwuid", lambda uid: (_ for _ in ()).throw(KeyError(f"uid not found: {uid}")))
    with pytest.raises(KeyError):
        getpass.getuser()
    assert audit(runner)[0] == 0


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_removal_made_while_another_process_holds_sqlite_is_recorded(
    runner, fake_api, services, database_url, caplog
):
    """An overlapping cron run holds the write turn past 3 s just as TaskRouter applies the removal."""
    populate(fake_api, 1, drifting={1})
    lock = open(f"{database_url.removeprefix('sqlite:///')}.write-lock", "a")  # noqa: SIM115 - held across threads
    retried = threading.Event()

    def other_process_takes_the_turn(_sid):
        fcntl.flock(lock, fcntl.LOCK_EX)
        threading.Thread(target=release_after_a_retry, daemon=True).start()

    def release_after_a_retry():
        while not any(r.getMessage() == "remediation_record_retry" for r in caplog.records):
            retried.wait(0.05)
        fcntl.flock(lock, fcntl.LOCK_UN)

    fake_api.before_update = other_process_takes_the_turn
    try:
        code, out = audit(runner, "--remediate", "--yes", "--actor", "ops")
    finally:
        lock.close()
    assert code == 0 and "removed" in out
    [record] = remediations(services)
    assert (record["status"], record["actor"]) == ("removed", "ops")
    assert stored_state(services, WorkerKey(ACCOUNT_SID, WORKSPACE_SID, worker_sid(1)))["removed"] == "client:" + email(
        1
    )


def test_a_worker_deleted_between_the_listing_and_its_removal_is_gone_not_failed(runner, fake_api, services):
    populate(fake_api, 2, drifting={1, 2})
    fake_api.inject(404, times=5, path_contains=f"/Workers/{worker_sid(2)}")  # the listing still had it
    code, out = audit(runner, "--alert", "--remediate", "--yes", "--actor", "ops", "--format", "json")
    assert code == 0 and [w["sid"] for w in json.loads(out)["workers"]] == [worker_sid(1)]
    assert [(r["worker_sid"], r["status"]) for r in remediations(services)] == [
        (worker_sid(1), "removed"),
        (worker_sid(2), "skipped"),
    ]
    assert stored_state(services, WorkerKey(ACCOUNT_SID, WORKSPACE_SID, worker_sid(2)))["verdict"] == "deleted"
    with services.store.engine.connect() as connection:
        notes = [
            json.loads(p)["note"] for p in connection.execute(select(alert.c.payload).order_by(alert.c.id)).scalars()
        ]
    assert not any("failed" in note for note in notes) and any("deleted" in note for note in notes)


def test_a_listing_that_leaves_availability_null_is_placed_as_events_are(runner, fake_api):
    """The API allows `available: null`: the report counted one of two pages `--alert` sends in the same run."""
    populate(fake_api, 2, pending={1, 2})
    for n, available in ((1, True), (2, None)):
        fake_api.workspaces[WORKSPACE_SID][worker_sid(n)].update(
            activity_sid="WA" + "a" * 32, activity_name="Available", available=available
        )
    _, out = audit(runner, "--format", "json", "--only", "unreachable")
    report = json.loads(out)
    assert report["summary"]["unreachable"] == 2
    assert [(w["sid"], w["available"]) for w in report["workers"]] == [(worker_sid(1), True), (worker_sid(2), True)]


def test_a_proxy_404_on_the_removal_is_a_failure_not_a_deletion(runner, fake_api, services):
    populate(fake_api, 1, drifting={1})
    fake_api.inject(404, times=1, path_contains=f"/Workers/{worker_sid(1)}", body="<html>404 Not Found</html>")
    code, out = audit(runner, "--alert", "--remediate", "--yes", "--actor", "ops", "--format", "json")
    assert code == 2 and [w["sid"] for w in json.loads(out)["workers"]] == [worker_sid(1)]
    assert stored_state(services, WorkerKey(ACCOUNT_SID, WORKSPACE_SID, worker_sid(1)))["verdict"] == "mismatch"
    assert [r["status"] for r in remediations(services)] == ["failed"]


@pytest.mark.parametrize("settings_overrides", [{"remediate": "remove"}], indirect=True)
def test_an_event_newer_than_the_recheck_is_not_undone_by_it(taskrouter, services, fake_api):
    """Fixed in the Console, then a script writes a wrong value whose event lands while the re-check runs."""
    populate(fake_api, 1)
    taskrouter.post(worker_event(sid=worker_sid(1), email=email(1), contact_uri="client:" + email(1), version=1))
    original = fake_api.worker_json

    def newer_event_during_the_fetch(workspace_sid, worker, listing):
        """The fetch sees the fixed value; the script's event arrives before the re-check is recorded."""
        rendered = original(workspace_sid, worker, listing)
        fake_api.worker_json = original
        taskrouter.post(worker_event(sid=worker_sid(1), email=email(1), contact_uri="sip:x@pbx.example.com", version=9))
        return rendered

    fake_api.worker_json = newer_event_during_the_fetch
    services.jobs.by_name["remediate"].run()
    state = stored_state(services, WorkerKey(ACCOUNT_SID, WORKSPACE_SID, worker_sid(1)))
    assert (state["verdict"], state["actual"]) == ("mismatch", "sip:x@pbx.example.com")


@pytest.mark.parametrize("flags", [(), ("--alert",)])
def test_a_proxy_404_on_the_sweeps_own_fetch_is_an_error_not_a_deletion(runner, taskrouter, services, fake_api, flags):
    populate(fake_api, 2, drifting={1})
    taskrouter.post(worker_event(sid=worker_sid(1), email=email(1), contact_uri="client:" + email(1), version=1))
    fake_api.null_list_attributes = True  # the listing leaves attributes out: each worker is fetched
    fake_api.inject(404, times=5, path_contains=f"/Workers/{worker_sid(1)}", body="<html>404 Not Found</html>")
    code, out = audit(runner, *flags, "--format", "json")
    assert code == 2 and json.loads(out)["summary"]["error"] == 1
    assert stored_state(services, WorkerKey(ACCOUNT_SID, WORKSPACE_SID, worker_sid(1)))["verdict"] == "mismatch"


@pytest.mark.parametrize("settings_overrides", [{"remediate": "remove"}], indirect=True)
def test_a_deletion_found_by_a_removal_holds_when_taskrouters_clock_is_ahead(taskrouter, services, fake_api):
    populate(fake_api, 1, drifting={1})
    ahead = str(int(time.time() * 1000) + 3000)
    drift = worker_event(sid=worker_sid(1), email=email(1), contact_uri="client:" + email(1), version=1)
    taskrouter.post({**drift, "TimestampMs": ahead})
    del fake_api.workspaces[WORKSPACE_SID][worker_sid(1)]  # deleted; its event never came
    services.jobs.by_name["remediate"].run()
    assert stored_state(services, WorkerKey(ACCOUNT_SID, WORKSPACE_SID, worker_sid(1)))["verdict"] == "deleted"


@pytest.mark.parametrize("settings_overrides", [{"remediate": "remove"}], indirect=True)
def test_a_late_event_from_before_a_removals_deletion_does_not_bring_the_worker_back(taskrouter, services, fake_api):
    populate(fake_api, 1, drifting={1})
    t0 = int(time.time() * 1000)
    drift = worker_event(sid=worker_sid(1), email=email(1), contact_uri="client:" + email(1), version=1)
    taskrouter.post({**drift, "TimestampMs": str(t0 - 5000)})
    del fake_api.workspaces[WORKSPACE_SID][worker_sid(1)]  # updated (v2), then deleted: neither event came yet
    services.jobs.by_name["remediate"].run()
    late = worker_event(sid=worker_sid(1), email=email(1), contact_uri="sip:a@pbx.example.com", version=2)
    assert taskrouter.post({**late, "TimestampMs": str(t0 - 2000)}).status_code == 204
    assert stored_state(services, WorkerKey(ACCOUNT_SID, WORKSPACE_SID, worker_sid(1)))["verdict"] == "deleted"


@pytest.mark.parametrize("settings_overrides", [{"remediate": "remove"}], indirect=True)
def test_a_removals_deletion_holds_against_a_late_event_on_a_clock_ahead(taskrouter, services, fake_api):
    populate(fake_api, 1, drifting={1})
    t0 = int(time.time() * 1000) + 3000  # TaskRouter's clock 3 s ahead of the guard's
    drift = worker_event(sid=worker_sid(1), email=email(1), contact_uri="client:" + email(1), version=1)
    taskrouter.post({**drift, "TimestampMs": str(t0 - 5000)})
    del fake_api.workspaces[WORKSPACE_SID][worker_sid(1)]  # updated (v2, its event late), then deleted
    services.jobs.by_name["remediate"].run()
    late = worker_event(sid=worker_sid(1), email=email(1), contact_uri="sip:a@pbx.example.com", version=2)
    assert taskrouter.post({**late, "TimestampMs": str(t0 - 1000)}).status_code == 204
    assert stored_state(services, WorkerKey(ACCOUNT_SID, WORKSPACE_SID, worker_sid(1)))["verdict"] == "deleted"


@pytest.mark.parametrize("only", ["unreachable", "drift"])
def test_a_worker_that_could_not_be_fetched_is_kept_by_every_filter_and_logged(runner, fake_api, only):
    # It may be an available agent who cannot ring: --only hid it, and nothing but "1 error" said it was there
    populate(fake_api, 3, drifting={2})
    fake_api.workspaces[WORKSPACE_SID][worker_sid(2)].update(
        activity_sid="WA" + "a" * 32, activity_name="Available", available=True
    )
    fake_api.null_list_attributes = True
    fake_api.inject(500, times=20, path_contains=f"/Workers/{worker_sid(2)}")
    result = runner.invoke(args=["audit", "--format", "json", "--only", only])
    [row] = json.loads(result.stdout)["workers"]
    assert (result.exit_code, row["sid"], row["verdict"]) == (2, worker_sid(2), "error")
    assert (row["activity"], row["available"]) == ("Available", True)  # as the listing said
    logged = [json.loads(line) for line in result.stderr.splitlines() if "audit_worker_failed" in line]
    assert [line["worker_sid"] for line in logged] == [worker_sid(2)]


@pytest.mark.parametrize("actor", ["", "   ", "\u200b", "\x1b[2K", "\u00ad", "\u3164", "\u2065", "al\u200bice"])
def test_a_blank_actor_is_refused_before_anything_is_removed(runner, fake_api, actor):
    populate(fake_api, 2, drifting={1})
    result = runner.invoke(args=["audit", "--remediate", "--yes", "--actor", actor])
    assert result.exit_code == 2 and "--actor" in result.output and not fake_api.updates


def test_an_audit_stopped_with_ctrl_c_exits_2_not_the_1_of_drift_found(runner, fake_api, monkeypatch):
    from guard.cli import audit as audit_cli

    populate(fake_api, 2, drifting={1})

    def interrupted(*_args, **_kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(audit_cli, "_sweep_one", interrupted)
    result = runner.invoke(args=["audit"])
    assert result.exit_code == 2 and "interrupted" in result.output


@pytest.mark.parametrize("actor", ["सुनील कुमार", "สมศักดิ์", "José Müller", "王小明", "Ana 🩷", "ops@example.com"])
def test_names_in_any_script_are_taken_as_the_actor(actor):
    from guard.cli.audit import _named

    assert _named(None, None, f" {actor} ") == actor
