"""After a removal: no loops, a value written back is kept, the removal is watched until Flex writes one."""

import contextlib
import json
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import create_engine, event, select, update
from sqlalchemy.exc import OperationalError

from guard.adapters.journal import RemovalJournal
from guard.adapters.tables import alert, metadata, removal_sent, worker_state
from guard.adapters.worker_listing import WorkerListing
from guard.config import ConfigError
from guard.core.rules import Rules
from guard.core.snapshot import WorkerKey
from guard.core.statuses import RemediationStatus
from guard.service.remediation import JOURNAL_BUSY_DETAIL, remove_contact_uri
from guard.service.remediation_jobs import RETRY_SECONDS
from tests.helpers import (
    ACCOUNT_SID,
    WORKSPACE_SID,
    audit,
    email,
    populate,
    remediations,
    stored_state,
    uri,
    worker_event,
    worker_sid,
)
from tests.test_status import OPERATOR, PASSWORD


@pytest.mark.parametrize("settings_overrides", [{"remediate": "remove"}], indirect=True)
def test_webhook_remediation_is_loop_safe(taskrouter, services, fake_api):
    """Drift -> alert -> removal; the update it causes ends as pending/resolved; nothing repeats."""
    populate(fake_api, 1, drifting={1})
    drift = worker_event(sid=worker_sid(1), email=email(1), contact_uri="client:" + email(1), version=1)
    assert taskrouter.post(drift).status_code == 204
    assert fake_api.updates == []  # the request path made no network call
    services.jobs.by_name["remediate"].run()
    assert len(fake_api.updates) == 1
    echo = worker_event(sid=worker_sid(1), email=email(1), contact_uri=None, version=2)
    assert taskrouter.post(echo).status_code == 204
    services.jobs.by_name["remediate"].run()
    assert len(fake_api.updates) == 1
    key = WorkerKey(ACCOUNT_SID, WORKSPACE_SID, worker_sid(1))
    assert stored_state(services, key)["verdict"] == "pending"
    with services.store.engine.connect() as connection:
        kinds = [r.kind for r in connection.execute(select(alert.c.kind).order_by(alert.c.id))]
    assert kinds == ["drift", "remediation"]  # the removal closes the drift; its own echo repeats nothing
    [record] = remediations(services)
    assert (record["actor"], record["status"]) == ("guard (REMEDIATE=remove)", "removed")


@pytest.mark.parametrize("settings_overrides", [{"remediate": "remove"}], indirect=True)
def test_a_value_written_back_after_its_removal_is_not_removed_again(runner, taskrouter, services, fake_api):
    """Removed once; the same value back (Flex at the login, or a script) is alerted and kept: no loop."""
    populate(fake_api, 1)
    wrong = uri(2)  # a value a login could write: another user's identity
    fake_api.set_attributes(WORKSPACE_SID, worker_sid(1), {"email": email(1), "contact_uri": wrong})
    assert taskrouter.post(worker_event(sid=worker_sid(1), email=email(1), contact_uri=wrong, version=1)).status_code
    services.jobs.by_name["remediate"].run()
    assert len(fake_api.updates) == 1
    fake_api.set_attributes(WORKSPACE_SID, worker_sid(1), {"email": email(1), "contact_uri": wrong})
    for version, value in ((2, None), (3, wrong)):  # the removal's own update, then the value back
        taskrouter.post(worker_event(sid=worker_sid(1), email=email(1), contact_uri=value, version=version))
    services.jobs.by_name["remediate"].run()
    code, out = audit(runner, "--remediate", "--yes", "--format", "json")
    assert len(fake_api.updates) == 1  # neither REMEDIATE=remove nor the audit removed it again
    assert code == 1 and json.loads(out)["summary"]["mismatch"] == 1
    key = WorkerKey(ACCOUNT_SID, WORKSPACE_SID, worker_sid(1))
    assert stored_state(services, key)["verdict"] == "mismatch"
    with services.store.engine.connect() as connection:
        notes = [json.loads(r.payload)["note"] for r in connection.execute(select(alert).order_by(alert.c.id))]
    assert "came back after the guard removed it" in notes[2]


