"""Every verdict kind, every mismatch diagnosis, and IGNORE_WORKERS."""

import pytest

from guard.core.diagnosis import Diagnosis
from guard.core.evidence import Basis
from guard.core.ignore import IgnoreRules
from guard.core.verdict import Kind
from tests.core.judging import judge
from tests.helpers import ANN_EMAIL, ANN_URI, worker_sid


def test_matching_value_is_ok():
    verdict = judge({"email": ANN_EMAIL, "contact_uri": ANN_URI})
    assert verdict.kind is Kind.OK
    assert (verdict.expected, verdict.actual) == (ANN_URI, ANN_URI)


def test_js_form_for_non_ascii_is_ok_not_alarmed():
    assert judge({"email": "josé@x.fr", "contact_uri": "client:jos_E9_40x_2Efr"}).kind is Kind.OK
    assert judge({"email": "josé@x.fr", "contact_uri": "client:jos_C3_A9_40x_2Efr"}).kind is Kind.OK


@pytest.mark.parametrize("attributes", [{"email": ANN_EMAIL}, {"email": ANN_EMAIL, "contact_uri": None}])
def test_email_without_contact_uri_is_pending(attributes):
    verdict = judge(attributes)
    assert verdict.kind is Kind.PENDING
    assert verdict.expected == ANN_URI


def test_contact_uri_without_email_is_no_email():
    verdict = judge({"contact_uri": ANN_URI, "email": ""})
    assert verdict.kind is Kind.NO_EMAIL
    assert verdict.actual == ANN_URI


def test_worker_without_email_or_contact_uri_is_not_a_flex_agent():
    verdict = judge({"skills": ["billing"]})
    assert verdict.kind is Kind.IGNORED
    assert "not a Flex agent" in verdict.detail


@pytest.mark.parametrize("attributes", [{}, {"type": "support"}, {"email": "", "roles": []}, {"contact_uri": None}])
def test_a_name_alone_never_makes_a_flex_agent(attributes):
    # Twilio's own example worker is friendly_name "testWorker" with attributes {}: a bot or queue, not an agent.
    verdict = judge(attributes, worker_sid(1), worker_name="testWorker")
    assert verdict.kind is Kind.IGNORED
    assert verdict.detail == "not a Flex agent: no email, contact_uri, twilio_contact_identity or roles"


def test_an_agent_with_roles_and_an_identity_name_but_no_email_waits_for_its_first_login():
    verdict = judge({"roles": ["agent"]}, worker_sid(1), worker_name="dana.scully")
    assert (verdict.kind, verdict.basis, verdict.expected) == (Kind.PENDING, Basis.WORKER_NAME, "client:dana_2Escully")


@pytest.mark.parametrize(
    ("actual", "diagnosis", "phrase"),
    [
        ("client:ANN_2Eveal_40arresteddevelopment_2Ecom", Diagnosis.CASE_ONLY, "letter case"),
        ("client:ann_2eveal_40arresteddevelopment_2ecom", Diagnosis.CASE_ONLY, "letter case"),
        ("sip:ann@arresteddevelopment.com", Diagnosis.WRONG_SCHEME, "'sip:'"),
        ("Client:ann_2Eveal_40arresteddevelopment_2Ecom", Diagnosis.WRONG_SCHEME, "'Client:'"),
        ("+15551234567", Diagnosis.WRONG_SCHEME, "phone number"),
        ("client:+1 (555) 123-4567", Diagnosis.WRONG_SCHEME, "phone number"),
        ("ann_2Eveal_40arresteddevelopment_2Ecom", Diagnosis.WRONG_SCHEME, "prefix is missing"),
        ("ann.veal@arresteddevelopment.com", Diagnosis.RAW_EMAIL, "raw email"),
        ("client:ann.veal@arresteddevelopment.com", Diagnosis.RAW_EMAIL, "the raw email, not escaped"),  # README
        (
            "client:bob_2Eloblaw_40arresteddevelopment_2Ecom",
            Diagnosis.OTHER_EMAIL,
            "bob.loblaw@arresteddevelopment.com",
        ),
        ("client:_674E_660E", Diagnosis.OTHER_IDENTITY, "a different identity: 李明"),  # JS form: an escape a code unit
        ("client:fmulder", Diagnosis.OTHER_IDENTITY, "decodes to a different identity: fmulder"),  # no email
        ("client:ann_2Gveal", Diagnosis.MALFORMED, "bad escape '_2G'"),
        ("client:ann_2", Diagnosis.MALFORMED, "stray '_'"),
        ("client:_61nn_2Eveal_40arresteddevelopment_2Ecom", Diagnosis.DIFFERENT, "plainly different"),
        ("", Diagnosis.DIFFERENT, "plainly different"),
    ],
)
def test_mismatch_carries_expected_actual_and_a_diagnosis(actual, diagnosis, phrase):
    verdict = judge({"email": ANN_EMAIL, "contact_uri": actual})
    assert verdict.kind is Kind.MISMATCH
    assert verdict.diagnosis is diagnosis
    assert phrase in verdict.detail
    assert (verdict.expected, verdict.actual) == (ANN_URI, actual)


def test_non_string_contact_uri_is_a_mismatch_shown_as_json():
    verdict = judge({"email": ANN_EMAIL, "contact_uri": 42})
    assert verdict.kind is Kind.MISMATCH
    assert verdict.actual == "42"


def test_ignore_rules_match_worker_sids_and_email_globs():
    rules = IgnoreRules.parse(f" {worker_sid(7)} , *@Contractors.Example.com ,")
    custom = {"email": "temp@contractors.example.COM", "contact_uri": "client:custom"}
    assert judge(custom, worker_sid(1), rules).kind is Kind.IGNORED
    assert "*@contractors.example.com" in judge(custom, worker_sid(1), rules).detail
    assert judge({"email": ANN_EMAIL, "contact_uri": "sip:x"}, worker_sid(7), rules).kind is Kind.IGNORED
    assert judge({"email": ANN_EMAIL, "contact_uri": "sip:x"}, worker_sid(8), rules).kind is Kind.MISMATCH


@pytest.mark.parametrize(
    ("email", "actual", "diagnosis", "detail"),
    [
        (
            "émile@x.fr",
            "client:_C9mile_40x_2Efr",
            Diagnosis.CASE_ONLY,
            "decodes to 'Émile@x.fr': the email but for letter case",
        ),
        ("émile@x.fr", "client:_C3_89mile_40x_2Efr", Diagnosis.CASE_ONLY, "the email but for letter case"),
        ("jose\u0301@x.fr", "client:jos_C3_A9_40x_2Efr", Diagnosis.DIFFERENT, "the email in another Unicode form"),
    ],
)
def test_a_non_ascii_email_but_for_case_or_unicode_form_is_named_so(email, actual, diagnosis, detail):
    verdict = judge({"email": email, "contact_uri": actual}, worker_sid(1))
    assert (verdict.kind, verdict.diagnosis) == (Kind.MISMATCH, diagnosis)
    assert detail in verdict.detail
