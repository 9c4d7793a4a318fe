"""Remediation: remove a wrong contact_uri (never write one), safely, and in turn with clicks."""

import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from guard.adapters.tables import alert
from guard.core.click import Action, Click
from guard.core.snapshot import WorkerKey
from tests.helpers import ACCOUNT_SID, WORKSPACE_SID, audit, email, populate, remediations, uri, worker_sid

RICH = {
    "full_name": "Líndsay Bluth Fünke 🎭",
    "roles": ["agent", "supervisor"],
    "routing": {"skills": ["es", "fr"], "levels": {"es": 3, "fr": 1.5}, "nested": {"deep": [1, [2, {"x": None}]]}},
    "big": 12345678901234567890,
    "ratio": 0.1,
    "flag": False,
    "empty": {},
}


def mixed_workspace(fake_api):
    """Workers 1-3 fine, 2 drifting with rich attributes, plus an ignored and a no_email worker."""
    populate(fake_api, 3, drifting={2}, extra={2: RICH})
    custom = {"email": "temp@contractors.example.com", "contact_uri": "client:custom-route"}
    fake_api.add_worker(WORKSPACE_SID, worker_sid(50), "contractor", custom)
    fake_api.add_worker(WORKSPACE_SID, worker_sid(51), "no email", {"contact_uri": "client:someone"})


def test_dry_run_prints_the_plan_and_changes_nothing(runner, fake_api):
    mixed_workspace(fake_api)
    code, out = audit(runner, "--remediate")
    assert code == 1
    assert f"would_remove: {worker_sid(2)} contact_uri 'client:{email(2)}'" in out
    assert worker_sid(50) not in out.split("\n\n")[-2] and worker_sid(51) not in out.split("\n\n")[-2]
    assert fake_api.updates == []


@pytest.mark.parametrize("settings_overrides", [{"remediate": "remove"}], indirect=True)
def test_a_dry_run_with_alert_is_refused_where_alerts_queue_removals(runner, fake_api, services):
    mixed_workspace(fake_api)
    result = runner.invoke(args=["audit", "--alert", "--remediate"])
    assert result.exit_code == 2 and "queues real removals (REMEDIATE=remove)" in result.stderr
    services.jobs.by_name["remediate"].run()
    assert fake_api.updates == [] and remediations(services) == []
    with services.store.engine.connect() as connection:
        assert connection.execute(select(alert)).all() == []


def test_apply_removes_only_contact_uri_and_keeps_every_other_attribute(runner, fake_api, services):
    mixed_workspace(fake_api)
    code, out = audit(runner, "--remediate", "--yes", "--actor", "lucille", "--format", "json")
    assert code == 0  # every wrong value removed: nothing is left drifting (the summary says pending)
    assert json.loads(out)["summary"]["mismatch"] == 0
    [update] = fake_api.updates
    assert update.worker_sid == worker_sid(2)
    assert update.if_match == '"1"'
    expected = {"email": email(2), "full_name": RICH["full_name"], **RICH}
    assert fake_api.attributes(WORKSPACE_SID, worker_sid(2)) == expected
    assert list(json.loads(update.params["Attributes"])) == ["email", *RICH]  # key order kept too
    assert fake_api.attributes(WORKSPACE_SID, worker_sid(50))["contact_uri"] == "client:custom-route"
    assert fake_api.attributes(WORKSPACE_SID, worker_sid(51))["contact_uri"] == "client:someone"
    [record] = remediations(services)
    assert (record["actor"], record["status"], record["before_value"]) == ("lucille", "removed", "client:" + email(2))
    assert record["finished_at"] is not None
    entry = next(w for w in json.loads(out)["workers"] if w["sid"] == worker_sid(2))
    assert entry["remediation"] == "removed"
    with services.store.engine.connect() as connection:
        [announced] = connection.execute(select(alert).where(alert.c.kind == "remediation")).all()
    assert "Flex regenerates it at next login" in json.loads(announced.payload)["note"]


def test_a_412_race_refetches_and_keeps_the_other_writers_change(runner, fake_api):
    populate(fake_api, 1, drifting={1})
    raced = []

    def another_writer(sid):
        """Between our fetch and our update, someone changes a different attribute."""
        if not raced:
            raced.append(sid)
            changed = {**fake_api.attributes(WORKSPACE_SID, sid), "skills": ["billing"]}
            fake_api.set_attributes(WORKSPACE_SID, sid, changed)

    fake_api.before_update = another_writer
    audit(runner, "--remediate", "--yes")
    assert [u.if_match for u in fake_api.updates] == ['"1"', '"2"']
    final = fake_api.attributes(WORKSPACE_SID, worker_sid(1))
    assert final["skills"] == ["billing"]
    assert "contact_uri" not in final


