"""Values that crashed the start, or that libpq refuses at every connection: one line naming them, exit 3."""

import shutil
import subprocess
import sys

import pytest

from guard.config import ConfigError, Settings
from tests.processes import ROOT, flask_cli

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


REFUSED = "DATABASE_URL has a value PostgreSQL refuses for its option"
SEVERAL_HOSTS = (
    "DATABASE_URL names several hosts in its netloc, which SQLAlchemy cannot read: "
    "write them as ?host=h1,h2&port=5432,5433"
)


@pytest.mark.parametrize(
    ("query", "option"),
    [
        ("sslmode=disable,require", "sslmode"),  # one value: a comma lists hosts' values only for host, hostaddr, port
        ("target_session_attrs=any,read-write", "target_session_attrs"),
        ("keepalives_count=4294967297", "keepalives_count"),  # libpq's integers are 32-bit
        ("tcp_user_timeout=99999999999", "tcp_user_timeout"),
        ("keepalives=2147483648", "keepalives"),
        ("keepalives_idle=-5", "keepalives_idle"),  # libpq sets it as 0, which Linux refuses at every connection
        ("keepalives_interval=0", "keepalives_interval"),
        ("keepalives_count=-1", "keepalives_count"),
    ],
)
def test_a_database_option_libpq_refuses_at_every_connection_stops_the_start(query, option):
    assert refusal({"DATABASE_URL": f"postgres://u:SECRET@db/guard?{query}"}) == f"{REFUSED} {option}"


def test_several_hosts_in_the_netloc_are_refused_with_the_form_that_works():
    said = refusal({"DATABASE_URL": "postgresql://u:SECRET@h1:5432,h2:5433/db"})
    assert said == SEVERAL_HOSTS


@pytest.mark.parametrize(
    "query",
    ["port=5432,5433", "host=a,b&port=5432,5432,5432", "host=a,b&port=5432", "hostaddr=1.1.1.1,2.2.2.2&port=1,2"],
)
def test_ports_that_do_not_match_the_hosts_are_refused_in_one_line(query):
    said = refusal({"DATABASE_URL": f"postgresql://u:SECRET@h/db?{query}"})
    assert said == (
        "DATABASE_URL has a port for each host (of host=, not hostaddr=), or none: "
        "the numbers of hosts and ports differ"
    )


@pytest.mark.parametrize("query", ["host=a&host=b&port=1&port=2", "host=a:1&host=b:2&port=1,2"])
def test_two_forms_of_several_hosts_mixed_are_refused_with_both_forms_that_work(query):
    said = refusal({"DATABASE_URL": f"postgresql://u:SECRET@/db?{query}"})
    assert said == (
        "DATABASE_URL mixes two forms of several hosts: give ?host=h1,h2&port=p1,p2 or ?host=h1:p1&host=h2:p2"
    )


@pytest.mark.parametrize(
    "url",
    [
        "postgres://u:p@host:5432/db?sslmode=require",  # Heroku's
        "postgresql://u:p@/db?host=h1,h2&port=5432,5433",
        "postgresql://u:p@/db?hostaddr=10.0.0.1,10.0.0.2&host=a,b",
        "postgresql://u@db/guard?options=-c%20statement_timeout%3D5000",
        "postgresql://u@/guard?host=/var/run/postgresql",
        "postgresql://u@db/guard?connect_timeout=-5",  # psycopg then waits its own default: it connects
        "postgresql://u@db/guard?connect_timeout=99999999999",  # psycopg reads it, not libpq
        "postgresql://u@db/guard?tcp_user_timeout=-5&keepalives=-1",  # libpq takes them as 0 (the system's default)
        "postgresql://u@db/guard?keepalives_count=2147483647&tcp_user_timeout=-2147483648",
        "postgresql://u@db/guard?keepalives_idle=1&keepalives_interval=1&keepalives_count=+1",
    ],
)
def test_what_libpq_connects_with_is_still_taken(url):
    Settings.from_env({**BASE, "DATABASE_URL": url})


def test_check_takes_a_blank_identity_policy_as_the_default_as_the_service_does():
    result = flask_cli("check", "--email", "a@b.example", "--contact-uri", "client:a_40b_2Eexample",
                       IDENTITY_POLICY="   ")  # fmt: skip
    assert (result.returncode, result.stderr) == (0, "")
    assert Settings.from_env({**BASE, "IDENTITY_POLICY": "   "}).identity_policy.value == "flex"


def test_make_run_refuses_with_the_one_line_and_only_make_s_own_note():
    make = shutil.which("make")
    if make is None:
        pytest.skip("make is not installed")
    venv = sys.prefix  # the running interpreter's: nothing installed, whatever the files' times say
    env = {"PATH": "/usr/bin:/bin", "PORT": "25603", "TWILIO_AUTH_TOKEN": "t", "HISTORY_DAYS": "x"}
    result = subprocess.run([make, f"VENV={venv}", "-o", f"{venv}/bin/.installed", "run"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=30)  # fmt: skip
    line = "guard: configuration error: HISTORY_DAYS must be a whole number from 0 to 36500"
    assert (result.stdout, result.stderr.splitlines()[0]) == ("", line)
    assert [note.rpartition(" ")[2] for note in result.stderr.splitlines()[1:]] == ["3"]  # make's `… Error 3`
    assert result.returncode == 2  # make's own code for any failed recipe


def test_ports_inside_a_list_of_hosts_are_refused_with_both_forms_that_work():
    said = refusal({"DATABASE_URL": "postgresql://u:SECRET@/db?host=db1:5432,db2:5433"})  # libpq: no host "db1:5432"
    assert said == (
        "DATABASE_URL puts a port inside a list of ?host=: give ?host=h1,h2&port=p1,p2 or ?host=h1:p1&host=h2:p2"
    )
