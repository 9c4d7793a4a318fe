"""The decision table: one snapshot, the stored state, the rules and the time in; what to apply out."""

from dataclasses import replace
from datetime import timedelta

import pytest

from guard.core.actions import decide_intended, decide_removal, reminder
from guard.core.activity import Activity
from guard.core.alerts import KINDS, AlertKind, Routing
from guard.core.decision import Outcome, decide
from guard.core.snapshot import WorkerSnapshot
from guard.core.state import Intended
from guard.core.statuses import Channel, RemediationStatus
from guard.core.verdict import Kind
from tests.core.decisions import KEY, RULES, SLACK, T0, after, flex, snapshot
from tests.helpers import ACCOUNT_SID, ANN_EMAIL, ANN_URI, WORKSPACE_SID, worker_sid

NOT_YET = "no contact_uri yet; Flex writes it at the next login"


def test_a_new_drifting_worker_is_recorded_with_one_drift_alert_to_slack_with_the_buttons():
    decision = after(snapshot("sip:ann"))
    assert decision.outcome is Outcome.RECORDED
    assert decision.state.verdict.kind is Kind.MISMATCH
    assert decision.alert.kind is AlertKind.DRIFT
    assert decision.alert.channel is Channel.SLACK
    assert decision.alert.buttons == f"{ACCOUNT_SID}/{WORKSPACE_SID}/{worker_sid(1)}"
    assert (decision.alert.account_label, decision.alert.workspace_label) == ("Prod", "Flex")
    assert decision.remove is False


def test_remediate_queues_a_removal_with_the_drift_alert_only():
    rules = replace(RULES, remediate=True)
    assert after(snapshot("sip:ann"), rules=rules).remove is True
    assert after(snapshot("sip:ann"), snapshot("sip:ann", version=2), rules=rules).remove is False
    assert after(snapshot(), rules=rules).remove is False


def test_the_same_drift_again_is_silent_and_keeps_its_since():
    decision = after(snapshot("sip:ann"), snapshot("sip:ann", version=2, at=T0 + timedelta(hours=1)))
    assert decision.alert is None
    assert decision.state.since == T0
    assert decision.state.version == 2


def test_a_fixed_drift_resolves_with_the_previous_value_named():
    decision = after(snapshot("sip:ann"), snapshot(ANN_URI, version=2))
    assert decision.alert.kind is AlertKind.RESOLVED
    assert decision.alert.note == "contact_uri is correct again"
    assert decision.alert.previous_actual == "sip:ann"
    assert decision.alert.buttons is None  # nothing to fix


def test_an_older_version_is_stale_and_changes_nothing():
    decision = after(snapshot("sip:ann", version=3), snapshot(ANN_URI, version=2))
    assert decision.outcome is Outcome.STALE
    assert (decision.state, decision.alert) == (None, None)
    assert decision.verdict.kind is Kind.OK  # judged all the same (the verdict counter counts it)


@pytest.mark.parametrize(("late", "newest"), [(ANN_URI, "sip:ann"), ("sip:ann", ANN_URI)])
def test_a_late_callback_loses_to_a_newer_event_streams_event_that_carried_no_version(late, newest):
    unversioned = replace(snapshot(newest, version=None, at=T0 + timedelta(seconds=25)), source="event-streams")
    decision = after(
        snapshot(ANN_URI, version=5), unversioned, snapshot(late, version=6, at=T0 + timedelta(seconds=20))
    )
    assert decision.outcome is Outcome.STALE  # by Twilio's clock it came before what Event Streams said last
    assert decision.alert is None


def test_an_audit_without_a_version_keeps_the_version_deciding_its_clock_may_be_ahead():
    audit = replace(snapshot("sip:ann", version=None, at=T0 + timedelta(seconds=25)), source="audit")
    decision = after(snapshot("sip:ann", version=5), audit, snapshot(ANN_URI, version=6, at=T0 + timedelta(seconds=20)))
    assert decision.outcome is Outcome.RECORDED and decision.state.verdict.kind is Kind.OK


def test_an_audits_fetch_asked_in_the_millisecond_of_an_event_does_not_undo_it():
    # The fetch is stamped when it was asked: an event of that same millisecond may be newer than what it saw
    at = T0 + timedelta(seconds=20, milliseconds=123)
    event = snapshot("sip:x@pbx.example.com", version=9, at=at)
    fetched = replace(snapshot(ANN_URI, version=None, at=at), source="audit")
    decision = after(snapshot(ANN_URI, version=1), event, fetched)
    assert (decision.outcome, decision.state, decision.alert) == (Outcome.STALE, None, None)
    later = replace(fetched, occurred_ms=fetched.occurred_ms + 1)
    assert after(snapshot(ANN_URI, version=1), event, later).state.verdict.kind is Kind.OK


