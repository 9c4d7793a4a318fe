"""Fix from Slack: the signed buttons on drift alerts, and what an approver's click does."""

import json
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, text

from guard.adapters.db import take_claim_turn
from guard.adapters.slack import SendResult
from guard.adapters.tables import alert, ignore_rule, remediation, slack_click
from guard.core.click import Action, Click, value_digest
from guard.core.statuses import RemediationStatus, SendOutcome
from tests.fakes.slack_clicks import APPROVER, STRANGER, click_payload, signed_click
from tests.helpers import WORKSPACE_SID, email, populate, remediations, stored_state, worker_event
from tests.slack_fix.support import DRIFTING, KEY, REFERENCE, click, rows
from tests.test_status import OPERATOR


@pytest.mark.parametrize("settings_overrides", [{"alert_repeat": timedelta(hours=6)}], indirect=True)
def test_drift_alerts_and_reminders_carry_the_two_buttons(drift, services, slack):
    services.delivery.run_once()
    later = datetime.now(UTC) + timedelta(hours=7)
    services.pipeline.clock = services.delivery.clock = lambda: later
    assert services.pipeline.send_reminders() == 1
    services.delivery.run_once()
    assert [message["blocks"][0]["text"]["text"].split(":")[1] for message in slack.received] == [
        "rotating_light",
        "repeat",
    ]
    for message in slack.received:
        actions = next(block for block in message["blocks"] if block["type"] == "actions")
        assert [(e["action_id"], e["value"]) for e in actions["elements"]] == [
            ("remove_contact_uri", REFERENCE),
            ("ignore_worker", f"{REFERENCE}/{value_digest(drift)}"),  # Intended: bound to the value it showed
        ]
        assert actions["elements"][0]["confirm"]["confirm"]["text"] == "Remove"


@pytest.mark.parametrize("settings_overrides", [{"slack_signing_secret": None}, {"account_sid": None}], indirect=True)
def test_no_buttons_without_a_signing_secret_or_rest_credentials(drift, services, slack):
    services.delivery.run_once()
    assert not any(block["type"] == "actions" for block in slack.received[0]["blocks"])


def test_an_approver_click_removes_and_reports(drift, client, services, slack, fake_api):
    assert click(client, slack=slack).status_code == 200
    assert fake_api.updates == []  # acknowledged first; the removal happens in the background
    services.jobs.by_name["clicks"].run()
    [update] = fake_api.updates
    assert update.worker_sid == DRIFTING and update.if_match == '"1"'
    assert "contact_uri" not in fake_api.attributes(WORKSPACE_SID, DRIFTING)
    [answer] = slack.answers_to(1)
    assert answer["replace_original"] is True
    assert "actions" not in json.dumps(answer["blocks"])
    assert f"<@{APPROVER}> removed `{drift}` from {DRIFTING}" in answer["text"]
    [record] = remediations(services)
    assert (record["actor"], record["status"]) == (f"slack:{APPROVER}", "removed")


def test_a_click_whose_removal_is_slow_is_not_taken_up_again_meanwhile(drift, client, services, slack, fake_api):
    entered, release, started = threading.Event(), threading.Event(), datetime.now(UTC)
    fake_api.before_update = lambda _sid: entered.set() or release.wait(30)  # TaskRouter answering slowly
    assert click(client, slack=slack).status_code == 200
    first = threading.Thread(target=services.jobs.by_name["clicks"].run)
    first.start()
    assert entered.wait(30)
    later = started + timedelta(minutes=10)  # retries and Retry-After waits can take this long (TWILIO_API_RETRIES)
    services.pipeline.clock = lambda: later
    fake_api.before_update = None
    assert services.jobs.by_name["clicks"].run() == 0  # another process finds the click still held
    release.set()
    first.join(30)
    assert len(fake_api.updates) == 1 and len(slack.answers_to(1)) == 1


