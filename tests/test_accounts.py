"""Several Twilio accounts in one deployment: TWILIO_ACCOUNTS, signatures, Slack routing, audits."""

import json
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from guard.adapters.accounts import AccountDirectory
from guard.adapters.tables import alert
from guard.config import ConfigError, Settings
from guard.config.accounts import parse_accounts
from guard.core.click import Action, Click
from guard.core.snapshot import WorkerKey
from tests.fakes.slack import FakeSlack
from tests.helpers import cloudevent, email, populate, post_cloudevents, stored_state, worker_event, worker_sid
from tests.test_status import OPERATOR, PASSWORD

PROD, STAGING, STRANGER = "AC" + "1" * 32, "AC" + "2" * 32, "AC" + "3" * 32
PROD_WS, STAGING_WS = "WS" + "1" * 32, "WS" + "2" * 32
PROD_TOKEN, STAGING_TOKEN = "prod-token-aaaaaaaaaaaaaaaa", "staging-token-bbbbbbbbbbbbbb"


def accounts(prod_slack=None, staging_slack=None):
    """Two accounts, each with a token, a named workspace and optionally its own Slack webhook."""
    document = {
        PROD: {"name": "Production", "auth_token": PROD_TOKEN, "workspaces": {PROD_WS: "Flex prod"}},
        STAGING: {"name": "Staging", "auth_token": STAGING_TOKEN, "workspaces": [STAGING_WS]},
    }
    if prod_slack:
        document[PROD]["slack_webhook_url"] = prod_slack
    if staging_slack:
        document[STAGING]["slack_webhook_url"] = staging_slack
    return parse_accounts(json.dumps(document))


@pytest.fixture
def two_slacks():
    """A Slack stub for each account."""
    stubs = FakeSlack().start(), FakeSlack().start()
    yield stubs
    for stub in stubs:
        stub.stop()


@pytest.fixture
def settings_overrides(request):
    """Two accounts and no single-account token; `with_slack` / `with_api` wire the stubs in."""
    overrides = {"auth_token": None, "listed_accounts": accounts()}
    if getattr(request, "param", None) == "with_slack":
        prod_slack, staging_slack = request.getfixturevalue("two_slacks")
        overrides["listed_accounts"] = accounts(prod_slack.url, staging_slack.url)
    if getattr(request, "param", None) == "shared_slack":  # both accounts post to the one SLACK_WEBHOOK_URL
        overrides["slack_webhook_url"] = request.getfixturevalue("two_slacks")[0].url
    if getattr(request, "param", None) == "no_workspaces":
        overrides["listed_accounts"] = parse_accounts(json.dumps({PROD: {"auth_token": PROD_TOKEN}}))
    if getattr(request, "param", None) == "with_status":
        overrides["status_password"] = PASSWORD
    if getattr(request, "param", None) == "with_api":
        overrides["taskrouter_base_url"] = request.getfixturevalue("fake_api").url
    return overrides


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("{not json", "TWILIO_ACCOUNTS is not valid JSON"),
        ("[]", "TWILIO_ACCOUNTS must be a non-empty JSON object keyed by Account SID"),
        ('{"prod": {}}', "TWILIO_ACCOUNTS key #1 is not an Account SID (AC…)"),
        (
            f'{{"{PROD}": {{"auth_token": "A"}}, "{PROD}": {{"auth_token": "SECRET"}}}}',
            "TWILIO_ACCOUNTS repeats a key: entry #2 of an object names one named before it",
        ),
        (json.dumps({PROD: {"name": "x"}}), "TWILIO_ACCOUNTS account #1: auth_token is missing"),
        (json.dumps({PROD: {"auth_token": "SECRET", "workspaces": ["WS1"]}}), "is not a Workspace SID"),
        (json.dumps({PROD: {"auth_token": "SECRET", "api_key": "SK1"}}), "needs both api_key and api_secret"),
        (
            json.dumps({PROD: {"auth_token": "A", "api_key": "SK1", "api_secret": "SECRET"}}),
            "api_key must be an SK… or AC… SID",
        ),
        (json.dumps({PROD: {"auth_token": "A", "slack_webhook_url": "https://h/SECRET x"}}), "must not contain spaces"),
        (json.dumps({PROD: {"auth_token": "SECRET", "slack_webhook_url": "SECRET"}}), "must be an http:// or https://"),
        (json.dumps({PROD: {"auth_token": "A", "slack_webhook_url": "https://u:SECRET@h/x"}}), "user name or password"),
        (json.dumps({PROD: {"auth_token": "SECRET", "token": "x"}}), "has 1 unknown key (known: api_key"),
        (json.dumps({PROD: {"auth_token": "tok\u2019SECRET"}}), "account #1: auth_token must be printable ASCII"),
        (
            json.dumps(
                {
                    PROD: {"auth_token": "A", "workspaces": [PROD_WS]},
                    STAGING: {"auth_token": "B", "workspaces": [PROD_WS]},
                }
            ),
            f"TWILIO_ACCOUNTS lists workspace {PROD_WS} under accounts #1 and #2",
        ),
        (
            json.dumps({PROD: {"auth_token": "A", "api_key": "SK" + "0" * 32, "api_secret": "SECRET\u00e9"}}),
            "account #1: api_secret must be printable ASCII",
        ),
    ],
)
def test_bad_twilio_accounts_stop_the_start_with_one_clear_line(raw, message):
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({"TWILIO_ACCOUNTS": raw})
    assert message in str(caught.value)
    assert "SECRET" not in str(caught.value)


