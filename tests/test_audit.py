"""`flask --app wsgi audit` against a real local server playing the TaskRouter API."""

import base64
import csv
import io
import json
from urllib.parse import quote

import pytest
from sqlalchemy import select

from guard.adapters.tables import audit_run
from guard.service.last_change import NO_CHANGE
from handlers.app import create_app
from tests.conftest import make_settings
from tests.helpers import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    WORKSPACE_SID,
    audit,
    email,
    fake_api_settings,
    populate,
    uri,
    worker_sid,
)


@pytest.fixture
def database_url(tmp_path):
    """SQLite only: these tests are about the sweep and its reports; test_audit_alert.py covers both stores."""
    return f"sqlite:///{tmp_path}/guard.db"


@pytest.fixture
def settings_overrides(fake_api, request):
    """Point the REST client at the fake API."""
    return fake_api_settings(fake_api, **getattr(request, "param", {}))


def test_sweeps_several_pages_and_reports_json(runner, fake_api):
    populate(fake_api, 350, drifting={7, 300}, pending={9})
    code, out = audit(runner, "--format", "json")
    report = json.loads(out)
    assert code == 1
    assert report["summary"] == {
        "total": 350, "ok": 347, "pending": 1, "mismatch": 2, "no_email": 0, "ignored": 0, "error": 0,
        "unreachable": 0,
    }  # fmt: skip
    listings = [path for method, path in fake_api.requests if "/Workers?" in path or path.endswith("/Workers")]
    assert len(listings) == 4  # followed next_page_url through every page
    assert listings[0].endswith("PageSize=1000")
    drift = next(w for w in report["workers"] if w["sid"] == worker_sid(7))
    assert drift == {
        "account_sid": ACCOUNT_SID, "workspace_sid": WORKSPACE_SID, "sid": worker_sid(7), "name": "agent.7",
        "email": email(7), "verdict": "mismatch", "expected": uri(7), "actual": "client:" + email(7),
        "diagnosis": "raw_email", "detail": drift["detail"], "basis": "email",
        "activity": "Offline", "available": False, "unreachable": False,
        "last_change": None, "last_change_note": NO_CHANGE,
    }  # fmt: skip


def test_null_list_attributes_are_fetched_one_by_one_with_bounded_concurrency(runner, fake_api):
    fake_api.null_list_attributes = True
    fake_api.latency = 0.01
    populate(fake_api, 120, drifting={5})
    code, out = audit(runner, "--format", "json", "--concurrency", "4")
    assert code == 1
    assert json.loads(out)["summary"]["ok"] == 119
    fetches = [path for method, path in fake_api.requests if "/Workers/WK" in path]
    assert len(fetches) == 120
    assert fake_api.max_in_flight <= 4