def test_an_audits_fetch_asked_in_the_second_of_a_callback_in_whole_seconds_does_not_undo_it():
    # TaskRouter rounded the callback's `Timestamp` down: it may have been made up to 999 ms after the fetch was asked
    event = replace(snapshot("sip:x@pbx.example.com", version=9, at=T0 + timedelta(seconds=20)), whole_seconds=True)
    fetched = replace(snapshot(ANN_URI, version=None, at=T0 + timedelta(seconds=20, milliseconds=999)), source="audit")
    assert after(snapshot(ANN_URI, version=1), event, fetched).outcome is Outcome.STALE
    later = replace(fetched, occurred_ms=fetched.occurred_ms + 1)
    assert after(snapshot(ANN_URI, version=1), event, later).state.verdict.kind is Kind.OK


def test_an_event_in_the_millisecond_an_audits_fetch_was_asked_is_newer_than_the_fetch():
    # The tie goes to the event both ways: the fetch saw the worker before that event's change, or at best with it
    at = T0 + timedelta(seconds=20, milliseconds=123)
    fetched = replace(snapshot(ANN_URI, version=None, at=at), source="audit")
    event = snapshot("sip:x@pbx.example.com", version=9, at=at)
    decision = after(fetched, event)
    assert decision.outcome is Outcome.RECORDED and decision.state.verdict.kind is Kind.MISMATCH
    older = replace(event, occurred_ms=event.occurred_ms - 1)
    assert after(fetched, older).outcome is Outcome.STALE


@pytest.mark.parametrize(
    ("fetched", "late"), [(ANN_URI, "client:ann.veal@arresteddevelopment.com"), ("sip:ann", ANN_URI)]
)
def test_a_later_version_made_minutes_before_an_audits_fetch_is_stale(fetched, late):
    # v6 and v7 never reached the guard; the audit fetched v7's worker; Event Streams then retried v6, ten minutes
    # old: applying it undid the audit (a drift "resolved" on paper, or a false drift and a removal queued)
    audit = replace(snapshot(fetched, version=None, at=T0 + timedelta(minutes=20)), source="audit")
    retried = replace(snapshot(late, version=6, at=T0 + timedelta(minutes=10)), source="event-streams")
    decision = after(snapshot("sip:ann", version=5), audit, retried)
    assert (decision.outcome, decision.state, decision.alert) == (Outcome.STALE, None, None)


@pytest.mark.parametrize("first", ["event-streams", "audit"])
def test_a_callback_stamped_in_whole_seconds_is_not_older_than_a_first_copy_without_a_version(first):
    # TaskRouter rounds `Timestamp` down: v2 made after the unversioned copy of v1 (100 ms into that second)
    copy = replace(snapshot(ANN_URI, version=None, at=T0 + timedelta(milliseconds=100)), source=first)
    decision = after(copy, replace(snapshot("sip:ann", version=2, at=T0), whole_seconds=True))
    assert decision.outcome is Outcome.RECORDED and decision.state.verdict.kind is Kind.MISMATCH
    older = replace(snapshot("sip:ann", version=2, at=T0 - timedelta(seconds=1)), whole_seconds=True)
    assert after(copy, older).outcome is Outcome.STALE
    # A TimestampMs that happens to end in 000 is to the millisecond: 100 ms older is older
    assert after(copy, snapshot("sip:ann", version=2, at=T0)).outcome is Outcome.STALE


def test_an_event_older_than_the_dedup_window_is_a_replay():
    decision = after(snapshot("sip:ann", at=T0 - timedelta(days=3)))
    assert decision.outcome is Outcome.REPLAY
    assert decision.state is None


def test_an_event_more_than_an_hour_ahead_is_refused_too_and_outranks_nothing():
    ahead = after(snapshot(ANN_URI, version=None, at=T0 + timedelta(hours=2)))
    assert (ahead.outcome, ahead.state) == (Outcome.REPLAY, None)
    skewed = after(snapshot(ANN_URI, version=None, at=T0 + timedelta(minutes=30)), snapshot("sip:x", version=None))
    assert skewed.outcome is Outcome.STALE  # within the skew allowed: ordered as sent


def test_deleting_a_drifting_worker_resolves_and_keeps_its_email():
    decision = after(snapshot("sip:ann"), snapshot(version=2, deleted=True))
    assert decision.alert.kind is AlertKind.RESOLVED
    assert decision.state.deleted and decision.state.verdict.email == ANN_EMAIL
    assert decision.state.verdict.detail == "worker deleted"


