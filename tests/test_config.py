"""Configuration is read once from the environment and rejected with one line naming the variable."""

import json
from datetime import timedelta

import pytest

from guard.config import ConfigError, Settings

BASE = {"TWILIO_AUTH_TOKEN": "secret-token"}
NOT_A_RULE = "is neither a worker SID (WK and 32 hex digits) nor an email glob"
NO_SPACES = "must not contain spaces, control or non-ASCII characters"
INTENDED = "INTENDED_CONTACT_URIS entry"
EVERY_FLEX_VALUE = "matches Flex values (client:…) or their drift, so the guard would not alert on them"
JOINED = "joins two values with ';': separate them with commas"
NO_USERINFO = "must not carry a user name or password (user:password@): its HTTP client would quote them in errors"
NOT_A_FILE = "DATABASE_URL must name a SQLite file, such as sqlite:///instance/guard.db"
BAD_PORT = "has a port that is not a number from 0 to 65535"
NOT_BASE = "must be a base URL (https://host, or https://host/path), with no query or fragment"


def test_defaults_are_safe():
    settings = Settings.from_env(BASE)
    assert settings.validate_signature is True
    assert settings.trust_proxy is False
    assert settings.remediate == "off"
    assert settings.alert_repeat is None
    assert settings.history == timedelta(days=90)  # finished records are forgotten, not kept for ever
    assert settings.database_url is None  # the SQLite file under instance/


