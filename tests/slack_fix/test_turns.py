"""Clicks take turns: with another process's answers, removals being applied (automatic or an audit's), the prune."""

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from guard.adapters.leases import take_claim_turn
from guard.adapters.slack import SendResult
from guard.adapters.tables import ignore_rule, remediation, slack_click
from guard.core.click import Action, Click, value_digest
from guard.core.statuses import RemediationStatus, SendOutcome
from tests.helpers import WORKSPACE_SID, remediations
from tests.slack_fix.support import DRIFTING, KEY, REFERENCE, click, rows


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