@pytest.mark.parametrize("deleted_version", [None, 5])
def test_an_update_from_before_a_deletion_is_stale_whatever_its_version(deleted_version):
    # An audit's deletion has no version of its own; Event Streams may deliver an older update hours later.
    deleted = snapshot(version=deleted_version, deleted=True, at=T0 + timedelta(minutes=10))
    late = snapshot("sip:ann", version=4, at=T0 + timedelta(minutes=5))
    decision = after(snapshot(version=3), deleted, late)
    assert decision.outcome is Outcome.STALE
    assert (decision.state, decision.alert) == (None, None)
    if deleted_version is None:  # an event from after an audit's deletion: the worker is there after all
        later = replace(late, occurred_ms=late.occurred_ms + 3_600_000)
        assert after(snapshot(version=3), deleted, later, now=T0 + timedelta(hours=2)).state


def test_deleting_a_healthy_worker_is_silent():
    decision = after(snapshot(), snapshot(version=2, deleted=True))
    assert decision.alert is None
    assert decision.state.deleted


@pytest.mark.parametrize(("opt_in", "channel"), [(False, Channel.LOG), (True, Channel.SLACK)])
def test_a_no_email_notice_goes_to_slack_only_when_asked(opt_in, channel):
    rules = replace(RULES, routing=replace(SLACK, slack_opt_in=opt_in))
    decision = after(snapshot(email=None), rules=rules)
    assert decision.alert.kind is AlertKind.NO_EMAIL
    assert decision.alert.channel is channel


def test_without_a_slack_webhook_every_alert_is_a_log_line():
    decision = after(snapshot("sip:ann"), rules=replace(RULES, routing=Routing()))
    assert decision.alert.channel is Channel.LOG
    assert decision.alert.account_label == ACCOUNT_SID  # no name configured: the SID


def test_a_value_marked_intended_is_ignored_and_its_drift_resolved():
    drift = after(snapshot("sip:ann")).state
    intended = Intended("slack:U1", T0, "sip:ann")
    decision = decide_intended(KEY, drift, intended, SLACK, T0 + timedelta(minutes=1))
    assert decision.state.verdict.kind is Kind.IGNORED
    assert decision.alert.kind is AlertKind.RESOLVED
    assert "slack:U1" in decision.alert.note
    later = decide(snapshot("sip:ann", version=2), decision.state, RULES, T0 + timedelta(minutes=2))
    assert later.state.verdict.kind is Kind.IGNORED
    assert later.alert is None


def test_marking_a_deleted_or_unknown_worker_intended_changes_nothing():
    deleted = after(snapshot(), snapshot(version=2, deleted=True)).state
    assert decide_intended(KEY, deleted, Intended("slack:U1", T0), SLACK, T0).state is None
    assert decide_intended(KEY, None, Intended("slack:U1", T0), SLACK, T0).state is None


def test_a_reminder_carries_the_buttons_and_names_since_when():
    drift = after(snapshot("sip:ann")).state
    alert = reminder(KEY, drift, SLACK, T0 + timedelta(hours=7))
    assert alert.kind is AlertKind.REMINDER
    assert alert.buttons
    assert "2026-11-27 09:00" in alert.note


def test_a_failed_removal_is_announced_with_its_own_title_and_a_skip_is_not():
    drift = after(snapshot("sip:ann")).state
    failed = (RemediationStatus.FAILED, None, "HTTP 500", "slack:U1")
    alert = decide_removal(KEY, drift, "ann.veal", failed, SLACK, T0).alert
    assert alert.kind is AlertKind.REMEDIATION
    assert alert.title == ":x: contact_uri removal failed"
    assert alert.note == "remediation failed: HTTP 500"
    assert alert.verdict.actual == "sip:ann"
    skipped = (RemediationStatus.SKIPPED, "sip:ann", "no longer a mismatch", "slack:U1")
    assert decide_removal(KEY, drift, "ann.veal", skipped, SLACK, T0).alert is None


def test_every_alert_kind_has_one_row_in_the_table():
    assert set(KINDS) == set(AlertKind)


def test_a_working_value_removed_while_the_agent_is_available_is_paged_with_what_changed_and_who():
    available = Activity("WA" + "1" * 32, "Available", available=True)
    asking = replace(RULES, routing=replace(SLACK, lookups=True))
    ok = replace(snapshot(version=1), activity=available, event_id="EV" + "1" * 32)
    wiped = replace(snapshot(None, version=2, department="sales"), activity=available, event_id="EV" + "2" * 32)
    decision = after(ok, wiped, rules=asking)
    assert (decision.verdict.kind, decision.alert.kind) == (Kind.PENDING, AlertKind.URGENT)
    assert decision.alert.note == "the agent is available with no contact_uri: this update removed it"
    assert f"removed (it was {ANN_URI})" in decision.verdict.detail  # not "no contact_uri yet", as before a first login
    assert (
        decision.lookup is not None and decision.lookup.event_id == "EV" + "2" * 32
    )  # who did it, asked of TaskRouter
    assert decision.alert.changes.text() == "+ department: sales"  # what else the update did