def test_a_value_with_backticks_cannot_break_out_of_the_answers_code(client, taskrouter, services, slack, fake_api):
    hostile = "client:x` *Removal incomplete: sign in at https://flex-login.example.net* `y"
    populate(fake_api, 1, drifting={1}, extra={1: {"contact_uri": hostile}})
    assert taskrouter.post(worker_event(sid=DRIFTING, email=email(1), contact_uri=hostile)).status_code == 204
    assert click(client, slack=slack).status_code == 200
    services.jobs.by_name["clicks"].run()
    [answer] = slack.answers_to(1)
    assert "removed `client:x' *Removal incomplete: sign in at https://flex-login.example.net* 'y`" in answer["text"]


@pytest.mark.parametrize(
    ("settings_overrides", "user", "said"),
    [
        ({}, STRANGER, f"<@{STRANGER}> is not in SLACK_APPROVERS"),
        ({"slack_approvers": frozenset()}, APPROVER, "Nobody may act from Slack yet: SLACK_APPROVERS is empty"),
    ],
    indirect=["settings_overrides"],
)
def test_anyone_else_gets_an_ephemeral_no_and_nothing_changes(drift, client, services, slack, fake_api, user, said):
    assert click(client, slack=slack, user=user).status_code == 200
    services.jobs.by_name["clicks"].run()
    [answer] = slack.answers_to(1)
    assert answer["response_type"] == "ephemeral" and answer["replace_original"] is False
    assert said in answer["text"] and "Nothing was changed" in answer["text"]
    assert [path for method, path in fake_api.requests if method == "POST"] == []
    assert remediations(services) == [] and rows(services, ignore_rule) == 0


@pytest.mark.parametrize(
    "forgery",
    [
        "another secret",
        "six minutes old",
        "six minutes ahead",
        "no signature",
        "timestamp not a number",
        "body changed",
        "signature not ASCII",
    ],
)
def test_forged_and_stale_clicks_get_401_and_cause_nothing(drift, client, services, slack, fake_api, forgery):
    payload = click_payload("remove_contact_uri", REFERENCE, slack.response_url(1))
    now = int(time.time())
    body, headers = {
        "another secret": lambda: signed_click(payload, secret="not-the-secret"),
        "six minutes old": lambda: signed_click(payload, timestamp=now - 360),
        "six minutes ahead": lambda: signed_click(payload, timestamp=now + 360),
        "no signature": lambda: (signed_click(payload)[0], {"Content-Type": "application/x-www-form-urlencoded"}),
        "timestamp not a number": lambda: (
            signed_click(payload)[0],
            {**signed_click(payload)[1], "X-Slack-Request-Timestamp": "soon"},
        ),
        "body changed": lambda: (signed_click(payload)[0] + b"x", signed_click(payload)[1]),
        "signature not ASCII": lambda: (
            signed_click(payload)[0],
            {**signed_click(payload)[1], "X-Slack-Signature": "v0=\xe9"},
        ),
    }[forgery]()
    fake_api.requests.clear()
    response = client.post("/slack/interactions", data=body, headers=headers)
    assert response.status_code == 401
    services.jobs.by_name["clicks"].run()
    assert rows(services, slack_click) == 0 and slack.responses == [] and fake_api.requests == []


def test_a_double_click_removes_once(drift, client, services, slack, fake_api):
    assert click(client, slack=slack, number=1).status_code == 200
    assert click(client, slack=slack, number=2).status_code == 200  # the same message: the same request
    assert click(client, slack=slack, number=3, message_ts="1764493200.000200").status_code == 200  # the reminder
    services.jobs.by_name["clicks"].run()
    assert len(fake_api.updates) == 1
    assert len(slack.answers_to(1)) == 1 and slack.answers_to(2) == []
    [later] = slack.answers_to(3)
    assert "nothing was removed" in later["text"] and "no longer a mismatch (now pending)" in later["text"]
    assert "Nothing removed" in later["blocks"][0]["text"]["text"]


