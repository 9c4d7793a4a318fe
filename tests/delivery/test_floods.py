"""Many alerts at once (a script rewrote hundreds of agents): pages first, and one Retry-After pauses every post."""

import json

from werkzeug import Response

from tests.activity.conftest import activity_event
from tests.delivery.conftest import outbox, posted
from tests.fakes.slack import HOOK_PATH as HOOK
from tests.helpers import ANN_URI, worker_event, worker_sid

WRONG = "sip:rewritten-by-a-script"


def _kinds(httpserver):
    """The header of every message Slack received, in order: its emoji names the kind."""
    headers = [next(b["text"]["text"] for b in m["blocks"] if b["type"] == "header") for m in posted(httpserver)]
    return [header.split(":")[1] for header in headers]


def test_a_page_goes_out_before_older_alerts_about_agents_who_are_offline(taskrouter, services, httpserver):
    httpserver.expect_request(HOOK).respond_with_data("ok")
    for number in (2, 3, 4):  # offline agents: their drifts were raised first
        assert taskrouter.post(worker_event(sid=worker_sid(number), contact_uri=WRONG)).status_code == 204
    assert taskrouter.post(activity_event(1, contact_uri=WRONG)).status_code == 204  # available: cannot ring now
    assert services.delivery.run_once() == 4
    assert _kinds(httpserver) == ["sos", "rotating_light", "rotating_light", "rotating_light"]  # the page first
    assert worker_sid(1) in json.dumps(posted(httpserver)[0])


def test_one_retry_after_pauses_every_post_until_it_ends(taskrouter, services, httpserver, clock):
    services.delivery.retry_max_seconds = 30
    httpserver.expect_ordered_request(HOOK).respond_with_data("rate_limited", status=429, headers={"Retry-After": "5"})
    httpserver.expect_request(HOOK).respond_with_data("ok")
    for number in (1, 2, 3):
        assert taskrouter.post(worker_event(sid=worker_sid(number), contact_uri=WRONG)).status_code == 204
    assert services.delivery.run_once() == 1 and len(httpserver.log) == 1  # not one refused post per alert
    assert 4.9 <= services.delivery.seconds_until_due(60) <= 5.0
    clock.advance(4)
    assert services.delivery.run_once() == 0 and len(httpserver.log) == 1
    clock.advance(1.1)
    assert services.delivery.run_once() == 3
    messages = [json.dumps(message) for message in posted(httpserver)]
    assert [worker_sid(n) in message for n, message in zip((1, 1, 2, 3), messages, strict=True)] == [True] * 4
    assert outbox(services) == [("drift", "delivered", 2), ("drift", "delivered", 1), ("drift", "delivered", 1)]


def test_a_pause_lasts_a_second_at_least_whatever_retry_after_and_the_cap_say(taskrouter, services, httpserver, clock):
    services.delivery.retry_max_seconds = 0.01  # ALERT_RETRY_MAX_SECONDS may be that small
    httpserver.expect_request(HOOK).respond_with_data("rate_limited", status=429, headers={"Retry-After": "0"})
    assert taskrouter.post(worker_event(contact_uri=WRONG)).status_code == 204
    assert services.delivery.run_once() == 1
    clock.advance(0.5)
    assert services.delivery.run_once() == 0 and len(httpserver.log) == 1  # not ~17 refused posts a second


class SlackOutage:
    """The stub webhook: 500 while down (and for the `refused` kind), "ok" once back, noting the kinds it took."""

    def __init__(self, httpserver):
        """Answer every post to the webhook path."""
        self.up, self.taken, self.refused = False, [], None
        httpserver.expect_request(HOOK).respond_with_handler(self.answer)

    def answer(self, request):
        """500 while down; "ok" once up, noting the kind of message Slack took."""
        header = next(b["text"]["text"] for b in json.loads(request.get_data())["blocks"] if b["type"] == "header")
        if not self.up or header.split(":")[1] == self.refused:
            return Response("rollup_error", status=500)
        self.taken.append(header.split(":")[1])
        return Response("ok")