def test_endless_412s_give_up_after_three_retries(runner, fake_api, services):
    populate(fake_api, 1, drifting={1})
    fake_api.before_update = lambda sid: fake_api.set_attributes(
        WORKSPACE_SID, sid, fake_api.attributes(WORKSPACE_SID, sid)
    )
    audit(runner, "--remediate", "--yes")
    assert len(fake_api.updates) == 4
    [record] = remediations(services)
    assert record["status"] == "failed" and "412" in record["detail"]


@pytest.mark.parametrize(
    "kept",
    [
        '"deep": ' + "[" * 5000 + "]" * 5000,  # past the parser's depth
        '"employee_no": 1' + "0" * 4400,  # past Python's digits for an integer
        '"ratio": 0.10, "hundred": 1E2, "wide": 123456789012345678901234567890.0, "dup": 1, "dup": 2',
    ],
    ids=["deep", "long", "numbers"],
)
def test_a_removal_sends_every_other_attribute_back_exactly_as_it_was_written(runner, fake_api, services, kept):
    populate(fake_api, 1, drifting={1})
    worker = fake_api.workspaces[WORKSPACE_SID][worker_sid(1)]
    worker["attributes"] = worker["attributes"][:-1] + ", " + kept + "}"
    code, _ = audit(runner, "--remediate", "--yes")
    assert code == 0 and len(fake_api.updates) == 1
    sent = re.sub(r",\s*(?=\")", ",", worker["attributes"])  # between members, spacing may differ; nothing else
    assert "contact_uri" not in sent and sent.endswith(re.sub(r",\s*(?=\")", ",", kept) + "}")  # not re-serialized
    [record] = remediations(services)
    assert record["status"] == "removed"


def test_an_audit_leaves_a_worker_alone_while_an_approvers_click_on_it_is_being_applied(runner, fake_api, services):
    populate(fake_api, 2, drifting={1, 2})
    key = WorkerKey(ACCOUNT_SID, WORKSPACE_SID, worker_sid(1))
    now = datetime.now(UTC)
    clicked = Click(Action.IGNORE, key, "U0APPROVER", "https://hooks.slack.com/x", "1.2")
    services.store.clicks.add_click(clicked, Action.IGNORE, None, now)
    assert services.store.clicks.claim_click(now, timedelta(minutes=33)) is not None  # another process applies it
    code, out = audit(runner, "--remediate", "--yes", "--format", "json")
    assert [update.worker_sid for update in fake_api.updates] == [worker_sid(2)]  # the Intended's value is left
    assert code == 1  # worker 1 still drifts
    outcome = next(w for w in json.loads(out)["workers"] if w["sid"] == worker_sid(1))
    assert outcome["remediation"] == "skipped" and "being applied" in outcome["remediation_detail"]
    _, table = audit(runner, "--remediate", "--yes")
    assert f"skipped: {worker_sid(1)}: an approver's click" in table  # no "contact_uri None": nothing was fetched
    assert [(r["worker_sid"], r["status"]) for r in remediations(services)] == [(worker_sid(2), "removed")]


def test_an_audit_interrupted_mid_removal_ends_the_workers_turn_at_once(runner, fake_api, services, monkeypatch):
    populate(fake_api, 1, drifting={1})

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt  # the operator's Ctrl-C while TaskRouter answers

    monkeypatch.setattr("guard.service.remediation.remove_contact_uri", interrupted)
    result = runner.invoke(args=["audit", "--remediate", "--yes"])
    assert result.exit_code == 2 and "interrupted" in result.output  # an error, not the 1 of "drift found"
    [record] = remediations(services)
    assert (record["status"], record["lease_until"]) == ("failed", None)  # not pending, holding clicks for 33 min
    assert "interrupted" in record["detail"]


