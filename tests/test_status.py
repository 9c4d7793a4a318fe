"""GET /status and /api/workers: access control, escaping, headers, data."""

import base64
import re
from datetime import UTC, datetime

import pytest

from guard.core.snapshot import WorkerKey
from tests.helpers import ACCOUNT_SID, AVAILABLE_SID, WORKSPACE_SID, stored_state, worker_event, worker_sid

PASSWORD = "correct horse battery staple"


def basic(user: str, password: str) -> dict[str, str]:
    """An Authorization header for HTTP basic auth."""
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


OPERATOR = basic("admin", PASSWORD)


@pytest.fixture
def settings_overrides():
    """The status page is on, with a password."""
    return {"status_password": PASSWORD}


@pytest.mark.parametrize("settings_overrides", [{}])
@pytest.mark.parametrize("path", ["/status", "/api/workers"])
def test_without_a_password_the_pages_do_not_exist(client, settings_overrides, path):
    assert client.get(path, headers=OPERATOR).status_code == 404


@pytest.mark.parametrize("path", ["/status", "/api/workers"])
def test_wrong_credentials_get_401_with_a_challenge(client, path):
    for headers in ({}, basic("admin", "nope"), basic("root", PASSWORD)):
        response = client.get(path, headers=headers)
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"].startswith("Basic realm=")


def test_the_page_shows_drift_counts_and_alerts_with_security_headers(client, taskrouter):
    taskrouter.post(worker_event(sid=worker_sid(1), name="<script>alert(1)</script>", contact_uri="sip:evil"))
    taskrouter.post(worker_event(sid=worker_sid(2), contact_uri=None))
    response = client.get("/status", headers=OPERATOR)
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>alert(1)" not in html
    assert worker_sid(1) in html and "sip:evil" in html and "wrong scheme" in html
    assert "1 worker in drift" in html
    assert "<strong>1</strong> waiting for a login (no contact_uri)" in html
    assert response.headers["Cache-Control"] == "no-store"
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "script-src 'nonce-" in csp
    nonce = csp.split("script-src 'nonce-")[1].split("'")[0]
    assert f'<script nonce="{nonce}">' in html
    assert response.headers["X-Frame-Options"] == "DENY"


def drift_table(client, query: str) -> str:
    """The HTML of the drift table for a query string."""
    html = client.get(f"/status?{query}", headers=OPERATOR).get_data(as_text=True)
    return html.split('id="drift"')[1].split("</table>")[0]


def test_server_side_filter_and_sort(client, taskrouter):
    taskrouter.post(worker_event(sid=worker_sid(1), name="Gob Bluth", contact_uri="sip:a"))
    taskrouter.post(worker_event(sid=worker_sid(2), name="Tobias Fünke", contact_uri="sip:b"))
    table = drift_table(client, "q=gob")
    assert "Gob Bluth" in table and "Tobias" not in table
    table = drift_table(client, "sort=name")
    assert table.index("Gob Bluth") < table.index("Tobias Fünke")
    newest_first = drift_table(client, "sort=since_desc")
    assert newest_first.index("Tobias Fünke") < newest_first.index("Gob Bluth")


def test_a_search_filters_the_table_but_never_the_headline(client, taskrouter):
    taskrouter.post(worker_event(sid=worker_sid(1), name="Gob Bluth", contact_uri="sip:a"))
    taskrouter.post(worker_event(sid=worker_sid(2), name="Tobias Fünke", contact_uri="sip:b"))
    for query in ("q=zzz", "q=gob"):
        html = client.get(f"/status?{query}", headers=OPERATOR).get_data(as_text=True)
        headline = html.split('id="overall">')[1].split("</p>")[0]
        assert "All agents" not in headline and "2 workers in drift" in headline  # a filter is no "all clear"


