"""The decision on recorded identities: rewritten, removed, renamed; never removed where it still registers."""

from dataclasses import replace

import pytest

from guard.core.actions import decide_removal
from guard.core.alerts import AlertKind
from guard.core.contact_uri import escape_identity_js
from guard.core.decision import decide
from guard.core.evidence import Policy
from guard.core.rules import Rules
from guard.core.snapshot import WorkerSnapshot
from guard.core.statuses import RemediationStatus
from guard.core.verdict import Kind
from tests.core.decisions import DANA, KEY, RULES, SLACK, T0, after, dana, flex


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


def test_an_identity_re_escaped_alone_leaves_the_unchanged_value_ok_and_never_removed():
    js = {"email": "josé@x.fr", "twilio_contact_identity": "jos_E9_40x_2Efr", "contact_uri": "client:jos_E9_40x_2Efr"}
    strict = {"twilio_contact_identity": "jos_C3_A9_40x_2Efr"}  # the same identity, contact_uri left as Flex wrote it
    remediate = replace(RULES, remediate=True)
    for later in ((), (flex(3, **{**js, **strict}),)):  # and on the worker's next event
        decision = after(flex(1, **js), flex(2, **{**js, **strict}), *later, rules=remediate)
        assert (decision.verdict.kind, decision.alert, decision.remove) == (Kind.OK, None, False)
        assert "re-escaped" in decision.verdict.detail
    moved = after(flex(1, **js), flex(2, **{**js, **strict}), flex(3, **{**js, **strict, "contact_uri": "sip:x"}))
    assert moved.verdict.kind is Kind.MISMATCH  # a later edit of the value is drift as ever
    # Through a drift, its removal and the value Flex writes back at the login, the form it wrote stays trusted
    drift = {**js, **strict, "contact_uri": "sip:desk@pbx.example.com"}
    removed, back = {**js, **strict, "contact_uri": None}, {**js, **strict}
    history = [flex(1, **js), flex(2, **{**js, **strict}), flex(3, **drift), flex(4, **removed), flex(5, **back)]
    assert after(*history[:3], rules=remediate).remove is True  # the sip: value is drift, and removed
    written_back = after(*history, rules=remediate)
    assert (written_back.verdict.kind, written_back.remove) == (Kind.OK, False)
    # An identity recorded for the first time is no re-escape: it tells which form Flex registers (a re-check)
    no_identity = {"email": "josé@x.fr", "contact_uri": "client:jos_E9_40x_2Efr", "twilio_contact_identity": None}
    first = after(flex(1, **no_identity), flex(2, **{**no_identity, **strict}), rules=remediate)
    assert (first.verdict.kind, first.verdict.diagnosis, first.remove) == (Kind.MISMATCH, "not_identity", True)


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


EMAIL_FORM = "client:dana_2Escully_40fbi_2Eexample"  # Twilio's article's value: "fixed" by someone who read it


@pytest.mark.parametrize("name", ["dana.scully", "Dana Scully"])  # a rename does not release the name either
def test_a_value_changed_from_the_trusted_name_to_the_email_is_drift(name):
    remediate = replace(RULES, remediate=True)
    decision = after(dana(1, "dana.scully"), dana(2, name, contact_uri=EMAIL_FORM), rules=remediate)
    verdict = decision.verdict
    assert (verdict.kind, verdict.basis, verdict.expected) == (Kind.MISMATCH, "worker_name", "client:dana_2Escully")
    assert "built from the email" in verdict.detail and "dana.scully" in verdict.detail
    assert (decision.alert.kind, decision.remove) == (AlertKind.DRIFT, True)  # Flex writes the right one at login


def test_the_email_form_written_after_no_value_is_trusted_as_the_login_that_wrote_it():
    # Removed, and the next login wrote the email's value: Flex's identity is the email after all
    login = after(
        dana(1, "dana.scully"), dana(2, "dana.scully", contact_uri=None), dana(3, "x", contact_uri=EMAIL_FORM)
    )
    assert (login.verdict.kind, login.verdict.basis, login.state.trusted.name_matched) == (Kind.OK, "email", False)
    assert after(dana(1, "dana.scully", contact_uri=EMAIL_FORM)).verdict.kind is Kind.OK  # first sight: either counts


def test_a_value_changed_to_the_emails_letter_case_is_drift_when_the_name_kept_its_case():
    ann, at = {"email": "ann.veal@x.com", "contact_uri": "client:Ann_2EVeal_40x_2Ecom"}, int(T0.timestamp() * 1000)
    first = WorkerSnapshot(KEY, "Ann.Veal@x.com", ann, version=1, occurred_ms=at)
    lowered = {**ann, "contact_uri": "client:ann_2Eveal_40x_2Ecom"}
    verdict = after(first, WorkerSnapshot(KEY, "Ann.Veal@x.com", lowered, version=2, occurred_ms=at + 1)).verdict
    assert (verdict.kind, verdict.expected) == (Kind.MISMATCH, "client:Ann_2EVeal_40x_2Ecom")


