"""Hardening, second round (issue 20): each finding through the real intake, as docs/findings.md lists."""

import json
import os

import pytest
from sqlalchemy import func, select

from guard.adapters.tables import alert
from guard.core.ignore import IgnoreRules
from guard.core.snapshot import WorkerKey
from handlers.app import create_app
from tests.conftest import make_settings
from tests.helpers import (
    ACCOUNT_SID,
    ANN_EMAIL,
    ANN_URI,
    WORKSPACE_SID,
    TaskRouterPoster,
    batch_answer,
    cloudevent,
    post_cloudevents,
    stored_state,
    worker_event,
    worker_sid,
)

KEY = WorkerKey(ACCOUNT_SID, WORKSPACE_SID, worker_sid(1))
DELIBERATE = IgnoreRules().with_values("sip:*@pbx.example.com,+1*")  # INTENDED_CONTACT_URIS
WRONG = "client:ann.veal"  # the raw identity: a drift


@pytest.fixture
def settings_overrides(request):
    """Per-test settings from the parametrize marks."""
    return getattr(request, "param", {})


def update(taskrouter, version, name="Ann Veal", **attributes):
    """A signed worker.attributes.update with exactly these attributes."""
    event = worker_event(version=version, name=name, WorkerAttributes=json.dumps(attributes))
    assert taskrouter.post(event).status_code == 204


def kinds(services):
    """The kinds of the alerts queued so far."""
    with services.store.engine.connect() as connection:
        return [row.kind for row in connection.execute(select(alert.c.kind).order_by(alert.c.id))]


def detail(services):
    """The stored verdict and detail of worker 1."""
    row = stored_state(services, KEY)
    return row["verdict"], row["detail"]


@pytest.mark.parametrize("email", [None, ["ann.veal@arresteddevelopment.com"]])
def test_2_a_drift_that_loses_its_email_stays_a_drift(taskrouter, services, email):
    update(taskrouter, 1, email=ANN_EMAIL, contact_uri=WRONG)
    update(taskrouter, 2, contact_uri=WRONG, **({} if email is None else {"email": email}))
    verdict, text = detail(services)
    assert verdict == "mismatch" and "judged against the last known one" in text
    assert kinds(services) == ["drift"]  # never "resolved" while the value is still wrong


def test_2_an_ok_worker_whose_value_breaks_as_its_email_vanishes_is_a_drift_alert(taskrouter, services):
    update(taskrouter, 1, email=ANN_EMAIL, contact_uri=ANN_URI)
    update(taskrouter, 2, contact_uri=WRONG)
    assert kinds(services) == ["drift"] and detail(services)[0] == "mismatch"


@pytest.mark.parametrize(
    ("edit", "said"),
    [
        ({"name": "lone.gunmen"}, "worker name added to lone.gunmen"),
        ({"email": "lone.gunmen"}, f"email from {ANN_EMAIL} to lone.gunmen"),
        ({"twilio_contact_identity": "lone_2Egunmen"}, "twilio_contact_identity added to lone_2Egunmen"),
    ],
)
def test_3_evidence_edited_to_fit_the_wrong_value_is_not_a_fix(taskrouter, services, edit, said):
    fitted = "client:lone_2Egunmen"  # another identity, properly escaped: the edit below makes it "fit"
    update(taskrouter, 1, email=ANN_EMAIL, contact_uri=fitted)
    attributes = {"email": ANN_EMAIL, "contact_uri": fitted, **{k: v for k, v in edit.items() if k != "name"}}
    update(taskrouter, 2, name=edit.get("name", "Ann Veal"), **attributes)
    verdict, text = detail(services)
    assert verdict == "mismatch" and said in text and "contact_uri unchanged" in text
    assert "resolved" not in kinds(services)


@pytest.mark.parametrize("bad_type", [42, True, ["com.twilio.taskrouter.worker.created"], {"x": 1}])
def test_4_a_cloudevent_whose_type_is_not_a_string_is_one_bad_element(client, services, bad_type):
    odd = {**cloudevent(sid=worker_sid(2)), "type": bad_type}
    response = post_cloudevents(client, [odd, cloudevent(contact_uri=WRONG)])
    assert response.status_code == 200 and response.json == batch_answer(recorded=1, bad=1)
    assert detail(services)[0] == "mismatch"


def test_5_intended_means_this_value(taskrouter, services):
    update(taskrouter, 1, email=ANN_EMAIL, contact_uri=WRONG)
    services.pipeline.mark_intended(KEY, "slack:U0APPROVER")
    update(taskrouter, 2, email=ANN_EMAIL, contact_uri=WRONG)
    assert detail(services)[0] == "ignored"
    update(taskrouter, 3, email=ANN_EMAIL, contact_uri="sip:ann")  # a different value: judged again
    assert detail(services)[0] == "mismatch" and kinds(services) == ["drift", "resolved", "drift"]


@pytest.mark.parametrize("gone", ["the file", "its directory"])  # `rm -rf instance` under the running service
def test_6_a_vanished_sqlite_file_acknowledges_nothing_and_loses_no_queued_alert(tmp_path, migrated_sqlite, gone):
    import shutil

    path = tmp_path / "instance" / "guard.db"
    path.parent.mkdir()
    shutil.copyfile(migrated_sqlite, path)
    url = f"sqlite:///{path}"
    app = create_app(make_settings(url, slack_webhook_url="http://127.0.0.1:9/hook"))  # Slack is down
    poster = TaskRouterPoster(app.test_client())
    for n in range(1, 21):
        assert poster.post(worker_event(sid=worker_sid(n), contact_uri=WRONG)).status_code == 204
    os.unlink(path) if gone == "the file" else shutil.rmtree(path.parent)
    response = poster.post(worker_event(sid=worker_sid(30), contact_uri=WRONG))
    assert response.status_code == 503  # not acknowledged: TaskRouter retries
    assert app.test_client().get("/healthz").json["database"] == "file missing"
    app.extensions["guard"].store.engine.dispose()
    restarted = create_app(make_settings(url))  # the next start takes the saved copy back
    store = restarted.extensions["guard"].store
    with store.engine.connect() as connection:
        assert (
            connection.execute(select(func.count()).select_from(alert).where(alert.c.status == "pending")).scalar()
            == 20
        )
    store.engine.dispose()


@pytest.mark.parametrize(
    "settings_overrides",
    [{"ignore": __import__("guard.core.ignore").core.ignore.IgnoreRules().with_values("sip:*@pbx.example.com,+1*")}],
    indirect=True,
)
@pytest.mark.parametrize("value", ["sip:ann@pbx.example.com", "+15550100"])
def test_7_deliberate_sip_and_pstn_values_are_ignored_and_never_alerted(taskrouter, services, value):
    update(taskrouter, 1, email=ANN_EMAIL, contact_uri=value)
    verdict, text = detail(services)
    assert verdict == "ignored" and "INTENDED_CONTACT_URIS" in text and kinds(services) == []
