"""`flask --app wsgi resend`: alerts Slack refused for good go out again once the channel is back."""

from tests.delivery.conftest import drift_then_fixed, outbox, posted, slack_answers
from tests.helpers import worker_event


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
