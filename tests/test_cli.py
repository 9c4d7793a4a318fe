"""The Flask CLI: encode, decode, check and lookups, and migrate."""

import pytest

from guard.adapters import db
from tests.helpers import ANN_EMAIL, ANN_URI
from tests.processes import NO_DATABASE, flask_cli


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


@pytest.mark.parametrize(("uri", "text"), [("client:_674E_660E", "李明"), ("client:_D800", "Ø00")])
def test_decode_reads_js_forms_and_prints_only_text(runner, uri, text):
    result = runner.invoke(args=["decode", uri])  # a lone surrogate (_D800) is no reading: no encoder writes one
    assert (result.exit_code, result.output) == (0, f"{text}\n")


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
        (["--email", ANN_EMAIL, "--contact-uri", "sip:x"], 1, "diagnosis: wrong_scheme\n"),  # the code /api/workers has
        (["--email", ANN_EMAIL, "--contact-uri", "client:fmulder"], 1, "decodes to a different identity: fmulder"),
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


@pytest.mark.parametrize(
    ("args", "code", "shown"),
    [
        (["--email", "dana.scully@fbi.example", "--worker-name", "dana.scully",
          "--contact-uri", "client:dana_2Escully"], 0, "basis:    worker_name"),
        (["--email", "john.byers@fbi.example", "--identity", "jbyers", "--contact-uri",
          "client:john_2Ebyers_40fbi_2Eexample"], 1, "expected: client:jbyers"),
        (["--attributes", '{"email": "agent@twilio.com", "twilio_contact_identity": "fmulder", '
          '"contact_uri": "client:fmulder", "roles": ["agent"]}'], 0, "basis:    twilio_contact_identity"),
        (["--attributes", '{"email": "agent@twilio.com", "contact_uri": "client:fmulder"}', "--identity", "fmulder"],
         0, "verdict:  ok"),
        (["--worker-name", "testWorker", "--attributes", "{}"], 0, "verdict:  ignored\ndetail:   not a Flex agent"),
        (["--attributes", "[1]"], 2, "error: --attributes must be a JSON object"),
        (["--attributes", "{nope"], 2, "error: --attributes is not valid JSON"),
        (["--attributes", "[" * 5000 + "]" * 5000], 2, "error: --attributes is not valid JSON (or not an object)"),
        (["--attributes", '{"email": "a@x.io", "contact_uri": "sip:x", "deep": ' + "[" * 5000 + "]" * 5000 + "}"],
         1, "verdict:  mismatch"),
    ],
)  # fmt: skip
def test_check_judges_with_the_worker_name_the_recorded_identity_or_pasted_attributes(runner, args, code, shown):
    result = runner.invoke(args=["check", *args])
    assert (result.exit_code, shown in result.output) == (code, True)


@pytest.mark.parametrize(
    ("args", "code", "stdout"),
    [
        (["encode", "dana.scully"], 0, "client:dana_2Escully\n"),
        (["decode", "client:fmulder"], 0, "fmulder\n"),
        (["check", "--email", "dana.scully@fbi.example", "--worker-name", "dana.scully",
          "--contact-uri", "client:dana_2Escully"], 0, "verdict:  ok\n"),
        (["check", "--identity", "jbyers", "--contact-uri", "client:john_2Ebyers_40fbi_2Eexample"], 1,
         "verdict:  mismatch\n"),
    ],
)  # fmt: skip
def test_lookup_commands_need_no_secrets_and_no_database(args, code, stdout):
    result = flask_cli(*args, **NO_DATABASE)
    assert (result.returncode, result.stderr) == (code, "")
    assert result.stdout.startswith(stdout)


def test_check_follows_the_identity_policy_and_ignore_rules_of_the_environment():
    args = ["check", "--email", "dana.scully@fbi.example", "--worker-name", "dana.scully", "--contact-uri"]
    assert flask_cli(*args, "client:dana_2Escully", IDENTITY_POLICY="email").returncode == 1
    ignored = flask_cli(*args, "sip:x", IGNORE_WORKERS="*@fbi.example")
    assert (ignored.returncode, ignored.stdout.splitlines()[0]) == (0, "verdict:  ignored")
    intended = flask_cli(*args, "sip:x", INTENDED_CONTACT_URIS="sip:*")  # as the service and the audit judge it
    assert (intended.returncode, intended.stdout.splitlines()[0]) == (0, "verdict:  ignored")


@pytest.mark.parametrize(("env", "option", "named"), [({"IDENTITY_POLICY": "bogus"}, [], "IDENTITY_POLICY"),
                                                     ({}, ["--policy", "bogus"], "--policy")])  # fmt: skip