def journal(services, key):
    """The removal journal of `key`'s worker, honoured for two hours."""
    return RemovalJournal(services.store.engine, key, timedelta(hours=1))


def now_ms():
    """The guard's clock in milliseconds."""
    return int(datetime.now(UTC).timestamp() * 1000)


FLEX = {"email": "agent@twilio.com", "twilio_contact_identity": "fmulder", "contact_uri": "client:fmulder"}
RENAMED = {**FLEX, "twilio_contact_identity": "dscully", "contact_uri": "client:dscully"}  # changed at the IdP


def test_an_audit_removal_the_guard_saw_no_event_for_is_watched_and_not_repeated(
    runner, fake_api, taskrouter, services
):
    """The guard knew fmulder (ok), missed the rename's event; the audit removes client:dscully, Flex writes it back."""
    fake_api.add_worker(WORKSPACE_SID, worker_sid(1), "fmulder", RENAMED)
    taskrouter.post(worker_event(version=1, WorkerAttributes=json.dumps(FLEX)))
    assert audit(runner, "--remediate", "--yes")[0] == 0
    state = stored_state(services, WorkerKey(ACCOUNT_SID, WORKSPACE_SID, worker_sid(1)))
    assert (state["verdict"], state["actual"], state["removed"]) == ("pending", None, "client:dscully")
    fake_api.set_attributes(WORKSPACE_SID, worker_sid(1), RENAMED)  # the next login
    code, _ = audit(runner, "--remediate", "--yes")
    assert len(fake_api.updates) == 1 and code == 1  # reported, not removed a second time


@pytest.mark.parametrize("settings_overrides", [{"remediate": "remove"}], indirect=True)
def test_a_removal_whose_answer_was_lost_is_still_the_guards_removal(taskrouter, services, fake_api):
    """Applied, answered 503; the retried update gets 412 and the value is gone: recorded as removed, and watched."""
    populate(fake_api, 1)
    wrong = uri(2)  # a value a login could write
    fake_api.set_attributes(WORKSPACE_SID, worker_sid(1), {"email": email(1), "contact_uri": wrong})
    fake_api.lost_answers = 1
    taskrouter.post(worker_event(sid=worker_sid(1), email=email(1), contact_uri=wrong, version=1))
    services.jobs.by_name["remediate"].run()
    assert "contact_uri" not in fake_api.attributes(WORKSPACE_SID, worker_sid(1))
    [record] = remediations(services)
    assert (record["status"], record["before_value"]) == ("removed", wrong)
    fake_api.set_attributes(WORKSPACE_SID, worker_sid(1), {"email": email(1), "contact_uri": wrong})  # the login
    for version, value in ((3, None), (5, wrong)):
        taskrouter.post(worker_event(sid=worker_sid(1), email=email(1), contact_uri=value, version=version))
    services.jobs.by_name["remediate"].run()
    assert len(remediations(services)) == 1  # the value back is not removed again


@pytest.mark.parametrize("settings_overrides", [{"remediate": "remove"}], indirect=True)
def test_a_removal_answered_200_with_a_page_that_is_no_json_is_looked_at_again(taskrouter, services, fake_api, caplog):
    """Applied, answered by a proxy's page: the worker is fetched again, and the value gone is the guard's removal."""
    populate(fake_api, 1)
    wrong = uri(2)
    fake_api.set_attributes(WORKSPACE_SID, worker_sid(1), {"email": email(1), "contact_uri": wrong})
    fake_api.garbled_answers = 1
    taskrouter.post(worker_event(sid=worker_sid(1), email=email(1), contact_uri=wrong, version=1))
    services.jobs.by_name["remediate"].run()
    [record] = remediations(services)
    assert (record["status"], record["before_value"]) == ("removed", wrong)  # before: failed, JSONDecodeError
    assert len(fake_api.updates) == 1 and "Traceback" not in caplog.text


@pytest.mark.parametrize("settings_overrides", [{"remediate": "remove"}], indirect=True)
def test_a_removal_a_proxy_always_answers_with_its_page_fails_saying_so(taskrouter, services, fake_api):
    populate(fake_api, 1, drifting={1})
    fake_api.inject(200, times=10, method="POST", body="<html>sign in</html>")  # never reaches TaskRouter
    taskrouter.post(worker_event(sid=worker_sid(1), email=email(1), contact_uri=uri(2), version=1))
    services.jobs.by_name["remediate"].run()
    [record] = remediations(services)
    assert record["status"] == "failed" and "answer could not be read" in record["detail"]


