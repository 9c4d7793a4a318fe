"""The audit judges with what the guard knew: a rewritten identity or wiped attributes are drift there too."""

import json
import time

import pytest
from sqlalchemy import select, update

from guard.adapters.tables import alert, worker_state
from guard.core.history import Known
from guard.core.rules import Rules
from guard.core.snapshot import WorkerKey
from guard.core.statuses import RemediationStatus
from guard.service.remediation import remove_contact_uri
from tests.helpers import ACCOUNT_SID, WORKSPACE_SID, email, stored_state, uri, worker_event, worker_sid
from tests.helpers.workforce import audit, fake_api_settings, populate

FLEX = {"email": "agent@twilio.com", "twilio_contact_identity": "fmulder", "contact_uri": "client:fmulder"}
REWRITTEN = {**FLEX, "twilio_contact_identity": "dscully", "contact_uri": "client:dscully"}  # consistent-looking


@pytest.fixture
def settings_overrides(fake_api):
    """Point the REST client at the fake API."""
    return fake_api_settings(fake_api)


def entry(out: str) -> dict:
    """Worker 1's entry in a JSON report."""
    return next(w for w in json.loads(out)["workers"] if w["sid"] == worker_sid(1))


@pytest.mark.parametrize(
    ("now", "diagnosis"), [(REWRITTEN, "identity_changed"), ({"type": "support"}, "wiped")], ids=["rewrite", "wipe"]
)
def test_drift_only_the_history_shows_is_reported_and_exits_1(runner, fake_api, taskrouter, now, diagnosis):
    fake_api.add_worker(WORKSPACE_SID, worker_sid(1), "fmulder", now)
    code, out = audit(runner, "--format", "json")
    assert (code, entry(out)["verdict"]) == (0, "ok" if now is REWRITTEN else "ignored")  # nothing known yet
    taskrouter.post(worker_event(version=1, WorkerAttributes=json.dumps(FLEX)))  # the guard learns the worker
    code, out = audit(runner, "--format", "json")
    found = entry(out)
    assert (code, found["verdict"], found["diagnosis"]) == (1, "mismatch", diagnosis)
    assert found["expected"] == "client:fmulder"


def test_remediation_plans_the_removal_of_a_rewritten_identity(runner, fake_api, taskrouter):
    fake_api.add_worker(WORKSPACE_SID, worker_sid(1), "fmulder", REWRITTEN)
    taskrouter.post(worker_event(version=1, WorkerAttributes=json.dumps(FLEX)))
    code, _ = audit(runner, "--remediate", "--yes")
    assert code == 0  # removed: pending until the agent's next login
    assert "contact_uri" not in fake_api.attributes(WORKSPACE_SID, worker_sid(1))


def updates(fake_api) -> list[str]:
    """The attribute updates the audit sent to the TaskRouter API."""
    return [path for method, path in fake_api.requests if method == "POST" and "/Workers/" in path]


def test_wiped_attributes_are_drift_with_nothing_to_remove(runner, fake_api, taskrouter):
    fake_api.add_worker(WORKSPACE_SID, worker_sid(1), "fmulder", {"type": "support"})
    taskrouter.post(worker_event(version=1, WorkerAttributes=json.dumps(FLEX)))
    code, out = audit(runner, "--remediate", "--yes", "--format", "json")
    assert (code, entry(out)["verdict"], updates(fake_api)) == (1, "mismatch", [])  # the agent must sign in again


def test_after_the_removal_the_next_audit_says_pending_and_removes_nothing_more(runner, fake_api, taskrouter):
    fake_api.add_worker(WORKSPACE_SID, worker_sid(1), "fmulder", REWRITTEN)
    taskrouter.post(worker_event(version=1, WorkerAttributes=json.dumps(FLEX)))
    assert audit(runner, "--remediate", "--yes")[0] == 0
    code, out = audit(runner, "--remediate", "--yes", "--format", "json")
    found = entry(out)
    assert (code, found["verdict"], found["diagnosis"]) == (0, "pending", "identity_changed")
    assert len(updates(fake_api)) == 1


def test_the_recheck_before_a_removal_skips_a_worker_with_no_value(fake_api, services):
    fake_api.add_worker(WORKSPACE_SID, worker_sid(1), "fmulder", {"type": "support"})
    api = services.accounts.api_for(ACCOUNT_SID, WORKSPACE_SID)
    known = Known(email="agent@twilio.com", identity="fmulder", expected="client:fmulder", actual="client:fmulder")
    removal = remove_contact_uri(api, worker_sid(1), Rules(), apply=True, known=known)
    assert (removal.status, removal.detail, updates(fake_api)) == (
        RemediationStatus.SKIPPED,
        "no contact_uri to remove",
        [],
    )