def test_intended_ignores_the_worker_resolves_the_alert_and_can_be_removed(drift, client, services, slack, taskrouter):
    assert click(client, "ignore_worker", slack=slack).status_code == 200
    services.jobs.by_name["clicks"].run()
    assert stored_state(services, KEY)["verdict"] == "ignored"
    assert f"value marked intended by slack:{APPROVER}" in stored_state(services, KEY)["detail"]
    with services.store.engine.connect() as connection:
        kinds = [row.kind for row in connection.execute(select(alert.c.kind).order_by(alert.c.id))]
    assert kinds == ["drift", "resolved"]
    [answer] = slack.answers_to(1)
    assert f"<@{APPROVER}> marked `{drift}`" in answer["text"]
    # The rule holds for later events with that value, and /status lists it with a button that removes it.
    taskrouter.post(worker_event(sid=DRIFTING, email=email(1), contact_uri=drift, name="agent.1", version=9))
    assert stored_state(services, KEY)["verdict"] == "ignored"
    page = client.get("/status", headers=OPERATOR).get_data(as_text=True)
    table = page.split('id="intended"')[1].split("</table>")[0]
    assert DRIFTING in table and f"slack:{APPROVER}" in table
    action = table.split('action="')[1].split('"')[0]
    assert client.post(action, headers=OPERATOR, data={"token": "forged"}).status_code == 403
    token = table.split('name="token" value="')[1].split('"')[0]
    assert client.post(action, headers=OPERATOR, data={"token": token}).status_code == 303
    assert rows(services, ignore_rule) == 0


def test_intended_on_a_worker_whose_value_was_removed_marks_nothing(drift, client, services, slack, taskrouter):
    click(client, slack=slack, number=1, message_ts="1.1")  # another approver removes it from one message
    click(client, "ignore_worker", slack=slack, number=2, message_ts="2.2")  # then Intended on a reminder
    services.jobs.by_name["clicks"].run()
    assert stored_state(services, KEY)["actual"] is None
    [answer] = slack.answers_to(2)
    assert "Nothing marked" in json.dumps(answer) and "no value to mark intended" in answer["text"]
    assert rows(services, ignore_rule) == 0
    # A wrong value later is a breakage like any other, not hidden behind a rule for "no value".
    wrong = "client:ann_40x_2Ecom"
    taskrouter.post(worker_event(sid=DRIFTING, email=email(1), contact_uri=wrong, name="agent.1", version=9))
    assert stored_state(services, KEY)["verdict"] == "mismatch"


def test_intended_on_a_message_whose_value_has_changed_since_marks_nothing(drift, client, services, slack, taskrouter):
    services.delivery.run_once()
    [first] = [m for m in slack.received if "actions" in json.dumps(m["blocks"])]
    shown_then = next(b for b in first["blocks"] if b["type"] == "actions")["elements"][1]["value"]
    other = "client:bob_40x_2Ecom"  # a second wrong value, a newer alert about it
    taskrouter.post(worker_event(sid=DRIFTING, email=email(1), contact_uri=other, name="agent.1", version=9))
    assert click(client, "ignore_worker", value=shown_then, slack=slack).status_code == 200
    services.jobs.by_name["clicks"].run()
    [answer] = slack.answers_to(1)
    assert "changed since this message" in answer["text"] and answer.get("response_type") == "ephemeral"
    assert rows(services, ignore_rule) == 0 and stored_state(services, KEY)["verdict"] == "mismatch"
    # The newer message's button marks the value it shows.
    current = f"{REFERENCE}/{value_digest(other)}"
    assert click(client, "ignore_worker", value=current, slack=slack, number=2, message_ts="9.9").status_code == 200
    services.jobs.by_name["clicks"].run()
    assert stored_state(services, KEY)["verdict"] == "ignored" and rows(services, ignore_rule) == 1


