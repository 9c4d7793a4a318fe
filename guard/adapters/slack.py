"""Slack incoming-webhook notifier: Block Kit message plus a plain-text fallback."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from typing import Any

from slack_sdk.models.blocks import (
    Block,
    ContextBlock,
    HeaderBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)
from slack_sdk.webhook import WebhookClient

from guard.adapters.slack_advice import (
    ADVICE,
    CAME_BACK_ADVICE,
    NO_EMAIL_ADVICE,
    REGISTERS_ADVICE,
    SIGN_IN_ADVICE,
    fix_buttons,
)
from guard.core.alerts import Alert, AlertKind
from guard.core.cause import carried_by
from guard.core.evidence import basis_text
from guard.core.retry import RETRIED_STATUSES, parse_retry_after
from guard.core.statuses import SendOutcome
from guard.core.text import printable, scrubbed
from guard.logs import log_event

# Block Kit limits: header 150 characters, section text 3000, field 2000.
HEADER_MAX, TEXT_MAX, FIELD_MAX = 150, 3000, 2000
NO_EMOJI = ":\u200b"  # a colon a worker's name puts in the header, which renders `:shortcode:` as emoji
log = logging.getLogger("guard.slack")
BLOCKS_REFUSED = "HTTP 400 invalid_blocks"  # and invalid_blocks_format: the message's blocks, not the webhook


@dataclass(frozen=True)
class SendResult:
    """How one delivery attempt ended: delivered, retry (transient) or failed (permanent)."""

    outcome: SendOutcome
    error: str = ""
    retry_after: float | None = None
    unanswered: bool = False  # no HTTP answer (a timeout, a refused connection): the webhook failed, not the message


def truncate(text: str, limit: int) -> str:
    """Cut `text` to `limit` characters, marking the cut with an ellipsis."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def escape(text: str) -> str:
    """Escape the three characters Slack's mrkdwn treats as control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def inline_code(value: Any, limit: int = 900) -> str:
    """Show a value as inline code on one line (no formatting inside), or an em dash when absent."""
    if value in (None, ""):
        return "—"
    shown = truncate(escape(printable(str(value)).replace("`", "'")), limit)  # cut after escaping: the span closes
    return f"`{shown}`"


def plain(text: str, limit: int = TEXT_MAX) -> PlainTextObject:
    """Text that quotes what a worker's editor wrote (a name, a decoded value): no mrkdwn, no emoji, one line."""
    return PlainTextObject(text=truncate(printable(text), limit), emoji=False)


def render(alert: Alert) -> tuple[str, list[Block]]:
    """Build the fallback text and the blocks for an alert, from its kind's row in the table."""
    name = printable(alert.worker_name or alert.key.worker_sid)  # whoever edits the worker writes it
    # A late page's activity is the one it was raised in: its lead says where the agent is now
    activity = "Activity when raised" if alert.standing else "Activity"
    removal = alert.kind is AlertKind.REMEDIATION and alert.result == "removed"  # a page a removal raised has none
    actual = "Removed contact_uri" if removal else "Actual contact_uri"
    verdict = alert.verdict
    header = truncate(f"{alert.title}: {name.replace(':', NO_EMOJI)}", HEADER_MAX)
    fields = [
        MarkdownTextObject(text=truncate(f"*{label}*\n{value}", FIELD_MAX))
        for label, value in (
            ("Worker", inline_code(name, 500)),
            ("Worker SID", inline_code(alert.key.worker_sid)),
            ("Email", inline_code(verdict.email)),
            ("Account", escape(truncate(alert.account_label, 500))),
            ("Workspace", escape(truncate(alert.workspace_label, 500))),
            ("Expected contact_uri", inline_code(verdict.expected)),
            (actual, inline_code(verdict.actual)),
            ("Judged against", basis_text(verdict.basis)),
            (activity, _activity_text(alert.activity_name, alert.available)),
        )
    ]
    summary = f"{alert.note}. {_sentence(verdict.detail)}".strip() if alert.note else verdict.detail
    if alert.note and verdict.detail and verdict.detail in alert.note:  # no_email's note is it; a rule's ends with it
        summary = alert.note
    # An urgent alert opens with the mention (mrkdwn, so it pings) and says plainly what is wrong.
    lead = f"{alert.mention} *{escape(alert.urgent_lead())}*".strip() if alert.spec.urgent else ""
    blocks: list[Block] = [
        *([SectionBlock(text=MarkdownTextObject(text=lead))] if lead else []),
        HeaderBlock(text=header),
        SectionBlock(fields=fields),
        SectionBlock(text=plain(summary or alert.kind.value)),  # the detail quotes decoded values
    ]
    if alert.changes is not None:
        heading = f"*{alert.changes.heading()}*\n"
        listed = truncate(escape(alert.changes.text()).replace("`", "'"), TEXT_MAX - len(heading) - 6)
        blocks.append(SectionBlock(text=MarkdownTextObject(text=f"{heading}```{listed}```")))  # cut inside, closed
    who = carried_by(alert.cause, alert.changes) if alert.cause else alert.cause_note
    if who and alert.kind is not AlertKind.CAUSE:  # a late answer's note says it already
        blocks.append(ContextBlock(elements=[plain(who)]))
    if late := alert.held_up():
        blocks.append(ContextBlock(elements=[plain(late)]))
    if alert.spec.fix:
        # Sign in again; remove the value; or, where a removal would harm (it came back, it still registers, or no
        # email says Flex writes one back), not.
        registers = verdict.drifting and verdict.actual == verdict.expected
        kept = CAME_BACK_ADVICE if alert.came_back else REGISTERS_ADVICE if registers else None
        if verdict.actual is not None and verdict.expected is None:
            kept = NO_EMAIL_ADVICE
        advice = SIGN_IN_ADVICE if verdict.actual is None else kept or ADVICE
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=advice)]))
        if alert.buttons:
            blocks.append(fix_buttons(alert.buttons, removable=kept is None, value=verdict.actual))
    # The fallback text is mrkdwn too (notifications show it): escaped like the blocks, so a name cannot ping or link.
    values = f"expected {verdict.expected or '—'} actual {verdict.actual or '—'}"
    # With several accounts, which one: a notification shows only this text (one account's label is its SID alone)
    account = f" [{alert.account_label}]" if alert.account_label not in ("", alert.key.account_sid) else ""
    body = f"{header}{account} ({alert.key.worker_sid}) {values}: {summary}"
    if lead:
        body = f"{alert.urgent_lead()}. {body}"
    body = escape(printable(body))
    text = truncate(f"{alert.mention} {body}" if lead and alert.mention else body, TEXT_MAX)
    return text, blocks


