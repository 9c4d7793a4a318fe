"""Alerts on transitions only: into drift, wrong-to-wrong, resolved, reminders."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from guard.core.alerts import AlertKind
from guard.core.state import WorkerState
from guard.core.transitions import transition
from guard.core.verdict import Kind, Verdict
from tests.core.judging import judge
from tests.helpers import ANN_EMAIL, ANN_URI

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
DRIFT = judge({"email": ANN_EMAIL, "contact_uri": "sip:a"})
OTHER_DRIFT = judge({"email": ANN_EMAIL, "contact_uri": "sip:b"})
OK = judge({"email": ANN_EMAIL, "contact_uri": ANN_URI})
PENDING = judge({"email": ANN_EMAIL})
DELETED = Verdict(Kind.DELETED)


def prior_of(verdict, since=T0, last_alert_at=T0):
    """Stored state as it would be after `verdict` was recorded at `since`."""
    return WorkerState("Ann Veal", verdict, since, since, last_alert_at=last_alert_at)


def test_first_drift_alerts_and_starts_the_clock():
    change = transition(prior_of(OK), DRIFT, T0 + timedelta(minutes=5))
    assert change.alert is AlertKind.DRIFT
    assert change.since == T0 + timedelta(minutes=5)


def test_new_worker_already_drifting_alerts():
    assert transition(None, DRIFT, T0).alert is AlertKind.DRIFT


def test_repeat_of_a_known_drift_is_silent_and_keeps_since():
    change = transition(prior_of(DRIFT), DRIFT, T0 + timedelta(hours=1))
    assert change.alert is None
    assert change.since == T0


def test_one_wrong_value_to_another_alerts_again():
    change = transition(prior_of(DRIFT), OTHER_DRIFT, T0 + timedelta(hours=1))
    assert change.alert is AlertKind.DRIFT
    assert "sip:a" in change.note


def test_drift_to_ok_or_pending_resolves():
    assert transition(prior_of(DRIFT), OK, T0).alert is AlertKind.RESOLVED
    resolved = transition(prior_of(DRIFT), PENDING, T0)
    assert resolved.alert is AlertKind.RESOLVED
    assert "regenerates" in resolved.note


def test_deleting_a_drifting_worker_resolves_and_a_healthy_one_is_silent():
    assert transition(prior_of(DRIFT), DELETED, T0).note == "worker deleted"
    assert transition(prior_of(DRIFT), DELETED, T0).alert is AlertKind.RESOLVED
    assert transition(prior_of(OK), DELETED, T0).alert is None


def test_ok_and_pending_never_alert():
    assert transition(None, OK, T0).alert is None
    assert transition(None, PENDING, T0).alert is None
    assert transition(prior_of(PENDING), OK, T0).alert is None


def test_reminder_only_when_repeat_is_set_and_due():
    later = T0 + timedelta(hours=5)
    assert transition(prior_of(DRIFT), DRIFT, later).alert is None
    assert transition(prior_of(DRIFT), DRIFT, later, repeat=timedelta(hours=6)).alert is None
    reminder = transition(prior_of(DRIFT), DRIFT, later, repeat=timedelta(hours=4))
    assert reminder.alert is AlertKind.REMINDER
    assert reminder.since == T0


def test_entering_no_email_is_a_notice_once():
    no_email = judge({"contact_uri": ANN_URI})
    assert no_email.kind is Kind.NO_EMAIL
    assert transition(prior_of(OK), no_email, T0).alert is AlertKind.NO_EMAIL
    assert transition(prior_of(no_email), no_email, T0).alert is None


def test_a_known_drift_whose_availability_was_unknown_is_paged_as_available_not_as_becoming_so():
    """A release before 0006 stored no activity: an agent who was Available all along did not "become" available."""
    unknown, away = prior_of(DRIFT), replace(prior_of(DRIFT), activity_sid="WA" + "3" * 32, activity_name="Offline")
    assert unknown.activity_sid is None and away.available is None  # Offline: a name the guard cannot place
    moving = transition(away, DRIFT, T0, available=True, activity_sid="WA" + "1" * 32)
    assert transition(unknown, DRIFT, T0, available=True).note == "the agent is available with a wrong contact_uri"
    assert moving.note == "the agent became available with a wrong contact_uri"


def test_an_activity_learned_to_route_tasks_pages_as_available_not_as_becoming_so():
    """The agent sat in "Ready" all along; an activity.created event taught the guard that Ready routes tasks."""
    ready = replace(prior_of(DRIFT), activity_sid="WA" + "4" * 32, activity_name="Ready")
    change = transition(ready, DRIFT, T0, available=True, activity_sid=ready.activity_sid)
    assert change.note == "the agent is available with a wrong contact_uri"


def test_a_move_between_two_activities_that_route_tasks_is_no_becoming_available():
    """One update changed both the activity (Available to Ready, both routing tasks) and the value."""
    ready = replace(prior_of(OK), activity_sid="WA" + "1" * 32, available=True)
    change = transition(ready, DRIFT, T0, available=True, activity_sid="WA" + "4" * 32)
    assert change.note == "contact_uri drifted while the agent is available"
    pending = transition(ready, PENDING, T0, available=True, activity_sid="WA" + "4" * 32)
    assert pending.note == "the agent is available with no contact_uri yet"


def test_a_drift_resolved_because_the_worker_is_now_ignored_says_why():
    ignored = Verdict(Kind.IGNORED, detail="matches IGNORE_WORKERS entry *@contractors.example.com")
    change = transition(prior_of(DRIFT), ignored, T0)
    assert change.alert is AlertKind.RESOLVED
    assert change.note == "worker is now ignored: matches IGNORE_WORKERS entry *@contractors.example.com"