def fail_until_backed_off(services, clock, attempts):
    """Let delivery try (and fail) `attempts` more times, each when it is due."""
    for _ in range(attempts):
        clock.advance(services.delivery.seconds_until_due(3600) + 0.01)
        services.delivery.run_once()


def test_a_page_backs_off_30_s_at_most_whatever_the_cap(taskrouter, services, httpserver, clock):
    services.delivery.retry_max_seconds = 300
    SlackOutage(httpserver)
    assert taskrouter.post(activity_event(1, contact_uri=WRONG)).status_code == 204  # a page
    services.delivery.run_once()
    fail_until_backed_off(services, clock, 7)  # 8 failures: a drift would wait 64-128 s now
    assert services.delivery.seconds_until_due(3600) <= 30


def test_once_slack_is_back_the_backlog_goes_out_pages_first(taskrouter, services, httpserver, clock):
    services.delivery.retry_max_seconds = 300
    slack = SlackOutage(httpserver)
    assert taskrouter.post(activity_event(1, contact_uri=WRONG)).status_code == 204  # the page, raised first
    services.delivery.run_once()
    fail_until_backed_off(services, clock, 5)  # it waits 8-16 s by now
    for number in (2, 3, 4):  # offline agents broken later: they failed once, and are due again in a second
        assert taskrouter.post(worker_event(sid=worker_sid(number), contact_uri=WRONG)).status_code == 204
    assert services.delivery.run_once() == 3
    slack.up = True
    clock.advance(1.01)
    assert services.delivery.run_once() == 4  # the first post Slack takes makes the whole backlog due
    assert slack.taken == ["rotating_light", "sos", "rotating_light", "rotating_light"]


def test_a_page_slack_keeps_refusing_between_accepted_posts_keeps_its_backoff(taskrouter, services, httpserver, clock):
    services.delivery.retry_max_seconds = 300
    slack = SlackOutage(httpserver)
    slack.up = True
    slack.refused = "sos"  # this one message fails every time; every other goes through
    assert taskrouter.post(activity_event(1, contact_uri=WRONG)).status_code == 204
    for number in range(2, 102):  # a drift a second for 100 s, each taken at once
        assert taskrouter.post(worker_event(sid=worker_sid(number), contact_uri=WRONG)).status_code == 204
        services.delivery.run_once()
        clock.advance(1)
    [page_attempts] = [attempts for kind, _, attempts in outbox(services) if kind == "urgent"]
    assert 5 <= page_attempts <= 12  # its own backoff (1, 2, 4 … 30 s, jittered), not a try after each of the 100 posts


def test_a_page_behind_its_workers_backed_off_drift_goes_within_30_s_of_slack_coming_back(
    taskrouter, services, httpserver, clock
):
    services.delivery.retry_max_seconds = 300
    slack = SlackOutage(httpserver)
    assert taskrouter.post(worker_event(contact_uri=WRONG)).status_code == 204  # offline: a drift
    services.delivery.run_once()
    fail_until_backed_off(services, clock, 7)  # it waits 64-128 s by now
    assert taskrouter.post(activity_event(2, contact_uri=WRONG)).status_code == 204  # available: the page, behind it
    assert services.delivery.seconds_until_due(3600) <= 0.05  # the drift it waits behind is due now
    services.delivery.run_once()  # Slack still down: the drift backs off like a page now
    assert 0.05 < services.delivery.seconds_until_due(3600) <= 30  # the page waiting behind it is not "due"
    slack.up = True
    clock.advance(services.delivery.seconds_until_due(3600) + 0.01)
    assert services.delivery.run_once() == 2 and slack.taken == ["rotating_light", "sos"]


def test_a_quiet_spell_between_posts_is_no_outage_for_a_page_slack_keeps_refusing(
    taskrouter, services, httpserver, clock
):
    services.delivery.retry_max_seconds = 300
    slack = SlackOutage(httpserver)
    slack.up, slack.refused = True, "sos"  # only the page fails; Slack is up
    assert taskrouter.post(activity_event(1, contact_uri=WRONG)).status_code == 204
    services.delivery.run_once()
    for number in range(2, 27):  # a drift every 12 s for 300 s (a quiet site), each taken at once
        clock.advance(12)
        assert taskrouter.post(worker_event(sid=worker_sid(number), contact_uri=WRONG)).status_code == 204
        services.delivery.run_once()
    [page_attempts] = [attempts for kind, _, attempts in outbox(services) if kind == "urgent"]
    # Its own backoff (1, 2, 4 … 30 s, jittered) at 12 s ticks: 5 tries by 48 s, then one every 2-3 ticks (≤ 18 in
    # all); released after every post Slack takes, it would be tried at each of the 26 ticks
    assert page_attempts <= 18


