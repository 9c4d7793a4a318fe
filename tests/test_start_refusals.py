"""Values that crashed the start, or that libpq refuses at every connection: one line naming them, exit 3."""

import subprocess
import sys

import pytest

from guard.config import ConfigError, Settings
from tests.processes import ROOT

BASE = {"TWILIO_AUTH_TOKEN": "secret-token"}
ACCOUNT = '{"AC' + "a" * 32 + '": {"auth_token": "t", '


def refusal(env: dict[str, str]) -> str:
    """The one line Settings.from_env refuses `env` with."""
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({**BASE, **env})
    return str(caught.value)


def start(name: str, value: str) -> subprocess.CompletedProcess[str]:
    """The Procfile's web command with `name` set to `value` (it is refused before anything binds)."""
    env = {"PATH": "/usr/bin:/bin", "PORT": "25601", "TWILIO_AUTH_TOKEN": "t", name: value}
    command = [sys.executable, "-m", "guard.web"]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=30)


NOT_IPV6 = "has a bracketed host that is not an IPv6 address"


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("PUBLIC_BASE_URL", "https://[::1", f"PUBLIC_BASE_URL {NOT_IPV6}"),
        ("SLACK_WEBHOOK_URL", "https://[::1/services/T0/B0/SECRET", f"SLACK_WEBHOOK_URL {NOT_IPV6}"),
        ("SLACK_WEBHOOK_URL", "https://[SECRET]/services/T0/B0/x", f"SLACK_WEBHOOK_URL {NOT_IPV6}"),
        ("TWILIO_TASKROUTER_BASE_URL", "https://[::1", f"TWILIO_TASKROUTER_BASE_URL {NOT_IPV6}"),
        (
            "TWILIO_ACCOUNTS",
            ACCOUNT + '"slack_webhook_url": "https://[::1/services/T0/B0/SECRET"}}',
            f"TWILIO_ACCOUNTS account #1: slack_webhook_url {NOT_IPV6}",
        ),
    ],
)
def test_a_url_with_a_bad_ipv6_bracket_is_refused_in_one_line_unechoed(name, value, message):
    said = refusal({name: value})
    assert said == message
    assert "SECRET" not in said


def test_a_webhook_url_with_a_bad_ipv6_bracket_stops_the_start_with_one_line_not_a_traceback():
    result = start("SLACK_WEBHOOK_URL", "https://[::1/services/T0/B0/SECRET")
    assert (result.returncode, result.stderr) == (3, f"guard: configuration error: SLACK_WEBHOOK_URL {NOT_IPV6}\n")


NOT_JSON = "TWILIO_ACCOUNTS is not valid JSON"
DEEP = "[" * 5000 + "]" * 5000


@pytest.mark.parametrize("document", [DEEP, ACCOUNT + '"workspaces": ' + DEEP + "}}"])
def test_a_deeply_nested_twilio_accounts_is_refused_as_not_valid_json(document):
    assert refusal({"TWILIO_ACCOUNTS": document}) == NOT_JSON


def test_a_deeply_nested_twilio_accounts_stops_the_start_with_one_line_not_a_traceback():
    result = start("TWILIO_ACCOUNTS", DEEP)
    assert (result.returncode, result.stderr) == (3, f"guard: configuration error: {NOT_JSON}\n")


NOT_A_HOST = "HOST must be an IP address or a host name"


@pytest.mark.parametrize(
    "host",
    ["x..y", "a" * 64, "a." + "b" * 64 + ".c", ".".join(["a" * 63] * 4) + ".b"],  # the last: 257 characters
)
def test_a_host_name_with_an_empty_or_overlong_label_is_refused(host):
    assert refusal({"HOST": host}) == NOT_A_HOST


@pytest.mark.parametrize("host", ["a" * 63, "a" * 63 + ".example.", "my_host", "localhost."])
def test_a_host_name_of_full_length_labels_is_still_taken(host):
    assert Settings.from_env({**BASE, "HOST": host}).host == host


def test_a_host_idna_cannot_encode_stops_the_start_with_one_line_naming_host():
    result = start("HOST", "x..y")
    assert (result.returncode, result.stderr) == (3, f"guard: configuration error: {NOT_A_HOST}\n")


def test_check_bind_names_host_when_idna_cannot_encode_it():
    from guard.web import check_bind

    with pytest.raises(ConfigError, match=r"^HOST "):
        check_bind("x..y", 25602, [], {})
