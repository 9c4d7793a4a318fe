"""The verdict on one worker's attributes: does its contact_uri match the Flex identity the evidence shows."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from guard.core.contact_uri import SCHEME, DecodeError, decode, split_scheme
from guard.core.evidence import Basis, Evidence, Policy, claimed, email_of, gather
from guard.core.ignore import NO_RULES, IgnoreRules
from guard.core.text import shown, storable_problem


class Kind(StrEnum):
    """What the guard concludes about a worker."""

    OK = "ok"
    PENDING = "pending"
    MISMATCH = "mismatch"
    NO_EMAIL = "no_email"
    IGNORED = "ignored"


class Diagnosis(StrEnum):
    """Why a contact_uri is a mismatch."""

    CASE_ONLY = "case_only"
    WRONG_SCHEME = "wrong_scheme"
    RAW_EMAIL = "raw_email"
    RAW_IDENTITY = "raw_identity"
    OTHER_EMAIL = "other_email"
    OTHER_IDENTITY = "other_identity"
    NOT_IDENTITY = "not_identity"
    UNUSABLE = "unusable"
    MALFORMED = "malformed"
    DIFFERENT = "different"


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


_PHONE_RE = re.compile(r"^\+?[0-9][0-9 ().-]{5,}$")


@dataclass(frozen=True)
class Rules:
    """How verdicts are reached here: IGNORE_WORKERS and IDENTITY_POLICY. Every place that judges uses one."""

    ignore: IgnoreRules = NO_RULES
    policy: Policy = Policy.FLEX

    def judge(self, attributes: Mapping[str, Any], worker_sid: str = "", worker_name: str = "") -> Verdict:
        """The verdict on one worker under these rules."""
        return judge(attributes, worker_sid, self.ignore, worker_name=worker_name, policy=self.policy)

    def with_intended(self, intended: Mapping[str, str]) -> Rules:
        """These rules, also ignoring the workers whose value an approver marked intended (SID -> who and when)."""
        return Rules(self.ignore.with_intended(intended), self.policy) if intended else self


def judge(
    attributes: Mapping[str, Any],
    worker_sid: str = "",
    ignore: IgnoreRules = NO_RULES,
    *,
    worker_name: str = "",
    policy: Policy = Policy.FLEX,
) -> Verdict:
    """Return the verdict for a worker's attributes (and its name, the raw identity of SSO-created workers)."""
    email = email_of(attributes)
    raw_actual = attributes.get("contact_uri")
    # What the verdict carries is safe to store and show; the raw value is what gets judged.
    actual = None if raw_actual is None else shown(raw_actual)
    email_shown = None if email is None else shown(email)
    ignored = ignore.reason(worker_sid, email)
    if ignored:
        return Verdict(Kind.IGNORED, email_shown, None, actual, detail=ignored)
    evidence, note = gather(attributes, worker_name, policy)
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
    others = claimed(attributes, worker_name) if primary.basis is Basis.TWILIO_CONTACT_IDENTITY else []
    diagnosis, detail = diagnose(evidence, raw_actual, others)
    detail = shown(_joined(detail, note))
    return Verdict(Kind.MISMATCH, email_shown, shown(primary.expected), actual, diagnosis, detail, primary.basis)


def diagnose(evidence: list[Evidence], actual: Any, others: Sequence[Evidence] = ()) -> tuple[Diagnosis, str]:
    """Explain how `actual` differs from the contact_uri the evidence (strongest first) expects.

    `others` are identities the worker claims that the evidence overrules (email and name under a
    recorded twilio_contact_identity).
    """
    primary = evidence[0]
    if not isinstance(actual, str) or not actual.strip():
        return Diagnosis.DIFFERENT, f"plainly different: {shown(actual, 200)!r} is not a client identity"
    problem = storable_problem(actual)
    if problem:
        return Diagnosis.UNUSABLE, f"not a storable client identity: {problem}"
    overruled = next((o for o in others if actual in o.accepted), None)
    if overruled is not None:
        return Diagnosis.NOT_IDENTITY, (
            f"built from the {overruled.basis.noun}, but Flex registers the identity recorded in "
            f"twilio_contact_identity ({primary.identity}): the browser listens on {primary.expected}"
        )
    scheme, body = split_scheme(actual)
    if scheme not in (None, SCHEME):
        return Diagnosis.WRONG_SCHEME, f"wrong scheme {scheme!r}: a Flex voice identity starts with 'client:'"
    cased = next((e for e in evidence if actual.casefold() == e.expected.casefold()), None)
    if cased is not None:
        noun = cased.basis.noun
        return Diagnosis.CASE_ONLY, f"differs only in letter case: Flex keeps the {noun}'s case and uppercase hex"
    # The identity as typed (escaping would have changed it): a value someone wrote by hand.
    raw = next((e for e in evidence if _typed_raw(body, e)), None)
    if raw is not None:
        kind = Diagnosis.RAW_EMAIL if raw.basis is Basis.EMAIL else Diagnosis.RAW_IDENTITY
        return kind, f"the raw {raw.basis.noun}, not escaped: every character but A-Z, a-z, 0-9 must be _XX"
    if _PHONE_RE.match(body.strip()):
        return Diagnosis.WRONG_SCHEME, "wrong scheme: a phone number, not a 'client:' identity"
    if scheme is None:
        return Diagnosis.WRONG_SCHEME, "wrong scheme: the 'client:' prefix is missing"
    try:
        decoded = decode(actual)
    except DecodeError as err:
        return Diagnosis.MALFORMED, f"malformed escape: {err}"
    if all(decoded.casefold() != e.identity.casefold() for e in evidence):
        if primary.basis is Basis.EMAIL:
            return Diagnosis.OTHER_EMAIL, f"decodes to a different email: {decoded}"
        return Diagnosis.OTHER_IDENTITY, f"decodes to a different identity: {decoded}"
    return Diagnosis.DIFFERENT, f"plainly different: the same {primary.basis.noun} escaped in a way Flex does not use"


def _typed_raw(body: str, evidence: Evidence) -> bool:
    """True when `body` is the identity as typed, where escaping would have changed it."""
    return body.casefold() == evidence.identity.casefold() and evidence.identity != evidence.expected[len(SCHEME) :]


def _joined(sentence: str, note: str) -> str:
    """A detail sentence followed by a note, when there is one."""
    return f"{sentence}; {note}" if sentence and note else sentence or note