REFUSED = "DATABASE_URL has a value PostgreSQL refuses for its option"


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("TWILIO_VALIDATE_SIGNATURE", "maybe", "TWILIO_VALIDATE_SIGNATURE must be true or false"),
        ("ALERT_REPEAT_HOURS", "-1", "ALERT_REPEAT_HOURS must be a number from 0 to 8760"),
        ("ALERT_REPEAT_HOURS", "1e400", "ALERT_REPEAT_HOURS must be a number from 0 to 8760"),
        ("ALERT_REPEAT_HOURS", "nan", "ALERT_REPEAT_HOURS must be a number from 0 to 8760"),
        ("ALERT_REPEAT_HOURS", "100000000", "ALERT_REPEAT_HOURS must be a number from 0 to 8760"),
        ("HISTORY_DAYS", "-1", "HISTORY_DAYS must be a whole number from 0 to 36500"),
        ("HISTORY_DAYS", "1.5", "HISTORY_DAYS must be a whole number from 0 to 36500"),
        ("HISTORY_DAYS", "ninety", "HISTORY_DAYS must be a whole number from 0 to 36500"),
        ("TWILIO_API_RETRIES", "1000000000", "TWILIO_API_RETRIES must be a whole number from 0 to 20"),
        ("MAX_BODY_BYTES", "inf", "MAX_BODY_BYTES must be a whole number from 1024 to 1000000000"),
        ("MAX_BODY_BYTES", "2048.9", "MAX_BODY_BYTES must be a whole number from 1024 to 1000000000"),
        ("MAX_BODY_BYTES", "1e6", "MAX_BODY_BYTES must be a whole number from 1024 to 1000000000"),
        ("SLACK_TIMEOUT_SECONDS", "soon", "SLACK_TIMEOUT_SECONDS must be a number"),
        ("REMEDIATE", "fix", "REMEDIATE must be one of: off, remove"),
        ("IDENTITY_POLICY", "strict", "IDENTITY_POLICY must be one of: flex, email"),
        ("SLACK_WEBHOOK_URL", "hooks.slack.com/T/B/SECRET", "SLACK_WEBHOOK_URL must be an http:// or https:// URL"),
        ("PUBLIC_BASE_URL", "guard.example.com", "PUBLIC_BASE_URL must be an http:// or https:// URL"),
        ("SLACK_WEBHOOK_URL", "https://relay:SECRET@h/services/T/B/X", f"SLACK_WEBHOOK_URL {NO_USERINFO}"),
        ("TWILIO_TASKROUTER_BASE_URL", "https://u:SECRET@h", f"TWILIO_TASKROUTER_BASE_URL {NO_USERINFO}"),
        ("MAX_BODY_BYTES", "10", "MAX_BODY_BYTES must be a whole number from 1024 to 1000000000"),
        ("INTENDED_CONTACT_URIS", "*", f"{INTENDED} 1 {EVERY_FLEX_VALUE}"),
        ("INTENDED_CONTACT_URIS", "sip:*@pbx.example.com, client:*", f"{INTENDED} 2 {EVERY_FLEX_VALUE}"),
        ("INTENDED_CONTACT_URIS", "sip:*@pbx.example.com;+1*", f"{INTENDED} 1 {JOINED}"),
        ("INTENDED_CONTACT_URIS", "+1*; sip:*", f"{INTENDED} 1 {JOINED}"),
        ("INTENDED_CONTACT_URIS", "client:*_40*", f"{INTENDED} 1 {EVERY_FLEX_VALUE}"),  # every email's value
        ("INTENDED_CONTACT_URIS", "*@*", f"{INTENDED} 1 {EVERY_FLEX_VALUE}"),  # the raw-email drift
        ("INTENDED_CONTACT_URIS", "*@pbx1.example.com;*@pbx2.example.com", f"{INTENDED} 1 {JOINED}"),
        ("INTENDED_CONTACT_URIS", "4420*;4430*", f"{INTENDED} 1 {JOINED}"),
        ("DATABASE_POOL_SIZE", "1", "DATABASE_POOL_SIZE must be a whole number from 2 to 100"),
        ("DATABASE_POOL_SIZE", "many", "DATABASE_POOL_SIZE must be a whole number from 2 to 100"),
        ("DATABASE_URL", "nonsense", "DATABASE_URL must be a sqlite:///… or postgres://… URL"),
        ("DATABASE_URL", "mysql://SECRET@db/guard", "DATABASE_URL must be a sqlite:///… or postgres://… URL"),
        ("PORT", "99999", "PORT must be a whole number from 0 to 65535"),
        ("SLACK_TIMEOUT_SECONDS", "1e9", "SLACK_TIMEOUT_SECONDS must be a number from 0.1 to 60"),
        ("ALERT_RETRY_MAX_SECONDS", "1e9", "ALERT_RETRY_MAX_SECONDS must be a number from 0.01 to 86400"),
        ("PORT", "abc", "PORT must be a whole number from 0 to 65535"),
        ("PORT", "-5", "PORT must be a whole number from 0 to 65535"),
        ("TWILIO_ACCOUNT_SID", "ACSECRET", "TWILIO_ACCOUNT_SID must be a SID: AC and 32 hex digits"),
        ("TWILIO_WORKSPACE_SID", "WS123", "TWILIO_WORKSPACE_SID must be a SID: WS and 32 hex digits"),
        ("TWILIO_API_RETRIES", "2.7", "TWILIO_API_RETRIES must be a whole number from 0 to 20"),
        ("PORT", "8e3", "PORT must be a whole number from 0 to 65535"),
        ("PORT", "8_000", "PORT must be a whole number from 0 to 65535"),
        ("CAUSE_WAIT_SECONDS", "100", "CAUSE_WAIT_SECONDS must be a number from 0 to 30"),
        ("DATABASE_URL", "Postgres://SECRET@db/guard", "DATABASE_URL must be a sqlite:///… or postgres://… URL"),
        (
            "DATABASE_URL",
            "postgres://u:SECRET@db:notaport/guard",
            "DATABASE_URL has a port that is not a number from 0 to 65535",
        ),
        ("SLACK_WEBHOOK_URL", "https://hooks.slack.com/services/T/B/SLACK SECRET", "SLACK_WEBHOOK_URL " + NO_SPACES),
        ("SLACK_WEBHOOK_URL", "https://hooks.slack.com/services/T/B\tSECRET", "SLACK_WEBHOOK_URL " + NO_SPACES),
        ("SLACK_WEBHOOK_URL", "https://hooks.slack.com:abc/services/SECRET", "SLACK_WEBHOOK_URL " + BAD_PORT),
        ("DATABASE_URL", "sqlite:///", "DATABASE_URL must name a SQLite file, such as sqlite:///instance/guard.db"),
        (
            "DATABASE_URL",
            "sqlite:///:memory:",
            "DATABASE_URL must name a SQLite file, such as sqlite:///instance/guard.db",
        ),
        ("IGNORE_WORKERS", "*@x.example, WK" + "0" * 31, "IGNORE_WORKERS entry 2 " + NOT_A_RULE),
        ("IGNORE_WORKERS", "wk" + "0" * 32, "IGNORE_WORKERS entry 1 " + NOT_A_RULE),
        ("IGNORE_WORKERS", "contractors.example.com", "IGNORE_WORKERS entry 1 " + NOT_A_RULE),
        ("TWILIO_API_KEY", "SECRET", "TWILIO_API_KEY must be a SID: SK or AC and 32 hex digits"),
        ("IGNORE_WORKERS", "WK" + "0" * 32 + "; *@x.example", "IGNORE_WORKERS entry 1 " + JOINED),
        ("IGNORE_WORKERS", "*@a.example;*@b.example", "IGNORE_WORKERS entry 1 " + JOINED),
        ("IGNORE_WORKERS", "@contractors.example.com", "IGNORE_WORKERS entry 1 " + NOT_A_RULE),
        ("DATABASE_URL", "sqlite:///file:mem1?mode=memory&uri=true", NOT_A_FILE),
        ("DATABASE_URL", "sqlite:///file::memory:?uri=true", NOT_A_FILE),
        ("SLACK_WEBHOOK_URL", "https://hooks.slack.com/services/T/B/SE\u00a0CRET", "SLACK_WEBHOOK_URL " + NO_SPACES),
        ("SLACK_WEBHOOK_URL", "https://hooks.slack.com/services/T/B/SE\u2028CRET", "SLACK_WEBHOOK_URL " + NO_SPACES),
        ("HOST", "garbage host", "HOST must be an IP address or a host name"),
        ("HOST", "999.1.1.1", "HOST must be an IP address or a host name"),
        ("METRICS_TOKEN", "SECRET-é", "METRICS_TOKEN must be printable ASCII"),
        (  # the driver ends the password at the first @, and its errors name the rest as the host
            "DATABASE_URL",
            "postgresql://u:SEC@RETpw@127.0.0.1:5999/db",
            "DATABASE_URL has an @ in its user or password: write it as %40",
        ),
        ("TWILIO_AUTH_TOKEN", "tok\u2019SECRET", "TWILIO_AUTH_TOKEN must be printable ASCII"),  # a pasted ’
        ("STATUS_USER", "ops:SECRET", "STATUS_USER must be UTF-8 text without ':' or control characters"),
        ("STATUS_PASSWORD", "pä\x01SECRET", "STATUS_PASSWORD must be UTF-8 text without control characters"),
        ("STATUS_PASSWORD", "p\udce4SECRET", "STATUS_PASSWORD must be UTF-8 text without control characters"),
        ("STATUS_PASSWORD", "pass\x85SECRET", "STATUS_PASSWORD must be UTF-8 text without control characters"),
        ("STATUS_USER", "ad\u2028SECRET", "STATUS_USER must be UTF-8 text without ':' or control characters"),
        ("SLACK_SIGNING_SECRET", "s\u00e9cret\x01SECRET", "SLACK_SIGNING_SECRET must be printable ASCII"),
        ("AVAILABLE_ACTIVITIES", ",,,", "AVAILABLE_ACTIVITIES must name at least one activity"),
        ("PUBLIC_BASE_URL", "https://guard.example.com:abc", "PUBLIC_BASE_URL " + BAD_PORT),
        ("PUBLIC_BASE_URL", "https://guard.example.com:99999", "PUBLIC_BASE_URL " + BAD_PORT),
        ("PUBLIC_BASE_URL", "https://guard.example.com/?SECRET=1", "PUBLIC_BASE_URL " + NOT_BASE),
        ("TWILIO_TASKROUTER_BASE_URL", "https://taskrouter.twilio.com:abc", "TWILIO_TASKROUTER_BASE_URL " + BAD_PORT),
        (
            "DATABASE_URL",
            "postgres://u:SECRET@db:99999/guard",
            "DATABASE_URL has a port that is not a number from 0 to 65535",
        ),
        (  # libpq would refuse it at every connection, and the service would look down, not misconfigured
            "DATABASE_URL",
            "postgres://u:SECRET@db/guard?sslmode=SECRET",
            "DATABASE_URL has a value PostgreSQL refuses for its option sslmode",
        ),
        *(  # each host's in a list too (a second port)
            ("DATABASE_URL", f"postgres://u:SECRET@db/guard?{query}=SECRET", f"{REFUSED} {query.rpartition('&')[2]}")
            for query in ("connect_timeout", "target_session_attrs", "keepalives", "hostaddr", "port=5432&port")
        ),
        (
            "DATABASE_URL",
            "postgres://u:SECRET@db/guard?sslmod=SECRET",
            "DATABASE_URL has an option PostgreSQL does not know: sslmod",
        ),
    ],
)
def test_bad_values_name_the_variable_and_never_echo_it(name, value, message):
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({**BASE, name: value})
    assert str(caught.value) == message
    assert "SECRET" not in str(caught.value).replace(name, "")