@pytest.mark.parametrize("settings_overrides", [{"remediate": "remove"}], indirect=True)
def test_a_wipe_by_another_writer_during_a_removal_is_not_the_guards_removal(taskrouter, services, fake_api):
    """A script wipes the worker between the guard's fetch and its update: the 412 is real, nothing of ours landed."""
    populate(fake_api, 1)
    fake_api.set_attributes(WORKSPACE_SID, worker_sid(1), {"email": email(1), "contact_uri": uri(2)})
    taskrouter.post(worker_event(sid=worker_sid(1), email=email(1), contact_uri=uri(2), version=2))

    def script(sid):
        fake_api.before_update = None
        fake_api.set_attributes(WORKSPACE_SID, sid, {"routing": {"skills": ["es"]}})  # wiped
        taskrouter.post(worker_event(sid=sid, email=None, contact_uri=None, version=3))  # its event, on time

    fake_api.before_update = script
    services.jobs.by_name["remediate"].run()
    [record] = remediations(services)
    assert record["status"] == "skipped"  # not announced as removed by the guard
    assert stored_state(services, WorkerKey(ACCOUNT_SID, WORKSPACE_SID, worker_sid(1)))["diagnosis"] == "wiped"


def test_an_audit_that_sees_an_accepted_value_ends_the_watch_on_the_removed_one(runner, fake_api, services):
    """Audits alone: removed, then ok at the next audits, then the wrong value again weeks later: removed again."""
    populate(fake_api, 1)
    wrong = uri(2)  # a value a login could write, wrong for worker 1 (a script copied agent 2's)
    fake_api.set_attributes(WORKSPACE_SID, worker_sid(1), {"email": email(1), "contact_uri": wrong})
    assert audit(runner, "--remediate", "--yes")[0] == 0
    fake_api.set_attributes(WORKSPACE_SID, worker_sid(1), {"email": email(1), "contact_uri": uri(1)})  # the login
    assert audit(runner)[0] == 0  # a plain audit sees it ok
    assert stored_state(services, WorkerKey(ACCOUNT_SID, WORKSPACE_SID, worker_sid(1)))["removed"] is None
    fake_api.set_attributes(WORKSPACE_SID, worker_sid(1), {"email": email(1), "contact_uri": wrong})
    assert audit(runner, "--remediate", "--yes")[0] == 0
    assert len(fake_api.updates) == 2  # over an accepted value, it is a new drift: removed


@pytest.mark.parametrize("settings_overrides", [{"remediate": "remove"}], indirect=True)
def test_a_queued_removal_whose_account_is_no_longer_configured_fails_once_and_holds_nothing(
    taskrouter, services, fake_api
):
    populate(fake_api, 1, drifting={1})
    taskrouter.post(worker_event(sid=worker_sid(1), email=email(1), contact_uri="client:" + email(1), version=1))
    jobs = services.jobs.by_name["remediate"].run.__self__

    def unconfigured(account_sid, workspace_sid):
        raise ConfigError("TWILIO_ACCOUNT_SID is not set")  # credentials removed since the removal was queued

    jobs.api_for = unconfigured
    assert jobs.run_pending() == 1  # handled, not left leased for 33 minutes (clicks on the worker wait for it)
    [record] = remediations(services)
    assert record["status"] == "failed" and "TWILIO_ACCOUNT_SID is not set" in record["detail"]
    assert (
        services.store.records.claim_remediation(datetime.now(UTC) + timedelta(hours=1), timedelta(minutes=1)) is None
    )
    assert fake_api.updates == []