def test_what_an_audit_saw_of_an_activity_stands_when_a_later_event_names_it_without_saying():
    on_call = Activity("WA" + "5" * 32, "On Call", available=True)  # the REST Workers list says so; no fact learned
    swept = replace(snapshot("sip:ann", version=1), activity=on_call, source="audit")
    named = replace(snapshot("sip:ann", version=2, department="sales"), activity=replace(on_call, available=None))
    assert after(swept, named).state.available is True  # still unreachable: nothing said it stopped routing tasks
    moved = replace(named, activity=Activity("WA" + "6" * 32, "Lunch"), version=3)
    assert after(swept, named, moved).state.available is None  # another activity: the guard cannot place it


AVAILABLE, BREAK = Activity("WA" + "1" * 32, "Available", available=True), Activity("WA" + "3" * 32, "Break", False)


def test_a_value_removed_while_on_break_is_named_when_the_agent_becomes_available():
    ok, away = replace(snapshot(version=1), activity=AVAILABLE), replace(snapshot(version=2), activity=BREAK)
    removed = replace(snapshot(None, version=3), activity=BREAK)  # still logged in: no login will write it
    assert after(ok, away, removed).alert is None  # not available: nothing to page yet
    back = after(ok, away, removed, replace(snapshot(None, version=4), activity=AVAILABLE))
    assert back.alert.kind is AlertKind.URGENT and "an update removed it" in back.alert.note
    assert f"removed (it was {ANN_URI})" in back.verdict.detail


def test_a_page_after_a_manual_fix_does_not_name_the_drifts_changes():
    drift = replace(snapshot("sip:ann", version=2, team="north"), activity=BREAK)
    fixed = replace(snapshot(None, version=3, team="north"), activity=BREAK)  # someone removed the wrong value
    paged = after(
        replace(snapshot(version=1), activity=BREAK), drift, fixed, replace(fixed, version=4, activity=AVAILABLE)
    )
    assert paged.alert.kind is AlertKind.URGENT and paged.alert.changes is None  # "+ team" was the drift's doing


def test_a_value_of_the_trusted_name_removed_waits_for_the_names_value_not_the_emails():
    dana = {"email": "dana.scully@fbi.example", "contact_uri": "client:dana_2Escully"}
    name_ok = WorkerSnapshot(KEY, "dana.scully", dana, version=1, occurred_ms=int(T0.timestamp() * 1000))
    removed = replace(name_ok, attributes={"email": dana["email"]}, version=2)
    verdict = after(name_ok, removed).verdict
    assert (verdict.kind, verdict.expected, verdict.basis) == (Kind.PENDING, "client:dana_2Escully", "worker_name")


def test_an_activity_named_without_a_sid_is_not_taken_for_the_stored_one():
    stored = replace(snapshot("sip:ann", version=1), activity=Activity(None, "Available"))
    lunch = replace(snapshot("sip:ann", version=2), activity=Activity(None, "Lunch"))
    assert after(stored, lunch).state.available is None


def test_an_audit_of_a_worker_whose_value_an_update_removed_says_removed_as_the_events_do():
    removed = after(snapshot(version=1), snapshot(None, version=2)).state
    swept = RULES.judging.judge({"email": ANN_EMAIL}, KEY.worker_sid, "Ann Veal", removed.known())  # no version
    assert (swept.diagnosis, swept.detail) == (removed.verdict.diagnosis, removed.verdict.detail)
    assert swept.diagnosis == "removed"


def test_taking_a_wrong_value_out_is_no_removal_of_a_working_one():
    fixed = after(snapshot(version=1), snapshot("sip:ann", version=2), snapshot(None, version=3)).verdict
    assert (fixed.kind, fixed.diagnosis, fixed.detail) == (Kind.PENDING, None, NOT_YET)


def test_a_removal_keeps_naming_the_value_but_not_a_note_that_is_no_longer_true():
    gone = after(flex(1), flex(2, twilio_contact_identity=None, contact_uri=None)).verdict
    assert gone.diagnosis == "removed" and "twilio_contact_identity is gone" in gone.detail
    back = after(flex(1), flex(2, twilio_contact_identity=None, contact_uri=None), flex(3, contact_uri=None)).verdict
    assert back.detail == "contact_uri removed (it was client:fmulder); Flex writes the value at the next login"