@pytest.mark.parametrize(
    ("name", "value"),
    [("IGNORE_WORKERS", "WK" + "0" * 32 + ", *@x.example"), ("HOST", "0.0.0.0"), ("HOST", "::"),  # noqa: S104
     ("HOST", "localhost"), ("HOST", "guard-1.internal"), ("STATUS_USER", "ops team"), ("METRICS_TOKEN", "a-b_c.d~1"),
     ("METRICS_TOKEN", "correct horse battery staple"), ("METRICS_TOKEN", "q0Xk+/9a=="), ("HOST", "localhost."),
     ("HOST", "my_host"), ("HOST", "fe80::1%eth0"), ("IGNORE_WORKERS", "dana.scully@fbi.example, *contractor*"),
     ("DATABASE_URL", "postgresql://u:pa/ss?w#d@db:5432/guard"), ("DATABASE_URL", "postgresql://u:p%40ss@db/guard"),
     ("INTENDED_CONTACT_URIS", "sip:*@pbx.example.com;transport=tls, +1*, client:support-desk, client:support-*"),
     ("INTENDED_CONTACT_URIS", "tel:*;phone-context=+1*, sip:+1*;npdi;rn=+1*@gw.example.com, sip:*;transport=*"),
     ("DATABASE_POOL_SIZE", "2"),
     ("DATABASE_URL", "postgres://u@/guard?host=a,b&port=5432,5433&sslmode=require&target_session_attrs=read-write"),
     ("DATABASE_URL", "postgres://u@db/guard?sslmode=&options=-csearch_path%3Dx&sslrootcert=system&connect_timeout=9"),
     ("DATABASE_URL", "postgres://u@db/guard?hostaddr=10.0.0.5&keepalives=1&gssencmode=disable&application_name=g"),
     ("PUBLIC_BASE_URL", "https://relay:pw@guard.example.com")],  # as set in Twilio, behind a proxy's Basic auth
)  # fmt: skip
def test_good_values_of_the_checked_settings_are_taken(name, value):
    Settings.from_env({**BASE, name: value})


