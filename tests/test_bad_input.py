"""Generated bad input against POST /taskrouter/events: never a 5xx, never a partial row."""

import json
import string
from collections import Counter
from urllib.parse import urlencode

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from guard.adapters.tables import alert, worker_state
from tests.helpers import ACCOUNT_SID, WORKSPACE_SID, sign, worker_sid
from tests.processes import Gunicorn, child_pids

FIELDS = [
    "EventType", "Sid", "AccountSid", "WorkspaceSid", "WorkerSid", "ResourceSid", "ResourceType",
    "WorkerName", "WorkerAttributes", "WorkerVersion", "Timestamp", "TimestampMs",
]  # fmt: skip
EVENT_TYPES = ["worker.created", "worker.attributes.update", "worker.deleted", "task.created", "", "worker."]
CONTENT_TYPES = [
    "application/x-www-form-urlencoded",
    "application/x-www-form-urlencoded; charset=latin-1",
    "application/json",
    "text/plain",
    "multipart/form-data; boundary=xyz",
    "",
    "garbage/\x7f",
]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3),
    max_leaves=5,
)
attributes = st.one_of(
    json_values.map(json.dumps),
    st.fixed_dictionaries({"email": json_values | st.text(), "contact_uri": json_values | st.text()}).map(json.dumps),
    st.text(max_size=20),
    st.just("[" * 5000),
)
field_values = st.one_of(
    st.text(max_size=16),
    st.sampled_from([*EVENT_TYPES, ACCOUNT_SID, WORKSPACE_SID, worker_sid(1), worker_sid(2), "WK", "-1", "1e9"]),
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    attributes,
    st.integers(min_value=5_000, max_value=40_000).map(lambda n: ("é\x00<script>" * n)[:n]),  # huge, cheaply
)
forms = st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=8), field_values, max_size=8)
raw_bodies = st.one_of(
    forms.map(lambda form: urlencode(form).encode()),
    st.binary(max_size=600),
    st.text(alphabet="%&=+;aZ09_\x00é" + string.punctuation, max_size=120).map(
        lambda t: t.encode("utf-8", "surrogatepass")
    ),
    st.integers(min_value=1000, max_value=6000).map(lambda n: "&".join(f"p{i}=v" for i in range(n)).encode()),
    json_values.map(lambda v: json.dumps(v).encode()),
)
headers = st.fixed_dictionaries(
    {"Content-Type": st.sampled_from(CONTENT_TYPES)},
    optional={
        "X-Twilio-Signature": st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=40),
        "X-Forwarded-Proto": st.sampled_from(["https", "gopher"]),
    },
)


def assert_store_consistent(services):
    """Every alert belongs to a stored worker, every verdict is known, every payload is JSON."""
    with services.store.engine.connect() as connection:
        states = {
            (r.account_sid, r.workspace_sid, r.worker_sid): r.verdict for r in connection.execute(select(worker_state))
        }
        for row in connection.execute(select(alert)):
            assert (row.account_sid, row.workspace_sid, row.worker_sid) in states
            assert isinstance(json.loads(row.payload), dict)
    assert set(states.values()) <= {"ok", "pending", "mismatch", "no_email", "ignored", "deleted"}


@pytest.fixture
def database_url(tmp_path):
    """SQLite only: this test is about the HTTP edge, and 10,000 examples must stay quick."""
    return f"sqlite:///{tmp_path}/guard.db"


FAST = {"deadline": None, "suppress_health_check": list(HealthCheck), "derandomize": True, "database": None}


@pytest.mark.parametrize("settings_overrides", [{"validate_signature": False, "auth_token": None}])
def test_10000_arbitrary_bodies_never_get_a_5xx_nor_leave_a_partial_row(client, services, figures, settings_overrides):
    """Signatures off, so every body reaches the parser."""
    seen = []

    # Batches of 25 per example: the same 10,000 generated requests at half of hypothesis's per-example cost.
    @settings(max_examples=400, **FAST)
    @given(batch=st.lists(st.tuples(raw_bodies, headers), min_size=25, max_size=25))
    def post(batch):
        for body, sent_headers in batch:
            response = client.post("/taskrouter/events", data=body, headers=sent_headers)
            assert response.status_code < 500, response.get_data(as_text=True)
            if response.status_code >= 400:
                assert "error" in response.get_json()
            seen.append(response.status_code)

    post()
    assert len(seen) >= 10_000
    assert_store_consistent(services)
    figures.add(
        "Bad input (generated)",
        "hypothesis: broken form encoding, non-UTF-8 bytes, huge fields, JSON bodies and non-objects, wrong types, "
        f"missing fields, up to 6,000 parameters, odd content types; answers {dict(sorted(Counter(seen).items()))}",
        len(seen),
        seen,
        "pytest tests/test_bad_input.py",
    )


def test_signed_malformed_events_get_4xx_or_204_never_5xx(client, services, figures):
    """Signatures on and valid, so malformed fields get past the signature check."""

    @settings(max_examples=800, **FAST)
    @given(form=forms)
    def post(form):
        form = {k: v for k, v in form.items() if "\x00" not in k}
        response = client.post("/taskrouter/events", data=form, headers={"X-Twilio-Signature": sign(form)})
        assert response.status_code in (204, 400, 403, 413), response.get_data(as_text=True)
        seen.append(response.status_code)

    seen: list[int] = []
    post()
    assert_store_consistent(services)
    figures.add(
        "Bad input (signed)",
        f"generated malformed fields with valid signatures; answers {dict(sorted(Counter(seen).items()))}",
        len(seen),
        seen,
        "pytest tests/test_bad_input.py",
    )


def test_gunicorn_workers_survive_a_corpus_of_nasty_bodies(tmp_path, figures):
    nasty = [
        b"", b"%", b"%zz=%G1", b"EventType=worker.created&WorkerAttributes=%ED%A0%80", b"\xff\xfe\x00" * 500,
        b"&" * 5000, "&".join(f"p{i}=v" for i in range(5000)).encode(), b"EventType=" + b"x" * 300_000,
        json.dumps([1, 2, 3]).encode(), b'{"EventType": "worker.created"}', b"WorkerAttributes=" + b"[" * 60_000,
    ]  # fmt: skip
    env = {"DATABASE_URL": f"sqlite:///{tmp_path}/guard.db", "TWILIO_VALIDATE_SIGNATURE": "false"}
    with Gunicorn(env, tmp_path / "gunicorn.log") as service:
        workers_before = sorted(child_pids(service.process.pid))
        statuses = []
        for body in nasty * 10:
            for content_type in CONTENT_TYPES[:5]:
                statuses.append(
                    requests.post(
                        service.url, data=body, headers={"Content-Type": content_type}, timeout=10
                    ).status_code
                )
        figures.add(
            "Bad input (gunicorn)",
            "a fixed corpus of nasty bodies × 5 content types against 2 gunicorn workers; no worker died",
            len(statuses),
            statuses,
            "pytest tests/test_bad_input.py -k gunicorn",
        )
        assert max(statuses) < 500
        assert sorted(child_pids(service.process.pid)) == workers_before  # no worker died and was replaced
        assert requests.get(service.url.replace("/taskrouter/events", "/healthz"), timeout=5).status_code == 200
