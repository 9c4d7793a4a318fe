"""IGNORE_WORKERS and INTENDED_CONTACT_URIS changed with a restart: what the stored states say follows at once."""

import json
from contextlib import contextmanager
from datetime import timedelta

import pytest
from sqlalchemy import select

from guard.adapters.tables import alert
from guard.core.evidence import IDENTITY_ATTRIBUTE as IDENTITY
from guard.core.ignore import NO_RULES, IgnoreRules
from guard.core.snapshot import WorkerKey
from guard.core.verdict import Kind
from handlers.app import create_app
from tests.activity.conftest import WRONG, activity_event, offline, outbox
from tests.conftest import make_settings
from tests.helpers import ACCOUNT_SID, WORKSPACE_SID, worker_sid

COVERED = {
    "IGNORE_WORKERS": IgnoreRules.parse(worker_sid(1)),
    "INTENDED_CONTACT_URIS": IgnoreRules.parse("").with_values("sip:*@pbx.example.com"),
}
HOURLY = timedelta(hours=1)


@contextmanager
def restarted(database_url, settings_overrides, **changed):
    """The service started again on the same database with `changed` settings."""
    services = create_app(make_settings(database_url, **{**settings_overrides, **changed})).extensions["guard"]
    try:
        yield services
    finally:
        services.jobs.stop(timeout=5)
        services.writer.stop(timeout=5)
        services.store.engine.dispose()


def verdicts(services):
    """Each stored worker's verdict, by SID."""
    return {row["worker_sid"]: row["verdict"] for row in services.store.listing.listing()}


@pytest.mark.parametrize("setting", COVERED)
def test_an_agent_a_new_setting_covers_is_no_longer_counted_nor_reminded_of(
    taskrouter, services, database_url, settings_overrides, setting
):
    taskrouter.post(activity_event(1, contact_uri=WRONG))  # a deliberate SIP agent, Available: paged
    taskrouter.post(offline(1, sid=worker_sid(2), contact_uri="client:x"))  # one the setting does not cover
    assert services.store.listing.unreachable_count() == 1
    with restarted(database_url, settings_overrides, ignore=COVERED[setting], alert_repeat=HOURLY) as after:
        assert after.jobs.by_name["rules"].run() == 1
        assert verdicts(after) == {worker_sid(1): Kind.IGNORED, worker_sid(2): Kind.MISMATCH}
        assert after.store.listing.unreachable_count() == 0
        [resolved] = [payload for kind, payload in outbox(after) if kind == "resolved"]
        assert setting in resolved["note"] and "setting changed" in resolved["note"]
        clock = after.pipeline.clock
        with after.store.engine.begin() as connection:  # Slack took them: reminders count from their post
            connection.execute(alert.update().values(status="delivered", delivered_at=clock()))
        after.pipeline.clock = lambda: clock() + 2 * HOURLY
        assert after.pipeline.send_reminders() == 1  # the worker it does not cover only
        assert [payload["worker_sid"] for kind, payload in outbox(after) if kind == "reminder"] == [worker_sid(2)]
        assert after.jobs.by_name["rules"].run() == 0  # once per start


@pytest.mark.parametrize("settings_overrides", [{"ignore": COVERED["IGNORE_WORKERS"]}], indirect=True)
def test_a_worker_a_setting_no_longer_covers_is_judged_again_and_its_drift_paged(
    taskrouter, services, database_url, settings_overrides
):
    taskrouter.post(activity_event(1, contact_uri="client:ann.veal@example.com"))  # covered: ignored
    taskrouter.post(activity_event(1, sid=worker_sid(2), contact_uri=WRONG))  # not covered: drift, paged
    assert verdicts(services)[worker_sid(1)] == Kind.IGNORED
    with restarted(database_url, settings_overrides, ignore=NO_RULES) as after:
        assert after.jobs.by_name["rules"].run() == 1
        assert verdicts(after)[worker_sid(1)] == Kind.MISMATCH
        assert after.store.listing.unreachable_count() == 2
        pages = [payload for kind, payload in outbox(after) if kind == "urgent"]
        assert [page["worker_sid"] for page in pages] == [worker_sid(2), worker_sid(1)]  # the second at the restart
        assert "no longer does" in pages[1]["note"] and pages[1]["changes"] is None  # no update "changed" anything


