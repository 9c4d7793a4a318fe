"""The Flex identity rules in the core: judged against twilio_contact_identity, else the email or worker name."""

import pytest

from guard.core.diagnosis import Diagnosis
from guard.core.evidence import Basis, Policy
from guard.core.verdict import Kind
from tests.core.judging import judge
from tests.flex_workers import ANN, DANA, FOX, JOHN, MELVIN, WALTER, flex_attributes


def verdict_of(worker, **options):
    """The core's verdict on one of the shapes in tests/flex_workers.py."""
    sid, name, attributes = worker
    return judge(attributes, sid, worker_name=name, **options)


@pytest.mark.parametrize(
    ("worker", "basis", "expected"),
    [
        (DANA, Basis.WORKER_NAME, "client:dana_2Escully"),
        (FOX, Basis.TWILIO_CONTACT_IDENTITY, "client:fmulder"),
        (ANN, Basis.TWILIO_CONTACT_IDENTITY, "client:ann_2Eveal_40arresteddevelopment_2Ecom"),
    ],
)
def test_a_value_matching_the_flex_identity_is_ok_and_says_which_evidence(worker, basis, expected):
    verdict = verdict_of(worker)
    assert (verdict.kind, verdict.basis, verdict.expected) == (Kind.OK, basis, expected)


def test_an_email_normalised_value_is_broken_when_flex_recorded_another_identity():
    verdict = verdict_of(JOHN)
    assert (verdict.kind, verdict.diagnosis, verdict.basis) == (
        Kind.MISMATCH,
        Diagnosis.NOT_IDENTITY,
        "twilio_contact_identity",
    )
    assert verdict.expected == "client:jbyers"
    assert "built from the email" in verdict.detail and "client:jbyers" in verdict.detail


def test_a_value_built_from_the_name_is_broken_too_under_a_recorded_identity():
    sid, _, attributes = FOX
    verdict = judge({**attributes, "contact_uri": "client:Fox_20Mulder"}, sid, worker_name="fox.mulder")
    assert verdict.kind is Kind.MISMATCH and verdict.expected == "client:fmulder"
    verdict = judge({**attributes, "contact_uri": "client:fox_2Emulder"}, sid, worker_name="fox.mulder")
    assert verdict.diagnosis is Diagnosis.NOT_IDENTITY and "built from the worker name" in verdict.detail


def test_a_value_matching_nothing_is_broken_and_expects_the_email_form():
    verdict = verdict_of(MELVIN)
    assert verdict.kind is Kind.MISMATCH
    assert (verdict.basis, verdict.expected) == (Basis.EMAIL, "client:melvin_2Efrohike_40fbi_2Eexample")
    assert verdict.diagnosis is Diagnosis.OTHER_IDENTITY  # lone.gunmen: an identity, not an email


def test_a_pre_provisioned_worker_is_pending_whatever_its_name():
    verdict = verdict_of(WALTER)
    assert (verdict.kind, verdict.basis, verdict.expected) == (
        Kind.PENDING, Basis.EMAIL, "client:walter_2Eskinner_40fbi_2Eexample",
    )  # fmt: skip


def test_a_display_name_with_spaces_is_not_an_identity():
    attributes = flex_attributes("ann.veal@x.example", "Ann Veal", "client:Ann_20Veal")
    assert judge(attributes, worker_name="Ann Veal").kind is Kind.MISMATCH
    assert (
        judge({**attributes, "contact_uri": "client:ann_2Eveal_40x_2Eexample"}, worker_name="Ann Veal").kind is Kind.OK
    )


@pytest.mark.parametrize("recorded", ["john.byers", "jbyers_2e", 42])
def test_a_malformed_recorded_identity_is_set_aside_with_a_note(recorded):
    sid, name, attributes = JOHN
    attributes = {**attributes, "twilio_contact_identity": recorded}
    verdict = judge(attributes, sid, worker_name=name)
    assert (verdict.kind, verdict.basis) == (Kind.OK, Basis.EMAIL)
    assert "twilio_contact_identity is not" in verdict.detail and "so it was not used" in verdict.detail


def test_case_and_escaping_mistakes_against_the_recorded_identity_are_named():
    sid, name, attributes = JOHN
    diagnoses = {
        value: judge({**attributes, "contact_uri": value}, sid, worker_name=name).diagnosis
        for value in ("client:JBYERS", "client:jbyers_", "sip:jbyers", "jbyers", "client:mscully")
    }
    assert diagnoses == {
        "client:JBYERS": Diagnosis.CASE_ONLY,
        "client:jbyers_": Diagnosis.MALFORMED,
        "sip:jbyers": Diagnosis.WRONG_SCHEME,
        "jbyers": Diagnosis.WRONG_SCHEME,
        "client:mscully": Diagnosis.OTHER_IDENTITY,
    }


def test_the_email_policy_judges_against_the_email_alone():
    assert verdict_of(DANA, policy=Policy.EMAIL).kind is Kind.MISMATCH
    assert verdict_of(FOX, policy=Policy.EMAIL).kind is Kind.MISMATCH
    assert verdict_of(JOHN, policy=Policy.EMAIL).kind is Kind.OK
