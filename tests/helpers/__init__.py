"""Test data shaped like Twilio's, and a client that signs it the way Twilio does: the names of the modules below."""

from tests.helpers.cloudevents import batch_answer, cloudevent, minutes_ago, post_cloudevents
from tests.helpers.ids import (
    ACCOUNT_SID,
    ANN_EMAIL,
    ANN_URI,
    AUTH_TOKEN,
    AVAILABLE_SID,
    OFFLINE_SID,
    PREVIOUS_AUTH_TOKEN,
    WORKSPACE_SID,
    email,
    uri,
    worker_sid,
)
from tests.helpers.stored import remediations, stored_state
from tests.helpers.taskrouter import EVENTS_URL, TaskRouterPoster, sign, worker_event
from tests.helpers.workforce import audit, fake_api_settings, populate

__all__ = [
    "ACCOUNT_SID",
    "ANN_EMAIL",
    "ANN_URI",
    "AUTH_TOKEN",
    "AVAILABLE_SID",
    "EVENTS_URL",
    "OFFLINE_SID",
    "PREVIOUS_AUTH_TOKEN",
    "WORKSPACE_SID",
    "TaskRouterPoster",
    "audit",
    "batch_answer",
    "cloudevent",
    "email",
    "fake_api_settings",
    "minutes_ago",
    "populate",
    "post_cloudevents",
    "remediations",
    "sign",
    "stored_state",
    "uri",
    "worker_event",
    "worker_sid",
]