def test_a_page_waiting_behind_its_workers_drift_goes_out_right_after_it_not_after_the_flood(
    taskrouter, services, httpserver
):
    httpserver.expect_request(HOOK).respond_with_data("ok")
    for number in range(1, 21):  # a script broke 20 offline agents: Slack takes them at about one a second
        assert taskrouter.post(worker_event(sid=worker_sid(number), contact_uri=WRONG)).status_code == 204
    assert taskrouter.post(activity_event(2, sid=worker_sid(20), contact_uri=WRONG)).status_code == 204  # logs in
    assert services.delivery.run_once() == 21
    assert _kinds(httpserver)[:2] == ["rotating_light", "sos"]  # its own drift first (per-worker order), then it
    assert worker_sid(20) in json.dumps(posted(httpserver)[0])


def test_a_page_never_waits_behind_another_workers_backlog_raised_before_that_workers_own_page(
    taskrouter, services, httpserver
):
    httpserver.expect_request(HOOK).respond_with_data("ok")
    flapping = worker_sid(9)  # a script rewrote this offline agent's value 12 times: 12 drifts queued
    for version in range(1, 13):
        fields = worker_event(sid=flapping, contact_uri=f"sip:{version}@pbx", version=version)
        assert taskrouter.post(fields).status_code == 204
    assert taskrouter.post(activity_event(1, sid=worker_sid(1), contact_uri=WRONG)).status_code == 204  # A: a page
    assert taskrouter.post(activity_event(13, sid=flapping, contact_uri="sip:13@pbx")).status_code == 204  # its page
    assert services.delivery.run_once() == 14
    assert _kinds(httpserver)[0] == "sos" and worker_sid(1) in json.dumps(posted(httpserver)[0])  # A's, raised first


def test_a_resolved_that_answers_a_page_goes_out_in_the_pages_turn(taskrouter, services, httpserver):
    """The on-call was paged: that the agent rings again must not wait behind a flood about agents who are away."""
    httpserver.expect_request(HOOK).respond_with_data("ok")
    assert taskrouter.post(activity_event(1, contact_uri=WRONG)).status_code == 204  # paged
    assert services.delivery.run_once() == 1
    for number in (2, 3, 4):  # offline agents' drifts, raised before the fix
        assert taskrouter.post(worker_event(sid=worker_sid(number), contact_uri=WRONG)).status_code == 204
    assert taskrouter.post(activity_event(2, contact_uri=ANN_URI)).status_code == 204  # Flex wrote the value
    assert services.delivery.run_once() == 4
    assert _kinds(httpserver) == ["sos", "white_check_mark", "rotating_light", "rotating_light", "rotating_light"]


def test_a_resolved_that_answers_a_page_backs_off_like_a_page_and_goes_first_when_slack_is_back(
    taskrouter, services, httpserver, clock
):
    services.delivery.retry_max_seconds = 300
    slack = SlackOutage(httpserver)
    slack.up = True
    assert taskrouter.post(activity_event(1, contact_uri=WRONG)).status_code == 204  # paged, posted
    assert services.delivery.run_once() == 1
    slack.up = False
    assert taskrouter.post(activity_event(2, contact_uri=ANN_URI)).status_code == 204  # its resolved: Slack is down
    services.delivery.run_once()
    fail_until_backed_off(services, clock, 7)
    assert services.delivery.seconds_until_due(3600) <= 30  # a page's backoff, not the 300 s cap
    for number in (2, 3, 4):  # a flood about agents who are away, meanwhile
        assert taskrouter.post(worker_event(sid=worker_sid(number), contact_uri=WRONG)).status_code == 204
    services.delivery.run_once()
    slack.up = True
    clock.advance(1.01)
    services.delivery.run_once()
    # The first post Slack takes makes the backlog due (as for a page): before, the resolved came 97 s later
    assert slack.taken == ["sos", "rotating_light", "white_check_mark", "rotating_light", "rotating_light"]


