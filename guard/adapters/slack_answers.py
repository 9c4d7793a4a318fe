"""Answers to Slack button clicks, posted to the click's response_url (slack_sdk's WebhookClient does the HTTP)."""

from __future__ import annotations

from slack_sdk.models.blocks import ContextBlock, HeaderBlock, MarkdownTextObject, SectionBlock
from slack_sdk.webhook import WebhookClient

from guard.adapters.slack import HEADER_MAX, TEXT_MAX, SendResult, escape, truncate
from guard.adapters.slack_advice import fix_buttons
from guard.core.retry import RETRIED_STATUSES
from guard.core.statuses import SendOutcome
from guard.core.text import scrubbed


def mention(user_id: str) -> str:
    """A Slack mention of a user (the id is Slack's own, from the verified click)."""
    return f"<@{escape(user_id)}>"


class SlackAnswers:
    """Posts to response URLs: an ephemeral note to the clicker, or the alert replaced by its outcome."""

    def __init__(self, timeout: float) -> None:
        """Each post gets `timeout` seconds; retries are the click queue's job."""
        self.timeout = timeout

    def ephemeral(self, response_url: str, text: str) -> SendResult:
        """Tell only the person who clicked (the alert stays as it is)."""
        return self._post(response_url, text=text, response_type="ephemeral", replace_original=False)

    def replace(
        self, response_url: str, title: str, text: str, footnote: str, intended: str | None = None, retry: str = ""
    ) -> SendResult:
        """Replace the alert with its outcome, without the Remove button, so nobody presses it twice by mistake.

        `intended` (a worker reference) keeps the Intended button: the only place a value can be marked intended.
        `retry` (a button value) keeps both buttons: a removal that failed can be tried again from here.
        """
        buttons = [fix_buttons(retry)] if retry else [fix_buttons(intended, removable=False)] if intended else []
        blocks = [
            HeaderBlock(text=truncate(title, HEADER_MAX)),
            SectionBlock(text=MarkdownTextObject(text=truncate(text, TEXT_MAX))),
            ContextBlock(elements=[MarkdownTextObject(text=truncate(footnote, TEXT_MAX))]),
            *buttons,
        ]
        return self._post(
            response_url, text=truncate(f"{title}: {text}", TEXT_MAX), blocks=blocks, replace_original=True
        )

    def _post(self, response_url: str, **message: object) -> SendResult:
        """One post; the URL is short-lived and per click, but kept out of errors all the same."""
        client = WebhookClient(response_url, timeout=self.timeout, retry_handlers=[])  # type: ignore[arg-type]
        try:
            response = client.send(**message)  # type: ignore[arg-type]
        except Exception as err:  # noqa: BLE001 - timeouts, refused connections: try again later
            return SendResult(SendOutcome.RETRY, type(err).__name__)
        if 200 <= response.status_code < 300:
            return SendResult(SendOutcome.DELIVERED)
        error = f"HTTP {response.status_code} {truncate(scrubbed((response.body or '').strip(), response_url), 200)}"
        transient = response.status_code in RETRIED_STATUSES or response.status_code >= 500
        return SendResult(SendOutcome.RETRY if transient else SendOutcome.FAILED, error)
