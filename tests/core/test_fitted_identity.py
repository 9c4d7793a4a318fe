"""A recorded identity against values built otherwise: edited to fit a wrong value (set aside), or escaped otherwise."""

from dataclasses import replace
from datetime import timedelta

import pytest

from guard.core.actions import decide_removal
from guard.core.decision import decide
from guard.core.statuses import RemediationStatus
from guard.core.verdict import Kind
from tests.core.decisions import KEY, RULES, SLACK, T0, after, snapshot
from tests.helpers import ANN_URI

REMEDIATE = replace(RULES, remediate=True)
WRONG = "client:bobe"


def at(version, **attributes):
    """Ann's update `version`, a second apart."""
    return snapshot(version=version, at=T0 + timedelta(seconds=version), **attributes)


def removed_by_the_guard():
    """Ann's wrong value, the identity attribute then added to fit it, and the guard's removal of the value."""
    drift = after(at(1, contact_uri=WRONG), at(2, contact_uri=WRONG, twilio_contact_identity="bobe"))
    assert drift.verdict.diagnosis == "evidence_changed"
    removal = (RemediationStatus.REMOVED, WRONG, "contact_uri removed by guard", "guard")
    return decide_removal(KEY, drift.state, "Ann Veal", removal, SLACK, T0 + timedelta(seconds=2)).state


@pytest.mark.parametrize("echo", [False, True])  # the removal's own update event, judged before the login
def test_the_value_flexs_login_writes_after_the_removal_is_ok_and_never_removed(echo):
    state = removed_by_the_guard()
    assert (state.verdict.kind, state.verdict.expected) == (Kind.PENDING, ANN_URI)
    if echo:
        state = decide(at(3, contact_uri=None, twilio_contact_identity="bobe"), state, REMEDIATE, T0).state
    login = decide(at(4, twilio_contact_identity="bobe"), state, REMEDIATE, T0)  # Ann's value, where there was none
    verdict = login.verdict
    assert (verdict.kind, verdict.basis, login.alert, login.remove) == (Kind.OK, "email", None, False)
    assert "twilio_contact_identity bobe set aside" in verdict.detail
    later = decide(at(5, twilio_contact_identity="bobe"), login.state, REMEDIATE, T0)  # and on every later event
    assert (later.verdict.kind, later.alert, later.remove) == (Kind.OK, None, False)


def test_after_a_removal_by_hand_the_value_flexs_login_writes_is_ok_and_never_removed():
    drift = after(at(1, contact_uri=WRONG), at(2, contact_uri=WRONG, twilio_contact_identity="bobe"))
    by_hand = decide(at(3, contact_uri=None, twilio_contact_identity="bobe"), drift.state, REMEDIATE, T0)
    login = decide(at(4, twilio_contact_identity="bobe"), by_hand.state, REMEDIATE, T0)
    assert (login.verdict.kind, login.verdict.basis, login.alert, login.remove) == (Kind.OK, "email", None, False)
    later = decide(at(5, twilio_contact_identity="bobe"), login.state, REMEDIATE, T0)
    assert (later.verdict.kind, later.remove) == (Kind.OK, False)
    own = decide(at(4, contact_uri=WRONG, twilio_contact_identity="bobe"), by_hand.state, REMEDIATE, T0)
    assert (own.verdict.kind, own.verdict.basis) == (Kind.OK, "twilio_contact_identity")  # its own value: it decides


def test_after_two_removals_by_the_guard_the_value_flexs_login_writes_is_ok():
    script = decide(
        at(3, contact_uri="client:zzz", twilio_contact_identity="bobe"), removed_by_the_guard(), REMEDIATE, T0
    )
    removal = (RemediationStatus.REMOVED, "client:zzz", "contact_uri removed by guard", "guard")
    state = decide_removal(KEY, script.state, "Ann Veal", removal, SLACK, T0 + timedelta(seconds=3)).state
    login = decide(at(5, twilio_contact_identity="bobe"), state, REMEDIATE, T0)
    assert (login.verdict.kind, login.alert, login.remove) == (Kind.OK, None, False)


def logged_in_again():
    """The login after the guard's removal: Ann's value where there was none, the fitted identity still there."""
    login = decide(at(3, twilio_contact_identity="bobe"), removed_by_the_guard(), REMEDIATE, T0)
    assert login.verdict.kind is Kind.OK
    return login.state


def test_the_wrong_value_back_after_the_login_is_one_drift_repeated_by_no_later_event():
    back = decide(at(4, contact_uri=WRONG, twilio_contact_identity="bobe"), logged_in_again(), REMEDIATE, T0)
    assert (back.verdict.kind, back.verdict.diagnosis, back.verdict.expected) == (
        Kind.MISMATCH,
        "other_identity",
        ANN_URI,
    )
    again = decide(at(5, contact_uri=WRONG, twilio_contact_identity="bobe"), back.state, REMEDIATE, T0)
    assert (again.verdict.diagnosis, again.alert, again.remove) == ("other_identity", None, False)


