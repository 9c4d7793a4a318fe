"""Through the service: an identity added to fit a wrong value is stored as set aside, and Flex's value is kept."""

import json

import pytest

from guard.core.snapshot import WorkerKey
from tests.helpers import ACCOUNT_SID, WORKSPACE_SID, email, populate, remediations, stored_state, uri, worker_event
from tests.helpers import worker_sid as sid

KEY = WorkerKey(ACCOUNT_SID, WORKSPACE_SID, sid(1))
FITTED = {"roles": ["agent"], "email": email(1), "twilio_contact_identity": "bobe", "contact_uri": "client:bobe"}


def update(version, **changes):
    """Worker 1's attributes update: FITTED with `changes` (None drops an attribute)."""
    attributes = {name: value for name, value in {**FITTED, **changes}.items() if value is not None}
    return worker_event(sid=sid(1), version=version, WorkerAttributes=json.dumps(attributes))


@pytest.mark.parametrize("settings_overrides", [{"remediate": "remove"}], indirect=True)
@pytest.mark.parametrize("echo", [True, False])  # the removal's own update event arrives first, or is lost
def test_the_login_value_after_removing_a_fitted_one_is_ok_and_not_removed(taskrouter, services, fake_api, echo):
    populate(fake_api, 1)
    fake_api.set_attributes(WORKSPACE_SID, sid(1), FITTED)
    for event in (update(1, twilio_contact_identity=None), update(2)):  # a wrong value, then the identity to fit it
        assert taskrouter.post(event).status_code == 204
    assert stored_state(services, KEY)["diagnosis"] == "evidence_changed"
    services.jobs.by_name["remediate"].run()  # removes client:bobe
    if echo:
        assert taskrouter.post(update(3, contact_uri=None)).status_code == 204
    assert taskrouter.post(update(4, contact_uri=uri(1))).status_code == 204  # Flex's value; the identity left
    services.jobs.by_name["remediate"].run()
    for later in (update(5, contact_uri=uri(1), twilio_contact_identity=None), update(6, contact_uri=uri(1))):
        assert taskrouter.post(later).status_code == 204  # the identity dropped, then back as it was
    services.jobs.by_name["remediate"].run()
    state = stored_state(services, KEY)
    assert (state["verdict"], state["basis"]) == ("ok", "email")
    assert [(r["before_value"], r["status"]) for r in remediations(services)] == [
        ("client:bobe", "removed")
    ]  # Flex's own value stays
