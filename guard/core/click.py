"""Slack fix buttons: what a click asks for, and whether the guard may do it. Pure; the service applies it.

A button's value is a reference to look up (account/workspace/worker SIDs), never trusted data: the guard
re-fetches and re-checks the worker before it changes anything.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Collection
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

from guard.core.sid import is_sid
from guard.core.snapshot import WorkerKey
from guard.core.verdict import Kind

_USER_ID = re.compile(r"^[A-Za-z0-9]{1,32}$")
_DIGEST = re.compile(r"[0-9a-f]{16}")
SLACK_ORIGINS = ("https://hooks.slack.com", "https://hooks.slack-gov.com")  # where Slack's response_urls point
# Slack's answer path, segment by segment: no `..`, `%2e` or `%2f` can lead it to `/services/…` (another channel)
_ANSWER_PATH = re.compile(r"/(actions|app)/[A-Za-z0-9]+/[0-9]+/[A-Za-z0-9]+")


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
    value_digest: str | None = None  # the value the message showed (older messages carry none)


def worker_reference(key: WorkerKey, value: str | None = None) -> str:
    """The button value that names a worker, `AC…/WS…/WK…`, and for Intended the value it is about (a digest)."""
    reference = f"{key.account_sid}/{key.workspace_sid}/{key.worker_sid}"
    return f"{reference}/{value_digest(value)}" if value is not None else reference


def value_digest(value: str | None) -> str:
    """A short fingerprint of a contact_uri as shown: an Intended click marks only the value its message showed."""
    return hashlib.sha256((value or "").encode("utf-8", "backslashreplace")).hexdigest()[:16]


def parse_click(payload_text: str, answer_origins: Collection[str] = SLACK_ORIGINS) -> Click:
    """Read a `block_actions` payload (the form field `payload`), or raise BadClick naming the problem.

    Its response_url must be an answer URL (`/actions/…`) at one of `answer_origins` (Slack's; the handler adds
    those of the configured webhooks): whoever holds the signing secret cannot make the guard post anywhere else.
    """
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
    if not _printable(response_url) or not response_url.startswith(("https://", "http://")):
        raise BadClick("payload has no response_url")
    if not _answer_url(response_url, answer_origins):
        raise BadClick("response_url is not a Slack answer URL")
    container = payload.get("container") if isinstance(payload.get("container"), dict) else {}
    message = payload.get("message") if isinstance(payload.get("message"), dict) else {}
    # The message is what a click is about: two presses on it are one request (a press alone has its own action_ts)
    message_ts = container.get("message_ts") or message.get("ts") or actions[0].get("action_ts") or ""
    if not _printable(str(message_ts)):  # Slack's are digits and a dot; a lone surrogate could not even be stored
        raise BadClick("payload has a message_ts that is no Slack timestamp")
    key, digest = _reference(actions[0].get("value"))
    return Click(action, key, user_id, response_url[:2000], str(message_ts)[:64], digest)


def origin(url: str) -> str:
    """`scheme://host[:port]` of a URL, lower-cased: what the response_url check compares."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def _answer_url(url: str, origins: Collection[str]) -> bool:
    """True for `<origin>/actions/<team>/<number>/<token>` (or `/app/…`) at one of `origins`, and nothing more."""
    try:
        parts = urlsplit(url)
        return origin(url) in origins and not parts.query and _ANSWER_PATH.fullmatch(parts.path) is not None
    except ValueError:  # a bracket that is no IPv6 address
        return False


def _printable(text: Any) -> bool:
    """True for text of printable ASCII only, as Slack's URLs and timestamps are."""
    return isinstance(text, str) and text.isascii() and text.isprintable()


def refusal(
    click: Click, approvers: Collection[str], account_known: bool, verdict: str | None, value: str | None = None
) -> str | None:
    """Why this click may not act (the ephemeral reply), or None when it may.

    `verdict`: the worker's now (None: the guard knows no such worker); `value`: its contact_uri now.
    """
    if (not_approver := approver_refusal(click.user_id, approvers)) is not None:
        return not_approver
    if not account_known:
        return f"This guard does not serve account {click.key.account_sid}. Nothing was changed."
    if verdict is None:
        return f"This guard knows no worker {click.key.worker_sid} in {click.key.workspace_sid}. Nothing was changed."
    if verdict == Kind.DELETED:  # TaskRouter would answer 404: no failure to retry, no alert for the channel
        return f"{click.key.worker_sid} was deleted in TaskRouter: there is nothing to change. Nothing was changed."
    if click.action is Action.IGNORE and click.value_digest and click.value_digest != value_digest(value):
        return (
            f"The contact_uri of {click.key.worker_sid} changed since this message, so this button does not mark "
            "the value it showed: see the newest alert about the worker. Nothing was changed."
        )
    return None


def approver_refusal(user_id: str, approvers: Collection[str]) -> str | None:
    """Why `user_id` may not act from Slack (asked again when the click is applied: approvers can be revoked)."""
    if not approvers:
        return "Nobody may act from Slack yet: SLACK_APPROVERS is empty. Nothing was changed."
    if user_id not in approvers:
        return f"<@{user_id}> is not in SLACK_APPROVERS, so this button does nothing for you. Nothing was changed."
    return None


def _reference(value: Any) -> tuple[WorkerKey, str | None]:
    """The worker a button value names, and the digest of the value it is about, if it carries one."""
    parts = value.split("/") if isinstance(value, str) else []
    digest = parts.pop() if len(parts) == 4 and _DIGEST.fullmatch(parts[3]) else None
    if len(parts) != 3 or not all(is_sid(part, prefix) for part, prefix in zip(parts, ("AC", "WS", "WK"), strict=True)):
        raise BadClick("the button value does not name an account, workspace and worker")
    return WorkerKey(*parts), digest