def test_a_new_drift_does_not_show_an_earlier_episodes_removal(runner, taskrouter, services, fake_api):
    """The Remediation column is this episode's: removed while the value is gone, nothing once a new drift starts."""
    populate(fake_api, 1, drifting={1})

    def listed(version: int, value: str | None) -> tuple[str, str | None]:
        taskrouter.post(worker_event(sid=worker_sid(1), email=email(1), contact_uri=value, version=version))
        [row] = WorkerListing(services.store.engine).listing()
        return row["verdict"], row["remediation_status"]

    assert listed(1, "client:" + email(1)) == ("mismatch", None)
    audit(runner, "--remediate", "--yes")
    assert len(fake_api.updates) == 1
    assert listed(2, None) == ("pending", "removed")  # the removal's own update: pending until the next login
    assert listed(3, "sip:a@pbx.example.com") == ("mismatch", None)  # a new wrong value before the login
    assert listed(4, uri(1)) == ("ok", None)
    assert listed(5, "sip:a@pbx.example.com") == ("mismatch", None)  # a new drift: nothing was removed this time


@pytest.mark.parametrize("settings_overrides", [{"remediate": "remove"}], indirect=True)
def test_a_login_recorded_before_the_removal_is_not_undone_by_it(taskrouter, services, fake_api):
    """The update's own event and the agent's login arrive while the removal's answer is on its way: they stand."""
    populate(fake_api, 1)
    wrong = "client:" + email(1)
    fake_api.set_attributes(WORKSPACE_SID, worker_sid(1), {"email": email(1), "contact_uri": wrong})
    assert taskrouter.post(worker_event(sid=worker_sid(1), email=email(1), contact_uri=wrong, version=1)).status_code

    def echo_and_login(sid: str) -> None:
        for version, value in ((2, None), (3, uri(1))):  # the removal's own update, then Flex at the login
            taskrouter.post(worker_event(sid=sid, email=email(1), contact_uri=value, version=version))

    fake_api.after_update = echo_and_login
    services.jobs.by_name["remediate"].run()
    state = stored_state(services, WorkerKey(ACCOUNT_SID, WORKSPACE_SID, worker_sid(1)))
    assert (state["verdict"], state["actual"]) == ("ok", uri(1))
    assert [r["status"] for r in remediations(services)] == ["removed"]


@pytest.mark.parametrize("settings_overrides", [{"remediate": "remove"}], indirect=True)
def test_a_value_put_back_after_the_update_landed_and_delivered_after_the_record_came_back(
    taskrouter, services, fake_api
):
    """A script writes the removed value back as soon as the guard's update lands; its event comes after the record."""
    populate(fake_api, 1)
    wrong = uri(2)  # a value a login could write: never removed twice
    fake_api.set_attributes(WORKSPACE_SID, worker_sid(1), {"email": email(1), "contact_uri": wrong})
    assert taskrouter.post(worker_event(sid=worker_sid(1), email=email(1), contact_uri=wrong, version=1)).status_code
    made = []

    def put_back(sid: str) -> None:
        fake_api.after_update = None
        made.append(worker_event(sid=sid, email=email(1), contact_uri=None, version=2))  # the update's own event
        fake_api.set_attributes(WORKSPACE_SID, sid, {"email": email(1), "contact_uri": wrong})
        made.append(worker_event(sid=sid, email=email(1), contact_uri=wrong, version=3))  # the script's

    fake_api.after_update = put_back
    services.jobs.by_name["remediate"].run()
    for fields in made:  # stamped when made: before the removal was recorded, after its update was sent
        assert taskrouter.post(fields).status_code == 204
    state = stored_state(services, WorkerKey(ACCOUNT_SID, WORKSPACE_SID, worker_sid(1)))
    assert (state["verdict"], state["actual"]) == ("mismatch", wrong)
    services.jobs.by_name["remediate"].run()
    assert len(fake_api.updates) == 1  # come back: alerted, not removed again


