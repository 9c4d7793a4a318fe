"""Realistic TaskRouter callback bodies (form-encoded, ~1-2 KB), signed like Twilio signs them."""

from __future__ import annotations

import json
import random
import time
from urllib.parse import urlencode

from twilio.request_validator import RequestValidator

ACCOUNT = "AC" + "a" * 32
WORKSPACE = "WS" + "b" * 32
TOKEN = "bench-auth-token-0123456789abcdef"
TASK_EVENTS = ["task.created", "task.updated", "task.canceled", "task.completed", "task.wrapup"]
RESERVATION_EVENTS = ["reservation.created", "reservation.accepted", "reservation.rejected", "reservation.completed"]


def sid(prefix: str, n: int) -> str:
    """A deterministic SID."""
    return f"{prefix}{n:032x}"


def email(n: int) -> str:
    """Agent n's email."""
    return f"agent.{n}@flex-bench.example.com"


def contact_uri(n: int) -> str:
    """Agent n's correct contact_uri."""
    return f"client:agent_2E{n}_40flex_2Dbench_2Eexample_2Ecom"


def worker_attributes(n: int, drifting: bool = False) -> str:
    """Worker attributes as Flex keeps them, with routing skills."""
    return json.dumps(
        {
            "email": email(n),
            "full_name": f"Agent {n}",
            "roles": ["agent"],
            "contact_uri": f"sip:agent{n}@pbx.example.com" if drifting else contact_uri(n),
            "routing": {"skills": ["support", "billing", "es"], "levels": {"support": 3, "billing": 1, "es": 2}},
            "location": "Lisbon",
            "team_sid": sid("TE", n % 40),
        }
    )


def task_attributes(n: int) -> str:
    """Voice-task attributes of the size Flex produces."""
    return json.dumps(
        {
            "type": "inbound",
            "name": f"+1555{n:07d}",
            "from": f"+1555{n:07d}",
            "to": "+15550100000",
            "call_sid": sid("CA", n),
            "direction": "inbound",
            "channelType": "voice",
            "conversations": {"conversation_id": sid("WT", n), "initiated_by": "customer", "queue": "Support"},
            "customers": {"phone": f"+1555{n:07d}", "name": f"Customer {n}", "account": n * 7},
            "caller_country": "US",
            "caller_state": "CA",
            "called": "+15550100000",
        }
    )


def event(kind: str, n: int, version: int = 1, drifting: bool = False) -> dict[str, str]:
    """The form fields TaskRouter posts for one event."""
    now_ms = int(time.time() * 1000)
    worker = n % 2000
    fields = {
        "EventType": kind,
        "Sid": sid("EV", n),
        "AccountSid": ACCOUNT,
        "WorkspaceSid": WORKSPACE,
        "WorkspaceName": "Flex Task Assignment",
        "EventDescription": f"{kind} for agent {worker}",
        "Timestamp": str(now_ms // 1000),
        "TimestampMs": str(now_ms),
        "WorkerSid": sid("WK", worker),
        "WorkerName": email(worker),
        "WorkerAttributes": worker_attributes(worker, drifting),
        "WorkerActivityName": "Available",
        "WorkerActivitySid": sid("WA", 1),
        "WorkerVersion": str(version),
    }
    if kind.startswith(("task.", "reservation.")):
        fields.update(
            ResourceType="task" if kind.startswith("task.") else "reservation",
            ResourceSid=sid("WT" if kind.startswith("task.") else "WR", n),
            TaskSid=sid("WT", n),
            TaskAttributes=task_attributes(n),
            TaskAge="12",
            TaskPriority="0",
            TaskAssignmentStatus="reserved",
            TaskQueueSid=sid("WQ", 1),
            TaskQueueName="Support",
            WorkflowSid=sid("WW", 1),
            WorkflowName="Assign to Anyone",
            TaskChannelUniqueName="voice",
        )
    else:
        fields.update(ResourceType="worker", ResourceSid=sid("WK", worker))
        if kind == "worker.activity.update":
            fields.update(WorkerPreviousActivitySid=sid("WA", 2), WorkerTimeInPreviousActivity="65")
    return fields


def firehose_mix(count: int, seed: int = 1) -> list[dict[str, str]]:
    """90% task/reservation, 8% worker.activity.update, 2% worker.attributes.update (a quarter drifting)."""
    rng = random.Random(seed)
    events = []
    for n in range(1, count + 1):
        roll = rng.random()
        if roll < 0.90:
            events.append(event(rng.choice(TASK_EVENTS + RESERVATION_EVENTS), n))
        elif roll < 0.98:
            events.append(event("worker.activity.update", n))
        else:
            events.append(event("worker.attributes.update", n, version=n, drifting=rng.random() < 0.25))
    return events


def signed_lines(events: list[dict[str, str]], url: str) -> list[str]:
    """`signature<TAB>body` lines for the wrk script."""
    validator = RequestValidator(TOKEN)
    return [f"{validator.compute_signature(url, fields)}\t{urlencode(fields)}" for fields in events]