@pytest.mark.parametrize("settings_overrides", [{}, {"remediate": "remove"}], indirect=True, ids=["off", "remove"])
def test_a_removal_an_audit_left_leased_when_it_died_is_failed_once_its_lease_runs_out(services, clock):
    key, lease = WorkerKey(ACCOUNT_SID, WORKSPACE_SID, worker_sid(1)), timedelta(minutes=33)
    services.store.records.take_removal(key, "lucille", clock.now, lease)  # then the audit's process was killed
    services.jobs.by_name["prune"].run()
    assert remediations(services)[0]["status"] == "pending"  # within its lease: maybe still under way
    clock.advance(lease.total_seconds() + 1)
    services.jobs.by_name["prune"].run()
    [record] = remediations(services)
    if services.settings.remediate == "remove":  # REMEDIATE=remove's job takes it up, and re-checks first
        assert record["status"] == "pending"
    else:  # nothing would ever take it up: no longer the worker's latest "pending" for ever
        assert (record["status"], record["lease_until"]) == ("failed", None)
        assert record["detail"].startswith("abandoned")


def test_without_an_etag_nothing_is_sent_rather_than_an_unconditional_update(runner, fake_api, services):
    populate(fake_api, 1, drifting={1})
    fake_api.send_etags = False
    code, out = audit(runner, "--remediate", "--yes", "--format", "json")
    assert code == 2 and fake_api.updates == []
    report = json.loads(out)  # what a cron job reads, and what /status shows, say the same as the exit code
    assert report["exit_code"] == report["workspaces"][0]["exit_code"] == 2
    assert services.store.records.last_audit_run()["exit_code"] == 2
    [record] = remediations(services)
    assert record["status"] == "failed" and "no ETag" in record["detail"]


def test_a_worker_fixed_meanwhile_is_skipped(runner, fake_api):
    populate(fake_api, 1, drifting={1})
    original = fake_api.worker_json

    def fix_on_first_fetch(workspace_sid, worker, listing):
        """The agent logs in and Flex rewrites the value before the guard acts."""
        if not listing and worker["attributes"].find('"contact_uri"') >= 0:
            fake_api.set_attributes(WORKSPACE_SID, worker["sid"], {"email": email(1), "contact_uri": uri(1)})
        return original(workspace_sid, fake_api.workspaces[WORKSPACE_SID][worker["sid"]], listing)

    fake_api.worker_json = fix_on_first_fetch
    _, out = audit(runner, "--remediate", "--yes")
    assert "skipped" in out and fake_api.updates == []
    fake_api.set_attributes(WORKSPACE_SID, worker_sid(1), {"email": email(1), "contact_uri": "client:" + email(1)})
    code, out = audit(runner, "--remediate", "--yes", "--format", "json")
    report = json.loads(out)  # the report says what is left: the fresh fetch's verdict, not the listing's
    assert (code, report["summary"]["mismatch"], report["workers"][0]["verdict"]) == (0, 0, "ok")


def test_an_audit_reports_a_removed_worker_in_the_activity_its_fresh_fetch_saw(runner, fake_api, services):
    """The agent came back from a break between the listing and the removal: paged, yet reported not unreachable."""
    populate(fake_api, 1, drifting={1})
    listed, available = fake_api.worker_json, fake_api.add_flex_activities(WORKSPACE_SID)["Available"]

    def back_before_the_fetch(workspace_sid, worker, listing):
        if not listing and worker.get("activity_sid") != available:  # the removal's fetch: Available by now
            fake_api.set_activity(WORKSPACE_SID, worker["sid"], available)
        return listed(workspace_sid, fake_api.workspaces[WORKSPACE_SID][worker["sid"]], listing)

    fake_api.worker_json = back_before_the_fetch
    _, out = audit(runner, "--remediate", "--yes", "--actor", "lucille", "--format", "json")
    report = json.loads(out)
    [worker] = report["workers"]
    assert (worker["verdict"], worker["unreachable"], report["summary"]["unreachable"]) == ("pending", True, 1)
    with services.store.engine.connect() as connection:
        [(kind, payload)] = connection.execute(select(alert.c.kind, alert.c.payload)).all()
    page = json.loads(payload)
    assert kind == "urgent" and "removed by lucille; it was client:" in page["note"] and page["changes"] is None


def test_a_removed_worker_whose_activity_says_no_availability_is_placed_as_the_listing_is(runner, fake_api):
    """The API may answer `available: null`: the fresh fetch's activity is placed by name too (AVAILABLE_ACTIVITIES)."""
    populate(fake_api, 1, drifting={1})
    unsaid = {"activity_sid": "WA" + "a" * 32, "activity_name": "Available", "available": None}
    fake_api.workspaces[WORKSPACE_SID][worker_sid(1)].update(unsaid)
    _, out = audit(runner, "--remediate", "--yes", "--actor", "lucille", "--format", "json")
    [worker] = json.loads(out)["workers"]
    assert (worker["verdict"], worker["available"], worker["unreachable"]) == ("pending", True, True)