@pytest.mark.parametrize("settings_overrides", [{"remediate": "remove"}], indirect=True)
def test_a_removal_whose_process_died_before_its_answer_is_recorded_and_its_value_watched(
    taskrouter, services, fake_api
):
    """TaskRouter applied the update, the process sending it died: the re-check said "nothing removed" before."""
    populate(fake_api, 1)
    key, wrong = WorkerKey(ACCOUNT_SID, WORKSPACE_SID, worker_sid(1)), uri(2)
    fake_api.set_attributes(WORKSPACE_SID, worker_sid(1), {"email": email(1), "contact_uri": wrong})
    assert taskrouter.post(worker_event(sid=worker_sid(1), email=email(1), contact_uri=wrong, version=1)).status_code
    sent_ms = int(datetime.now(UTC).timestamp() * 1000)  # the try that died: its journal row, then TaskRouter's update
    journal(services, key).sending(wrong, {"email": email(1)}, sent_ms)
    fake_api.set_attributes(WORKSPACE_SID, worker_sid(1), {"email": email(1)})
    services.jobs.by_name["remediate"].run()  # the queued removal, taken up again (its lease ran out)
    assert [(r["status"], r["before_value"]) for r in remediations(services)] == [("removed", wrong)]
    for version, value in ((2, None), (3, wrong)):  # the update's own event, then Flex writes the value back
        taskrouter.post(worker_event(sid=worker_sid(1), email=email(1), contact_uri=value, version=version))
    services.jobs.by_name["remediate"].run()
    assert fake_api.updates == []  # not removed a second time: it came back after the guard removed it
    assert stored_state(services, key)["verdict"] == "mismatch"
    assert journal(services, key).landed(now_ms()) is None  # recorded: the journal is clear


@pytest.mark.parametrize("settings_overrides", [{"remediate": "remove"}], indirect=True)
def test_the_journal_holds_what_an_update_leaves_while_it_is_sent_and_is_cleared_once_recorded(
    taskrouter, services, fake_api
):
    populate(fake_api, 1, drifting={1})
    key = WorkerKey(ACCOUNT_SID, WORKSPACE_SID, worker_sid(1))
    seen = []
    fake_api.before_update = lambda sid: seen.append(journal(services, key).landed(now_ms()))
    assert taskrouter.post(
        worker_event(sid=worker_sid(1), email=email(1), contact_uri="client:" + email(1))
    ).status_code
    services.jobs.by_name["remediate"].run()
    assert [sent.value for sent in seen] == ["client:" + email(1)]  # committed before TaskRouter got the update
    assert journal(services, key).landed(now_ms()) is None


@pytest.mark.parametrize("settings_overrides", [{"remediate": "remove"}], indirect=True)
def test_a_journal_row_past_its_horizon_or_after_a_value_was_seen_claims_no_removal(taskrouter, services, fake_api):
    """A row a killed removal left weeks ago: the same attributes now may be anyone's doing (a hand removal)."""
    populate(fake_api, 1)
    key, wrong = WorkerKey(ACCOUNT_SID, WORKSPACE_SID, worker_sid(1)), uri(2)
    journal(services, key).sending(wrong, {"email": email(1)}, now_ms() - 3 * 3600_000)
    assert journal(services, key).landed(now_ms()) is None
    journal(services, key).sending(wrong, {"email": email(1)}, now_ms())
    fake_api.set_attributes(WORKSPACE_SID, worker_sid(1), {"email": email(1), "contact_uri": "sip:x@pbx.example.com"})
    assert taskrouter.post(worker_event(sid=worker_sid(1), email=email(1), contact_uri="sip:x@pbx.example.com"))
    services.jobs.by_name["remediate"].run()  # removes the sip: value; its record clears the row
    assert [(r["status"], r["before_value"]) for r in remediations(services)] == [("removed", "sip:x@pbx.example.com")]
    assert journal(services, key).landed(now_ms()) is None


@pytest.mark.parametrize("settings_overrides", [{"remediate": "remove"}], indirect=True)
def test_a_removal_that_failed_after_its_update_landed_keeps_its_journal_row(taskrouter, services, fake_api):
    """Applied, then 503 and 503 again: "failed" cleared the journal, and the next try knew nothing of it."""
    populate(fake_api, 1)
    key, wrong = WorkerKey(ACCOUNT_SID, WORKSPACE_SID, worker_sid(1)), uri(2)
    fake_api.set_attributes(WORKSPACE_SID, worker_sid(1), {"email": email(1), "contact_uri": wrong})
    fake_api.lost_answers = 1  # applied, then answered 503
    fake_api.after_update = lambda sid: fake_api.inject(503, times=10, method="POST")  # its retry too
    assert taskrouter.post(worker_event(sid=worker_sid(1), email=email(1), contact_uri=wrong, version=1)).status_code
    services.jobs.by_name["remediate"].run()
    assert [r["status"] for r in remediations(services)] == ["failed"]
    assert journal(services, key).landed(now_ms()).value == wrong  # kept: a click's next try knows it as ours


