"""The verdict on one worker's attributes: does its contact_uri match the email-derived value."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from guard.core.contact_uri import (
    SCHEME,
    DecodeError,
    accepted_contact_uris,
    contact_uri_for,
    decode,
    split_scheme,
)
from guard.core.ignore import NO_RULES, IgnoreRules


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
    OTHER_EMAIL = "other_email"
    MALFORMED = "malformed"
    DIFFERENT = "different"


@dataclass(frozen=True)
class Verdict:
    """A verdict; `detail` is the human sentence (diagnosis for a mismatch, reason otherwise)."""

    kind: Kind
    email: str | None = None
    expected: str | None = None
    actual: str | None = None
    diagnosis: Diagnosis | None = None
    detail: str = ""

    @property
    def drifting(self) -> bool:
        """True when the worker cannot receive calls because its contact_uri is wrong."""
        return self.kind is Kind.MISMATCH


_PHONE_RE = re.compile(r"^\+?[0-9][0-9 ().-]{5,}$")


def judge(attributes: Mapping[str, Any], worker_sid: str = "", ignore: IgnoreRules = NO_RULES) -> Verdict:
    """Return the verdict for a worker's attributes."""
    email = _email_of(attributes)
    raw_actual = attributes.get("contact_uri")
    actual = None if raw_actual is None else _as_text(raw_actual)
    rule = ignore.match(worker_sid, email)
    if rule:
        return Verdict(Kind.IGNORED, email, None, actual, detail=f"matches IGNORE_WORKERS rule {rule!r}")
    if email is None:
        if actual is None:
            return Verdict(Kind.IGNORED, detail="not a Flex agent: no email and no contact_uri")
        return Verdict(Kind.NO_EMAIL, None, None, actual, detail="contact_uri set but no email to check it against")
    expected = contact_uri_for(email)
    if actual is None:
        return Verdict(
            Kind.PENDING, email, expected, None, detail="no contact_uri yet; Flex writes it at the next login"
        )
    if isinstance(raw_actual, str) and raw_actual in accepted_contact_uris(email):
        return Verdict(Kind.OK, email, expected, actual)
    diagnosis, detail = diagnose(email, expected, raw_actual)
    return Verdict(Kind.MISMATCH, email, expected, actual, diagnosis, detail)


def diagnose(email: str, expected: str, actual: Any) -> tuple[Diagnosis, str]:
    """Explain how `actual` differs from the `expected` contact_uri for `email`."""
    if not isinstance(actual, str) or not actual.strip():
        return Diagnosis.DIFFERENT, f"plainly different: {_as_text(actual)!r} is not a client identity"
    scheme, body = split_scheme(actual)
    if scheme not in (None, SCHEME):
        return Diagnosis.WRONG_SCHEME, f"wrong scheme {scheme!r}: a Flex voice identity starts with 'client:'"
    if body.casefold() == email.casefold():
        return Diagnosis.RAW_EMAIL, "the raw email, not escaped: every character but A-Z, a-z, 0-9 must be _XX"
    if _PHONE_RE.match(body.strip()):
        return Diagnosis.WRONG_SCHEME, "wrong scheme: a phone number, not a 'client:' identity"
    if scheme is None:
        return Diagnosis.WRONG_SCHEME, "wrong scheme: the 'client:' prefix is missing"
    if actual.casefold() == expected.casefold():
        return Diagnosis.CASE_ONLY, "differs only in letter case: Flex keeps the email's case and uppercase hex"
    try:
        decoded = decode(actual)
    except DecodeError as err:
        return Diagnosis.MALFORMED, f"malformed escape: {err}"
    if decoded.casefold() != email.casefold():
        return Diagnosis.OTHER_EMAIL, f"decodes to a different email: {decoded}"
    return Diagnosis.DIFFERENT, "plainly different: the same email escaped in a way Flex does not use"


def _email_of(attributes: Mapping[str, Any]) -> str | None:
    """Return the worker's email attribute, or None when absent, blank or not a string."""
    email = attributes.get("email")
    if isinstance(email, str) and email.strip():
        return email
    return None


def _as_text(value: Any) -> str:
    """Render an attribute value as text for display (JSON for non-strings)."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
