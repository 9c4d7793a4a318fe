"""The verdict on one worker's attributes: does its contact_uri match the Flex identity the evidence shows."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from guard.core.diagnosis import Diagnosis, diagnose
from guard.core.evidence import IDENTITY_ATTRIBUTE, Basis, Policy, claimed, gather, usable_text
from guard.core.ignore import NO_RULES, IgnoreRules
from guard.core.text import shown

# What Flex writes on every agent it knows (SSO or pre-provisioned). A worker with none of them is no Flex agent:
# TaskRouter also holds bots, back-office queues and workspaces without Flex, and its name alone proves nothing.
AGENT_ATTRIBUTES = ("email", "contact_uri", IDENTITY_ATTRIBUTE, "roles")
NOT_AN_AGENT = "not a Flex agent: no email, contact_uri, twilio_contact_identity or roles"
_ABSENT = (None, "", [], {})


class Kind(StrEnum):
    """What the guard concludes about a worker."""

    OK = "ok"
    PENDING = "pending"
    MISMATCH = "mismatch"
    NO_EMAIL = "no_email"
    IGNORED = "ignored"
    DELETED = "deleted"  # not judged: TaskRouter deleted the worker (a stored state, never a judgment)


@dataclass(frozen=True)
class Verdict:
    """A verdict; `detail` is the human sentence (diagnosis for a mismatch, reason otherwise).

    `basis` names the evidence the value was judged against: the one it matched (ok), or the one
    that gives the expected value (pending, mismatch).
    """

    kind: Kind
    email: str | None = None
    expected: str | None = None
    actual: str | None = None
    diagnosis: Diagnosis | None = None
    detail: str = ""
    basis: Basis | None = None

    @property
    def drifting(self) -> bool:
        """True when the worker cannot receive calls because its contact_uri is wrong."""
        return self.kind is Kind.MISMATCH

    @property
    def broken(self) -> bool:
        """True when the browser cannot ring: a wrong contact_uri, or none yet (Flex writes it at login)."""
        return self.kind in (Kind.MISMATCH, Kind.PENDING)

    def fields(self) -> dict[str, Any]:
        """The verdict as flat JSON values, named as the state, alerts and reports name them."""
        return {
            "verdict": self.kind.value,
            "email": self.email,
            "expected": self.expected,
            "actual": self.actual,
            "diagnosis": self.diagnosis.value if self.diagnosis else None,
            "detail": self.detail,
            "basis": self.basis.value if self.basis else None,
        }

    @classmethod
    def from_fields(cls, fields: Mapping[str, Any]) -> Verdict:
        """The verdict back from `fields()` (or a stored row with the same names)."""
        diagnosis, basis = fields.get("diagnosis"), fields.get("basis")
        return cls(
            Kind(fields["verdict"]),
            fields.get("email"),
            fields.get("expected"),
            fields.get("actual"),
            Diagnosis(diagnosis) if diagnosis else None,
            fields.get("detail") or "",
            Basis(basis) if basis else None,
        )


@dataclass(frozen=True)
class Rules:
    """How verdicts are reached here: IGNORE_WORKERS and IDENTITY_POLICY. Every place that judges uses one."""

    ignore: IgnoreRules = NO_RULES
    policy: Policy = Policy.FLEX

    def judge(self, attributes: Mapping[str, Any], worker_sid: str = "", worker_name: str = "") -> Verdict:
        """The verdict on a worker's attributes (and its name, the raw identity of SSO-created workers)."""
        email = usable_text(attributes.get("email"))
        raw_actual = attributes.get("contact_uri")
        # What the verdict carries is safe to store and show; the raw value is what gets judged.
        actual = None if raw_actual is None else shown(raw_actual)
        email_shown = None if email is None else shown(email)
        ignored = self.ignore.reason(worker_sid, email)
        if ignored:
            return Verdict(Kind.IGNORED, email_shown, None, actual, detail=ignored)
        if not any(attributes.get(name) not in _ABSENT for name in AGENT_ATTRIBUTES):
            return Verdict(Kind.IGNORED, detail=NOT_AN_AGENT)  # a bot or a queue, whatever its name
        evidence, note = gather(email, attributes.get(IDENTITY_ATTRIBUTE), worker_name, self.policy)
        if not evidence:
            if actual is None:
                return Verdict(Kind.IGNORED, detail="not a Flex agent: no email and no contact_uri")
            return Verdict(Kind.NO_EMAIL, None, None, actual, detail="contact_uri set but no email to check it against")
        primary = evidence[0]
        if actual is None:
            detail = _joined("no contact_uri yet; Flex writes it at the next login", note)
            return Verdict(Kind.PENDING, email_shown, shown(primary.expected), None, detail=detail, basis=primary.basis)
        matched = next((e for e in evidence if isinstance(raw_actual, str) and raw_actual in e.accepted), None)
        if matched:
            return Verdict(Kind.OK, email_shown, shown(matched.expected), actual, detail=note, basis=matched.basis)
        # Under a recorded identity, a value built from the email or name is the classic "normalised" drift.
        others = claimed(email, worker_name) if primary.basis is Basis.TWILIO_CONTACT_IDENTITY else []
        diagnosis, detail = diagnose(evidence, raw_actual, others)
        detail = shown(_joined(detail, note))
        return Verdict(Kind.MISMATCH, email_shown, shown(primary.expected), actual, diagnosis, detail, primary.basis)

    def with_intended(self, intended: Mapping[str, str]) -> Rules:
        """These rules, also ignoring the workers whose value an approver marked intended (SID -> who and when)."""
        return Rules(self.ignore.with_intended(intended), self.policy) if intended else self


def _joined(sentence: str, note: str) -> str:
    """A detail sentence followed by a note, when there is one."""
    return f"{sentence}; {note}" if sentence and note else sentence or note