@pytest.mark.parametrize("settings_overrides", [{"remediate": "remove"}], indirect=True)
@pytest.mark.parametrize(("refusal", "kept"), [(403, False), (429, True)])
def test_an_update_taskrouter_refused_leaves_no_journal_row(taskrouter, services, fake_api, refusal, kept):
    """A 403 applies nothing: a row kept would credit the guard with a later removal by hand (the same attributes).

    A 429 may answer the retry of an update that landed, its answer lost: that row stays.
    """
    populate(fake_api, 1, drifting={1})
    key = WorkerKey(ACCOUNT_SID, WORKSPACE_SID, worker_sid(1))
    fake_api.inject(refusal, times=50, method="POST", Retry_After="0")
    drift = worker_event(sid=worker_sid(1), email=email(1), contact_uri="client:" + email(1))
    assert taskrouter.post(drift).status_code == 204
    services.jobs.by_name["remediate"].run()
    assert [r["status"] for r in remediations(services)] == ["failed"]
    assert (journal(services, key).landed(now_ms()) is not None) is kept


def test_a_journal_that_cannot_be_written_sends_nothing_and_says_so(fake_api, services, tmp_path):
    fake_api.add_worker(WORKSPACE_SID, worker_sid(1), "agent.1", {"email": email(1), "contact_uri": "sip:x"})
    api = services.accounts.api_for(ACCOUNT_SID, WORKSPACE_SID)
    key = WorkerKey(ACCOUNT_SID, WORKSPACE_SID, worker_sid(1))
    path = tmp_path / "journal.db"
    metadata.create_all(create_engine(f"sqlite:///{path}"), tables=[removal_sent])
    read_only = create_engine(f"sqlite:///file:{path}?mode=ro&uri=true")  # reads, and refuses every write
    unwritable = RemovalJournal(read_only, key, timedelta(hours=1))
    removal = remove_contact_uri(api, worker_sid(1), Rules(), apply=True, journal=unwritable)
    assert (removal.status, removal.detail, fake_api.updates) == (RemediationStatus.FAILED, JOURNAL_BUSY_DETAIL, [])


def test_a_refused_update_is_said_as_taskrouter_said_it_even_when_the_journal_cannot_be_cleared(
    fake_api, services, tmp_path
):
    fake_api.add_worker(WORKSPACE_SID, worker_sid(1), "agent.1", {"email": email(1), "contact_uri": "sip:x"})
    fake_api.inject(403, times=1, method="POST")
    api = services.accounts.api_for(ACCOUNT_SID, WORKSPACE_SID)

    class Stuck(RemovalJournal):
        """A journal whose database is busy when the row is cleared."""

        def clear(self):
            raise TimeoutError("database busy")

    stuck = Stuck(services.store.engine, WorkerKey(ACCOUNT_SID, WORKSPACE_SID, worker_sid(1)), timedelta(hours=1))
    removal = remove_contact_uri(api, worker_sid(1), Rules(), apply=True, journal=stuck)
    assert removal.status is RemediationStatus.FAILED and "403" in removal.detail  # not "unexpected error"


@pytest.mark.parametrize("settings_overrides", [{"remediate": "remove"}], indirect=True)
def test_a_login_value_back_after_a_script_value_was_removed_meanwhile_is_removed_once(taskrouter, services, fake_api):
    """A login writes X, a script the raw email, in turn: watching the last value only, X went at every login."""
    populate(fake_api, 1)
    login, script = "client:aveal", "client:" + email(1)  # the name is no evidence of aveal: X is judged wrong
    version = 0
    for value in (login, script, login, script, login):
        fake_api.set_attributes(WORKSPACE_SID, worker_sid(1), {"email": email(1), "contact_uri": value})
        version += 1
        written = worker_event(sid=worker_sid(1), email=email(1), contact_uri=value, version=version, name="Agent One")
        assert taskrouter.post(written).status_code == 204
        sent = len(fake_api.updates)
        services.jobs.by_name["remediate"].run()
        if len(fake_api.updates) > sent:  # the removal's own update
            version += 1
            echo = worker_event(sid=worker_sid(1), email=email(1), contact_uri=None, version=version, name="Agent One")
            assert taskrouter.post(echo).status_code == 204
    assert [r["before_value"] for r in remediations(services)] == [login, script, script]
    with services.store.engine.connect() as connection:
        notes = [json.loads(row.payload)["note"] for row in connection.execute(select(alert).order_by(alert.c.id))]
    assert sum("came back after the guard removed it" in note for note in notes) == 2


