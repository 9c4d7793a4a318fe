"""The Flask CLI: encode, decode, check and migrate."""

import pytest

from guard.adapters import db
from tests.helpers import ANN_EMAIL, ANN_URI


def test_encode_prints_the_contact_uri(runner):
    result = runner.invoke(args=["encode", ANN_EMAIL])
    assert result.exit_code == 0
    assert result.output == ANN_URI + "\n"


def test_encode_refuses_a_blank_email(runner):
    result = runner.invoke(args=["encode", " "])
    assert (result.exit_code, result.output) == (2, "error: the email is empty\n")


def test_decode_prints_the_email(runner):
    result = runner.invoke(args=["decode", "client:jos_C3_A9_40x_2Efr"])
    assert (result.exit_code, result.output) == (0, "josé@x.fr\n")


def test_decode_exits_2_with_the_reason(runner):
    result = runner.invoke(args=["decode", "client:ann_2eveal"])
    assert result.exit_code == 2
    assert "lowercase hex in escape '_2e'" in result.output


@pytest.mark.parametrize(
    ("args", "code", "shown"),
    [
        (["--email", ANN_EMAIL, "--contact-uri", ANN_URI], 0, "verdict:  ok"),
        (["--email", ANN_EMAIL], 0, "verdict:  pending"),
        (["--email", ANN_EMAIL, "--contact-uri", "sip:x"], 1, "wrong scheme 'sip:'"),
        (["--email", ANN_EMAIL, "--contact-uri", "client:bob_40x_2Eio"], 1, "decodes to a different email: bob@x.io"),
    ],
)
def test_check_prints_verdict_and_exits_by_drift(runner, args, code, shown):
    result = runner.invoke(args=["check", *args])
    assert result.exit_code == code
    assert shown in result.output


def test_migrate_brings_the_database_to_head(runner, services):
    result = runner.invoke(args=["migrate"])
    assert result.exit_code == 0
    assert db.current_revision(services.store.engine) == db.HEAD
