"""/status's Intended rules: a Remove form removes the rule its row showed, and what an editor wrote shows escaped."""

import re
from datetime import timedelta

from guard.clock import utcnow
from guard.core.snapshot import WorkerKey
from tests.helpers import ACCOUNT_SID, WORKSPACE_SID, worker_event, worker_sid
from tests.test_status import OPERATOR, settings_overrides  # noqa: F401 - the status page's password


def key(n):
    """Worker n's key."""
    return WorkerKey(ACCOUNT_SID, WORKSPACE_SID, worker_sid(n))


def removal_form(client):
    """The (action, token) of the first Remove form on /status."""
    page = client.get("/status", headers=OPERATOR).get_data(as_text=True)
    action, token = re.search(
        r'<form method="post" action="([^"]+)">\s*<input type="hidden" name="token" value="(\w+)"', page
    ).groups()
    return action, token


def test_an_old_remove_form_never_removes_a_later_rule_given_the_same_id(client, services):
    # SQLite gives a deleted rule's id to the next one: the old form removed another worker's exemption
    services.store.intended.add(key(1), "slack:U1", "sip:desk1@pbx.example.com", utcnow() - timedelta(minutes=5))
    action, token = removal_form(client)
    assert client.post(action, headers=OPERATOR, data={"token": token}).status_code == 303
    services.store.intended.add(key(2), "slack:U2", "sip:desk2@pbx.example.com", utcnow())
    assert client.post(action, headers=OPERATOR, data={"token": token}).status_code in (403, 404)  # 403: same id
    assert [rule["worker_sid"] for rule in services.store.intended.rules()] == [worker_sid(2)]


def test_what_an_editor_wrote_shows_its_control_characters_escaped(client, taskrouter):
    reversed_value = "client:\u202e" + "ann_2Eveal_40arresteddevelopment_2Ecom"[::-1]  # reads as the right value
    assert taskrouter.post(worker_event(contact_uri=reversed_value, WorkerName="ann\u202eveal")).status_code == 204
    page = client.get("/status", headers=OPERATOR).get_data(as_text=True)
    assert "\u202e" not in page and "client:\\u202emoc" in page


def test_a_wrong_form_token_is_refused_and_logged_as_a_forgery_would_be(client, services, capsys):
    services.store.intended.add(key(1), "slack:U1", "sip:desk1@pbx.example.com", utcnow())
    action, _ = removal_form(client)
    assert client.post(action, headers=OPERATOR, data={"token": "abc"}).status_code == 403
    [line] = [line for line in capsys.readouterr().out.splitlines() if "status_form_refused" in line]
    assert '"level": "warning"' in line and action.split("/")[3] in line
    assert len(services.store.intended.rules()) == 1