def test_intended_recorded_before_the_value_changed_and_applied_after_marks_nothing(
    drift, client, services, slack, taskrouter
):
    assert click(client, "ignore_worker", value=f"{REFERENCE}/{value_digest(drift)}", slack=slack).status_code == 200
    other = "client:bob_40x_2Eio"  # changed after the click was recorded, before the job applies it (or a restart)
    taskrouter.post(worker_event(sid=DRIFTING, email=email(1), contact_uri=other, name="agent.1", version=9))
    services.jobs.by_name["clicks"].run()
    [answer] = slack.answers_to(1)
    assert "not the value this message showed" in answer["text"] and other in answer["text"]
    assert rows(services, ignore_rule) == 0 and stored_state(services, KEY)["verdict"] == "mismatch"


def test_a_rule_stored_without_a_value_ignores_no_value(drift, services, taskrouter):
    services.store.intended.add(KEY, f"slack:{APPROVER}", None, datetime.now(UTC))  # as an earlier release stored it
    wrong = "client:ann_40x_2Ecom"
    taskrouter.post(worker_event(sid=DRIFTING, email=email(1), contact_uri=wrong, name="agent.1", version=9))
    assert stored_state(services, KEY)["verdict"] == "mismatch"


class Answers:
    """Wraps the click jobs' Slack answers: `before` runs ahead of each post and may answer instead."""

    def __init__(self, real, before):
        self.real, self.before, self.posts = real, before, 0

    def replace(self, *args, **options):
        self.posts += 1
        return self.before() or self.real.replace(*args, **options)


def test_a_click_being_answered_is_not_answered_again_by_another_process(drift, client, services, slack):
    jobs = services.jobs.by_name["clicks"].run.__self__
    lease = timedelta(minutes=2)
    claimed = []  # what another process's round finds between this one's change and its answer
    jobs.answers = Answers(
        jobs.answers, lambda: claimed.append(services.store.clicks.claim_click(datetime.now(UTC), lease))
    )
    assert click(client, slack=slack).status_code == 200
    assert jobs.run_pending() == 1
    assert claimed == [None] and len(slack.answers_to(1)) == 1


def test_an_answer_that_fails_for_now_waits_for_its_lease_not_a_tight_loop(drift, client, services, slack, clock):
    jobs = services.jobs.by_name["clicks"].run.__self__
    failures = [SendResult(SendOutcome.RETRY, "ReadTimeout")]
    jobs.answers = Answers(jobs.answers, lambda: failures.pop() if failures else None)
    assert click(client, slack=slack).status_code == 200
    assert (jobs.run_pending(), jobs.answers.posts) == (1, 1)  # failed for now: not posted again at once
    clock.advance(60)
    assert jobs.run_pending() == 0
    clock.advance(61)  # the lease (2 minutes) ran out: answered now, once
    assert (jobs.run_pending(), jobs.answers.posts, len(slack.answers_to(1))) == (1, 2, 1)


def test_every_answer_that_fails_for_now_is_tried_again_within_minutes(drift, client, services, slack, clock):
    jobs = services.jobs.by_name["clicks"].run.__self__
    failures = [SendResult(SendOutcome.RETRY, "ReadTimeout")] * 2
    jobs.answers = Answers(jobs.answers, lambda: failures.pop() if failures else None)
    assert click(client, slack=slack).status_code == 200
    for posts in (1, 2, 3):  # not the removal's long lease: Slack's response_url lasts 30 minutes
        assert (jobs.run_pending(), jobs.answers.posts) == (1, posts)
        clock.advance(121)
    assert len(slack.answers_to(1)) == 1


