"""`flask --app wsgi resend`: alerts Slack refused for good go out again once the channel is back."""

from tests.delivery.conftest import outbox, posted
from tests.fakes.slack import HOOK_PATH as HOOK
from tests.helpers import ANN_URI, worker_event


def test_alerts_refused_for_good_go_out_again_once_the_channel_is_back(taskrouter, services, httpserver, runner):
    httpserver.expect_ordered_request(HOOK).respond_with_data("channel_is_archived", status=410)
    httpserver.expect_ordered_request(HOOK).respond_with_data("ok")
    taskrouter.post(worker_event(contact_uri="sip:x"))
    services.delivery.run_once()
    assert outbox(services) == [("drift", "failed", 1)]
    result = runner.invoke(args=["resend"])  # the admin unarchived the channel
    assert result.exit_code == 0 and "1 failed alert queued again" in result.output
    services.delivery.run_once()
    assert outbox(services) == [("drift", "delivered", 1)] and len(posted(httpserver)) == 2


def test_an_alert_a_later_one_of_the_same_worker_overtook_is_not_sent_again(taskrouter, services, httpserver, runner):
    """The drift refused, its Resolved delivered: the channel already has the worker's latest news."""
    httpserver.expect_ordered_request(HOOK).respond_with_data("invalid_payload", status=400)
    httpserver.expect_ordered_request(HOOK).respond_with_data("ok")
    taskrouter.post(worker_event(contact_uri="sip:x", version=1))
    services.delivery.run_once()
    taskrouter.post(worker_event(contact_uri=ANN_URI, version=2))
    services.delivery.run_once()
    assert outbox(services) == [("drift", "failed", 1), ("resolved", "delivered", 1)]
    result = runner.invoke(args=["resend"])
    assert result.exit_code == 0 and "0 failed alerts queued again (1 left: a later alert" in result.output
    assert outbox(services)[0] == ("drift", "failed", 1)
