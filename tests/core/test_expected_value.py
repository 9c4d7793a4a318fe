"""The value a mismatch shows as expected: the identity the value was built from, or the name Flex registered."""

from dataclasses import replace

import pytest

from guard.core.activity import Activity
from guard.core.alerts import AlertKind
from guard.core.contact_uri import contact_uri_for
from guard.core.evidence import Policy
from guard.core.rules import Rules
from guard.core.snapshot import WorkerSnapshot
from guard.core.verdict import Kind
from tests.core.decisions import KEY, RULES, T0, after, dana, snapshot


@pytest.mark.parametrize("name", ["dana.scully", "Dana Scully"])
def test_a_value_changed_after_it_was_ok_against_the_name_expects_the_names_value(name):
    decision = after(dana(1, "dana.scully"), dana(2, name, contact_uri="client:lone_2Egunmen"))
    verdict = decision.verdict
    assert (verdict.kind, verdict.basis, verdict.expected) == (Kind.MISMATCH, "worker_name", "client:dana_2Escully")
    assert verdict.detail.startswith("decodes to a different identity: lone.gunmen")
    assert decision.alert.kind is AlertKind.DRIFT


def test_a_value_in_the_wrong_case_of_the_name_expects_the_names_value():
    attributes = {"email": "christoph.sander@example.com", "contact_uri": "client:christoph_2Esander"}
    verdict = Rules().judge(attributes, worker_name="Christoph.Sander")
    assert (verdict.kind, verdict.diagnosis) == (Kind.MISMATCH, "case_only")
    assert (verdict.basis, verdict.expected) == ("worker_name", "client:Christoph_2ESander")
    assert "worker name's case" in verdict.detail


def test_a_value_in_the_wrong_case_of_the_email_still_expects_the_emails_value():
    attributes = {"email": "dana.scully@fbi.example", "contact_uri": "client:dana_2Escully_40FBI_2Eexample"}
    verdict = Rules().judge(attributes, worker_name="dana.scully")
    assert (verdict.basis, verdict.expected) == ("email", "client:dana_2Escully_40fbi_2Eexample")


@pytest.mark.parametrize(
    "value",
    [
        "client:ann.veal@example.com",
        "client:ann veal",
        "client:jos\u00e9",
        "client:",
        "CLIENT:user_name",
        123,
        ["x"],
        "  ",
    ],
)
def test_a_client_value_no_voice_client_can_register_is_a_mismatch_without_email_too(value):
    verdict = Rules().judge({"contact_uri": value, "roles": ["agent"]}, worker_name="Ann Veal")
    assert (verdict.kind, verdict.diagnosis, verdict.expected, verdict.broken) == (
        Kind.MISMATCH,
        "unusable",
        None,
        True,
    )
    assert "no email to tell whose identity it is" in verdict.detail
    assert not verdict.removable  # nothing says Flex writes it back: another setup's worker would stay without


@pytest.mark.parametrize(
    "value", ["client:user_name", "client:ann_2eveal", "client:ann_", "sip:ann@example.com", "+15551234567"]
)
def test_a_value_a_voice_client_could_register_stays_unjudged_without_email(value):
    verdict = Rules().judge({"contact_uri": value, "roles": ["agent"]}, worker_name="Ann Veal")
    assert verdict.kind is Kind.NO_EMAIL  # identities of other setups: letters, digits and _ (client:Bob)


def no_email(version, contact_uri):
    """A worker with no email and no identity-shaped name, at `version`."""
    attributes = {"roles": ["agent"], **({"contact_uri": contact_uri} if contact_uri else {})}
    return WorkerSnapshot(
        KEY, "Ann Veal", attributes, version=version, occurred_ms=int(T0.timestamp() * 1000) + version
    )