def test_single_account_variables_keep_working_next_to_twilio_accounts():
    env = {"TWILIO_ACCOUNTS": json.dumps({PROD: {"auth_token": PROD_TOKEN}})}
    env |= {"TWILIO_ACCOUNT_SID": STAGING, "TWILIO_AUTH_TOKEN": STAGING_TOKEN, "TWILIO_WORKSPACE_SID": STAGING_WS}
    settings = Settings.from_env(env)
    assert [a.sid for a in settings.accounts] == [PROD, STAGING]
    accounts = AccountDirectory(settings)
    assert accounts.account_for(STAGING).auth_token == STAGING_TOKEN
    assert accounts.account_for(STRANGER) is None
    assert accounts.audit_targets() == [(settings.accounts[1], STAGING_WS)]


def test_twilio_workspace_sid_joins_the_listed_entry_of_the_same_account():
    env = {"TWILIO_ACCOUNTS": json.dumps({PROD: {"auth_token": PROD_TOKEN, "workspaces": {STAGING_WS: "Other"}}})}
    env |= {"TWILIO_ACCOUNT_SID": PROD, "TWILIO_WORKSPACE_SID": PROD_WS}
    settings = Settings.from_env(env)
    assert [a.sid for a in settings.accounts] == [PROD]  # one account, its entry's token
    assert [workspace for _, workspace in AccountDirectory(settings).audit_targets()] == [STAGING_WS, PROD_WS]
    assert settings.accounts[0].auth_token == PROD_TOKEN


LISTED = json.dumps({PROD: {"auth_token": PROD_TOKEN, "workspaces": [PROD_WS]}, STAGING: {"auth_token": STAGING_TOKEN}})