@pytest.mark.parametrize(
    "steps",
    [
        [{"twilio_contact_identity": None}, {"twilio_contact_identity": "bobe"}],  # dropped, then back
        [{"twilio_contact_identity": "bob_65"}],  # re-escaped? no: another identity (e as _65) decides again
    ],
)
def test_the_fitted_identity_stays_set_aside_until_another_identity_is_recorded(steps):
    state = logged_in_again()
    for version, change in enumerate(steps, 4):
        decision = decide(at(version, **change), state, REMEDIATE, T0)
        state = decision.state
    kind = Kind.OK if steps[-1]["twilio_contact_identity"] == "bobe" else Kind.MISMATCH
    assert (decision.verdict.kind, decision.remove) == (kind, kind is Kind.MISMATCH)


def test_a_fitted_identity_in_the_other_escape_form_is_still_set_aside():
    wrong, fitted, strict = "client:b_E9b", "b_E9b", "b_C3_A9b"  # bé: its JavaScript form, then the strict one
    drift = after(at(1, contact_uri=wrong), at(2, contact_uri=wrong, twilio_contact_identity=fitted))
    removal = (RemediationStatus.REMOVED, wrong, "contact_uri removed by guard", "guard")
    state = decide_removal(KEY, drift.state, "Ann Veal", removal, SLACK, T0 + timedelta(seconds=2)).state
    login = decide(at(3, twilio_contact_identity=fitted), state, REMEDIATE, T0)
    escaped = decide(at(4, twilio_contact_identity=strict), login.state, REMEDIATE, T0)
    assert (escaped.verdict.kind, escaped.alert, escaped.remove) == (Kind.OK, None, False)


def test_an_identity_flex_recorded_on_a_drifting_worker_still_decides_after_the_login():
    """Flex recorded its identity (fmulder) around a value the guard judged by the email: the login's is ok."""
    fox = {"email": "agent@twilio.com", "contact_uri": "client:fmulder"}
    drift = after(at(1, **fox), at(2, **fox, twilio_contact_identity="fmulder"))
    assert drift.verdict.diagnosis == "evidence_changed"
    removal = (RemediationStatus.REMOVED, "client:fmulder", "contact_uri removed by guard", "guard")
    state = decide_removal(KEY, drift.state, "Ann Veal", removal, SLACK, T0 + timedelta(seconds=2)).state
    login = decide(at(3, **fox, twilio_contact_identity="fmulder"), state, REMEDIATE, T0)
    assert (login.verdict.kind, login.verdict.basis, login.remove) == (Kind.OK, "twilio_contact_identity", False)


def test_a_value_in_the_other_escape_form_than_the_recorded_identity_says_so_not_another_identity():
    recorded = {"email": "joséb@x.fr", "twilio_contact_identity": "jos_C3_A9b_40x_2Efr"}
    verdict = after(snapshot(**recorded, contact_uri="client:jos_E9b_40x_2Efr")).verdict
    assert (verdict.kind, verdict.expected) == (Kind.MISMATCH, "client:jos_C3_A9b_40x_2Efr")
    assert verdict.detail == (
        "built from the email in another escape form than twilio_contact_identity records (jos_C3_A9b_40x_2Efr): "
        "the browser listens on client:jos_C3_A9b_40x_2Efr"
    )


def test_the_escape_form_message_names_only_one_identity_escaped_another_way():
    beyond_latin1 = {"email": "łukasz@x.pl", "twilio_contact_identity": "_142ukasz_40x_2Epl"}  # the JS form
    verdict = after(snapshot(**beyond_latin1, contact_uri="client:_C5_82ukasz_40x_2Epl")).verdict
    assert "in another escape form than twilio_contact_identity records (_142ukasz_40x_2Epl)" in verdict.detail
    spaced = {"email": "ann@x.com ", "twilio_contact_identity": "ann_40x_2Ecom"}  # the value keeps the space
    verdict = after(snapshot(**spaced, contact_uri="client:ann_40x_2Ecom_20")).verdict
    assert verdict.kind is Kind.MISMATCH and "another escape form" not in verdict.detail


def test_a_value_ok_in_one_form_stays_ok_when_only_the_identity_attribute_goes_back_to_the_other_form():
    js, strict, email = "jos_E9b_40x_2Efr", "jos_C3_A9b_40x_2Efr", "joséb@x.fr"
    steps = [
        at(1, email=email, twilio_contact_identity=js, contact_uri="client:" + js),
        at(2, email=email, twilio_contact_identity=js, contact_uri=None),  # removed
        at(3, email=email, twilio_contact_identity=strict, contact_uri="client:" + strict),  # the login, other form
        at(4, email=email, twilio_contact_identity=js, contact_uri="client:" + strict),  # the attribute alone, back
    ]
    decision = after(*steps, rules=REMEDIATE)
    assert (decision.verdict.kind, decision.alert, decision.remove) == (Kind.OK, None, False)