def test_a_state_row_this_version_cannot_read_is_judged_on_its_attributes_and_logged(
    runner, fake_api, taskrouter, services, caplog
):
    fake_api.add_worker(WORKSPACE_SID, worker_sid(1), "fmulder", REWRITTEN)
    taskrouter.post(worker_event(version=1, WorkerAttributes=json.dumps(FLEX)))
    with services.store.engine.begin() as connection:  # as a newer release might have written it
        connection.execute(update(worker_state).values(basis="sso"))
    code, out = audit(runner, "--format", "json")
    assert (code, entry(out)["verdict"]) == (0, "ok")  # no history to judge with: not a crash, not exit 1
    assert any(record.msg == "unreadable_state" for record in caplog.records)


def test_the_recheck_keeps_a_value_that_is_the_identity_the_guard_knew(fake_api, services):
    fake_api.add_worker(WORKSPACE_SID, worker_sid(1), "fmulder", {**FLEX, "twilio_contact_identity": "dscully"})
    api = services.accounts.api_for(ACCOUNT_SID, WORKSPACE_SID)
    known = Known(email="agent@twilio.com", identity="fmulder", expected="client:fmulder", actual="client:fmulder")
    removal = remove_contact_uri(api, worker_sid(1), Rules(), apply=True, known=known)
    assert (removal.status, updates(fake_api)) == (RemediationStatus.SKIPPED, [])
    assert "what the browser registers" in removal.detail


def test_the_recheck_keeps_a_value_no_voice_client_registers_on_a_worker_without_email(fake_api, services):
    fake_api.add_worker(WORKSPACE_SID, worker_sid(1), "Ann Veal", {"contact_uri": "client:ann.veal@x.com"})
    api = services.accounts.api_for(ACCOUNT_SID, WORKSPACE_SID)
    removal = remove_contact_uri(api, worker_sid(1), Rules(), apply=True)
    assert (removal.status, updates(fake_api)) == (RemediationStatus.SKIPPED, [])
    assert removal.detail.startswith("no email to derive its value from")  # not "what the browser registers"


def test_a_renamed_worker_whose_value_matched_its_old_name_is_not_reported_nor_removed(runner, fake_api, taskrouter):
    dana = {"email": "dana.scully@fbi.example", "contact_uri": "client:dana_2Escully", "roles": ["agent"]}
    fake_api.add_worker(WORKSPACE_SID, worker_sid(1), "Dana Scully", dana)  # renamed since the guard saw it
    taskrouter.post(worker_event(version=1, WorkerName="dana.scully", WorkerAttributes=json.dumps(dana)))
    code, out = audit(runner, "--remediate", "--yes", "--format", "json")
    assert (code, entry(out)["verdict"], entry(out)["basis"], updates(fake_api)) == (0, "ok", "worker_name", [])


def test_a_state_stored_before_name_matched_existed_keeps_a_renamed_worker_ok(taskrouter, services):
    dana = {"email": "dana.scully@fbi.example", "contact_uri": "client:dana_2Escully", "roles": ["agent"]}
    taskrouter.post(worker_event(version=1, WorkerName="dana.scully", WorkerAttributes=json.dumps(dana)))
    older = json.dumps({"email": dana["email"], "name": "dana.scully", "identity": None})  # as the last release kept it
    with services.store.engine.begin() as connection:
        connection.execute(update(worker_state).values(trusted=older))
    taskrouter.post(worker_event(version=2, WorkerName="Dana Scully", WorkerAttributes=json.dumps(dana)))
    with services.store.engine.connect() as connection:
        assert connection.execute(select(worker_state.c.verdict)).scalar() == "ok"


def test_an_edit_made_while_the_audit_lists_is_not_undone_by_the_listings_older_copy(
    runner, fake_api, services, taskrouter
):
    # The copy was stamped when judged, after every page: it outranked the edit's event (a false resolved)
    populate(fake_api, 1)
    key = WorkerKey(ACCOUNT_SID, WORKSPACE_SID, worker_sid(1))
    assert (
        taskrouter.post(worker_event(sid=worker_sid(1), email=email(1), contact_uri=uri(1), version=1)).status_code
        == 204
    )

    def broken_meanwhile(listed):
        """A script breaks the worker once its page was read; the callback lands before the audit goes on."""
        fake_api.after_page = None
        now = int(time.time() * 1000) + 1  # after the listing was asked for, even within its millisecond
        edit = worker_event(sid=worker_sid(1), email=email(1), contact_uri="client:" + email(1), version=2)
        assert taskrouter.post({**edit, "Timestamp": str(now // 1000), "TimestampMs": str(now)}).status_code == 204

    fake_api.after_page = broken_meanwhile
    audit(runner, "--alert", "--format", "json")
    assert stored_state(services, key)["verdict"] == "mismatch"
    with services.store.engine.connect() as connection:
        kinds = connection.execute(select(alert.c.kind).order_by(alert.c.id)).scalars().all()
    assert kinds == ["drift"]  # no false "resolved" after it