def test_such_a_value_is_never_removed_and_taking_it_out_by_hand_leaves_the_agent_pending_till_it_signs_in():
    remediate = replace(RULES, remediate=True)
    drift = after(no_email(1, "client:ann.veal@example.com"), rules=remediate)
    assert (drift.alert.kind, drift.remove) == (AlertKind.DRIFT, False)
    removed = after(no_email(1, "client:ann.veal@example.com"), no_email(2, None), rules=remediate).verdict
    assert (removed.kind, removed.diagnosis, removed.broken) == (Kind.PENDING, "removed", True)  # still cannot ring
    assert removed.detail.startswith("contact_uri removed (it was client:ann.veal@example.com)")  # not "not an agent"
    changed = after(no_email(1, "client:ann.veal@example.com"), no_email(2, "sip:front@pbx.example"))
    assert (changed.verdict.kind, changed.alert.kind) == (Kind.NO_EMAIL, AlertKind.RESOLVED)
    assert "email attribute removed" not in changed.alert.note and "whether it rings is not known" in changed.alert.note
    assert "no longer unusable" in changed.alert.note  # a sip: value is no Voice client: not said to be one
    still = after(no_email(1, "client:ann.veal@example.com"), no_email(2, "client:"))
    assert (still.verdict.kind, still.alert.kind) == (Kind.MISMATCH, AlertKind.DRIFT)  # not "resolved"


def named(version, name, attributes, activity=None):
    """A worker without email under `name` at `version`, in `activity` (None: the event names none)."""
    at = int(T0.timestamp() * 1000) + version
    return WorkerSnapshot(KEY, name, attributes, version=version, occurred_ms=at, activity=activity)


AVAILABLE = Activity("WA" + "1" * 32, "Available", available=True)
OFFLINE = Activity("WA" + "2" * 32, "Offline", available=False)


def test_an_agent_without_email_stays_pending_after_its_value_went_until_one_is_back():
    agent, bare = {"contact_uri": "client:front_2Edesk", "roles": ["agent"]}, {"roles": ["agent"]}
    history = [named(1, "Front Desk", agent, OFFLINE), named(2, "Front Desk", bare, OFFLINE)]
    later = after(*history, named(3, "Front Desk", bare, AVAILABLE))
    assert (later.verdict.kind, later.verdict.broken) == (Kind.PENDING, True)  # not "not a Flex agent"
    assert later.alert.kind is AlertKind.URGENT  # available and cannot ring: paged
    back = after(*history, named(3, "Front Desk", agent, OFFLINE))
    assert back.verdict.kind is Kind.NO_EMAIL and "unusable" not in (back.alert.note if back.alert else "")
    known = {"contact_uri": "client:ann_2Eveal", "roles": ["agent"]}
    two_steps = [named(1, "ann.veal", known), named(2, "ann.veal", bare), named(3, "ann.veal", {})]
    assert after(*two_steps).verdict.diagnosis == "wiped"  # removed, then stripped of every agent attribute
    still = after(*two_steps, named(4, "ann.veal", {}, AVAILABLE))
    assert (still.verdict.diagnosis, still.alert.kind) == ("wiped", AlertKind.URGENT)  # not "now ignored"
    assert still.alert.note.endswith("available with no contact_uri: its attributes were wiped")  # not "a wrong" one


def test_under_the_email_policy_a_recorded_identity_makes_no_wipe_of_a_worker_without_email():
    strict = replace(RULES, judging=Rules(policy=Policy.EMAIL))
    agent = {"contact_uri": "client:fmulder", "twilio_contact_identity": "fmulder", "roles": ["agent"]}
    steps = [named(1, "F M", agent), named(2, "F M", {"twilio_contact_identity": "fmulder", "roles": ["agent"]})]
    assert after(*steps, named(3, "F M", {}), rules=strict).verdict.kind is Kind.IGNORED  # it never judges by it


