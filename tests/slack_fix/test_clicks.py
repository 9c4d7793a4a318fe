"""Fix from Slack: the signed buttons on drift alerts, and what an approver's click does."""

import json
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from guard.adapters.tables import alert, ignore_rule, slack_click
from guard.core.click import value_digest
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
            ("remove_contact_uri", f"{REFERENCE}/{value_digest(drift)}"),  # both bound to the value it showed
            ("ignore_worker", f"{REFERENCE}/{value_digest(drift)}"),
        ]
        confirms = [element["confirm"]["confirm"]["text"] for element in actions["elements"]]
        assert confirms == ["Remove", "Intended"]  # each asks first: a mark outlasts a removal


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
    # The answer replaces the alert: it names the agent, and says the re-check it made (an on-call review)
    assert f"<@{APPROVER}> removed `{drift}` from `agent.1` ({DRIFTING}): Flex regenerates it" in answer["text"]
    assert answer["blocks"][-1]["elements"][0]["text"].endswith("fetched the worker and re-checked it first.")
    [record] = remediations(services)
    assert (record["actor"], record["status"]) == (f"slack:{APPROVER}", "removed")
    services.delivery.run_once()  # the removal's message: the value it shows is the one removed, not the one now
    [removal] = [m for m in slack.received if m["text"].startswith(":broom: contact_uri removed")]
    assert f"*Removed contact_uri*\n`{drift}`" in json.dumps(removal["blocks"]).replace("\\n", "\n")


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
    ("forgery", "why"),  # what the log line says: a clock off, or a secret rotated, is found from it
    [
        ("another secret", "signature does not match"),
        ("six minutes old", "timestamp 360 s off this clock"),
        ("six minutes ahead", "timestamp 360 s off this clock"),
        ("no signature", "X-Slack-Signature or X-Slack-Request-Timestamp missing"),
        ("timestamp not a number", "timestamp is no whole number"),
        ("timestamp of 400 digits", "timestamp far off this clock"),
        ("timestamp of 5000 digits", "timestamp far off this clock"),
        ("body changed", "signature does not match"),
        ("signature not ASCII", "signature does not match"),
    ],
)
def test_forged_and_stale_clicks_get_401_and_cause_nothing(
    drift, client, services, slack, fake_api, forgery, why, capsys
):
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
        "timestamp of 400 digits": lambda: (  # past a float: slack_sdk's age check overflows
            signed_click(payload)[0],
            {**signed_click(payload)[1], "X-Slack-Request-Timestamp": "9" * 400},
        ),
        "timestamp of 5000 digits": lambda: (  # past int()'s limit
            signed_click(payload)[0],
            {**signed_click(payload)[1], "X-Slack-Request-Timestamp": "9" * 5000},
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
    [line] = [line for line in capsys.readouterr().out.splitlines() if "bad_slack_signature" in line]
    assert json.loads(line)["why"].startswith(why)


def test_a_removal_whose_fetch_failed_claims_no_re_check(drift, client, services, slack, fake_api):
    fake_api.inject(503, times=50, method="GET")
    assert click(client, slack=slack).status_code == 200
    services.jobs.by_name["clicks"].run()
    [answer] = slack.answers_to(1)
    assert "and it failed" in answer["text"]
    [footnote] = [block["elements"][0]["text"] for block in answer["blocks"] if block["type"] == "context"]
    assert footnote == "Done from Slack by an approver."  # it failed before any fetch (a re-check)


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
    assert f"<@{APPROVER}> marked `{drift}` on `agent.1` ({DRIFTING})" in answer["text"]
    assert answer["blocks"][-1]["elements"][0]["text"] == "Done from Slack by an approver."  # nothing was fetched
    services.delivery.run_once()  # the resolved message says the rule once (a re-check: its note ends with it)
    [resolved] = [m for m in slack.received if m["text"].startswith(":white_check_mark: Resolved")]
    assert resolved["text"].count(f"value marked intended by slack:{APPROVER}") == 1
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


@pytest.mark.parametrize(
    "first, second", [("remove_contact_uri", "ignore_worker"), ("ignore_worker", "remove_contact_uri")]
)
def test_a_click_that_changes_nothing_leaves_the_outcome_of_the_one_before_on_its_message(
    drift, client, services, slack, first, second
):
    """Two approvers click the two buttons of one alert at once: the second's 'nothing done' hid the first's outcome."""
    assert click(client, first, slack=slack, number=1).status_code == 200
    assert click(client, second, slack=slack, number=2).status_code == 200  # the same message
    services.jobs.by_name["clicks"].run()
    [done] = slack.answers_to(1)
    assert done["replace_original"] is True and ("removed" in done["text"] or "marked" in done["text"])
    [nothing] = slack.answers_to(2)
    assert (nothing.get("response_type"), nothing["replace_original"]) == ("ephemeral", False)  # the outcome stays
    assert "Nothing" in nothing["text"] or "nothing" in nothing["text"]


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


def test_ignoring_a_paged_agent_from_slack_sends_its_resolved_before_a_flood_about_agents_away(
    fake_api, client, taskrouter, services, slack
):
    from tests.activity.conftest import activity_event

    populate(fake_api, 2, drifting={1})
    paged = activity_event(1, sid=DRIFTING, email=email(1), contact_uri="client:" + email(1), name="agent.1")
    assert taskrouter.post(paged).status_code == 204
    services.delivery.run_once()
    delivered = len(slack.received)
    for number in (5, 6, 7):  # drifts of agents who are away, queued before the click
        assert taskrouter.post(worker_event(sid=f"WK{number:032d}", contact_uri="sip:x")).status_code == 204
    assert click(client, "ignore_worker", slack=slack).status_code == 200
    services.jobs.by_name["clicks"].run()
    while services.delivery.run_once():
        pass
    assert slack.received[delivered]["text"].startswith(":white_check_mark:")  # the page's answer, first