def test_the_email_form_after_missed_updates_or_without_versions_is_no_replacement_seen():
    # v2 and v3 never arrived (a removal, then Flex's login): what replaced what is unknown, so nothing is alerted
    assert after(dana(1, "dana.scully"), dana(3, "dana.scully", contact_uri=EMAIL_FORM)).verdict.kind is Kind.OK
    unversioned = replace(dana(2, "dana.scully", contact_uri=EMAIL_FORM), version=None, source="event-streams")
    assert after(dana(1, "dana.scully"), unversioned).verdict.kind is Kind.OK


def test_the_email_form_the_guard_removed_is_drift_again_when_it_comes_back_and_never_removed_twice():
    remediate = replace(RULES, remediate=True)
    drift = after(dana(1, "dana.scully"), dana(2, "dana.scully", contact_uri=EMAIL_FORM), rules=remediate).state
    removed = decide_removal(
        KEY, drift, "dana.scully", (RemediationStatus.REMOVED, EMAIL_FORM, "removed", "g"), SLACK, T0
    )
    echo = decide(dana(3, "dana.scully", contact_uri=None), removed.state, remediate, T0).state
    back = decide(dana(5, "dana.scully", contact_uri=EMAIL_FORM), echo, remediate, T0)  # the script ran again
    assert (back.verdict.kind, back.verdict.expected, back.remove) == (Kind.MISMATCH, "client:dana_2Escully", False)
    assert back.alert.came_back


def test_attributes_wiped_then_restored_with_the_email_form_are_still_drift():
    wiped = WorkerSnapshot(KEY, "dana.scully", {"type": "support"}, version=2, occurred_ms=int(T0.timestamp() * 1000))
    restored = after(dana(1, "dana.scully"), wiped, dana(3, "dana.scully", contact_uri=EMAIL_FORM))
    assert (restored.verdict.kind, restored.verdict.expected) == (Kind.MISMATCH, "client:dana_2Escully")


def test_a_re_check_of_the_value_judged_drift_finds_it_drift_still():
    drift = after(dana(1, "dana.scully"), dana(2, "dana.scully", contact_uri=EMAIL_FORM)).state
    fetched = {**DANA, "contact_uri": EMAIL_FORM}  # a removal's fresh fetch, or an audit: no version to follow
    assert RULES.judging.judge(fetched, KEY.worker_sid, "dana.scully", drift.known()).kind is Kind.MISMATCH


@pytest.mark.parametrize("name", ["dana.scully", "dana.scully@fbi.example"])  # SSO: the name may be the email
def test_a_value_changed_from_the_email_to_the_names_is_drift(name):
    remediate = replace(RULES, remediate=True)
    ok = dana(1, name, contact_uri=EMAIL_FORM)
    assert after(ok).verdict.basis == "email"
    renamed = "dana.scully" if "@" in name else name  # renamed to a username by the same update, or not renamed
    decision = after(ok, dana(2, renamed, contact_uri="client:dana_2Escully"), rules=remediate)
    verdict = decision.verdict
    assert (verdict.kind, verdict.basis, verdict.expected) == (Kind.MISMATCH, "email", EMAIL_FORM)
    assert "built from the worker name" in verdict.detail and "dana.scully@fbi.example" in verdict.detail
    assert (decision.alert.kind, decision.remove) == (AlertKind.DRIFT, True)  # Flex writes the right one at login


def test_the_names_value_written_after_no_value_or_missed_updates_is_trusted_as_a_login():
    ok, name_form = dana(1, "dana.scully", contact_uri=EMAIL_FORM), {"contact_uri": "client:dana_2Escully"}
    login = after(ok, dana(2, "dana.scully", contact_uri=None), dana(3, "dana.scully", **name_form))
    assert (login.verdict.kind, login.verdict.basis) == (Kind.OK, "worker_name")
    assert after(ok, dana(3, "dana.scully", **name_form)).verdict.kind is Kind.OK  # v2 never arrived


def test_a_re_check_of_the_names_value_judged_drift_finds_it_drift_still():
    ok = dana(1, "dana.scully", contact_uri=EMAIL_FORM)
    drift = after(ok, dana(2, "dana.scully", contact_uri="client:dana_2Escully")).state
    fetched = {**DANA, "contact_uri": "client:dana_2Escully"}  # a removal's fresh fetch, or an audit: no version
    assert RULES.judging.judge(fetched, KEY.worker_sid, "dana.scully", drift.known()).kind is Kind.MISMATCH
    fixed = {**DANA, "contact_uri": EMAIL_FORM}
    assert RULES.judging.judge(fixed, KEY.worker_sid, "dana.scully", drift.known()).kind is Kind.OK


def test_the_names_value_after_a_removal_the_guard_missed_or_got_late_is_a_login_not_a_swap():
    name_form = {"contact_uri": "client:dana_2Escully"}
    ok, swap = dana(1, "dana.scully", contact_uri=EMAIL_FORM), dana(2, "dana.scully", **name_form)
    relogin = dana(4, "dana.scully", **name_form)  # v3 removed it; Flex wrote it at the login
    remediate = replace(RULES, remediate=True)
    decision = after(ok, swap, relogin, rules=remediate)
    assert (decision.verdict.kind, decision.remove) == (Kind.OK, False)  # never remove what Flex just wrote
    removal_late = decide(dana(3, "dana.scully", contact_uri=None), decision.state, remediate, T0)
    assert removal_late.verdict is None or removal_late.verdict.kind is not Kind.MISMATCH