@pytest.mark.parametrize(
    ("single", "line"),
    [
        ({"TWILIO_AUTH_TOKEN": "leftover"}, "TWILIO_AUTH_TOKEN next to TWILIO_ACCOUNTS names no account"),
        (
            {"TWILIO_API_KEY": "SK" + "1" * 32, "TWILIO_API_SECRET": "s", "TWILIO_WORKSPACE_SID": STAGING_WS},
            "TWILIO_API_KEY, TWILIO_API_SECRET and TWILIO_WORKSPACE_SID next to TWILIO_ACCOUNTS name no account",
        ),
        (
            {"TWILIO_ACCOUNT_SID": STRANGER, "TWILIO_API_KEY": "SK" + "1" * 32, "TWILIO_API_SECRET": "s"},
            "TWILIO_ACCOUNT_SID names an account TWILIO_ACCOUNTS does not list",
        ),  # an audit-only account, dropped
        (
            {"TWILIO_ACCOUNT_SID": STRANGER, "TWILIO_AUTH_TOKEN": "t", "TWILIO_WORKSPACE_SID": PROD_WS},
            "TWILIO_WORKSPACE_SID is listed under another account",
        ),
        (
            {"TWILIO_ACCOUNT_SID": STAGING, "TWILIO_WORKSPACE_SID": PROD_WS},
            "TWILIO_WORKSPACE_SID is listed under another",
        ),
        (
            {"TWILIO_ACCOUNT_SID": PROD, "TWILIO_AUTH_TOKEN": "another"},
            "TWILIO_AUTH_TOKEN differs from TWILIO_ACCOUNTS' entry",
        ),
        (
            {"TWILIO_ACCOUNT_SID": PROD, "TWILIO_API_KEY": "SK" + "1" * 32, "TWILIO_API_SECRET": "s"},
            "TWILIO_API_KEY and TWILIO_API_SECRET differ from TWILIO_ACCOUNTS' entry",
        ),
        ({"TWILIO_AUTH_TOKEN_PREVIOUS": "old"}, "TWILIO_AUTH_TOKEN_PREVIOUS next to TWILIO_ACCOUNTS names no account"),
        (  # a rotation is done in the entry (previous_auth_token), or the variable would be dropped
            {"TWILIO_ACCOUNT_SID": PROD, "TWILIO_AUTH_TOKEN_PREVIOUS": "old"},
            "TWILIO_AUTH_TOKEN_PREVIOUS differs from TWILIO_ACCOUNTS' entry",
        ),
        (  # a secret rotated in the single variable: the listed, revoked one was used without a word
            {"TWILIO_ACCOUNT_SID": STAGING, "TWILIO_API_KEY": "SK" + "2" * 32, "TWILIO_API_SECRET": "new"},
            "TWILIO_API_SECRET differs from TWILIO_ACCOUNTS' entry",
        ),
    ],
)
def test_single_account_variables_that_twilio_accounts_would_drop_or_cross_stop_the_start(single, line):
    keyed = {PROD: {"auth_token": PROD_TOKEN, "workspaces": [PROD_WS]}}
    keyed[STAGING] = {"auth_token": STAGING_TOKEN, "api_key": "SK" + "2" * 32, "api_secret": "old"}
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({"TWILIO_ACCOUNTS": json.dumps(keyed)} | single)
    assert str(caught.value).startswith(line)


def test_single_variables_equal_to_the_listed_entrys_own_start_during_a_rotation():
    # The same token pair set both ways (a README procedure followed twice) crosses nothing: only another value does
    entry = {"auth_token": PROD_TOKEN, "previous_auth_token": "old-primary", "workspaces": [PROD_WS]}
    env = {"TWILIO_ACCOUNTS": json.dumps({PROD: entry}), "TWILIO_ACCOUNT_SID": PROD}
    env |= {"TWILIO_AUTH_TOKEN": PROD_TOKEN, "TWILIO_AUTH_TOKEN_PREVIOUS": "old-primary"}
    (account,) = Settings.from_env(env).accounts
    assert account.signing_tokens == (PROD_TOKEN, "old-primary")


def test_secrets_in_twilio_accounts_are_trimmed_as_the_single_variables_are():
    listed = {PROD: {"auth_token": f" {PROD_TOKEN}\n", "api_key": "SK" + "1" * 32, "api_secret": " s3cret "}}
    (account,) = Settings.from_env({"TWILIO_ACCOUNTS": json.dumps(listed)}).accounts
    assert (account.auth_token, account.api_secret) == (PROD_TOKEN, "s3cret")  # a pasted space: 403 on every event


def test_a_listed_accounts_own_token_beside_twilio_accounts_starts():
    """The Heroku button asks for TWILIO_AUTH_TOKEN: a listed account's own, with its SID, is no conflict."""
    settings = Settings.from_env(
        {"TWILIO_ACCOUNTS": LISTED, "TWILIO_ACCOUNT_SID": PROD, "TWILIO_AUTH_TOKEN": PROD_TOKEN}
    )
    assert [(a.sid, a.auth_token) for a in settings.accounts] == [(PROD, PROD_TOKEN), (STAGING, STAGING_TOKEN)]


def test_each_account_signs_with_its_own_token(taskrouter, services):
    prod = worker_event(contact_uri="sip:x", AccountSid=PROD, WorkspaceSid=PROD_WS)
    staging = worker_event(contact_uri="sip:x", AccountSid=STAGING, WorkspaceSid=STAGING_WS)
    assert taskrouter.post(prod, token=PROD_TOKEN).status_code == 204
    assert taskrouter.post(staging, token=STAGING_TOKEN).status_code == 204
    assert stored_state(services, WorkerKey(PROD, PROD_WS, worker_sid(1)))["verdict"] == "mismatch"
    assert stored_state(services, WorkerKey(STAGING, STAGING_WS, worker_sid(1)))["verdict"] == "mismatch"


