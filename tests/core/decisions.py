"""The decision tests' worker, rules and clock: Ann by email, and fmulder, whose Flex identity is a username."""

from datetime import UTC, datetime, timedelta

from guard.core.alerts import Routing
from guard.core.decision import DecisionRules, decide
from guard.core.rules import Rules
from guard.core.snapshot import WorkerKey, WorkerSnapshot
from tests.helpers import ACCOUNT_SID, ANN_EMAIL, ANN_URI, WORKSPACE_SID, worker_sid

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
KEY = WorkerKey(ACCOUNT_SID, WORKSPACE_SID, worker_sid(1))
SLACK = Routing(slack=True, buttons=True, account_label="Prod", workspace_label="Flex")
RULES = DecisionRules(Rules(), SLACK, repeat=None, remediate=False)


def snapshot(contact_uri=ANN_URI, version=1, at=T0, deleted=False, email=ANN_EMAIL, **attributes):
    """A worker event for Ann, `at` a moment, with her attributes."""
    attributes = {"email": email, "contact_uri": contact_uri, **attributes}
    attributes = {name: value for name, value in attributes.items() if value is not None}
    occurred = int(at.timestamp() * 1000)
    return WorkerSnapshot(KEY, "Ann Veal", attributes, deleted=deleted, version=version, occurred_ms=occurred)


def after(*snapshots, rules=RULES, now=T0):
    """The decision on the last snapshot, after the ones before it were applied in order."""
    stored = None
    for one in snapshots[:-1]:
        stored = decide(one, stored, rules, now).state or stored
    return decide(snapshots[-1], stored, rules, now)


FLEX_ID = {"email": "agent@twilio.com", "twilio_contact_identity": "fmulder", "contact_uri": "client:fmulder"}


def flex(version, **changes):
    """A Flex agent whose identity is a username (fmulder), with `changes` to its attributes (None drops one)."""
    attributes = {name: value for name, value in {**FLEX_ID, **changes}.items() if value is not None}
    occurred = int((T0 + timedelta(seconds=version)).timestamp() * 1000)
    return WorkerSnapshot(KEY, "fmulder", attributes, version=version, occurred_ms=occurred)


DANA = {"email": "dana.scully@fbi.example", "contact_uri": "client:dana_2Escully", "roles": ["agent"]}


def dana(version, name, **changes):
    """Dana, whose Flex identity is her username (dana.scully), under `name` at `version`."""
    attributes = {key: value for key, value in {**DANA, **changes}.items() if value is not None}
    return WorkerSnapshot(KEY, name, attributes, version=version, occurred_ms=int(T0.timestamp() * 1000) + version)
