"""The value a mismatch shows as expected: the identity the value was built from, or the name Flex registered."""

import pytest

from guard.core.alerts import AlertKind
from guard.core.rules import Rules
from guard.core.verdict import Kind
from tests.core.decisions import after, dana


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


@pytest.mark.parametrize("value", ["client:ann.veal@example.com", "client:ann_2eveal", "client:ann_"])
def test_a_malformed_client_value_on_a_worker_without_email_is_a_mismatch(value):
    verdict = Rules().judge({"contact_uri": value, "roles": ["agent"]}, worker_name="Ann Veal")
    assert (verdict.kind, verdict.diagnosis, verdict.expected, verdict.broken) == (
        Kind.MISMATCH,
        "malformed",
        None,
        True,
    )
    assert verdict.detail.startswith("malformed escape: ") and "no email" in verdict.detail


@pytest.mark.parametrize("value", ["client:ann_2Eveal", "sip:ann@example.com", "+15551234567"])
def test_a_well_formed_or_other_scheme_value_without_email_stays_unjudged(value):
    verdict = Rules().judge({"contact_uri": value, "roles": ["agent"]}, worker_name="Ann Veal")
    assert verdict.kind is Kind.NO_EMAIL  # a non-Flex setup may use sip: or numbers: no false alarm


@pytest.mark.parametrize("space", [" ", "\u00a0", "\t"])
def test_an_email_with_whitespace_around_it_says_so(space):
    verdict = Rules().judge({"email": f"ann.veal@x.com{space}", "contact_uri": "client:ann_2Eveal_40x_2Ecom"})
    assert (verdict.kind, verdict.diagnosis) == (Kind.MISMATCH, "other_email")
    assert f"whitespace around it ({f'ann.veal@x.com{space}'!r})" in verdict.detail