def test_an_intended_clicked_while_a_removal_is_applied_waits_for_it(drift, client, services, slack, fake_api):
    entered, release = threading.Event(), threading.Event()
    fake_api.before_update = lambda _sid: entered.set() or release.wait(30)  # the removal is on its way
    assert click(client, slack=slack).status_code == 200
    assert click(client, "ignore_worker", f"{REFERENCE}/{value_digest(drift)}", 2, slack).status_code == 200
    first = threading.Thread(target=services.jobs.by_name["clicks"].run)
    first.start()
    try:
        assert entered.wait(30)
        fake_api.before_update = None
        assert services.jobs.by_name["clicks"].run() == 0  # another process: the Intended waits for the removal
    finally:
        release.set()
        first.join(30)  # its round goes on to the Intended, once the removal is recorded
    assert services.jobs.by_name["clicks"].run() == 0
    assert "contact_uri" not in fake_api.attributes(WORKSPACE_SID, DRIFTING)
    [answer] = slack.answers_to(2)
    assert "Nothing marked" in answer["text"] and "has no contact_uri now" in answer["text"]
    assert rows(services, ignore_rule) == 0  # no rule for a value that is gone


def _add(services, action, ts, user="U0APPROVER", refusal=None):
    """Record a click on the drifting worker's message `ts`; its row id."""
    recorded = Click(Action.REMOVE if action is Action.REFUSE else action, KEY, user, "https://hooks.slack.com/x", ts)
    return services.store.clicks.add_click(recorded, action, refusal, datetime.now(UTC))


def test_a_click_numbered_first_but_committed_second_still_waits_for_the_one_being_applied(services):
    clicks, now, lease = services.store.clicks, datetime.now(UTC), timedelta(minutes=33)
    remove = _add(services, Action.REMOVE, "1.2")
    assert clicks.claim_click(now, lease)["id"] == remove  # one process applies the removal
    with services.store.engine.begin() as connection:  # PostgreSQL numbers rows before they commit
        connection.execute(slack_click.update().where(slack_click.c.id == remove).values(id=remove + 10))
    intended = _add(services, Action.IGNORE, "1.3")
    with services.store.engine.begin() as connection:  # a lower id than the removal's, seen only now
        connection.execute(slack_click.update().where(slack_click.c.id == intended).values(id=remove))
    assert clicks.claim_click(now, lease) is None  # another process: the Intended waits all the same


def test_a_refusal_neither_waits_for_nor_holds_up_a_workers_clicks(services):
    clicks, now, lease = services.store.clicks, datetime.now(UTC), timedelta(minutes=33)
    refused = _add(services, Action.REFUSE, "1.2", user="U0STRANGER", refusal="not an approver")
    remove = _add(services, Action.REMOVE, "1.3")
    assert clicks.claim_click(now, lease)["id"] == refused
    assert clicks.claim_click(now, lease)["id"] == remove  # the refusal still being answered holds nothing up
    assert _add(services, Action.REFUSE, "1.4", user="U0OTHER", refusal="not an approver") is not None
    assert clicks.claim_click(now, lease)["action"] == Action.REFUSE  # nor does the removal hold the refusal


def test_an_automatic_removal_and_an_approvers_click_on_one_worker_take_turns(services):
    clicks, records = services.store.clicks, services.store.records
    now, lease = datetime.now(UTC), timedelta(minutes=33)
    records.add_remediation(KEY, "guard", RemediationStatus.PENDING, "sip:x", "queued", now)  # REMEDIATE=remove
    assert records.claim_remediation(now, lease) is not None  # one process applies it
    intended = _add(services, Action.IGNORE, "1.2")
    refused = _add(services, Action.REFUSE, "1.3", user="U0STRANGER", refusal="not an approver")
    assert clicks.claim_click(now, lease)["id"] == refused  # the Intended waits; a refusal never does
    assert clicks.claim_click(now, lease) is None
    later = now + lease + timedelta(seconds=1)  # the removal's lease ran out (its process died)
    assert clicks.claim_click(later, lease)["id"] == intended
    assert records.claim_remediation(later, lease) is None  # taken up again, the removal waits for the Intended


