"""Applying Slack clicks: recorded by the request, then applied and answered here, in the background, durably."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

from guard.adapters.journal import RemovalJournal
from guard.adapters.slack import escape, inline_code
from guard.adapters.slack_answers import SlackAnswers, mention
from guard.config import ConfigError
from guard.core.click import Action, Click, approver_refusal, refusal, worker_reference
from guard.core.history import CAME_BACK
from guard.core.snapshot import WorkerKey
from guard.core.statuses import ClickStatus, RemediationStatus, SendOutcome
from guard.core.text import shown
from guard.core.verdict import Kind
from guard.logs import log_event
from guard.service.pipeline import Pipeline
from guard.service.remediation import NO_EMAIL_KEPT, REGISTERS, ApiFor, remove_contact_uri
from guard.service.removals import record_removal

ANSWER_LEASE = timedelta(minutes=2)  # an answer that failed for now is posted again after this
log = logging.getLogger("guard.slack")
ANSWER_ATTEMPTS = 5  # then the answer is given up on; the change itself was made and announced already
NOT_MARKED = ":x: Nothing marked intended"
FOOTNOTE = "Done from Slack by an approver."
FETCHED = "Done from Slack by an approver; the guard fetched the worker and re-checked it first."
TITLES = {
    RemediationStatus.REMOVED: ":broom: contact_uri removed",
    RemediationStatus.SKIPPED: ":information_source: Nothing removed",  # no longer drifting, or no value to remove
    RemediationStatus.FAILED: ":x: contact_uri removal failed",
}


def record_click(pipeline: Pipeline, click: Click, wake: Callable[[], None]) -> bool:
    """Record a verified click (or its refusal) before Slack gets its answer; False for a repeat of one."""
    known_account = pipeline.accounts.serves(click.key.account_sid)
    verdict = pipeline.store.workers.verdict(click.key) if known_account else None
    intended = verdict not in (None, Kind.DELETED) and click.value_digest and click.action is Action.IGNORE
    now = pipeline.known(click.key) if intended else None  # Intended: the value now
    value = now.actual if now is not None else None
    refused = refusal(click, pipeline.settings.slack_approvers, known_account, verdict, value)
    action = Action.REFUSE if refused else click.action
    added = pipeline.store.clicks.add_click(click, action, refused, pipeline.clock())
    fields = {"user": click.user_id, "action": click.action.value, "worker_sid": click.key.worker_sid}
    log_event(log, logging.INFO, "slack_click", refused=refused is not None, repeated=added is None, **fields)
    if added is not None:
        wake()
    return added is not None


class ClickJobs:
    """Applies each recorded click once, then answers it on its response_url."""

    def __init__(self, pipeline: Pipeline, api_for: ApiFor, answers: SlackAnswers, lease: timedelta) -> None:
        """Remove through `api_for`, answer through `answers`; a click is leased for `lease` while handled."""
        self.pipeline, self.api_for, self.answers, self.lease = pipeline, api_for, answers, lease

    def run_pending(self) -> int:
        """Handle every click that waits; return how many."""
        handled = 0
        clicks = self.pipeline.store.clicks
        while (row := clicks.claim_click(self.pipeline.clock(), self.lease)) is not None:
            outcome = row["outcome"]
            if row["status"] == ClickStatus.PENDING:  # not applied yet (a crash after the ack lands here)
                try:
                    answer = self._apply(row)
                except Exception as err:  # answered all the same: a click never stays pending for ever
                    log.exception("slack_click_failed", extra={"fields": {"click_id": row["id"]}})
                    text = f"The guard could not do this ({type(err).__name__}). Nothing may have changed; try again."
                    title = TITLES[RemediationStatus.FAILED] if row["action"] == Action.REMOVE else NOT_MARKED
                    answer = {"title": title, "text": text, **_again(row)}
                outcome = json.dumps(answer)
                clicks.finish_click(row["id"], ClickStatus.APPLIED, outcome, self.pipeline.clock(), ANSWER_LEASE)
            self._answer(row, json.loads(outcome))
            handled += 1
        return handled

    def _apply(self, row: Mapping[str, Any]) -> dict[str, str]:
        """Make the change the click asks for; return the answer (a title and a mrkdwn text)."""
        if row["action"] == Action.REFUSE:
            return {"text": row["refusal"]}
        if (revoked := approver_refusal(row["user_id"], self.pipeline.settings.slack_approvers)) is not None:
            return {"text": revoked, "ephemeral": "yes", "reopen": "yes"}  # revoked since: nothing done, alert kept
        key = WorkerKey(row["account_sid"], row["workspace_sid"], row["worker_sid"])
        actor, who, worker = f"slack:{row['user_id']}", mention(row["user_id"]), self._named(key)
        if row["action"] == Action.IGNORE:
            value, marked = self.pipeline.mark_intended(key, actor, row["value_digest"])
            shown_now = inline_code(value) if value else ""  # a worker's value: no backtick may end the code
            if marked:
                text = f"{who} marked {shown_now} on {worker} as intended: the guard ignores it from now on."
                return {"title": ":white_check_mark: Marked intended", "text": text}
            why = (
                f"has {shown_now} now, not the value this message showed: nothing was marked (see the newest alert)"
                if value
                else "has no contact_uri now, so there is no value to mark intended"
            )
            text = f"{who}: {worker} {why}."
            return self._nothing_done(row, {"title": ":information_source: Nothing marked", "text": text})
        try:
            api = self.api_for(key.account_sid, key.workspace_sid)
        except ConfigError as err:  # credentials removed since the alert went out
            return {
                "title": TITLES[RemediationStatus.FAILED],
                "text": f"{who}: {escape(str(err))}. Nothing was changed.",
                **_again(row),
            }
        known, rules = self.pipeline.known(key), self.pipeline.rules()
        journal = RemovalJournal(self.pipeline.store.engine, key, self.lease)
        outcome = remove_contact_uri(api, key.worker_sid, rules, True, known, row["value_digest"], journal)
        record_removal(self.pipeline, key, outcome, actor)
        before = inline_code(outcome.before) if outcome.before else "the value"
        said = {
            RemediationStatus.REMOVED: f"{who} removed {before} from {worker}",
            RemediationStatus.SKIPPED: f"{who} asked to remove it, but nothing was removed from {worker}",
        }.get(outcome.status, f"{who} asked to remove {before} from {worker}, and it failed")
        detail = outcome.detail.removeprefix("removed; ")  # "… removed `x` from …: removed; Flex …" said it twice
        answer = {"title": TITLES[outcome.status], "text": f"{said}: {escape(detail)}."}
        if outcome.status is not RemediationStatus.FAILED:  # removed or kept after the fetch; a failure may precede it
            answer["fetched"] = "yes"
        # Still drifting, and Intended is the way out: keep that button
        if outcome.detail in (CAME_BACK, REGISTERS, NO_EMAIL_KEPT):
            answer["intended"] = worker_reference(key, shown(outcome.before) if outcome.before else None)
        elif outcome.status is RemediationStatus.FAILED:  # nothing may have changed: both buttons, to try again
            answer.update(_again(row))
        return self._nothing_done(row, answer) if outcome.status is RemediationStatus.SKIPPED else answer

    def _named(self, key: WorkerKey) -> str:
        """How an answer names the worker: the answer replaces the alert, and with it the name and the account."""
        state = self.pipeline.store.workers.state(key)
        name = (
            key.worker_sid if state is None or not state.name else f"{inline_code(state.name, 200)} ({key.worker_sid})"
        )
        several = len(self.pipeline.accounts.accounts) > 1
        return f"{name} in {escape(self.pipeline.accounts.routing_for(key).account_label)}" if several else name

    def _nothing_done(self, row: Mapping[str, Any], answer: dict[str, str]) -> dict[str, str]:
        """The answer of a click that changed nothing: only to its clicker if the message shows the other's outcome.

        Two approvers may click the alert's two buttons at once: the second replacing the message would hide what
        the first one did.
        """
        if not self.pipeline.store.clicks.acted_before(row):
            return answer
        return {"title": answer["title"], "text": f"{answer['title']}: {answer['text']}", "ephemeral": "yes"}

    def _answer(self, row: Mapping[str, Any], answer: dict[str, str]) -> None:
        """Post the answer; after a transient failure the click is answered again when its lease runs out."""
        if row["action"] == Action.REFUSE or "ephemeral" in answer:
            result = self.answers.ephemeral(row["response_url"], answer["text"])
        else:
            texts = (answer["title"], answer["text"], FETCHED if "fetched" in answer else FOOTNOTE)
            result = self.answers.replace(
                row["response_url"], *texts, intended=answer.get("intended"), retry=answer.get("retry", "")
            )
        clicks, now = self.pipeline.store.clicks, self.pipeline.clock()
        # A click that did nothing frees its message once answered (never before: a late answer would replace
        # a later click's), so its buttons, or another approver's, try again
        reopen = "reopen" in answer
        if result.outcome is SendOutcome.DELIVERED:
            clicks.finish_click(row["id"], ClickStatus.ANSWERED, json.dumps(answer), now, reopen=reopen)
        elif result.outcome is SendOutcome.FAILED or row["attempts"] >= ANSWER_ATTEMPTS:
            clicks.finish_click(row["id"], ClickStatus.ABANDONED, json.dumps(answer), now, reopen=reopen)
            log_event(log, logging.ERROR, "slack_answer_failed", click_id=row["id"], error=result.error)
        else:  # failed for now: tried again in ANSWER_LEASE, not the removal's long lease this claim took
            clicks.finish_click(row["id"], ClickStatus.APPLIED, json.dumps(answer), now, ANSWER_LEASE)


def _again(row: Mapping[str, Any]) -> dict[str, str]:
    """The buttons a click that failed leaves on its message: those it was clicked on, bound to the same value."""
    reference = "/".join((row["account_sid"], row["workspace_sid"], row["worker_sid"]))
    value = f"{reference}/{row['value_digest']}" if row["value_digest"] else reference
    return {"retry" if row["action"] == Action.REMOVE else "intended": value, "reopen": "yes"}