@pytest.mark.parametrize("settings_overrides", ["with_status"], indirect=True)
def test_the_status_page_says_whose_each_worker_is(taskrouter, client, services):
    # The same worker SID and value in two accounts read the same on /status: production's outage or staging's?
    for account, workspace, token in ((PROD, PROD_WS, PROD_TOKEN), (STAGING, STAGING_WS, STAGING_TOKEN)):
        event = worker_event(contact_uri="sip:x", AccountSid=account, WorkspaceSid=workspace)
        assert taskrouter.post(event, token=token).status_code == 204
    page = client.get("/status", headers=OPERATOR).get_data(as_text=True)
    rows = page.split('id="drift"')[1].split("<tbody>")[1].split("</tbody>")[0].split("<tr")[1:]
    assert sorted("Production" in row for row in rows) == [False, True]
    assert any(f"Production ({PROD}) · Flex prod" in row for row in rows)
    assert any(f"Staging ({STAGING}) · {STAGING_WS}" in row for row in rows)
    alerts = page.split('id="alerts"')[1].split("</tbody>")[0]
    assert "Production" in alerts and "Staging" in alerts


@pytest.mark.parametrize("settings_overrides", ["with_status"], indirect=True)
@pytest.mark.parametrize("search", ["Staging", "staging", STAGING, STAGING_WS])
def test_the_status_page_and_api_filter_by_account_or_workspace(taskrouter, client, services, search):
    for account, workspace, token in ((PROD, PROD_WS, PROD_TOKEN), (STAGING, STAGING_WS, STAGING_TOKEN)):
        event = worker_event(contact_uri="sip:x", AccountSid=account, WorkspaceSid=workspace)
        assert taskrouter.post(event, token=token).status_code == 204
    [row] = client.get(f"/api/workers?q={search}", headers=OPERATOR).get_json()["workers"]
    assert (row["account_sid"], row["workspace_sid"]) == (STAGING, STAGING_WS)
    page = client.get(f"/status?q={search}", headers=OPERATOR).get_data(as_text=True)
    assert "Staging (" in page.split('id="drift"')[1].split("</tbody>")[0]


def test_an_account_naming_a_workspace_another_account_lists_gets_403(taskrouter, client, services, capsys):
    # Signed with staging's own token but about production's workspace: stored, alerted to staging's channel, and
    # shown on /status beside production's workers (an outsider's review)
    crossed = worker_event(contact_uri="sip:x", AccountSid=STAGING, WorkspaceSid=PROD_WS)
    assert taskrouter.post(crossed, token=STAGING_TOKEN).status_code == 403
    batch = [cloudevent(account_sid=STAGING, workspace_sid=PROD_WS, contact_uri="sip:x")]
    assert post_cloudevents(client, batch, token=STAGING_TOKEN).status_code == 403
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if "bad_signature" in line]
    assert [line["reason"] for line in lines] == ["the workspace is another account's"] * 2
    assert stored_state(services, WorkerKey(STAGING, PROD_WS, worker_sid(1))) is None


def test_cross_account_forgery_and_unknown_accounts_get_403(taskrouter, client, services, capsys):
    forged = worker_event(contact_uri="sip:x", AccountSid=STAGING, WorkspaceSid=STAGING_WS)
    stranger = worker_event(contact_uri="sip:x", AccountSid=STRANGER)
    assert taskrouter.post(forged, token=PROD_TOKEN).status_code == 403
    assert taskrouter.post(stranger, token=PROD_TOKEN).status_code == 403
    staging_batch = [cloudevent(account_sid=STAGING, workspace_sid=STAGING_WS, contact_uri="sip:x")]
    assert post_cloudevents(client, staging_batch, token=PROD_TOKEN).status_code == 403
    capsys.readouterr()
    mixed = [cloudevent(account_sid=PROD, workspace_sid=PROD_WS), *staging_batch]
    assert post_cloudevents(client, mixed, token=PROD_TOKEN).status_code == 403
    [line] = [json.loads(line) for line in capsys.readouterr().out.splitlines() if "bad_signature" in line]
    assert line["reason"] == "the batch names several accounts; one sink belongs to one account"  # both are served
    assert post_cloudevents(client, staging_batch, token=STAGING_TOKEN).status_code == 200
    with services.store.engine.connect() as connection:
        assert {r.account_sid for r in connection.execute(select(alert))} == {STAGING}


