"""The decision table: one snapshot, the stored state, the rules and the time in; what to apply out."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from guard.core.actions import decide_intended, decide_removal, reminder
from guard.core.alerts import KINDS, AlertKind, Routing
from guard.core.decision import DecisionRules, Outcome, decide
from guard.core.evidence import Policy
from guard.core.rules import Rules
from guard.core.snapshot import WorkerKey, WorkerSnapshot
from guard.core.state import Intended
from guard.core.statuses import Channel, RemediationStatus
from guard.core.verdict import Kind
from tests.helpers import ACCOUNT_SID, ANN_EMAIL, ANN_URI, WORKSPACE_SID, worker_sid

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
KEY = WorkerKey(ACCOUNT_SID, WORKSPACE_SID, worker_sid(1))
SLACK = Routing(slack=True, buttons=True, account_label="Prod", workspace_label="Flex")
RULES = DecisionRules(Rules(), SLACK, repeat=None, remediate=False)


def snapshot(contact_uri=ANN_URI, version=1, at=T0, deleted=False, email=ANN_EMAIL, **attributes):
    """A worker event for Ann, `at` a moment, with her attributes."""
    attributes = {"email": email, "contact_uri": contact_uri, **attributes}
    attributes = {name: value for name, value in attributes.items() if value is not None}
    occurred = int(at.timestamp() * 1000)
    return WorkerSnapshot(KEY, "Ann Veal", attributes, deleted=deleted, version=version, occurred_ms=occurred)


def after(*snapshots, rules=RULES, now=T0):
    """The decision on the last snapshot, after the ones before it were applied in order."""
    stored = None
    for one in snapshots[:-1]:
        stored = decide(one, stored, rules, now).state or stored
    return decide(snapshots[-1], stored, rules, now)


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


FLEX_ID = {"email": "agent@twilio.com", "twilio_contact_identity": "fmulder", "contact_uri": "client:fmulder"}


def flex(version, **changes):
    """A Flex agent whose identity is a username (fmulder), with `changes` to its attributes (None drops one)."""
    attributes = {name: value for name, value in {**FLEX_ID, **changes}.items() if value is not None}
    occurred = int((T0 + timedelta(seconds=version)).timestamp() * 1000)
    return WorkerSnapshot(KEY, "fmulder", attributes, version=version, occurred_ms=occurred)


def test_a_rewritten_identity_whose_value_was_removed_is_pending_and_its_identity_stays_known():
    history = [flex(1), flex(2, twilio_contact_identity="dscully", contact_uri="client:dscully")]
    removed = after(*history, flex(3, twilio_contact_identity="dscully", contact_uri=None))
    verdict = removed.verdict
    assert (verdict.kind, verdict.diagnosis, verdict.expected) == (Kind.PENDING, "identity_changed", "client:fmulder")
    assert removed.state.trusted.identity == "fmulder" and not removed.remove
    relogin = after(*history, flex(3, twilio_contact_identity="dscully", contact_uri=None), flex(4))
    assert relogin.verdict.kind is Kind.OK  # Flex wrote the identity it registers back at the next login


def test_the_same_identity_recorded_in_the_other_escape_form_is_no_rewrite():
    strict = {
        "email": "josé@x.fr",
        "twilio_contact_identity": "jos_C3_A9_40x_2Efr",
        "contact_uri": "client:jos_C3_A9_40x_2Efr",
    }
    js = {"email": "josé@x.fr", "twilio_contact_identity": "jos_E9_40x_2Efr", "contact_uri": "client:jos_E9_40x_2Efr"}
    remediate = replace(RULES, remediate=True)
    for before, now in ((strict, js), (js, strict)):
        decision = after(flex(1, **before), flex(2, **now), rules=remediate)
        assert (decision.verdict.kind, decision.alert, decision.remove) == (Kind.OK, None, False)
    rewritten = after(flex(1, **js), flex(2, **{**js, "twilio_contact_identity": "jos_E8_40x_2Efr"}))
    assert rewritten.verdict.diagnosis == "identity_changed"  # another identity still is one
    beyond_latin1 = ("_C5_82ukasz_40x_2Epl", "_142ukasz_40x_2Epl")  # ł: its JS form is no byte escape
    moved = [{"twilio_contact_identity": form, "contact_uri": "client:" + form} for form in beyond_latin1]
    assert after(flex(1, **moved[0]), flex(2, **moved[1])).verdict.kind is Kind.OK


def test_an_identity_that_only_decodes_to_the_same_text_is_a_rewrite():
    escaped_letter = {"twilio_contact_identity": "_66mulder", "contact_uri": "client:_66mulder"}  # f as _66
    decision = after(flex(1), flex(2, **escaped_letter), rules=replace(RULES, remediate=True))
    assert (decision.verdict.diagnosis, decision.remove) == ("identity_changed", True)  # the browser registers fmulder


def test_remediation_is_queued_only_for_a_value_that_is_there_to_remove():
    remediate = replace(RULES, remediate=True)
    wiped = after(flex(1), flex(2, email=None, twilio_contact_identity=None, contact_uri=None), rules=remediate)
    assert (wiped.verdict.diagnosis, wiped.alert.kind, wiped.remove) == ("wiped", AlertKind.DRIFT, False)
    assert after(flex(1), flex(2, contact_uri="client:agent@twilio.com"), rules=remediate).remove


def test_the_email_policy_never_judges_by_the_recorded_identity_not_even_a_rewritten_one():
    strict = replace(RULES, judging=Rules(policy=Policy.EMAIL))
    by_email = {"contact_uri": "client:agent_40twilio_2Ecom"}
    decision = after(flex(1, **by_email), flex(2, twilio_contact_identity="annx", **by_email), rules=strict)
    assert decision.verdict.kind is Kind.OK and decision.alert is None


def test_a_rewritten_identity_whose_value_still_registers_is_alerted_and_never_removed():
    remediate = replace(RULES, remediate=True)
    decision = after(flex(1), flex(2, twilio_contact_identity="dscully"), rules=remediate)  # contact_uri untouched
    assert (decision.verdict.kind, decision.alert.kind) == (Kind.MISMATCH, AlertKind.DRIFT)
    assert not decision.remove  # client:fmulder is what the browser registers: removing it would break the agent


@pytest.mark.parametrize("recorded", [123, True, ["fmulder"], {"identity": "fmulder"}])
def test_an_identity_rewritten_to_something_other_than_text_is_a_rewrite_too(recorded):
    remediate = replace(RULES, remediate=True)
    decision = after(flex(1), flex(2, twilio_contact_identity=recorded), rules=remediate)  # contact_uri untouched
    verdict = decision.verdict
    assert (verdict.diagnosis, verdict.expected, decision.remove) == ("identity_changed", "client:fmulder", False)
    assert decision.state.trusted.identity == "fmulder"  # the next update is still judged against it


def test_a_rewrite_that_drops_the_value_too_leaves_the_worker_pending_broken_and_its_identity_known():
    decision = after(flex(1), flex(2, twilio_contact_identity="dscully", contact_uri=None))
    verdict = decision.verdict
    assert (verdict.kind, verdict.diagnosis, verdict.broken) == (Kind.PENDING, "identity_changed", True)
    assert decision.state.trusted.identity == "fmulder"  # Flex's value at the next login is judged against it


DANA = {"email": "dana.scully@fbi.example", "contact_uri": "client:dana_2Escully", "roles": ["agent"]}


def dana(version, name, **changes):
    """Dana, whose Flex identity is her username (dana.scully), under `name` at `version`."""
    attributes = {key: value for key, value in {**DANA, **changes}.items() if value is not None}
    return WorkerSnapshot(KEY, name, attributes, version=version, occurred_ms=int(T0.timestamp() * 1000) + version)


@pytest.mark.parametrize("renamed", ["Dana Scully", "dscully"])
def test_renaming_a_worker_whose_value_matched_its_name_keeps_it_ok_and_never_removes_it(renamed):
    remediate = replace(RULES, remediate=True)
    history = [dana(1, "dana.scully"), dana(2, renamed)]
    for decision in (after(*history, rules=remediate), after(*history, dana(3, renamed), rules=remediate)):
        verdict = decision.verdict
        assert (verdict.kind, verdict.basis, verdict.expected) == (Kind.OK, "worker_name", "client:dana_2Escully")
        assert (decision.alert, decision.remove, decision.state.trusted.name) == (None, False, "dana.scully")
        assert "renamed from dana.scully" in verdict.detail


def test_after_a_rename_a_value_of_the_new_name_is_trusted_and_a_wrong_one_is_still_drift():
    relogin = after(dana(1, "dana.scully"), dana(2, "dscully"), dana(3, "dscully", contact_uri="client:dscully"))
    assert (relogin.verdict.kind, relogin.state.trusted.name) == (Kind.OK, "dscully")
    broken = after(dana(1, "dana.scully"), dana(2, "Dana Scully", contact_uri="client:lone_2Egunmen"))
    assert (broken.verdict.kind, broken.alert.kind) == (Kind.MISMATCH, AlertKind.DRIFT)
    email_based = after(dana(1, "dana.scully", contact_uri="client:dana_2Escully_40fbi_2Eexample"), dana(2, "x"))
    assert email_based.verdict.basis == "email"  # only a value judged ok against the name keeps that name


def test_a_renamed_worker_keeps_its_name_through_the_wait_for_the_next_login():
    remediate = replace(RULES, remediate=True)
    history = [dana(1, "dana.scully"), dana(2, "Dana Scully"), dana(3, "Dana Scully", contact_uri=None)]
    assert after(*history).verdict.kind is Kind.PENDING  # removed (Twilio's fix, or anyone)
    relogin = after(*history, dana(4, "Dana Scully"), rules=remediate)  # Flex writes the same value back
    assert (relogin.verdict.kind, relogin.alert, relogin.remove) == (Kind.OK, None, False)


def test_a_recorded_identity_still_decides_after_a_rename():
    history = [
        dana(1, "dana.scully"),
        dana(2, "Dana Scully"),
        dana(3, "Dana Scully", twilio_contact_identity="dscully"),
    ]
    for decision in (after(*history[:1], dana(2, "Dana Scully", twilio_contact_identity="dscully")), after(*history)):
        verdict = decision.verdict
        assert (verdict.kind, verdict.basis, verdict.expected) == (
            Kind.MISMATCH,
            "twilio_contact_identity",
            "client:dscully",
        )