@pytest.mark.parametrize("key", ["AC" + "0" * 32, "SK" + "0" * 32])  # the account SID with its auth token works too
def test_an_api_key_is_taken_with_its_secret_and_refused_without(key):
    assert Settings.from_env({**BASE, "TWILIO_API_KEY": key, "TWILIO_API_SECRET": "s3cret"}).api_key == key
    with pytest.raises(ConfigError, match=r"^TWILIO_API_KEY is set without TWILIO_API_SECRET: set both, or neither$"):
        Settings.from_env({**BASE, "TWILIO_API_KEY": key})  # REST was off without a word: no buttons, no lookups


def test_an_api_secret_without_its_key_is_refused_as_twilio_accounts_refuses_it():
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({**BASE, "TWILIO_API_SECRET": "hunter2"})
    assert str(caught.value) == "TWILIO_API_SECRET is set without TWILIO_API_KEY: set both, or neither"


def test_an_api_secret_that_is_no_printable_ascii_stops_the_start_unechoed():
    with pytest.raises(ConfigError) as caught:  # the API's basic auth could not send it: every call would fail
        Settings.from_env({**BASE, "TWILIO_API_KEY": "SK" + "0" * 32, "TWILIO_API_SECRET": "s3cr\u00e9t"})
    assert str(caught.value) == "TWILIO_API_SECRET must be printable ASCII"


