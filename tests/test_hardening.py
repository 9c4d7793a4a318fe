"""Findings of the adversarial run (issue 12), one test each, in process: judged, never 500, never hidden."""

import contextlib
import json
import os
import re
import shutil
import sqlite3
import subprocess
import time

import pytest
from sqlalchemy import select

from guard.adapters import sqlite
from guard.adapters.alerts import alert_from_payload
from guard.adapters.slack import render
from guard.adapters.tables import alert
from guard.core.snapshot import WorkerKey
from handlers.app import create_app
from handlers.signing import FormParams
from tests.conftest import make_settings
from tests.helpers import (
    ACCOUNT_SID,
    ANN_URI,
    WORKSPACE_SID,
    TaskRouterPoster,
    batch_answer,
    cloudevent,
    minutes_ago,
    post_cloudevents,
    sign,
    stored_state,
    worker_event,
    worker_sid,
)
from tests.test_status import OPERATOR, PASSWORD, basic

KEY = WorkerKey(ACCOUNT_SID, WORKSPACE_SID, worker_sid(1))
UNSTORABLE = {
    "past 4096 characters": "client:" + "a" * 5000,
    "a NUL": "client:ann\x00veal",
    "a lone surrogate": "client:\ud800x",
    "a list of such strings": ["client:\ud800x", "client:ann\x00veal"],
}


def kinds(services):
    """The kind of every queued alert, oldest first."""
    with services.store.engine.connect() as connection:
        return [r.kind for r in connection.execute(select(alert.c.kind).order_by(alert.c.id))]


@pytest.mark.parametrize("value", UNSTORABLE.values(), ids=UNSTORABLE.keys())
def test_an_unstorable_contact_uri_is_still_judged_and_alerted(taskrouter, services, value):
    assert taskrouter.post(worker_event(version=1)).status_code == 204
    assert taskrouter.post(worker_event(contact_uri=value, version=2)).status_code == 204
    state = stored_state(services, KEY)
    assert state["verdict"] == "mismatch"
    assert state["diagnosis"] in ("unusable", "different")
    assert "\x00" not in state["actual"] and len(state["actual"]) <= 1024
    state["actual"].encode("utf-8")  # storable and showable: no lone surrogate left
    assert kinds(services) == ["drift"]


def test_an_unusable_value_says_why(taskrouter, services):
    taskrouter.post(worker_event(contact_uri="client:ann\x00veal"))
    assert stored_state(services, KEY)["detail"] == "not a storable client identity: it has a NUL character"
    assert stored_state(services, KEY)["actual"] == "client:ann\\x00veal"


def test_an_unstorable_name_is_judged_and_shown_safely(client, taskrouter, services):
    assert taskrouter.post(worker_event(name="Ann\x00" + "x" * 5000, contact_uri="sip:x", version=1)).status_code == 204
    name = stored_state(services, KEY)["name"]
    assert name.startswith("Ann\\x00x") and len(name) <= 256
    renamed = cloudevent(contact_uri="sip:y", worker_version=2)
    renamed["data"]["payload"]["worker_name"] = "\ud800Ann"  # JSON can carry a lone surrogate; a form cannot
    assert post_cloudevents(client, [renamed]).get_json()["recorded"] == 1
    assert stored_state(services, KEY)["name"] == "\\ud800Ann"


def test_each_event_of_a_batch_is_judged_on_its_own(client, services):
    batch = [
        cloudevent(sid=worker_sid(1), contact_uri="client:\ud800x"),
        cloudevent(sid=worker_sid(2), contact_uri=ANN_URI, worker_version="9" * 20),
        cloudevent(sid=worker_sid(3), contact_uri="sip:x"),
    ]
    response = post_cloudevents(client, batch)
    assert (response.status_code, response.get_json()) == (
        200,
        batch_answer(recorded=2, bad=1),
    )
    assert stored_state(services, KEY)["verdict"] == "mismatch"
    assert stored_state(services, WorkerKey(ACCOUNT_SID, WORKSPACE_SID, worker_sid(3)))["verdict"] == "mismatch"


def test_a_blank_body_hash_is_refused_without_a_trace(client, services, capsys):
    response = client.post(
        "/event-streams?bodySHA256=", data="[]", content_type="application/json", headers={"X-Twilio-Signature": "x"}
    )
    assert response.status_code == 403
    assert '"reason": "missing bodySHA256"' in capsys.readouterr().out
    assert services.store.listing.verdict_counts() == {}


@pytest.mark.parametrize("settings_overrides", [{"status_password": PASSWORD}])
@pytest.mark.parametrize(("query", "found"), [("q=%00", []), ("q=%25", []), ("q=_", []), ("q=\\", ["backslash"])])
def test_search_text_is_literal_on_both_databases(client, taskrouter, settings_overrides, query, found):
    taskrouter.post(worker_event(sid=worker_sid(1), name="ann.veal", contact_uri="sip:plain"))
    taskrouter.post(worker_event(sid=worker_sid(2), name="back\\slash", contact_uri="sip:x"))
    response = client.get(f"/api/workers?{query}", headers=OPERATOR)
    assert response.status_code == 200
    assert [w["name"].replace("\\", "") for w in response.get_json()["workers"]] == found
    assert client.get(f"/status?{query}", headers=OPERATOR).status_code == 200