def test_the_upgrade_to_0017_marks_the_pages_and_the_resolveds_answering_them_that_wait(
    taskrouter, services, httpserver
):
    """Upgraded in the middle of a flood: what waits keeps its turn, as if this release had written it."""
    from alembic import command
    from sqlalchemy import select

    from guard.adapters import db
    from guard.adapters.tables import alert

    httpserver.expect_request(HOOK).respond_with_data("ok")
    assert taskrouter.post(activity_event(1, contact_uri=WRONG)).status_code == 204  # paged
    assert services.delivery.run_once() == 1
    assert taskrouter.post(worker_event(sid=worker_sid(2), contact_uri=WRONG)).status_code == 204  # away: a drift
    assert taskrouter.post(activity_event(2, contact_uri=ANN_URI)).status_code == 204  # the page's resolved waits
    config = db.alembic_config(services.store.engine)
    command.downgrade(config, "0016")  # the release before: no `page`
    command.upgrade(config, "head")
    with services.store.engine.connect() as connection:
        rows = connection.execute(select(alert.c.kind, alert.c.page).order_by(alert.c.id)).all()
    assert [(kind, bool(page)) for kind, page in rows] == [("urgent", True), ("drift", False), ("resolved", True)]


def test_the_upgrade_to_0017_marks_a_resolved_after_a_drift_over_still_unable_as_the_live_code_does(
    taskrouter, services
):
    """The value removed while available ("Drift over, still unable"), then written at the login: both answer."""
    from alembic import command
    from sqlalchemy import select

    from guard.adapters import db
    from guard.adapters.tables import alert

    assert taskrouter.post(activity_event(1, contact_uri=WRONG)).status_code == 204  # paged
    assert taskrouter.post(activity_event(2, contact_uri=None)).status_code == 204  # removed: still unable
    assert taskrouter.post(activity_event(3, contact_uri=ANN_URI)).status_code == 204  # the login writes it

    def marked():
        with services.store.engine.connect() as connection:
            rows = connection.execute(select(alert.c.kind, alert.c.page).order_by(alert.c.id)).all()
        return [(kind, bool(page)) for kind, page in rows]

    live = marked()
    assert live == [("urgent", True), ("resolved", True), ("resolved", True)]
    config = db.alembic_config(services.store.engine)
    command.downgrade(config, "0016")
    command.upgrade(config, "head")
    assert marked() == live


def test_the_upgrade_to_0017_marks_a_failed_resolved_resend_may_queue_and_stops_on_no_odd_payload(taskrouter, services):
    from alembic import command
    from sqlalchemy import select

    from guard.adapters import db
    from guard.adapters.tables import alert

    assert taskrouter.post(activity_event(1, contact_uri=WRONG)).status_code == 204  # paged
    assert taskrouter.post(activity_event(2, contact_uri=ANN_URI)).status_code == 204  # its resolved
    assert taskrouter.post(activity_event(3, sid=worker_sid(2), contact_uri=WRONG)).status_code == 204
    assert taskrouter.post(activity_event(4, sid=worker_sid(2), contact_uri=ANN_URI)).status_code == 204
    config = db.alembic_config(services.store.engine)
    command.downgrade(config, "0016")
    with services.store.engine.begin() as connection:  # Slack refused the first for good; the other was edited
        ids = connection.execute(select(alert.c.id).where(alert.c.kind == "resolved").order_by(alert.c.id)).scalars()
        failed, edited = list(ids)
        connection.execute(alert.update().where(alert.c.id == failed).values(status="failed"))
        connection.execute(alert.update().where(alert.c.id == edited).values(payload="[" * 100_000 + "]" * 100_000))
    command.upgrade(config, "head")
    with services.store.engine.connect() as connection:
        rows = connection.execute(select(alert.c.id, alert.c.page).where(alert.c.kind == "resolved")).all()
    assert dict(rows) == {failed: True, edited: True}  # an odd payload is read as no payload
