"""A recorded identity against values built otherwise: edited to fit a wrong value (set aside), or escaped otherwise."""

from dataclasses import replace
from datetime import timedelta

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


def test_the_value_flexs_login_writes_after_the_removal_is_ok_and_never_removed():
    state = removed_by_the_guard()
    assert (state.verdict.kind, state.verdict.expected) == (Kind.PENDING, ANN_URI)
    login = decide(at(3, twilio_contact_identity="bobe"), state, REMEDIATE, T0)  # Ann's value, where there was none
    verdict = login.verdict
    assert (verdict.kind, verdict.basis, login.alert, login.remove) == (Kind.OK, "email", None, False)
    assert "twilio_contact_identity bobe set aside" in verdict.detail
    later = decide(at(4, twilio_contact_identity="bobe"), login.state, REMEDIATE, T0)  # and on every later event
    assert (later.verdict.kind, later.alert, later.remove) == (Kind.OK, None, False)


def test_the_fitted_identity_never_makes_a_value_of_its_own_ok_and_a_new_one_decides_again():
    state = removed_by_the_guard()
    back = decide(at(3, contact_uri=WRONG, twilio_contact_identity="bobe"), state, REMEDIATE, T0)
    assert (back.verdict.kind, back.verdict.expected) == (Kind.MISMATCH, ANN_URI)
    login = decide(at(3, twilio_contact_identity="bobe"), state, REMEDIATE, T0)
    recorded = decide(at(4, twilio_contact_identity="annv"), login.state, REMEDIATE, T0)  # Flex records one
    assert (recorded.verdict.kind, recorded.verdict.expected) == (Kind.MISMATCH, "client:annv")


def test_a_value_in_the_other_escape_form_than_the_recorded_identity_says_so_not_another_identity():
    recorded = {"email": "joséb@x.fr", "twilio_contact_identity": "jos_C3_A9b_40x_2Efr"}
    verdict = after(snapshot(**recorded, contact_uri="client:jos_E9b_40x_2Efr")).verdict
    assert (verdict.kind, verdict.expected) == (Kind.MISMATCH, "client:jos_C3_A9b_40x_2Efr")
    assert verdict.detail == (
        "built from the email in another escape form than twilio_contact_identity records (jos_C3_A9b_40x_2Efr): "
        "the browser listens on client:jos_C3_A9b_40x_2Efr"
    )