def test_csv_has_one_row_per_worker_and_only_drift_filters(runner, fake_api):
    populate(fake_api, 20, drifting={3})
    code, out = audit(runner, "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 1 and len(rows) == 20
    assert rows[2]["verdict"] == "mismatch" and rows[2]["actual"] == "client:" + email(3)
    assert {row["unreachable"] for row in rows} == {"false"}  # as JSON writes it, not Python's False
    _, out = audit(runner, "--format", "csv", "--only", "drift")
    assert [row["sid"] for row in csv.DictReader(io.StringIO(out))] == [worker_sid(3)]


HOSTILE = {
    worker_sid(1): {"email": '=HYPERLINK("http://x.example")@x.example', "contact_uri": "sip:x"},
    worker_sid(2): {"email": "mallory@x.example", "contact_uri": "client:mallory\r\x1b[2K\u202e"},
}


def test_csv_rows_from_hostile_attributes_stay_one_row_each_and_open_as_no_formula(runner, fake_api):
    for sid, attributes in HOSTILE.items():
        fake_api.add_worker(WORKSPACE_SID, sid, "mallory\nnext", attributes)
    _, out = audit(runner, "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [(row["sid"], row["verdict"]) for row in rows] == [(worker_sid(1), "mismatch"), (worker_sid(2), "mismatch")]
    assert rows[0]["email"] == "'" + HOSTILE[worker_sid(1)]["email"]  # a spreadsheet shows it, never runs it
    assert rows[1]["actual"] == "client:mallory\\r\\x1b[2K\\u202e" and rows[1]["name"] == "mallory\\nnext"
    assert rows[1]["diagnosis"]


def test_csv_opened_where_the_list_separator_is_a_semicolon_starts_no_formula(runner, fake_api):
    # Excel in many European locales splits on `;` wherever it is outside quotes
    fake_api.add_worker(
        WORKSPACE_SID, worker_sid(1), "Ann Veal;=cmd|' /C calc'!A0;=HYPERLINK(A1)", HOSTILE[worker_sid(1)]
    )
    _, out = audit(runner, "--format", "csv")
    for line in out.splitlines():
        cells, cell, quoted = [], "", False
        for char in line:
            if char == '"':
                quoted = not quoted
            elif char == ";" and not quoted:
                cells, cell = [*cells, cell], ""
                continue
            cell += char
        assert not any(cell.lstrip('"').startswith(("=", "+", "-", "@")) for cell in [*cells, cell]), line


def test_the_table_shows_control_characters_as_escapes(runner, fake_api):
    fake_api.add_worker(WORKSPACE_SID, worker_sid(2), "mallory\rnext", HOSTILE[worker_sid(2)])
    _, out = audit(runner)
    assert "\r" not in out and "\x1b" not in out and "\u202e" not in out
    assert "mallory\\rnext" in out and "\\x1b[2K" in out


def test_table_lists_non_ok_workers_and_a_summary_line(runner, fake_api):
    populate(fake_api, 10, drifting={4}, pending={6})
    code, out = audit(runner)
    assert code == 1
    assert worker_sid(4) in out and "the raw email" in out
    assert worker_sid(1) not in out and worker_sid(6) not in out
    assert out.strip().splitlines()[-1].startswith("10 workers in WS")
    assert "8 ok, 1 pending, 1 mismatch" in out


def test_no_drift_exits_0(runner, fake_api):
    populate(fake_api, 5)
    assert audit(runner, "--format", "json")[0] == 0


def test_429_and_5xx_are_retried_until_the_sweep_completes(runner, fake_api):
    fake_api.null_list_attributes = True
    populate(fake_api, 30)
    fake_api.inject(429, times=2, path_contains="/Workers", Retry_After="1")
    fake_api.inject(500, times=2, path_contains=worker_sid(3))
    fake_api.inject(503, times=1, path_contains=worker_sid(4))
    code, out = audit(runner, "--format", "json")
    assert (code, json.loads(out)["summary"]["ok"]) == (0, 30)


def test_a_worker_that_keeps_failing_is_an_error_and_the_sweep_goes_on(runner, fake_api):
    fake_api.null_list_attributes = True
    populate(fake_api, 30, drifting={2})
    fake_api.inject(500, times=50, path_contains=worker_sid(9))
    code, out = audit(runner, "--format", "json")
    report = json.loads(out)
    assert code == 2
    assert report["summary"]["error"] == 1 and report["summary"]["mismatch"] == 1
    failed = next(w for w in report["workers"] if w["verdict"] == "error")
    assert failed["sid"] == worker_sid(9) and "HTTP 500" in failed["detail"]


def test_an_api_error_that_echoes_the_credentials_is_reported_without_them(runner, fake_api, caplog):
    # A proxy or gateway in front of TaskRouter may echo the request: its text reaches reports, logs and Slack
    fake_api.null_list_attributes = True
    populate(fake_api, 3)
    basic = base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
    alone = base64.b64encode(AUTH_TOKEN.encode()).decode()
    encoded = f"url={quote(AUTH_TOKEN, safe='')} b64={alone}"
    # and as some echo it: unpadded, upper-cased, hex-encoded
    other = f"raw={basic.rstrip('=')}. {alone.rstrip('=')}. {AUTH_TOKEN.upper()}. {AUTH_TOKEN.encode().hex()}."
    message = f"Authenticate Basic {basic} token={AUTH_TOKEN} {encoded} {other}"
    echo = json.dumps({"code": 20003, "message": message, "status": 401})
    fake_api.inject(401, times=50, path_contains=worker_sid(2), body=echo)
    code, out = audit(runner, "--format", "json")
    failed = next(w for w in json.loads(out)["workers"] if w["verdict"] == "error")
    assert code == 2 and "HTTP 401" in failed["detail"] and "Authenticate Basic" in failed["detail"]
    assert AUTH_TOKEN not in out + caplog.text and basic not in out + caplog.text
    assert "url=<secret> b64=<secret>" in failed["detail"]  # echoed encoded, too
    assert "raw=<secret>. <secret>. <secret>. <secret>." in failed["detail"]


@pytest.mark.parametrize(
    ("settings_overrides", "variable"),
    [
        ({"account_sid": None, "workspace_sid": WORKSPACE_SID}, "TWILIO_ACCOUNT_SID"),
        ({"account_sid": ACCOUNT_SID, "workspace_sid": None}, "TWILIO_WORKSPACE_SID"),
        ({"account_sid": ACCOUNT_SID, "api_key": "SK" + "1" * 32, "workspace_sid": WORKSPACE_SID}, "TWILIO_API_SECRET"),
    ],
)
def test_missing_credential_exits_2_naming_it(runner, settings_overrides, variable):
    result = runner.invoke(args=["audit"])
    assert result.exit_code == 2
    assert result.stderr.startswith("error: " + variable)
    assert result.stdout == ""


def test_audit_runs_are_recorded(runner, fake_api, services):
    populate(fake_api, 3, drifting={1})
    audit(runner, "--format", "json")
    with services.store.engine.connect() as connection:
        [run] = connection.execute(select(audit_run)).all()
    assert run.exit_code == 1 and json.loads(run.counts)["mismatch"] == 1


@pytest.mark.parametrize("alert", [False, True])
def test_a_database_that_fails_mid_audit_exits_2_not_1(fake_api, alert):
    """Exit 1 means "drift found" to a cron job; a database failure must read as an error."""
    populate(fake_api, 3, drifting={1})
    settings = make_settings("postgresql://postgres@127.0.0.1:1/none", **fake_api_settings(fake_api))
    result = create_app(settings).test_cli_runner().invoke(args=["audit", *(["--alert"] if alert else [])])
    assert result.exit_code == 2
    assert result.stderr.splitlines()[-1].startswith("error: database: OperationalError")


@pytest.mark.parametrize("settings_overrides", [{"taskrouter_base_url": "http://127.0.0.1:9"}], indirect=True)
def test_an_unreachable_api_is_retried_then_exits_2(runner, fake_api):
    result = runner.invoke(args=["audit", "--format", "json"])
    assert result.exit_code == 2
    assert result.stderr.splitlines()[-1].startswith(f"error: {WORKSPACE_SID}: listing workers failed: ConnectionError")


def test_a_worker_listed_twice_while_workers_change_counts_once(runner, fake_api):
    """A worker created while the pages are read shifts the next page: its first row is the last one again."""
    populate(fake_api, 6, drifting={3})
    fake_api.max_page_size = 3

    def created_meanwhile(listed):
        fake_api.after_page = None
        workers = fake_api.workspaces[WORKSPACE_SID]
        fake_api.add_worker(WORKSPACE_SID, worker_sid(7), "agent.7", {"email": email(7), "contact_uri": uri(7)})
        reordered = {worker_sid(7): workers.pop(worker_sid(7)), **workers}  # listed first, as a newer sort may
        workers.clear()
        workers.update(reordered)

    fake_api.after_page = created_meanwhile
    code, out = audit(runner, "--format", "json")
    report = json.loads(out)
    assert code == 1 and report["summary"]["total"] == 6 and report["summary"]["mismatch"] == 1
    assert sorted(w["sid"] for w in report["workers"]) == [worker_sid(n) for n in range(1, 7)]