@pytest.mark.parametrize("settings_overrides", ["with_slack"], indirect=True)
def test_alerts_go_to_each_accounts_own_slack_and_name_the_account(taskrouter, services, two_slacks):
    prod_slack, staging_slack = two_slacks
    taskrouter.post(
        worker_event(sid=worker_sid(1), AccountSid=PROD, WorkspaceSid=PROD_WS, contact_uri="sip:a"), token=PROD_TOKEN
    )
    taskrouter.post(
        worker_event(sid=worker_sid(2), AccountSid=STAGING, WorkspaceSid=STAGING_WS, contact_uri="sip:b"),
        token=STAGING_TOKEN,
    )
    services.delivery.run_once()
    assert list(prod_slack.messages()) == [(worker_sid(1), "drift")]
    assert list(staging_slack.messages()) == [(worker_sid(2), "drift")]
    shown = json.dumps(prod_slack.received[0])
    assert f"Production ({PROD})" in shown and f"Flex prod ({PROD_WS})" in shown
    # A notification shows only the text: it names the account too (an on-call review: two pages read the same)
    assert f"[Production ({PROD})]" in prod_slack.received[0]["text"]
    assert f"[Staging ({STAGING})]" in staging_slack.received[0]["text"]


@pytest.mark.parametrize("settings_overrides", ["no_workspaces"], indirect=True)
def test_accounts_without_workspaces_are_named_by_the_audit(runner):
    result = runner.invoke(args=["audit"])
    assert result.exit_code == 2 and result.stderr.startswith("error: TWILIO_ACCOUNTS lists no workspaces")


@pytest.mark.parametrize("settings_overrides", ["with_api"], indirect=True)
def test_audit_sweeps_every_configured_workspace_into_one_report(runner, fake_api):
    populate(fake_api, 3, drifting={2})  # the helper's default workspace: replace it with two named ones
    fake_api.workspaces = {PROD_WS: fake_api.workspaces.popitem()[1]}
    for n in (11, 12):
        fake_api.add_worker(STAGING_WS, worker_sid(n), f"agent.{n}", {"email": email(n)})
    result = runner.invoke(args=["audit", "--format", "json"])
    report = json.loads(result.stdout)
    assert result.exit_code == 1
    assert [(w["account_sid"], w["workspace_sid"], w["summary"]["total"]) for w in report["workspaces"]] == [
        (PROD, PROD_WS, 3),
        (STAGING, STAGING_WS, 2),
    ]
    assert report["summary"]["total"] == 5 and report["summary"]["mismatch"] == 1
    only_staging = runner.invoke(args=["audit", "--format", "json", "--workspace", STAGING_WS])
    assert only_staging.exit_code == 0
    assert [w["workspace_sid"] for w in json.loads(only_staging.stdout)["workspaces"]] == [STAGING_WS]
    twice = runner.invoke(args=["audit", "--format", "json", "--workspace", STAGING_WS, "--workspace", STAGING_WS])
    assert json.loads(twice.stdout)["summary"]["total"] == 2  # swept once
    unknown = runner.invoke(args=["audit", "--workspace", "WS" + "9" * 32])
    assert unknown.exit_code == 2 and "is not configured in TWILIO_ACCOUNTS" in unknown.stderr


@pytest.mark.parametrize("settings_overrides", ["with_slack"], indirect=True)
def test_one_accounts_webhook_asking_to_wait_holds_up_that_account_only(taskrouter, services, two_slacks, clock):
    prod_slack, staging_slack = two_slacks
    prod_slack.retry_after, prod_slack.scripted = "30", ["429"] * 100  # production's webhook keeps refusing
    services.delivery.retry_max_seconds = 300
    taskrouter.post(
        worker_event(sid=worker_sid(1), AccountSid=PROD, WorkspaceSid=PROD_WS, contact_uri="sip:a"), token=PROD_TOKEN
    )
    for number in (2, 3):
        event = worker_event(sid=worker_sid(number), AccountSid=STAGING, WorkspaceSid=STAGING_WS, contact_uri="sip:b")
        taskrouter.post(event, token=STAGING_TOKEN)
    assert services.delivery.run_once() == 3  # production refused once, then paused; staging's two go on
    assert prod_slack.answers["429"] == 1 and len(staging_slack.received) == 2
    assert 29 <= services.delivery.seconds_until_due(600) <= 30  # the pause's end, not a spin on its due row
    clock.advance(30.1)
    assert services.delivery.run_once() == 1 and prod_slack.answers["429"] == 2  # asked again once it ended