def test_an_audits_removal_and_an_approvers_click_on_one_worker_take_turns(services):
    clicks, records = services.store.clicks, services.store.records
    now, lease = datetime.now(UTC), timedelta(minutes=33)
    job = records.take_removal(KEY, "lucille", now, lease)  # `audit --remediate --yes` is removing the value
    intended = _add(services, Action.IGNORE, "1.2")
    assert clicks.claim_click(now, lease) is None  # the Intended waits for the audit's removal
    assert records.take_removal(KEY, "buster", now, lease) is None  # so does a second audit
    records.finish_remediation(job, RemediationStatus.REMOVED, "sip:x", "removed", now)
    assert clicks.claim_click(now, lease)["id"] == intended
    assert records.take_removal(KEY, "lucille", now, lease) is None  # and now the audit waits for the Intended


def test_an_audit_takes_over_a_queued_removal_instead_of_leaving_it_to_run_twice(services):
    records, now, lease = services.store.records, datetime.now(UTC), timedelta(minutes=33)
    queued = records.add_remediation(KEY, "guard", RemediationStatus.PENDING, "sip:x", "queued", now)  # REMEDIATE
    assert records.take_removal(KEY, "lucille", now, lease) == queued
    assert records.claim_remediation(now, lease) is None  # REMEDIATE=remove's job finds it under way
    refused = _add(services, Action.REFUSE, "1.3", user="U0STRANGER", refusal="not an approver")
    assert services.store.clicks.claim_click(now, lease)["id"] == refused  # a refusal never waits, nor holds up
    assert records.take_removal(KEY, "buster", now + lease + timedelta(seconds=1), lease) == queued  # its audit died


@pytest.mark.parametrize("database_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
def test_an_audit_waits_for_a_removal_being_queued_and_takes_it_over_instead_of_running_beside_it(services):
    records, now, lease = services.store.records, datetime.now(UTC), timedelta(minutes=33)
    taken = []
    audit = threading.Thread(target=lambda: taken.append(records.take_removal(KEY, "lucille", now, lease)))
    waiting = text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
    with services.store.transaction() as tx, services.store.engine.connect() as probe:
        tx.workers.lock(KEY)  # the event writer judges a new drift; REMEDIATE=remove queues its removal
        queued = tx.records.add_remediation(KEY, "guard", RemediationStatus.PENDING, "sip:x", "queued", now)
        audit.start()
        while probe.execute(waiting).scalar() == 0:  # the audit waits for the worker
            probe.rollback()
            assert audit.is_alive()
    audit.join(10)
    assert taken == [queued] and len(remediations(services)) == 1  # one removal, the audit's now
    assert records.claim_remediation(now, lease) is None


def test_a_queued_removal_waits_while_an_audits_removal_of_its_worker_is_applied(services):
    records, now, lease = services.store.records, datetime.now(UTC), timedelta(minutes=33)
    assert records.take_removal(KEY, "lucille", now, lease) is not None
    with services.store.engine.begin() as connection:  # a second row, as a race before the worker lock left one
        row = {"account_sid": KEY.account_sid, "workspace_sid": KEY.workspace_sid, "worker_sid": KEY.worker_sid}
        connection.execute(remediation.insert().values(**row, actor="guard", status="pending", requested_at=now))
    assert records.claim_remediation(now, lease) is None  # REMEDIATE=remove's job waits for the audit's


@pytest.mark.parametrize("database_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
def test_the_prune_marks_no_removal_abandoned_while_an_audit_is_taking_one_over(services):
    records, now = services.store.records, datetime.now(UTC)
    abandon = threading.Thread(target=records.abandon_expired, args=(now, "abandoned"))
    waiting = text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
    with services.store.transaction() as tx, services.store.engine.connect() as probe:
        take_claim_turn(tx.records.bind)  # an audit's take_removal, between its look and its update
        abandon.start()
        while probe.execute(waiting).scalar() == 0:  # the prune waits for it
            probe.rollback()
            assert abandon.is_alive()
    abandon.join(10)