def test_api_serves_the_same_data_as_json(client, taskrouter, services):
    taskrouter.post(worker_event(sid=worker_sid(1), contact_uri="sip:x"))
    taskrouter.post(worker_event(sid=worker_sid(2)))
    response = client.get("/api/workers?verdict=mismatch", headers=OPERATOR)
    body = response.get_json()
    assert response.headers["Cache-Control"] == "no-store"
    assert [w["worker_sid"] for w in body["workers"]] == [worker_sid(1)]
    assert body["workers"][0]["actual"] == "sip:x"
    assert body["counts"] == {"mismatch": 1, "ok": 1}
    assert body["health"]["outbox_backlog"] == 0
    state = stored_state(services, WorkerKey(ACCOUNT_SID, WORKSPACE_SID, worker_sid(1)))
    assert body["workers"][0]["since"] == state["since"].isoformat()


@pytest.mark.parametrize(
    ("query", "error"),
    [
        ("verdict=broken", "verdict must be one of: ok, pending, mismatch, no_email, ignored, deleted"),
        ("sort=oldest", "sort must be one of: since_desc, since_asc, name"),
    ],
)
def test_api_rejects_an_unknown_verdict_or_sort(client, query, error):
    response = client.get(f"/api/workers?{query}", headers=OPERATOR)
    assert (response.status_code, response.get_json()) == (400, {"error": error})


def test_every_answer_carries_security_headers(client):
    response = client.get("/healthz")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]


def test_a_long_value_shows_its_start_and_the_rest_on_a_click(client, taskrouter):
    long_value = "client:ice_40bluth" + "x" * 1000
    taskrouter.post(worker_event(sid=worker_sid(1), contact_uri=long_value))
    table = drift_table(client, "")
    start = long_value[:64]
    assert f"<summary><code>{start}…</code></summary><code>{long_value}</code>" in table
    assert "<code>ann_2Eveal" not in table  # a short value is shown whole, as before
    assert "<code>client:ann_2Eveal_40arresteddevelopment_2Ecom</code>" in table


def test_the_page_says_when_it_was_true(client):
    before = datetime.now(UTC).replace(microsecond=0)
    html = client.get("/status", headers=OPERATOR).get_data(as_text=True)
    [shown] = re.findall(r'id="as-of">As of (\S+ \S+) UTC; reload for newer\.', html)
    assert before <= datetime.strptime(shown, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC) <= datetime.now(UTC)


def test_a_list_cut_at_its_limit_says_so_on_the_page_and_in_the_api(taskrouter, client, monkeypatch):
    """20,000 rows at most (a page a browser still renders): past that, the rest must not vanish unsaid."""
    from guard.adapters import worker_listing

    monkeypatch.setattr(worker_listing, "LISTED_MAX", 2)
    for n in range(1, 4):
        taskrouter.post(worker_event(sid=worker_sid(n), contact_uri="sip:x"))
    answer = client.get("/api/workers?verdict=mismatch", headers=OPERATOR).get_json()
    assert len(answer["workers"]) == 2 and answer["truncated"] is True and answer["counts"]["mismatch"] == 3
    page = client.get("/status", headers=OPERATOR).get_data(as_text=True)
    assert "Only the first 2 are listed" in page
    client_all = client.get("/api/workers?verdict=mismatch&q=nobody", headers=OPERATOR).get_json()
    assert client_all["truncated"] is False


def test_a_cut_api_list_keeps_the_agents_who_cannot_take_calls(taskrouter, client, monkeypatch):
    """Sorted newest first, the oldest drift (an available agent, paged) would fall past the cut."""
    from guard.adapters import worker_listing

    monkeypatch.setattr(worker_listing, "LISTED_MAX", 2)
    available = {"WorkerActivityName": "Available", "WorkerActivitySid": AVAILABLE_SID}
    taskrouter.post(worker_event(sid=worker_sid(1), contact_uri="sip:x", **available))  # cannot take calls
    for n in (2, 3):
        taskrouter.post(worker_event(sid=worker_sid(n), contact_uri="sip:x"))  # offline, newer
    answer = client.get("/api/workers?verdict=mismatch", headers=OPERATOR).get_json()
    assert answer["truncated"] is True and worker_sid(1) in [row["worker_sid"] for row in answer["workers"]]
