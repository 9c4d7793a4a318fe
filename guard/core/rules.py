"""Judging a worker: does its contact_uri match the Flex identity its evidence shows, under the configured rules."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from guard.core.aside import set_aside
from guard.core.diagnosis import Diagnosis, built_from, diagnose, unregistrable
from guard.core.evidence import IDENTITY_ATTRIBUTE, Basis, Evidence, Policy, claimed, gather, usable_text
from guard.core.history import REMOVAL_END, Known, re_escaped, remembered, restored, wiped
from guard.core.ignore import NO_RULES, IgnoreRules
from guard.core.swaps import left_email, left_name, renamed, trusted_name
from guard.core.text import shown
from guard.core.verdict import Kind, Verdict

# What Flex writes on every agent it knows (SSO or pre-provisioned). A worker with none of them is no Flex agent:
# TaskRouter also holds bots, back-office queues and workspaces without Flex, and its name alone proves nothing.
AGENT_ATTRIBUTES = ("email", "contact_uri", IDENTITY_ATTRIBUTE, "roles")
NOT_AN_AGENT = "not a Flex agent: no email, contact_uri, twilio_contact_identity or roles"
_ABSENT = (None, "", [], {})
RENAMED = "contact_uri still matches that name: renaming a worker changes nothing the browser registers"
REMOVED = Diagnosis.REMOVED
RE_ESCAPED = "the same identity, and contact_uri is still the value that was ok: the browser registers the identity"
LEFT = "Flex writes a value only where there is none, and the browser still registers that identity"


@dataclass(frozen=True)
class Rules:
    """How verdicts are reached here: IGNORE_WORKERS and IDENTITY_POLICY. Every place that judges uses one."""

    ignore: IgnoreRules = NO_RULES
    policy: Policy = Policy.FLEX

    def judge(
        self, attributes: Mapping[str, Any], worker_sid: str = "", worker_name: str = "", known: Known | None = None
    ) -> Verdict:
        """The verdict on a worker's attributes (and its name, the raw identity of SSO-created workers).

        `known` is what the guard knew of the worker before (guard/core/history.py): without it, only these
        attributes count (a lookup, a first sight).
        """
        email = usable_text(attributes.get("email"))
        raw_actual = attributes.get("contact_uri")
        recorded = attributes.get(IDENTITY_ATTRIBUTE)
        # What the verdict carries is safe to store and show; the raw value is what gets judged.
        actual = None if raw_actual is None else shown(raw_actual)
        ignored = self.ignore.reason(worker_sid, email or (known.email if known else None), actual)
        if ignored:
            return Verdict(Kind.IGNORED, None if email is None else shown(email), None, actual, detail=ignored)
        history = ""
        if known is not None:
            forced = remembered(known, email, raw_actual, recorded, worker_name, self.policy)
            if forced is not None:
                return forced
            email, recorded, history = restored(known, email, recorded)
            recorded, aside = set_aside(known, email, recorded, worker_name, raw_actual, self.policy)
            history = _joined(aside, history)
        if email is None and not any(attributes.get(name) not in _ABSENT for name in AGENT_ATTRIBUTES):
            # A value, one removed, or a wipe not undone (drifting with no value): an agent's state, not a bot's
            had = known is not None and (known.actual is not None or known.removal is not None or known.drifting)
            flex_known = known is not None and self.policy is Policy.FLEX and (known.name_matched or known.identity)
            if had and flex_known and known is not None:
                return wiped(known)  # an agent the guard knew by its Flex identity, stripped of every attribute
            return Verdict(Kind.IGNORED, detail=NOT_AN_AGENT)  # a bot or a queue, whatever its name
        email_shown = None if email is None else shown(email)
        evidence, note = gather(email, recorded, worker_name, self.policy)
        note = _joined(note, history)
        if not evidence and known is not None and (trusted := trusted_name(known, self.policy)) is not None:
            evidence = [trusted]  # renamed to a display name: the name the value was ok against still counts
        if not evidence:
            if actual is None and known is not None and (known.actual is not None or known.removal or known.drifting):
                # roles kept (or back after a wipe): an agent with no value, broken until a login writes one
                wiped_since = f"no contact_uri since its attributes were wiped{REMOVAL_END[1:]}"
                removal = known.removal or (
                    f"contact_uri removed (it was {known.actual}{REMOVAL_END}" if known.actual else wiped_since
                )
                return Verdict(Kind.PENDING, None, None, None, REMOVED, shown(removal))  # said until a value is back
            if actual is None:
                return Verdict(Kind.IGNORED, detail="not a Flex agent: no email and no contact_uri")
            if problem := unregistrable(raw_actual):  # whatever the setup, no Voice client registers it
                detail = shown(f"{problem}; no email to tell whose identity it is")
                return Verdict(Kind.MISMATCH, None, None, actual, Diagnosis.UNUSABLE, detail)
            return Verdict(Kind.NO_EMAIL, None, None, actual, detail="contact_uri set but no email to check it against")
        primary = evidence[0]
        if actual is None:  # the login writes the name's value again where one was ok against it
            by_identity = primary.basis is Basis.TWILIO_CONTACT_IDENTITY
            waits = (trusted_name(known, self.policy) if known and not by_identity else None) or primary
            # A working value removed reads otherwise than a first login's wait (or a wrong value taken out)
            working = known is not None and known.actual is not None and not known.drifting
            removal = f"contact_uri removed (it was {known.actual}{REMOVAL_END}" if working and known else None
            removal = removal or (known.removal if known else None)  # said until a value is back
            sentence = removal or "no contact_uri yet; Flex writes it at the next login"
            detail, diagnosis = _joined(sentence, note), REMOVED if removal else None
            return Verdict(Kind.PENDING, email_shown, shown(waits.expected), None, diagnosis, detail, waits.basis)
        matched = next((e for e in evidence if isinstance(raw_actual, str) and raw_actual in e.accepted), None)
        left = _left(known, matched, raw_actual, self.policy)
        if left is not None:  # the name's value in the place of one ok against the email, or the other way round
            built = (matched.basis if matched is not None else Basis.WORKER_NAME).noun
            was = f"{left.basis.noun} {left.identity}"
            detail = f"built from the {built}, but the value matched the {was} until this update; {LEFT}"
            diagnosis = Diagnosis.NOT_IDENTITY
            return Verdict(
                Kind.MISMATCH, email_shown, shown(left.expected), actual, diagnosis, shown(detail), left.basis
            )
        if matched:
            return Verdict(Kind.OK, email_shown, shown(matched.expected), actual, detail=note, basis=matched.basis)
        recorded_decides = primary.basis is Basis.TWILIO_CONTACT_IDENTITY  # it alone decides: no name counts
        if recorded_decides and re_escaped(known, raw_actual, recorded):
            detail = _joined(f"{IDENTITY_ATTRIBUTE} re-escaped as {shown(recorded, 80)}; {RE_ESCAPED}", note)
            return Verdict(Kind.OK, email_shown, actual, actual, detail=shown(detail), basis=primary.basis)
        kept = renamed(known, worker_name, raw_actual, self.policy) if known and not recorded_decides else None
        if kept is not None:
            detail = _joined(f"the worker was renamed from {shown(kept.identity, 80)}; {RENAMED}", note)
            return Verdict(Kind.OK, email_shown, shown(kept.expected), actual, detail=shown(detail), basis=kept.basis)
        # Under a recorded identity, a value built from the email or name is the classic "normalised" drift.
        others = claimed(email, worker_name) if recorded_decides else []
        # A name a value was ok against is the identity Flex registers: a later wrong value is judged against it
        trusted = trusted_name(known, self.policy) if known and not recorded_decides else None
        evidence = [trusted] if trusted is not None else evidence
        diagnosis, detail = diagnose(evidence, raw_actual, others)
        detail, against = shown(_joined(detail, note)), built_from(evidence, raw_actual)
        return Verdict(Kind.MISMATCH, email_shown, shown(against.expected), actual, diagnosis, detail, against.basis)

    def with_intended(self, intended: Mapping[str, tuple[str, str | None]]) -> Rules:
        """These rules, also ignoring the values an approver marked intended (SID -> (who and when, value))."""
        return Rules(self.ignore.with_intended(intended), self.policy) if intended else self


def _left(known: Known | None, matched: Evidence | None, actual: Any, policy: Policy) -> Evidence | None:
    """The identity a value was ok against until this update put another's value in its place (LEFT), or None."""
    if known is None:
        return None
    by_name = left_name(known, matched, actual, policy) if matched is not None else None
    return by_name or left_email(known, matched, actual, policy)  # its drift lasts whatever the name says now


def _joined(sentence: str, note: str) -> str:
    """A detail sentence followed by a note, when there is one."""
    return f"{sentence}; {note}" if sentence and note else sentence or note
