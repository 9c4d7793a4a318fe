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