def test_auth_token_is_required_unless_validation_is_explicitly_off():
    with pytest.raises(ConfigError, match="TWILIO_AUTH_TOKEN is not set"):
        Settings.from_env({})
    assert Settings.from_env({"TWILIO_VALIDATE_SIGNATURE": "false"}).validate_signature is False


def test_secrets_stay_out_of_repr():
    settings = Settings.from_env({**BASE, "SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T/B/SECRET"})
    assert "secret-token" not in repr(settings)
    assert "SECRET" not in repr(settings)


def test_turning_signatures_off_logs_a_loud_warning(tmp_path, capsys):
    from handlers.app import create_app

    create_app(Settings(database_url=f"sqlite:///{tmp_path}/g.db", validate_signature=False))
    assert '"level": "warning"' in capsys.readouterr().out.split("SIGNATURE VALIDATION IS OFF")[0].splitlines()[-1]


def test_remediate_remove_needs_rest_credentials_at_start():
    with pytest.raises(ConfigError, match=r"^REMEDIATE=remove: TWILIO_ACCOUNT_SID is not set"):
        Settings.from_env({**BASE, "REMEDIATE": "remove"})
    settings = Settings.from_env({**BASE, "REMEDIATE": "remove", "TWILIO_ACCOUNT_SID": "AC" + "1" * 32})
    assert settings.accounts[0].credentials().password == "secret-token"


@pytest.mark.parametrize(
    ("env", "bind"),
    [
        ({}, "127.0.0.1:8000"),
        ({"PORT": "8001"}, "127.0.0.1:8001"),  # port 8000 taken: the demo moves and stays on loopback
        ({"PORT": "8001", "HOST": "0.0.0.0"}, "0.0.0.0:8001"),  # noqa: S104 - asked for
        ({"HOST": "::"}, "[::]:8000"),
        ({"PORT": "31337", "DYNO": "web.1"}, "0.0.0.0:31337"),  # a Heroku dyno: only its router reaches the port
    ],
)
def test_host_and_port_are_separate_and_only_a_dyno_or_host_listens_beyond_loopback(env, bind):
    assert Settings.from_env({**BASE, **env}).bind == bind


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ('{"SECRETxyz": {}}', "TWILIO_ACCOUNTS key #1 is not an Account SID (AC…)"),
        (
            '{"AC' + "a" * 32 + '": {"auth_token": "t", "SECRET": "x"}}',
            "TWILIO_ACCOUNTS account #1 has 1 unknown key (known: api_key, api_secret, auth_token, name, "
            "previous_auth_token, slack_webhook_url, workspaces)",
        ),
        (
            '{"AC' + "a" * 32 + '": {"auth_token": "t", "workspaces": ["SECRET"]}}',
            "TWILIO_ACCOUNTS account #1: workspace #1 is not a Workspace SID (WS…) with a name",
        ),
        *(
            (
                '{"AC' + "a" * 32 + '": {"auth_token": "t", "workspaces": ["WS' + "b" * 32 + '", ' + item + "]}}",
                "TWILIO_ACCOUNTS account #1: workspace #2 is not a Workspace SID (WS…) with a name",
            )
            for item in ('["SECRET"]', '{"SECRET": 1}', "null")
        ),
    ],
)
def test_twilio_accounts_errors_say_where_and_never_echo_a_key_or_value(document, message):
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({**BASE, "TWILIO_ACCOUNTS": document})
    assert str(caught.value) == message


def test_what_the_engine_takes_is_accepted_and_a_whole_number_may_be_written_as_one():
    url = "sqlite+pysqlite:////tmp/guard.db"
    assert Settings.from_env({**BASE, "DATABASE_URL": url}).database_url == url
    assert Settings.from_env({**BASE, "TWILIO_API_RETRIES": "5.0"}).api_retries == 5


def test_history_days_zero_keeps_every_finished_record():
    assert Settings.from_env({**BASE, "HISTORY_DAYS": "0"}).history is None
    assert Settings.from_env({**BASE, "HISTORY_DAYS": "30"}).history == timedelta(days=30)


