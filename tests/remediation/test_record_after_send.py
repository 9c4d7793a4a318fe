"""A removal TaskRouter applied is recorded, though the database failed just after it was sent."""

import contextlib

import pytest
from sqlalchemy import event
from sqlalchemy.exc import OperationalError

from guard.service import removals
from tests.helpers import WORKSPACE_SID, email, populate, remediations, uri, worker_event, worker_sid


@pytest.mark.parametrize("settings_overrides", [{"remediate": "remove"}], indirect=True)
def test_a_removal_sent_during_a_database_outage_is_recorded_once_the_database_is_back(
    taskrouter, services, fake_api, monkeypatch
):
    """Before: held for its 33-minute lease; an agent who logged in meanwhile made it "skipped", its record lost."""
    monkeypatch.setattr(removals, "RECORD_PAUSE_SECONDS", 0.0)  # the record's own tries, at once
    populate(fake_api, 1, drifting={1})
    taskrouter.post(worker_event(sid=worker_sid(1), email=email(1), contact_uri="client:" + email(1), version=1))
    jobs = services.jobs.by_name["remediate"].run.__self__

    def outage(connection, cursor, statement, parameters, context, executemany):  # writes fail once it is sent
        if fake_api.updates and statement.lstrip().upper().startswith(("UPDATE", "INSERT")):
            raise OperationalError(statement, parameters, Exception("server closed the connection unexpectedly"))

    event.listen(services.store.engine, "before_cursor_execute", outage)
    with contextlib.suppress(OperationalError):
        jobs.run_pending()
    event.remove(services.store.engine, "before_cursor_execute", outage)
    assert len(fake_api.updates) == 1 and [r["status"] for r in remediations(services)] == ["pending"]
    back = {**fake_api.attributes(WORKSPACE_SID, worker_sid(1)), "contact_uri": uri(1)}
    fake_api.set_attributes(WORKSPACE_SID, worker_sid(1), back)  # the agent logs in again: Flex writes the value
    jobs.run_pending()  # the next round, the database back
    [record] = remediations(services)
    assert record["status"] == "removed" and len(fake_api.updates) == 1