def test_the_slack_fallback_text_cannot_ping_or_link():
    name = "<!channel> <https://evil.example/login|sign in again>"
    fields = {"kind": "drift", "worker_name": name, "worker_sid": worker_sid(1), "actual": "<!here>"}
    key = {"account_sid": ACCOUNT_SID, "workspace_sid": WORKSPACE_SID, "created_at": "2026-11-27T09:00:00+00:00"}
    text, _ = render(alert_from_payload(fields | key))
    assert "<!channel>" not in text and "<https://" not in text and "<!here>" not in text
    assert "&lt;!channel&gt;" in text


def test_worker_text_cannot_pass_for_the_guards_own_words_in_slack():
    """A name, an activity or a decoded value with newlines and mrkdwn stays one quoted line, never formatting."""
    fake = "carl\n*:white_check_mark: Resolved: no action needed* https://evil.example/fix"
    changes = {"first_sight": False, "more": 0, "since_version": None,
               "changes": [{"path": f"k{n:02}", "before": None, "after": "&" * 100} for n in range(30)]}  # fmt: skip
    fields = {"kind": "drift", "worker_name": fake, "worker_sid": worker_sid(1), "activity": f"Offline\n{fake}",
              "detail": f"decodes to a different email: {fake}", "actual": fake + "&" * 800,
              "email": f"{fake}{'&' * 800}@x.example", "changes": changes}  # fmt: skip
    key = {"account_sid": ACCOUNT_SID, "workspace_sid": WORKSPACE_SID, "created_at": "2026-11-27T09:00:00+00:00"}
    text, blocks = render(alert_from_payload(fields | key))
    shown = [block.to_dict() for block in blocks]
    texts = [
        t for b in shown for t in [b.get("text") or {}, *b.get("fields", []), *b.get("elements", [])] if "text" in t
    ]
    mrkdwn = [t["text"] for t in texts if t["type"] == "mrkdwn"]
    outside_code = [re.sub(r"```.*?```|`[^`]*`", "", t, flags=re.S) for t in mrkdwn]
    assert not any("white_check_mark" in t or "evil" in t for t in outside_code)  # quoted, never formatting
    assert all(not t.get("emoji") for t in texts[1:] if t["type"] == "plain_text" and "evil" in t["text"])
    assert ":white_check_mark:" not in shown[0]["text"]["text"]  # the header's emoji are the guard's own
    assert "\n*:white" not in text and all("\n*:white" not in t["text"] for t in texts)
    [changed] = [t for t in mrkdwn if t.startswith("*What else")]
    assert changed.count("```") == 2 and changed.endswith("```")  # cut inside the block, the block closed


def test_a_worker_name_with_line_separators_and_terminal_controls_stays_one_log_line(taskrouter, capsys):
    name = 'mallory\u2028{"level": "info"}\x85\x9b2K\u202eevil'
    assert taskrouter.post(worker_event(sid=worker_sid(1), name=name, contact_uri="sip:x")).status_code == 204
    [line] = [line for line in capsys.readouterr().out.split("\n") if '"event": "alert"' in line]
    assert line.splitlines() == [line] and not any(char in line for char in "\u2028\x85\x9b\u202e")
    assert json.loads(line)["worker_name"] == name  # escaped, not lost


def test_a_replay_older_than_the_dedup_window_is_refused(client, services, capsys):
    post_cloudevents(client, [cloudevent(contact_uri=ANN_URI)])
    post_cloudevents(client, [cloudevent(contact_uri="sip:old", timestamp=minutes_ago(3 * 24 * 60))])
    assert stored_state(services, KEY)["verdict"] == "ok"
    assert kinds(services) == []
    assert "replayed_event" in capsys.readouterr().out


def test_a_replay_of_the_same_version_cannot_undo_a_newer_observation(client, services):
    drift = cloudevent(contact_uri="sip:x", worker_version=5, timestamp=minutes_ago(30))
    post_cloudevents(client, [drift])
    fixed = cloudevent(contact_uri=ANN_URI, worker_version=5, timestamp=minutes_ago(10))  # what an audit saw
    post_cloudevents(client, [fixed])
    drift["id"] = "NO" + "f" * 32  # the same event under an id the dedup table no longer holds
    post_cloudevents(client, [drift])
    assert stored_state(services, KEY)["verdict"] == "ok"
    assert kinds(services) == ["drift", "resolved"]


