"""Slack incoming-webhook notifier: Block Kit message plus a plain-text fallback."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ConfirmObject,
    ContextBlock,
    HeaderBlock,
    MarkdownTextObject,
    SectionBlock,
)
from slack_sdk.webhook import WebhookClient

from guard.core.approval import Action
from guard.core.evidence import basis_text
from guard.core.retry import RETRIED_STATUSES, parse_retry_after
from guard.core.statuses import RemediationStatus, SendOutcome
from guard.core.transitions import AlertKind

# Block Kit limits: header 150 characters, section text 3000, field 2000.
HEADER_MAX, TEXT_MAX, FIELD_MAX = 150, 3000, 2000

ADVICE = (
    "*What to do:* remove `contact_uri` from the worker's attributes; Flex regenerates it at the "
    "agent's next login. Never type a value in by hand."
)
HEADERS = {
    "drift": ":rotating_light: contact_uri drift",
    "reminder": ":repeat: Still drifting",
    "resolved": ":white_check_mark: Resolved",
    "no_email": ":warning: contact_uri without email",
    "remediation": ":broom: contact_uri removed",
}


@dataclass(frozen=True)
class SendResult:
    """How one delivery attempt ended: delivered, retry (transient) or failed (permanent)."""

    outcome: SendOutcome
    error: str = ""
    retry_after: float | None = None


def truncate(text: str, limit: int) -> str:
    """Cut `text` to `limit` characters, marking the cut with an ellipsis."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def escape(text: str) -> str:
    """Escape the three characters Slack's mrkdwn treats as control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _code(value: Any, limit: int = 900) -> str:
    """Show a value as inline code, or an em dash when absent."""
    if value in (None, ""):
        return "—"
    shown = escape(truncate(str(value).replace("`", "'"), limit))
    return f"`{shown}`"


def fix_buttons(reference: str) -> ActionsBlock:
    """The approver's two buttons; their value names the worker, and the guard re-checks it before acting."""
    remove = ButtonElement(
        text="Remove contact_uri",
        action_id=Action.REMOVE,
        value=reference,
        style="danger",
        confirm=ConfirmObject(
            title="Remove contact_uri?",
            text="The guard fetches the worker again and removes the value only if it is still wrong. "
            "Flex writes the right one at the agent's next login.",
            confirm="Remove",
            deny="Cancel",
        ),
    )
    ignore = ButtonElement(text="Intended, ignore this worker", action_id=Action.IGNORE, value=reference)
    return ActionsBlock(block_id="contact_uri_fix", elements=[remove, ignore])


def render(payload: dict[str, Any]) -> tuple[str, list[Block]]:
    """Build the fallback text and the blocks for an alert payload."""
    kind = payload.get("kind", "drift")
    name = payload.get("worker_name") or payload.get("worker_sid", "?")
    where = payload.get("workspace_label") or payload.get("workspace_sid", "")
    title = HEADERS.get(kind, kind)
    if kind == AlertKind.REMEDIATION and payload.get("result") == RemediationStatus.FAILED:
        title = ":x: contact_uri removal failed"
    header = truncate(f"{title}: {name}", HEADER_MAX)
    fields = [
        MarkdownTextObject(text=truncate(f"*{label}*\n{value}", FIELD_MAX))
        for label, value in (
            ("Worker", escape(truncate(str(name), 500))),
            ("Worker SID", _code(payload.get("worker_sid"))),
            ("Email", _code(payload.get("email"))),
            ("Account", escape(truncate(str(payload.get("account_label") or payload.get("account_sid", "")), 500))),
            ("Workspace", escape(truncate(str(where), 500))),
            ("Expected contact_uri", _code(payload.get("expected"))),
            ("Actual contact_uri", _code(payload.get("actual"))),
            ("Judged against", basis_text(payload.get("basis"))),
        )
    ]
    summary = payload.get("detail") or ""
    if payload.get("note"):
        summary = f"{payload['note']}. {summary}".strip()
    blocks: list[Block] = [
        HeaderBlock(text=header),
        SectionBlock(fields=fields),
        SectionBlock(text=MarkdownTextObject(text=truncate(escape(summary or kind), TEXT_MAX))),
    ]
    if kind in ("drift", "reminder"):
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=ADVICE)]))
        if payload.get("fix_buttons"):
            blocks.append(fix_buttons(str(payload["fix_buttons"])))
    # The fallback text is mrkdwn too (notifications show it): escaped like the blocks, so a name cannot ping or link.
    text = truncate(
        escape(
            f"{header} ({payload.get('worker_sid', '')}) expected {payload.get('expected')!s} "
            f"actual {payload.get('actual')!s}: {summary}"
        ),
        TEXT_MAX,
    )
    return text, blocks


class SlackNotifier:
    """Posts alerts to one incoming webhook; retries are the outbox's job, not the client's."""

    def __init__(self, webhook_url: str, timeout: float) -> None:
        """Create a client with no built-in retries so each attempt is reported back."""
        self._url = webhook_url
        self._client = WebhookClient(webhook_url, timeout=timeout, retry_handlers=[])  # type: ignore[arg-type]

    def __repr__(self) -> str:
        """Never show the webhook URL: it is a secret."""
        return "SlackNotifier(<webhook>)"

    def send(self, payload: dict[str, Any]) -> SendResult:
        """Post one alert and classify the answer."""
        text, blocks = render(payload)
        try:
            response = self._client.send(text=text, blocks=blocks)
        except Exception as err:  # noqa: BLE001 - timeouts, refused connections, DNS: all transient
            return SendResult(SendOutcome.RETRY, self._scrub(f"{type(err).__name__}: {err}"))
        status, body = response.status_code, (response.body or "").strip()
        if 200 <= status < 300:
            return SendResult(SendOutcome.DELIVERED)
        error = f"HTTP {status} {truncate(body, 200)}".strip()
        if status == 429:
            return SendResult(SendOutcome.RETRY, error, _retry_after(response.headers))
        if status in RETRIED_STATUSES or status == 408 or status >= 500:
            return SendResult(SendOutcome.RETRY, error)
        return SendResult(SendOutcome.FAILED, error)  # 400 invalid_payload, 403, 404 no_service, 410 …

    def _scrub(self, message: str) -> str:
        """Remove the webhook URL from an error message before it is stored or logged."""
        return message.replace(self._url, "<webhook>")


def _retry_after(headers: dict[str, Any]) -> float | None:
    """Read Retry-After (seconds) from a 429 answer; the retry policy caps it."""
    for name, value in (headers or {}).items():
        if name.lower() == "retry-after":
            return parse_retry_after(value[0] if isinstance(value, list) else value)
    return None