def test_switching_identity_policy_to_flex_releases_name_values_the_email_policy_judged_drift():
    strict = replace(RULES, judging=Rules(policy=Policy.EMAIL))
    drift = after(dana(1, "dana.scully"), rules=strict)
    assert drift.verdict.kind is Kind.MISMATCH  # against the email alone
    switched = decide(dana(2, "dana.scully"), drift.state, replace(RULES, remediate=True), T0)  # the policy is flex now
    assert (switched.verdict.kind, switched.remove) == (Kind.OK, False)
    assert RULES.judging.judge(DANA, KEY.worker_sid, "dana.scully", drift.state.known()).kind is Kind.OK  # an audit


def test_the_swap_drift_judged_again_after_the_email_changed_with_it_repeats_nothing():
    # One update changed the email and put the name's value in place of the one ok against the old email
    ok = dana(1, "dana.scully", contact_uri=EMAIL_FORM)
    swap = dana(2, "dana.scully", email="josé@x.fr", contact_uri="client:dana_2Escully")
    drift = after(ok, swap, rules=replace(RULES, remediate=True))
    assert (drift.verdict.kind, drift.verdict.expected) == (Kind.MISMATCH, EMAIL_FORM)
    again = decide(swap, drift.state, replace(RULES, remediate=True), T0)  # the same version from the other intake
    assert (again.verdict.expected, again.alert, again.remove) == (EMAIL_FORM, None, False)


@pytest.mark.parametrize(
    "later",
    [
        {"name": "dana.scully", "email": "dana@fbi.example"},  # the email edited
        {"name": "Dana Scully"},  # renamed to a display name
        {"name": "dscully"},  # renamed to another username
    ],
)
def test_the_swap_drift_lasts_through_edits_and_renames_with_nothing_repeated(later):
    remediate = replace(RULES, remediate=True)
    drift = after(
        dana(1, "dana.scully", contact_uri=EMAIL_FORM), dana(2, "dana.scully", contact_uri="client:dana_2Escully")
    )
    name, changes = later["name"], {k: v for k, v in later.items() if k != "name"}
    edited = decide(dana(3, name, contact_uri="client:dana_2Escully", **changes), drift.state, remediate, T0)
    assert (edited.verdict.diagnosis, edited.verdict.expected) == ("not_identity", EMAIL_FORM)
    assert (edited.alert, edited.remove) == (None, False)  # the drift alerted and queued its removal already
    back = decide(dana(4, "dana.scully", contact_uri="client:dana_2Escully"), edited.state, remediate, T0)
    assert (back.verdict.diagnosis, back.alert, back.remove) == ("not_identity", None, False)


def test_the_swap_drift_of_an_email_too_long_to_show_whole_stays_a_drift():
    long_email = "é" * 180 + "@x.fr"  # its strict form is cut for display; the value was its JavaScript form
    js_form = "client:" + escape_identity_js(long_email)
    ok = dana(1, "dana.scully", email=long_email, contact_uri=js_form)
    drift = after(ok, dana(2, "dana.scully", email=long_email, contact_uri="client:dana_2Escully"))
    again = decide(dana(3, "dana.scully", email=long_email, contact_uri="client:dana_2Escully"), drift.state, RULES, T0)
    assert (again.verdict.kind, again.alert) == (Kind.MISMATCH, None)


RENAMED = {"email": "dana.mulder@fbi.example", "twilio_contact_identity": "dana_2Emulder_40fbi_2Eexample"}
NEW_VALUE = "client:dana_2Emulder_40fbi_2Eexample"


def test_the_new_identitys_value_is_still_drift_where_the_rewrite_was_not_seen_first():
    remediate = replace(RULES, remediate=True)
    cases = {
        "replaced in the rewrite's own update": [flex(1)],
        "after attributes wiped": [flex(1), flex(2, email=None, twilio_contact_identity=None, contact_uri=None)],
        "after a working value removed": [flex(1), flex(2, contact_uri=None)],
        "after versions missed": [flex(1), flex(2, **RENAMED), flex(3, **RENAMED, contact_uri=None)],
    }
    for name, history in cases.items():
        version = 5 if name == "after versions missed" else len(history) + 1
        decision = after(*history, flex(version, **RENAMED, contact_uri=NEW_VALUE), rules=remediate)
        assert (decision.verdict.broken, decision.remove) == (True, True), name


def test_a_wrong_value_dropped_then_back_with_the_identity_edited_to_fit_is_still_drift():
    remediate = replace(RULES, remediate=True)
    wrong = "client:agent_40twilio_2Ecom"  # the email's value: the browser registers fmulder
    history = [flex(1), flex(2, contact_uri=wrong), flex(3, contact_uri=None)]
    decision = after(
        *history, flex(4, twilio_contact_identity="agent_40twilio_2Ecom", contact_uri=wrong), rules=remediate
    )
    assert (decision.verdict.broken, decision.remove) == (True, True)