@pytest.mark.parametrize(
    ("stored", "watched"),
    [("5", ()), ("true", ()), ('["client:aveal", 7]', ("client:aveal",)), ("client:aveal", ("client:aveal",))],
)
def test_the_watched_values_are_read_whatever_the_column_holds(taskrouter, services, stored, watched):
    # A number crashed every event of the worker (500), clicks and removals; a plain value is a build's before the list
    key = WorkerKey(ACCOUNT_SID, WORKSPACE_SID, worker_sid(1))
    assert taskrouter.post(worker_event(sid=worker_sid(1), email=email(1), contact_uri="sip:x")).status_code == 204
    with services.store.engine.begin() as connection:
        connection.execute(update(worker_state).values(watched=stored))
    assert services.store.workers.state(key).watched == watched
    later = worker_event(sid=worker_sid(1), email=email(1), contact_uri="sip:y", version=2)
    assert taskrouter.post(later).status_code == 204


@pytest.mark.parametrize("settings_overrides", [{"status_password": PASSWORD}], indirect=True)
@pytest.mark.parametrize("column", ["changes", "cause"])
def test_a_json_column_that_holds_no_object_is_read_as_empty(taskrouter, services, client, column):
    key = WorkerKey(ACCOUNT_SID, WORKSPACE_SID, worker_sid(1))
    assert taskrouter.post(worker_event(sid=worker_sid(1), email=email(1), contact_uri="sip:x")).status_code == 204
    with services.store.engine.begin() as connection:
        connection.execute(update(worker_state).values({column: "[5]"}))
    assert getattr(services.store.workers.state(key), column) is None
    assert client.get("/status", headers=OPERATOR).status_code == 200
    assert client.get("/api/workers", headers=OPERATOR).get_json()["workers"][0][column] is None
    later = worker_event(sid=worker_sid(1), email=email(1), contact_uri="sip:y", version=2)
    assert taskrouter.post(later).status_code == 204


@contextmanager
def failing_once(engine, table):
    """The next statement on `table` fails as a connection reset does (a failover, pg_terminate_backend)."""
    left = [1]

    def reset(connection, cursor, statement, parameters, context, executemany):
        if left and f" {table}" in statement:
            left.pop()
            raise OperationalError(statement, parameters, Exception("server closed the connection unexpectedly"))

    event.listen(engine, "before_cursor_execute", reset)
    try:
        yield
    finally:
        event.remove(engine, "before_cursor_execute", reset)


@pytest.mark.parametrize("settings_overrides", [{"remediate": "remove"}], indirect=True)
@pytest.mark.parametrize("table", ["removal_sent", "worker_state"])  # the journal's write; the state's read first
def test_a_queued_removal_that_meets_a_connection_reset_before_sending_is_tried_again_soon(
    taskrouter, services, fake_api, clock, table
):
    populate(fake_api, 1, drifting={1})
    taskrouter.post(worker_event(sid=worker_sid(1), email=email(1), contact_uri="client:" + email(1), version=1))
    jobs = services.jobs.by_name["remediate"].run.__self__
    with failing_once(services.store.engine, table), contextlib.suppress(OperationalError):
        jobs.run_pending()  # the round ends on the outage, and the job runner logs it
    [record] = remediations(services)
    assert (record["status"], fake_api.updates) == ("pending", []), record["detail"]  # not failed for good, nor sent
    clock.advance(RETRY_SECONDS + 1)  # then soon, not once the 33-minute lease runs out
    assert jobs.run_pending() == 1
    [record] = remediations(services)
    assert (record["status"], len(fake_api.updates)) == ("removed", 1)