def test_check_names_where_a_bad_policy_came_from(env, option, named):
    result = flask_cli("check", "--email", "a@b.example", *option, **env)
    if env:  # a setting: one line and exit 3, as the service refuses it at start
        assert (result.returncode, result.stderr) == (3, f"guard: configuration error: {named} must be flex or email\n")
    else:
        assert result.returncode == 2
        assert result.stderr.splitlines()[-1] == f"Error: Invalid value for {named}: must be flex or email"


@pytest.mark.parametrize(
    ("env", "option", "named", "problem"),
    [
        ({"IGNORE_WORKERS": "WK123"}, [], "IGNORE_WORKERS", "entry 1 is neither a worker SID"),
        ({}, ["--ignore", "WK123"], "--ignore", "entry 1 is neither a worker SID"),
        ({"INTENDED_CONTACT_URIS": "*"}, [], "INTENDED_CONTACT_URIS", "entry 1 "),
        ({}, ["--intended", "client:*"], "--intended", "entry 1 "),
    ],
)
def test_check_refuses_the_rules_the_service_refuses_and_names_where_they_came_from(env, option, named, problem):
    result = flask_cli("check", "--email", "a@b.example", "--contact-uri", "sip:x", *option, **env)
    assert result.returncode == (3 if env else 2) and result.stdout == ""
    said = f"guard: configuration error: {named} {problem}" if env else f"Error: Invalid value for {named}: {problem}"
    assert result.stderr.splitlines()[-1].startswith(said) and (len(result.stderr.splitlines()) == 1) == bool(env)


def test_check_shows_control_characters_of_a_value_as_escapes(runner):
    result = runner.invoke(
        args=["check", "--email", ANN_EMAIL, "--contact-uri", "client:FAKE\rverdict: ok\x1b]0;t\x07"]
    )
    assert "actual:   client:FAKE\\rverdict: ok\\x1b]0;t\\x07\n" in result.output  # a terminal shows no other line


def test_check_with_no_worker_to_judge_is_a_usage_error(runner):
    result = runner.invoke(args=["check"])
    assert result.exit_code == 2 and "nothing to check" in result.output and "verdict" not in result.output


def test_decode_shows_control_characters_as_escapes(runner):
    """A value pasted from a worker comes from whoever can edit it: a terminal shows what was written."""
    result = runner.invoke(args=["decode", "client:_1B_5B_33_31_6Dred_E2_80_AE"])
    assert result.exit_code == 0 and result.output == "\\x1b[31mred\\u202e\n"


def test_encode_leaves_out_the_whitespace_around_an_email_as_the_verdict_does(runner):
    result = runner.invoke(args=["encode", " ann.veal@arresteddevelopment.com\u200b "])
    assert result.exit_code == 0 and result.output == ANN_URI + "\n"


@pytest.mark.parametrize(
    ("uri", "shown"),
    [
        ("client:_5Cx1b", "\\\\x1b"),  # the text \x1b, told apart from the character
        ("client:_E2_80_8Bann", "\\u200bann"),  # a zero-width space
        ("client:_C2_A0ann", "\\xa0ann"),  # a no-break space, not a plain one
        ("client:_E3_85_A4ann", "\\u3164ann"),  # a Hangul filler: a letter that shows as a blank
        ("client:a_CC_81nn", "a\\u0301nn"),  # a combining accent: told apart from the precomposed á
        ("client:_EE_80_80x", "\\ue000x"),  # private use
        ("client:ann_E2_81_A5_40x_2Ecom", "ann\\u2065@x.com"),  # not assigned yet: no terminal draws it
    ],
)
def test_decode_shows_what_a_terminal_would_hide_or_blur(runner, uri, shown):
    result = runner.invoke(args=["decode", uri])
    assert result.exit_code == 0 and result.output == shown + "\n"


@pytest.mark.parametrize("blank", ["\u200b", "\ufeff \u00a0", "\u00ad", "\u3164", "\u2800", "\u2065"])
def test_encode_refuses_an_email_of_only_invisible_characters(runner, blank):
    result = runner.invoke(args=["encode", blank])
    assert result.exit_code == 2 and "empty" in result.output


@pytest.mark.parametrize("identity", ["राम@x.in", "李明@x.cn", "josé@x.fr"])
def test_decode_shows_scripts_written_with_combining_marks_as_written(runner, identity):
    from guard.core.contact_uri import contact_uri_for

    result = runner.invoke(args=["decode", contact_uri_for(identity)])
    assert result.exit_code == 0 and result.output == identity + "\n"