def test_a_worker_without_email_known_by_its_name_whose_attributes_are_replaced_is_wiped():
    agent = {"contact_uri": "client:dana_2Escully", "roles": ["agent"]}
    wiped = after(named(1, "dana.scully", agent), named(2, "dana.scully", {"type": "support"})).verdict
    assert (wiped.kind, wiped.diagnosis, wiped.broken) == (Kind.MISMATCH, "wiped", True)  # not "not a Flex agent"
    assert wiped.detail.startswith("attributes wiped: the update dropped contact_uri (")  # it never had an email
    removed = after(named(1, "dana.scully", agent), named(2, "dana.scully", {"roles": ["agent"]})).verdict
    assert (removed.kind, removed.diagnosis) == (Kind.PENDING, "removed")  # Twilio's fix, or a hand's: no wipe


def test_a_bot_without_email_or_roles_whose_value_goes_is_still_no_agent():
    bot = after(named(1, "Queue Bot", {"contact_uri": "client:queuebot"}), named(2, "Queue Bot", {}))
    assert (bot.verdict.kind, bot.alert) == (Kind.IGNORED, None)


def test_a_wrong_value_stays_drift_when_a_worker_without_email_is_renamed_to_a_display_name():
    ok, wrong = (
        {"contact_uri": "client:ann_2Eveal", "roles": ["agent"]},
        {"contact_uri": "client:fmulder", "roles": ["agent"]},
    )
    history = [named(1, "ann.veal", ok), named(2, "ann.veal", wrong)]
    renamed = after(*history, named(3, "Ann Veal", wrong))
    assert (renamed.verdict.kind, renamed.verdict.expected) == (Kind.MISMATCH, "client:ann_2Eveal")
    assert renamed.alert is None  # the same drift: nothing resolved, nothing new
    healthy = after(named(1, "ann.veal", ok), named(2, "Ann Veal", ok))
    assert (healthy.verdict.kind, healthy.alert) == (Kind.OK, None)  # a rename alone: no warning


@pytest.mark.parametrize(
    ("value", "diagnosis"),
    [
        ("client:dana_2Escully_40FBI_2Eexample", "other_identity"),  # the email's value, its case changed
        ("client:dana.scully@fbi.example", "malformed"),  # the email as typed
        ("client:_64ana_2Escully_40fbi_2Eexample", "other_identity"),  # the email, escaped as Flex never does
        ("client:Dana_2EScully", "case_only"),  # the name's value, its case changed
    ],
)
def test_after_a_value_was_ok_against_the_name_a_wrong_one_is_judged_against_the_name_alone(value, diagnosis):
    verdict = after(dana(1, "dana.scully"), dana(2, "dana.scully", contact_uri=value)).verdict
    assert (verdict.kind, verdict.diagnosis) == (Kind.MISMATCH, diagnosis)
    assert (verdict.basis, verdict.expected) == ("worker_name", "client:dana_2Escully")
    assert "email" not in verdict.detail.split(":")[0]


@pytest.mark.parametrize("space", [" ", "\u00a0", "\t", "\u200b", "\ufeff"])
def test_an_email_with_whitespace_around_it_counts_with_or_without_it(space):
    """Which of the two the login's identity had is not known: a pasted space must not page a working agent."""
    for value in ("client:ann_2Eveal_40x_2Ecom", contact_uri_for(f"ann.veal@x.com{space}")):
        verdict = Rules().judge({"email": f"ann.veal@x.com{space}", "contact_uri": value})
        assert (verdict.kind, verdict.expected) == (Kind.OK, "client:ann_2Eveal_40x_2Ecom")
    wrong = Rules().judge({"email": f"ann.veal@x.com{space}", "contact_uri": "client:bob_40x_2Eio"})
    assert (wrong.kind, wrong.detail) == (Kind.MISMATCH, "decodes to a different email: bob@x.io")


def test_a_decoded_value_that_differs_only_by_invisible_characters_is_shown_quoted():
    history = [snapshot(email="ann.veal@x.com ", contact_uri="client:ann_2Eveal_40x_2Ecom_20", version=1)]
    trimmed = after(*history, snapshot(email="ann.veal@x.com", contact_uri="client:ann_2Eveal_40x_2Ecom_20", version=2))
    assert trimmed.verdict.detail == "decodes to a different email: 'ann.veal@x.com '"