@pytest.mark.parametrize("path", ["/taskrouter/events", "/event-streams/", "/slack/interactions"])
def test_a_public_base_url_naming_a_callback_path_is_refused(path):
    # The guard signs base + the request's path: the whole callback URL there failed every signature (403)
    with pytest.raises(ConfigError, match=r"^PUBLIC_BASE_URL ends in one of the guard's own paths"):
        Settings.from_env({**BASE, "PUBLIC_BASE_URL": f"https://guard.example.com{path}"})
    assert Settings.from_env({**BASE, "PUBLIC_BASE_URL": "https://guard.example.com/guard"}).public_base_url


def test_a_sid_typed_with_uppercase_hex_is_taken_as_twilio_writes_it():
    # Events carry lowercase hex: an `ACAB…` setting matched no event (403), an IGNORE_WORKERS SID no worker
    upper = {"TWILIO_ACCOUNT_SID": "AC" + "AB" * 16, "TWILIO_WORKSPACE_SID": "WS" + "CD" * 16}
    settings = Settings.from_env({**BASE, **upper, "IGNORE_WORKERS": "WK" + "EF" * 16})
    assert (settings.account_sid, settings.workspace_sid) == ("AC" + "ab" * 16, "WS" + "cd" * 16)
    assert settings.ignore.match("WK" + "ef" * 16, None) is not None


@pytest.mark.parametrize("glob", ["*", "*@*", "*@*.*", "?*@*"])
def test_an_ignore_workers_glob_that_matches_every_email_is_refused(glob):
    # The guard silently off for every agent, as INTENDED_CONTACT_URIS=* was before it was refused
    with pytest.raises(ConfigError, match="IGNORE_WORKERS entry 2 matches every email"):
        Settings.from_env({**BASE, "IGNORE_WORKERS": f"*@contractors.example.com, {glob}"})


def test_null_for_an_optional_field_of_twilio_accounts_is_taken_as_absent():
    """Config generators (Terraform's jsonencode) write null for a field left unset."""
    workspace = "WS" + "b" * 32
    document = {
        "AC" + "a" * 32: {
            "auth_token": "t", "name": None, "slack_webhook_url": None, "api_key": None, "api_secret": None,
            "workspaces": {workspace: None},
        }
    }  # fmt: skip
    [account] = Settings.from_env({"TWILIO_ACCOUNTS": json.dumps(document)}).accounts
    assert (account.name, account.slack_webhook_url, account.api_key, account.workspaces) == (
        "",
        None,
        None,
        {workspace: ""},
    )
    with pytest.raises(ConfigError, match="auth_token is missing"):
        Settings.from_env({"TWILIO_ACCOUNTS": json.dumps({"AC" + "a" * 32: {"auth_token": None}})})


def test_a_previous_auth_token_is_kept_for_signatures_only_and_out_of_repr():
    """Rotating the token: REST calls use the new one; signatures made with either verify until Twilio promotes it."""
    settings = Settings.from_env({**BASE, "TWILIO_AUTH_TOKEN_PREVIOUS": " old-token "})
    [account] = settings.accounts
    assert account.signing_tokens == ("secret-token", "old-token")
    assert "old-token" not in repr(settings) and "old-token" not in repr(account)
    listed = {"AC" + "a" * 32: {"auth_token": "new", "previous_auth_token": "old"}}
    [account] = Settings.from_env({"TWILIO_ACCOUNTS": json.dumps(listed)}).accounts
    assert account.signing_tokens == ("new", "old")


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"TWILIO_AUTH_TOKEN_PREVIOUS": "old"},
            "TWILIO_AUTH_TOKEN_PREVIOUS is set without TWILIO_AUTH_TOKEN: set it to the new token",
        ),
        ({**BASE, "TWILIO_AUTH_TOKEN_PREVIOUS": "\u00f6ld"}, "TWILIO_AUTH_TOKEN_PREVIOUS must be printable ASCII"),
        (
            {"TWILIO_ACCOUNTS": json.dumps({"AC" + "a" * 32: {"auth_token": "t", "previous_auth_token": "\u00f6"}})},
            "TWILIO_ACCOUNTS account #1: previous_auth_token must be printable ASCII",
        ),
    ],
)
def test_a_previous_auth_token_without_a_token_or_not_ascii_stops_the_start(env, message):
    with pytest.raises(ConfigError) as caught:
        Settings.from_env(env)
    assert str(caught.value) == message
