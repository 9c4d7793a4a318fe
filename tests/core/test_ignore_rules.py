"""IGNORE_WORKERS and INTENDED_CONTACT_URIS globs: what an admin wrote matches the values it was written for."""

import pytest

from guard.core.ignore import IgnoreRules, value_glob_problem
from tests.helpers import worker_sid

PBX = IgnoreRules().with_values("sip:*@pbx.example.com, sip:*@[2001:db8::1]")


@pytest.mark.parametrize(
    "email", ["temp@contractors.example.com ", "temp@contractors.example.com\u00a0", "TEMP@Contractors.example.com"]
)
def test_an_ignored_domain_matches_an_email_with_a_pasted_space_or_other_case(email):
    # Missed, the contractor's deliberate value was alerted on and removed (REMEDIATE=remove, audit --remediate)
    assert IgnoreRules.parse("*@contractors.example.com").match(worker_sid(1), email) == "*@contractors.example.com"


@pytest.mark.parametrize("value", ["sip:ann@PBX.example.com", "SIP:ann@pbx.example.com", "sip:ann@[2001:db8::1]"])
def test_an_intended_glob_matches_its_values_whatever_their_case_and_takes_brackets_literally(value):
    assert PBX.reason(worker_sid(1), None, value) is not None


def test_a_bracket_in_a_glob_is_no_character_class():
    assert PBX.reason(worker_sid(1), None, "sip:ann@2") is None  # `[2001:db8::1]` as a class matched one character


def test_a_glob_matching_flex_values_in_another_letter_case_is_refused():
    assert value_glob_problem("client:ANN_2EVEAL*") is not None  # matching ignores case: it would hide Flex values
