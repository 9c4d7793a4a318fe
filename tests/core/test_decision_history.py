"""Re-judging what the guard already judged: the same change seen again, values that are no text, episodes kept."""

from dataclasses import replace
from datetime import timedelta

from guard.core.activity import Activity
from guard.core.decision import decide
from guard.core.snapshot import WorkerSnapshot
from guard.core.verdict import Kind
from tests.core.decisions import KEY, RULES, T0, after

REMEDIATE = replace(RULES, remediate=True)
FMULDER = {"email": "agent@twilio.com", "twilio_contact_identity": "fmulder", "contact_uri": "client:fmulder"}


def update(version, attributes, name="fmulder", activity=None):
    """A worker event at `version` (a second apart), with `attributes`."""
    at = int((T0 + timedelta(seconds=version)).timestamp() * 1000)
    return WorkerSnapshot(KEY, name, attributes, version=version, occurred_ms=at, activity=activity)


def test_an_identity_dropped_by_the_update_that_set_the_wrong_value_is_no_later_edit():
    email_form = {"email": "agent@twilio.com", "contact_uri": "client:agent_40twilio_2Ecom"}  # and no identity
    drift = after(update(1, FMULDER), update(2, {**FMULDER, "contact_uri": "client:wrong"}), update(3, email_form))
    assert (drift.verdict.diagnosis, drift.remove) == ("not_identity", False)  # a removal is queued for v2's value
    away = decide(update(4, email_form, activity=Activity("WA2", "Offline")), drift.state, REMEDIATE, T0)
    assert (away.verdict.diagnosis, away.alert, away.remove) == ("not_identity", None, False)  # nothing new
    again = decide(update(3, email_form), drift.state, REMEDIATE, T0)  # the same version, from the other intake
    assert (again.verdict.diagnosis, again.alert) == ("not_identity", None)


def test_evidence_edited_around_a_contact_uri_that_is_no_text_is_judged_not_a_crash():
    ann = {"email": "ann@x.com", "contact_uri": {"uri": "client:ann_40x_2Ecom"}}
    edited = after(update(1, ann, "Ann Veal"), update(2, {**ann, "email": "ann@y.com"}, "Ann Veal"))
    assert edited.verdict.kind is Kind.MISMATCH
    renamed = after(update(1, {"contact_uri": ["x"]}, "bob"), update(2, {"contact_uri": ["x"]}, "carol"))
    assert renamed.verdict is not None


def test_a_drift_whose_value_still_rings_keeps_what_changed_through_the_next_event():
    rewritten = {**FMULDER, "twilio_contact_identity": "dscully", "skills": "b"}  # identity rewritten, value kept
    drift = after(update(1, {**FMULDER, "skills": "a"}), update(2, rewritten))
    assert drift.verdict.diagnosis == "identity_changed" and drift.state.changes is not None
    away = decide(update(3, rewritten, activity=Activity("WA2", "Offline")), drift.state, RULES, T0)
    assert away.verdict.diagnosis == "identity_changed" and away.state.changes == drift.state.changes


def test_a_rewritten_identity_dropped_again_around_the_value_that_rings_resolves():
    rewritten = {**FMULDER, "twilio_contact_identity": "dscully"}
    dropped = {name: value for name, value in FMULDER.items() if name != "twilio_contact_identity"}
    assert after(update(1, FMULDER, "Fox Mulder"), update(2, rewritten, "Fox Mulder")).verdict.kind is Kind.MISMATCH
    back = after(update(1, FMULDER, "Fox Mulder"), update(2, rewritten, "Fox Mulder"), update(3, dropped, "Fox Mulder"))
    assert (back.verdict.kind, back.alert.kind.value) == (Kind.OK, "resolved")  # fmulder rings, as it always did