@pytest.mark.parametrize("settings_overrides", ["with_slack"], indirect=True)
@pytest.mark.parametrize("answer", ["none", "slow 500"])
def test_one_accounts_webhook_that_gives_no_answer_holds_up_that_account_only(
    taskrouter, services, two_slacks, clock, answer
):
    # Posted to for every alert of its backlog, a hung webhook held each one for SLACK_TIMEOUT_SECONDS: the other
    # account's alerts, pages too, waited minutes behind it (an outsider's review; a re-check: a gateway's late 5xx)
    prod_slack, staging_slack = two_slacks
    if answer == "none":
        prod_slack.stop()
    else:
        prod_slack.latency, prod_slack.scripted = 1.1, ["500"] * 10
    for number in (1, 2, 3):
        event = worker_event(sid=worker_sid(number), AccountSid=PROD, WorkspaceSid=PROD_WS, contact_uri="sip:a")
        taskrouter.post(event, token=PROD_TOKEN)
    event = worker_event(sid=worker_sid(4), AccountSid=STAGING, WorkspaceSid=STAGING_WS, contact_uri="sip:b")
    taskrouter.post(event, token=STAGING_TOKEN)
    assert services.delivery.run_once() == 2  # production's webhook tried once, then it waits; staging's goes
    assert len(staging_slack.received) == 1
    assert services.delivery.seconds_until_due(600) <= 1.0  # until the failed post's own retry: ~1 s
    clock.advance(1.1)
    assert services.delivery.run_once() == 1  # one post tries the webhook again, not one per alert


@pytest.mark.parametrize("settings_overrides", ["shared_slack"], indirect=True)
def test_accounts_sharing_one_webhook_wait_together_when_it_asks_to(taskrouter, services, two_slacks, clock):
    shared, _ = two_slacks
    shared.retry_after, shared.scripted = "30", ["429"] * 100
    services.delivery.retry_max_seconds = 300
    taskrouter.post(
        worker_event(sid=worker_sid(1), AccountSid=PROD, WorkspaceSid=PROD_WS, contact_uri="sip:a"), token=PROD_TOKEN
    )
    event = worker_event(sid=worker_sid(2), AccountSid=STAGING, WorkspaceSid=STAGING_WS, contact_uri="sip:b")
    taskrouter.post(event, token=STAGING_TOKEN)
    assert services.delivery.run_once() == 1 and shared.answers["429"] == 1  # staging's waits unsent
    assert 29 <= services.delivery.seconds_until_due(600) <= 30
    clock.advance(30.1)
    services.delivery.run_once()
    assert shared.answers["429"] == 2  # one refused post a pause, not one per account


def test_the_alerts_of_an_account_taken_out_go_to_no_other_accounts_channel():
    # Still queued when staging left TWILIO_ACCOUNTS, its alerts went to SLACK_WEBHOOK_URL: production's channel
    default = "https://hooks.slack.com/services/T/B/default"
    env = {"TWILIO_ACCOUNTS": json.dumps({PROD: {"auth_token": "t"}}), "SLACK_WEBHOOK_URL": default}
    accounts = AccountDirectory(Settings.from_env(env))
    assert (accounts.slack_url_for(PROD), accounts.slack_url_for(STAGING)) == (default, None)  # failed, not moved
    single = AccountDirectory(Settings.from_env({"TWILIO_AUTH_TOKEN": "t", "SLACK_WEBHOOK_URL": default}))
    assert single.slack_url_for(STAGING) == default  # one account: every alert is its own


