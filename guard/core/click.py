"""Slack fix buttons: what a click asks for, and whether the guard may do it. Pure; the service applies it.

A button's value is a reference to look up (account/workspace/worker SIDs), never trusted data: the guard
re-fetches and re-checks the worker before it changes anything.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from guard.core.sid import is_sid
from guard.core.snapshot import WorkerKey

_USER_ID = re.compile(r"^[A-Za-z0-9]{1,32}$")


class Action(StrEnum):
    """The buttons of a drift alert (their action_id), and the refusal a click may get instead."""

    REMOVE = "remove_contact_uri"
    IGNORE = "ignore_worker"
    REFUSE = "refuse"  # not a button: what a click that may not act becomes


class BadClick(ValueError):
    """An interaction payload the guard cannot read; the message says why."""


@dataclass(frozen=True)
class Click:
    """One button press, as read from Slack's `block_actions` payload."""

    action: Action
    key: WorkerKey
    user_id: str
    response_url: str
    message_ts: str  # the message the button sits on: two clicks on one message are one request


def worker_reference(key: WorkerKey) -> str:
    """The button value that names a worker: `AC…/WS…/WK…`."""
    return f"{key.account_sid}/{key.workspace_sid}/{key.worker_sid}"


def parse_click(payload_text: str) -> Click:
    """Read a `block_actions` payload (the form field `payload`), or raise BadClick naming the problem."""
    try:
        payload = json.loads(payload_text)
    except (ValueError, RecursionError):
        raise BadClick("payload is not valid JSON") from None
    if not isinstance(payload, dict) or payload.get("type") != "block_actions":
        raise BadClick("payload is not a block_actions interaction")
    actions, user = payload.get("actions"), payload.get("user")
    if not isinstance(actions, list) or not actions or not isinstance(actions[0], dict):
        raise BadClick("payload has no action")
    try:
        action = Action(actions[0].get("action_id"))
    except ValueError:
        raise BadClick("unknown action_id") from None
    if action is Action.REFUSE:
        raise BadClick("unknown action_id")
    user_id = user.get("id") if isinstance(user, dict) else None
    response_url = payload.get("response_url")
    if not isinstance(user_id, str) or not _USER_ID.match(user_id):
        raise BadClick("payload has no user id")
    if not isinstance(response_url, str) or not response_url.startswith(("https://", "http://")):
        raise BadClick("payload has no response_url")
    container = payload.get("container") if isinstance(payload.get("container"), dict) else {}
    message_ts = container.get("message_ts") or actions[0].get("action_ts") or ""
    return Click(action, _reference(actions[0].get("value")), user_id, response_url[:2000], str(message_ts)[:64])


def refusal(click: Click, approvers: Collection[str], account_known: bool, worker_known: bool) -> str | None:
    """Why this click may not act (the ephemeral reply), or None when it may."""
    if not approvers:
        return "Nobody may act from Slack yet: SLACK_APPROVERS is empty. Nothing was changed."
    if click.user_id not in approvers:
        return (
            f"<@{click.user_id}> is not in SLACK_APPROVERS, so this button does nothing for you. Nothing was changed."
        )
    if not account_known:
        return f"This guard does not serve account {click.key.account_sid}. Nothing was changed."
    if not worker_known:
        return f"This guard knows no worker {click.key.worker_sid} in {click.key.workspace_sid}. Nothing was changed."
    return None


def intended_label(actor: str, created_at: datetime) -> str:
    """How a verdict names who marked a value intended, and when."""
    return f"{actor} on {created_at:%Y-%m-%d %H:%M} UTC"


def _reference(value: Any) -> WorkerKey:
    """The worker a button value names."""
    parts = value.split("/") if isinstance(value, str) else []
    if len(parts) != 3 or not all(is_sid(part, prefix) for part, prefix in zip(parts, ("AC", "WS", "WK"), strict=True)):
        raise BadClick("the button value does not name an account, workspace and worker")
    return WorkerKey(*parts)
