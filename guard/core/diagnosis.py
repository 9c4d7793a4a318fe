"""Why a contact_uri is a mismatch: the diagnosis an alert names (case only, wrong scheme, the raw email, …)."""

from __future__ import annotations

import re
import string
import unicodedata
from collections.abc import Sequence
from enum import StrEnum
from typing import Any

from guard.core.contact_uri import SCHEME, DecodeError, decode, same_identity, split_scheme
from guard.core.evidence import Basis, Evidence
from guard.core.text import shown, storable_problem, trimmed


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
    WIPED = "wiped"  # an update dropped email and contact_uri from a worker the guard knew
    IDENTITY_CHANGED = "identity_changed"  # twilio_contact_identity rewritten to another identity
    EVIDENCE_CHANGED = "evidence_changed"  # the evidence edited while the wrong value stayed
    REMOVED = "removed"  # (pending) an update removed a working value: no login writes it until the agent signs in


_VOICE_IDENTITY = frozenset(string.ascii_letters + string.digits + "_")
_PHONE_RE = re.compile(r"^\+?[0-9][0-9 ().-]{5,}$")


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
    body = split_scheme(actual)[1] if overruled is not None else None
    if body is not None and same_identity(body, primary.expected.removeprefix(SCHEME)):  # one identity, other form
        return Diagnosis.NOT_IDENTITY, (
            f"built from the {overruled.basis.noun} in another escape form than twilio_contact_identity records "
            f"({primary.expected.removeprefix(SCHEME)}): the browser listens on {primary.expected}"
        )
    if overruled is not None:
        return Diagnosis.NOT_IDENTITY, (
            f"built from the {overruled.basis.noun}, but Flex registers the identity recorded in "
            f"twilio_contact_identity ({primary.identity}): the browser listens on {primary.expected}"
        )
    scheme, body = split_scheme(actual)
    if scheme not in (None, SCHEME):
        return Diagnosis.WRONG_SCHEME, f"wrong scheme {scheme!r}: a Flex voice identity starts with 'client:'"
    cased = _cased(evidence, actual)
    if cased is not None:
        noun = cased.basis.noun
        return Diagnosis.CASE_ONLY, f"differs only in letter case: Flex keeps the {noun}'s case and uppercase hex"
    raw = _typed_raw(evidence, body)
    if raw is not None:
        kind = Diagnosis.RAW_EMAIL if raw.basis is Basis.EMAIL else Diagnosis.RAW_IDENTITY
        return kind, f"the raw {raw.basis.noun}, not escaped: every character but A-Z, a-z, 0-9 must be _XX"
    if _PHONE_RE.match(body.strip()):
        return Diagnosis.WRONG_SCHEME, "wrong scheme: a phone number, not a 'client:' identity"
    if scheme is None:
        return Diagnosis.WRONG_SCHEME, "wrong scheme: the 'client:' prefix is missing"
    problem = malformed_client(actual)
    if problem:
        return Diagnosis.MALFORMED, problem
    decoded = decode(actual)
    near = next((e for e in evidence if _normal(decoded) == _normal(e.identity) and decoded != e.identity), None)
    if near is not None and decoded.casefold() == near.identity.casefold():  # É for é: not the identity escaped
        return Diagnosis.CASE_ONLY, f"decodes to {decoded!r}: the {near.basis.noun} but for letter case"
    if near is not None:  # é composed, against e + U+0301 (or the other way): looks the same, escapes otherwise
        return Diagnosis.DIFFERENT, f"decodes to {decoded!r}: the {near.basis.noun} in another Unicode form"
    if all(decoded.casefold() != e.identity.casefold() for e in evidence):
        named = decoded if trimmed(decoded) == decoded else repr(decoded)  # a trailing space must show
        if primary.basis is Basis.EMAIL and "@" in decoded:  # `client:fmulder` is someone's identity, not an email
            return Diagnosis.OTHER_EMAIL, f"decodes to a different email: {named}"
        return Diagnosis.OTHER_IDENTITY, f"decodes to a different identity: {named}"
    return Diagnosis.DIFFERENT, f"plainly different: the same {primary.basis.noun} escaped in a way Flex does not use"


def malformed_client(actual: Any) -> str | None:
    """Why a 'client:' value is an escape Flex never writes (no browser registers it), or None."""
    if not isinstance(actual, str) or split_scheme(actual)[0] != SCHEME:
        return None
    try:
        decode(actual)
    except DecodeError as err:
        return f"malformed escape: {err}"
    return None


def unregistrable(actual: Any) -> str | None:
    """Why a value can register as no Voice client at all, or None (`client:Bob`, or another setup's sip: or number).

    Twilio's Voice identities hold only letters, digits and _: `client:user_name` of another setup can ring.
    """
    if not isinstance(actual, str) or not actual.strip():
        return f"not a client identity: {shown(actual, 40)!r}"
    scheme, body = split_scheme(actual)
    if scheme is None or scheme.lower() != SCHEME:
        return None
    if scheme != SCHEME:
        return f"wrong scheme {scheme!r}: a Voice client's is 'client:'"
    if problem := storable_problem(actual):
        return f"not a storable client identity: {problem}"
    bad = next((i for i, char in enumerate(body) if char not in _VOICE_IDENTITY), None) if body else 0
    if bad is None:
        return None
    if not body:
        return "empty identity after 'client:'"
    return f"{body[bad]!r} at position {len(SCHEME) + bad}: only letters, digits and _ can register as a Voice client"


def built_from(evidence: list[Evidence], actual: Any) -> Evidence:
    """The evidence a wrong value was visibly built from (its case changed, or left unescaped), else the strongest."""
    if isinstance(actual, str) and split_scheme(actual)[0] in (None, SCHEME):
        return _cased(evidence, actual) or _typed_raw(evidence, split_scheme(actual)[1]) or evidence[0]
    return evidence[0]


def _normal(text: str) -> str:
    """`text` compared as people read it: composed (NFC) and case-folded."""
    return unicodedata.normalize("NFC", text).casefold()


def _cased(evidence: list[Evidence], actual: str) -> Evidence | None:
    """The evidence whose value `actual` is, but for letter case."""
    return next((e for e in evidence if actual.casefold() == e.expected.casefold()), None)


def _typed_raw(evidence: list[Evidence], body: str) -> Evidence | None:
    """The evidence whose identity `body` is as typed, where escaping would have changed it (a hand-written value)."""
    return next(
        (e for e in evidence if body.casefold() == e.identity.casefold() and e.identity != e.expected[len(SCHEME) :]),
        None,
    )