@pytest.mark.parametrize("settings_overrides", [{"status_password": PASSWORD}])
def test_failed_status_logins_are_logged_then_throttled(client, settings_overrides, capsys):
    assert client.get("/status").status_code == 401  # no credentials: a challenge, not a guess
    for _ in range(10):
        assert client.get("/api/workers", headers=basic("admin", "guess")).status_code == 401
    blocked = client.get("/api/workers", headers=OPERATOR)  # even the right password waits: nothing is tried
    assert blocked.status_code == 429 and 0 < int(blocked.headers["Retry-After"]) <= 60
    log = capsys.readouterr().out
    assert log.count('"event": "status_login_failed"') == 10
    assert PASSWORD not in log and "guess" not in log


def test_a_held_sqlite_lock_gets_503_within_the_senders_budget(tmp_path):
    assert sqlite.SQLITE_BUSY_SECONDS < 5  # Event Streams waits 5 s, TaskRouter 15 s
    taskrouter = TaskRouterPoster(create_app(make_settings(f"sqlite:///{tmp_path}/guard.db")).test_client())
    holder = sqlite3.connect(tmp_path / "guard.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        started = time.monotonic()
        response = taskrouter.post(worker_event())
        elapsed = time.monotonic() - started
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert response.status_code == 503
    assert elapsed < 15  # the old 30 s busy wait would have outlasted both senders


def test_a_vanished_sqlite_file_fails_the_health_check(tmp_path):
    path = tmp_path / "guard.db"
    app = create_app(make_settings(f"sqlite:///{path}"))
    client = app.test_client()
    assert client.get("/healthz").status_code == 200
    path.unlink()
    response = client.get("/healthz")
    assert (response.status_code, response.get_json()["database"]) == (503, "file missing")


def test_a_start_that_finds_a_recovered_copy_beside_another_file_says_so_and_keeps_both(tmp_path, capsys):
    """The file was replaced (a backup moved over it): the copy holds what was acknowledged since; an admin decides."""
    path = tmp_path / "guard.db"
    create_app(make_settings(f"sqlite:///{path}")).extensions["guard"].store.engine.dispose()
    shutil.copyfile(path, tmp_path / "guard.db.recovered")  # as the guard leaves it when its file vanishes
    create_app(make_settings(f"sqlite:///{path}")).extensions["guard"].store.engine.dispose()
    said = [line for line in capsys.readouterr().out.splitlines() if "sqlite_recovered_copy_not_taken" in line]
    assert len(said) == 1 and '"level": "error"' in said[0] and "guard.db.recovered" in said[0]
    assert (tmp_path / "guard.db.recovered").exists()


@contextlib.contextmanager
def read_only(path):
    """The file read-only for this process: immutable for root (who ignores modes), mode 0444 for anyone else."""
    chattr = shutil.which("chattr")
    if os.geteuid() != 0:
        path.chmod(0o444)
    elif chattr is None or subprocess.run([chattr, "+i", str(path)], capture_output=True).returncode != 0:
        pytest.skip("running as root, and chattr +i is not available here")
    try:
        yield
    finally:
        if os.geteuid() != 0:
            path.chmod(0o644)
        else:
            subprocess.run([chattr, "-i", str(path)], check=True)


def test_a_sqlite_file_that_was_read_only_for_a_while_works_again_without_a_restart(tmp_path):
    path = tmp_path / "guard.db"
    app = create_app(make_settings(f"sqlite:///{path}"))
    client, services = app.test_client(), app.extensions["guard"]
    poster = TaskRouterPoster(client)
    assert poster.post(worker_event()).status_code == 204
    with read_only(path):
        services.store.engine.dispose()  # connections opened now, as by workers replaced meanwhile (a HUP)
        assert poster.post(worker_event(contact_uri="sip:x", version=2)).status_code == 503
        response = client.get("/healthz")
        assert (response.status_code, response.get_json()["database"]) == (503, "read-only")
    assert client.get("/healthz").status_code == 200
    assert poster.post(worker_event(contact_uri="sip:x", version=3)).status_code == 204  # no restart needed
    assert stored_state(services, WorkerKey(ACCOUNT_SID, WORKSPACE_SID, worker_sid(1)))["verdict"] == "mismatch"


def test_the_fast_path_reads_a_percent_encoded_key_as_the_full_path_does(client, services):
    fields = worker_event(contact_uri="sip:x")
    del fields["EventType"]
    body = "Event%54ype=worker.attributes.update&EventType=task.created&" + "&".join(
        f"{name}={value}" for name, value in fields.items()
    )
    both = FormParams(
        {"EventType": ["worker.attributes.update", "task.created"], **{k: [v] for k, v in fields.items()}}
    )
    signature = sign(both)
    response = client.post(
        "/taskrouter/events",
        data=body.encode(),
        content_type="application/x-www-form-urlencoded",
        headers={"X-Twilio-Signature": signature},
    )
    assert response.status_code == 204
    assert stored_state(services, KEY)["verdict"] == "mismatch"