def _activity_text(name: str | None, available: bool | None) -> str:
    """The worker's activity and whether it routes tasks, as the alert saw it."""
    if not name:
        return "—"
    status = "availability unknown" if available is None else "available" if available else "not available"
    return f"{inline_code(name, 100)} ({status})"


class SlackNotifier:
    """Posts alerts to one incoming webhook; retries are the outbox's job, not the client's."""

    def __init__(self, webhook_url: str, timeout: float) -> None:
        """Create a client with no built-in retries so each attempt is reported back."""
        self._url = webhook_url
        self._client = WebhookClient(webhook_url, timeout=timeout, retry_handlers=[])  # type: ignore[arg-type]

    def __repr__(self) -> str:
        """Never show the webhook URL: it is a secret."""
        return "SlackNotifier(<webhook>)"

    @property
    def webhook(self) -> str:
        """Which webhook this posts to (a digest: accounts that share one share its rate limit, not its URL in logs)."""
        return hashlib.sha256(self._url.encode()).hexdigest()[:16]

    def send(self, alert: Alert) -> SendResult:
        """Post one alert and classify the answer."""
        text, blocks = render(alert)
        result = self._post(text, blocks)
        if result.outcome is SendOutcome.FAILED and result.error.startswith(BLOCKS_REFUSED):
            # Blocks the guard rendered and Slack refuses (a limit it counts otherwise): the fallback text says it all
            fields = {"kind": alert.kind.value, "worker_sid": alert.key.worker_sid, "error": result.error}
            log_event(log, logging.WARNING, "alert_sent_as_text", **fields)  # no buttons: say why, so it is fixed
            result = self._post(text, None)
        return result

    def _post(self, text: str, blocks: list[Any] | None) -> SendResult:
        """Post the text (and blocks) once, and classify the answer."""
        try:
            response = self._client.send(text=text, blocks=blocks)
        except Exception as err:  # noqa: BLE001 - timeouts, refused connections, DNS: all transient
            return SendResult(SendOutcome.RETRY, scrubbed(f"{type(err).__name__}: {err}", self._url), unanswered=True)
        status, body = response.status_code, (response.body or "").strip()
        if 200 <= status < 300:
            return SendResult(SendOutcome.DELIVERED)
        error = f"HTTP {status} {truncate(scrubbed(body, self._url), 200)}".strip()
        if status == 429:
            return SendResult(SendOutcome.RETRY, error, _retry_after(response.headers))
        if status in RETRIED_STATUSES or status == 408 or status >= 500:
            return SendResult(SendOutcome.RETRY, error)
        return SendResult(SendOutcome.FAILED, error)  # 400 invalid_payload, 403, 404 no_service, 410 …


def _retry_after(headers: dict[str, Any]) -> float | None:
    """Read Retry-After (seconds) from a 429 answer; the retry policy caps it."""
    for name, value in (headers or {}).items():
        if name.lower() == "retry-after":
            return parse_retry_after(value[0] if isinstance(value, list) else value)
    return None


def _sentence(detail: str | None) -> str:
    """A detail that starts a sentence after the note: capitalized, unless it opens with a name (`contact_uri`)."""
    text = detail or ""
    first = text.split(" ", 1)[0]
    return text[:1].upper() + text[1:] if first.isalpha() and first.islower() else text