def test_slack_coming_back_releases_the_backlog_of_the_accounts_posting_there_only():
    third = "AC" + "4" * 32
    hooks = {PROD: "https://hooks.slack.com/services/T/B/one", third: "https://hooks.slack.com/services/T/B/one"}
    document = {sid: {"auth_token": "t", "slack_webhook_url": hook} for sid, hook in hooks.items()}
    document[STAGING] = {"auth_token": "t", "slack_webhook_url": "https://hooks.slack.com/services/T/B/two"}
    accounts = AccountDirectory(Settings.from_env({"TWILIO_ACCOUNTS": json.dumps(document)}))
    assert accounts.sharing_webhook(PROD) == accounts.sharing_webhook(third) == {PROD, third}
    assert accounts.sharing_webhook(STAGING) == {STAGING}
    single = AccountDirectory(Settings.from_env({"TWILIO_AUTH_TOKEN": "t"}))
    assert single.sharing_webhook(PROD) is None  # one account: every alert goes to its webhook


SHARED = worker_sid(77)  # one worker SID in both accounts' workspaces (Twilio's SIDs are unique; a copy may not be)


@pytest.mark.parametrize("settings_overrides", ["with_api"], indirect=True)
def test_the_audit_reports_each_workspaces_removal_of_a_worker_sid_both_hold(runner, fake_api):
    for workspace, value in ((PROD_WS, "sip:prod"), (STAGING_WS, "sip:staging")):
        fake_api.add_worker(workspace, SHARED, "ann", {"email": email(1), "contact_uri": value})
    plan = runner.invoke(args=["audit", "--remediate"])  # the dry run names both removals
    assert f"{PROD_WS}/{SHARED} contact_uri 'sip:prod'" in plan.stdout
    assert f"{STAGING_WS}/{SHARED} contact_uri 'sip:staging'" in plan.stdout
    fake_api.inject(400, times=50, method="POST", path_contains=PROD_WS)  # production refuses its update
    report = json.loads(runner.invoke(args=["audit", "--remediate", "--yes", "--format", "json"]).stdout)
    assert {w["workspace_sid"]: w["remediation"] for w in report["workers"]} == {
        PROD_WS: "failed",
        STAGING_WS: "removed",
    }


def test_clicks_on_two_accounts_messages_with_one_timestamp_are_two_requests(services):
    now = datetime.now(UTC)
    for account, workspace in ((PROD, PROD_WS), (STAGING, STAGING_WS)):  # a message_ts is unique per channel only
        click = Click(Action.REMOVE, WorkerKey(account, workspace, SHARED), "U1", "https://x.example", "1.000100")
        assert services.store.clicks.add_click(click, Action.REMOVE, None, now) is not None


def test_twilio_accounts_sids_typed_with_uppercase_hex_are_taken_as_twilio_writes_them():
    listed = {
        "AC" + "AB" * 16: {
            "auth_token": "t",
            "api_key": "SK" + "EF" * 16,
            "api_secret": "s",
            "workspaces": ["WS" + "CD" * 16],
        }
    }
    (account,) = Settings.from_env({"TWILIO_ACCOUNTS": json.dumps(listed)}).accounts
    assert (account.sid, account.api_key, list(account.workspaces)) == (
        "AC" + "ab" * 16,
        "SK" + "ef" * 16,
        ["WS" + "cd" * 16],
    )


def test_twilio_accounts_keys_differing_only_in_letter_case_are_one_account_named_twice():
    twice = {"AC" + "ab" * 16: {"auth_token": "a"}, "AC" + "AB" * 16: {"auth_token": "b"}}
    with pytest.raises(ConfigError, match="repeats a key: entry #2"):
        Settings.from_env({"TWILIO_ACCOUNTS": json.dumps(twice)})


def test_an_api_key_without_its_secret_for_an_account_twilio_accounts_does_not_list_stops_the_start():
    single = {"TWILIO_ACCOUNT_SID": STRANGER, "TWILIO_AUTH_TOKEN": "t", "TWILIO_API_KEY": "SK" + "1" * 32}
    with pytest.raises(ConfigError, match="TWILIO_API_KEY is set without TWILIO_API_SECRET"):
        Settings.from_env({"TWILIO_ACCOUNTS": LISTED} | single)  # its REST (buttons, lookups) was off without a word


def test_twilio_accounts_sids_with_spaces_around_them_are_trimmed_too():
    listed = {f" {PROD} ": {"auth_token": PROD_TOKEN, "workspaces": [f" {PROD_WS} "]}}
    (account,) = Settings.from_env({"TWILIO_ACCOUNTS": json.dumps(listed)}).accounts
    assert (account.sid, list(account.workspaces)) == (PROD, [PROD_WS])