@pytest.mark.parametrize("settings_overrides", [{"ignore": COVERED["IGNORE_WORKERS"]}], indirect=True)
def test_workers_ignored_for_another_reason_are_left_to_their_next_event(
    taskrouter, services, database_url, settings_overrides
):
    taskrouter.post(activity_event(1, sid=worker_sid(2), contact_uri=WRONG))  # marked intended, then unmarked
    services.pipeline.mark_intended(WorkerKey(ACCOUNT_SID, WORKSPACE_SID, worker_sid(2)), "ops")
    [rule] = services.store.intended.rules()
    services.store.intended.remove(rule["id"], rule["created_at"])  # README: its next event or audit judges it
    bot = activity_event(1, sid=worker_sid(3))
    taskrouter.post({**bot, "WorkerAttributes": "{}"})  # not a Flex agent
    before = verdicts(services)
    assert (before[worker_sid(2)], before[worker_sid(3)]) == (Kind.IGNORED, Kind.IGNORED)
    with restarted(database_url, settings_overrides) as after:
        assert after.jobs.by_name["rules"].run() == 0
        assert verdicts(after) == before


CONTRACTORS = IgnoreRules.parse("*@contractors.example.com")


def flex(version, email, identity, **more):
    """An activity event of worker 1 as Flex left it for `email`, with the identity it records (and `more`)."""
    event = activity_event(version, email=email, contact_uri=f"client:{identity}")
    attributes = {**json.loads(event["WorkerAttributes"]), IDENTITY: identity, **more}
    return {**event, "WorkerAttributes": json.dumps(attributes)}


@pytest.mark.parametrize("settings_overrides", [{"ignore": CONTRACTORS}], indirect=True)
def test_a_restart_with_the_same_settings_flips_nothing_the_history_decided(
    taskrouter, services, database_url, settings_overrides
):
    # An identity rewritten along with the email: the drift (identity_changed) carries the email it had before
    taskrouter.post(flex(1, "ann@contractors.example.com", "ann_40contractors_2Eexample_2Ecom"))
    taskrouter.post(flex(2, "bob@example.com", "bob_40example_2Ecom"))
    before = verdicts(services)
    assert before[worker_sid(1)] == Kind.MISMATCH
    with restarted(database_url, settings_overrides) as after:
        assert after.jobs.by_name["rules"].run() == 0
        assert verdicts(after) == before and after.store.listing.unreachable_count() == 1


def test_a_setting_that_covers_the_email_the_worker_has_now_ignores_it(
    taskrouter, services, database_url, settings_overrides
):
    taskrouter.post(flex(1, "ann@example.com", "ann_40example_2Ecom"))
    taskrouter.post(flex(2, "bob@contractors.example.com", "bob_40contractors_2Eexample_2Ecom"))
    assert verdicts(services)[worker_sid(1)] == Kind.MISMATCH
    with restarted(database_url, settings_overrides, ignore=CONTRACTORS) as after:
        assert after.jobs.by_name["rules"].run() == 1  # as its next event would be judged
        assert verdicts(after)[worker_sid(1)] == Kind.IGNORED


@pytest.mark.parametrize("settings_overrides", [{"ignore": COVERED["IGNORE_WORKERS"]}], indirect=True)
def test_a_copy_kept_with_a_judged_value_cut_waits_for_the_next_event(
    taskrouter, services, database_url, settings_overrides
):
    identity = "a" * 130  # past the 120 characters a flattened copy keeps of a value; its contact_uri is not
    taskrouter.post(flex(1, "ann@example.com", identity, contact_uri="client:ann_40example_2Ecom", notes="x" * 17_000))
    with restarted(database_url, settings_overrides, ignore=NO_RULES) as after:
        assert after.jobs.by_name["rules"].run() == 0
        assert verdicts(after)[worker_sid(1)] == Kind.IGNORED


@pytest.mark.parametrize("setting", COVERED)
def test_the_resolved_of_a_paged_agent_a_new_setting_covers_goes_out_in_the_pages_turn(
    taskrouter, services, database_url, settings_overrides, setting
):
    taskrouter.post(activity_event(1, contact_uri=WRONG))  # paged
    with restarted(database_url, settings_overrides, ignore=COVERED[setting]) as after:
        assert after.jobs.by_name["rules"].run() == 1
        with after.store.engine.connect() as connection:
            rows = connection.execute(select(alert.c.kind, alert.c.page).order_by(alert.c.id)).all()
        assert [(kind, bool(page)) for kind, page in rows] == [("urgent", True), ("resolved", True)]
