"""`flask --app wsgi resend`: alerts Slack refused for good go out again once the channel is back."""

import pytest
from sqlalchemy import make_url

from handlers.app import create_app
from tests.conftest import make_settings
from tests.delivery.conftest import drift_then_fixed, outbox, posted, slack_answers
from tests.helpers import worker_event
from tests.plugins.databases import scratch_database


def test_alerts_refused_for_good_go_out_again_once_the_channel_is_back(taskrouter, services, httpserver, runner):
    slack_answers(httpserver, ("channel_is_archived", 410), ("ok", 200))
    taskrouter.post(worker_event(contact_uri="sip:x"))
    services.delivery.run_once()
    assert outbox(services) == [("drift", "failed", 1)]
    result = runner.invoke(args=["resend"])  # the admin unarchived the channel
    assert result.exit_code == 0 and "1 failed alert queued again" in result.output
    services.delivery.run_once()
    assert outbox(services) == [("drift", "delivered", 1)] and len(posted(httpserver)) == 2


def test_an_alert_a_later_one_of_the_same_worker_overtook_is_not_sent_again(taskrouter, services, httpserver, runner):
    """The drift refused, its Resolved delivered: the channel already has the worker's latest news."""
    slack_answers(httpserver, ("invalid_payload", 400), ("ok", 200))
    drift_then_fixed(taskrouter, services)
    assert outbox(services) == [("drift", "failed", 1), ("resolved", "delivered", 1)]
    result = runner.invoke(args=["resend"])
    assert result.exit_code == 0 and "0 failed alerts queued again (1 left: a later alert" in result.output
    assert outbox(services)[0] == ("drift", "failed", 1)


def test_a_database_with_no_alert_at_all_is_named_and_refused_not_reported_as_nothing_to_resend(runner, services):
    """A mistyped DATABASE_URL makes a new, empty SQLite file: "0 queued" would read as all sent."""
    result = runner.invoke(args=["resend"])
    assert result.exit_code == 2
    assert "holds no alert at all" in result.output and services.store.engine.url.database in result.output


@pytest.mark.postgres
def test_a_postgres_database_never_migrated_is_refused_in_one_line(postgres_url):
    """A mistyped name that exists (another app's database), or a new add-on before the release phase ran."""
    with scratch_database(postgres_url, "_unmigrated") as url:
        app = create_app(make_settings(url))
        try:
            result = app.test_cli_runner().invoke(args=["resend"])
        finally:
            app.extensions["guard"].store.engine.dispose()
    assert result.exit_code == 2
    assert "no guard tables" in result.output and "migrate" in result.output and "Traceback" not in result.output


@pytest.mark.postgres
def test_a_password_given_as_a_query_option_is_not_printed(empty_postgres):
    url = make_url(empty_postgres).update_query_dict({"password": "s3cretpw", "sslpassword": "k3ypw"})
    app = create_app(make_settings(url.render_as_string(hide_password=False)))
    try:
        result = app.test_cli_runner().invoke(args=["resend"])  # the tables emptied: "holds no alert at all"
    finally:
        app.extensions["guard"].store.engine.dispose()
    assert result.exit_code == 2 and make_url(empty_postgres).database in result.output
    assert "s3cretpw" not in result.output and "k3ypw" not in result.output and "?password=***" in result.output


@pytest.mark.parametrize("hours", ["1e9", "inf", "nan"])
def test_hours_past_any_history_or_not_a_number_are_a_usage_error(runner, hours):
    result = runner.invoke(args=["resend", "--hours", hours])
    assert result.exit_code == 2 and "--hours" in result.output and result.exception is not None
    assert isinstance(result.exception, SystemExit)
