"""What a worker's contact_uri is judged against: the Flex identity, as the worker's attributes show it.

contact_uri is `client:` + the escaped Flex identity of the user. For most SSO set-ups that identity is
the email, but not for all (README "Which identity counts"). The evidence, strongest first:

- `twilio_contact_identity`: newer Flex records the escaped identity it registers; when present and
  well-formed it alone decides;
- otherwise the `email` and the worker's own name (friendly_name, the raw identity of SSO-created
  workers), either of which may match. A name with whitespace is a display name, not an identity.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from guard.core.contact_uri import SCHEME, DecodeError, accepted_contact_uris, contact_uri_for, decode
from guard.core.text import trimmed

IDENTITY_ATTRIBUTE = "twilio_contact_identity"


class Basis(StrEnum):
    """The evidence a contact_uri was judged against."""

    TWILIO_CONTACT_IDENTITY = "twilio_contact_identity"
    EMAIL = "email"
    WORKER_NAME = "worker_name"

    @property
    def noun(self) -> str:
        """How a sentence names this evidence."""
        return "worker name" if self is Basis.WORKER_NAME else self.value


class Policy(StrEnum):
    """IDENTITY_POLICY: follow Flex's real identity (default), or the email only (the strict article rule)."""

    FLEX = "flex"
    EMAIL = "email"


@dataclass(frozen=True)
class Evidence:
    """One identity the contact_uri may be built from, and the values that count as matching it."""

    basis: Basis
    identity: str  # the raw (unescaped) identity
    expected: str  # the strict contact_uri, the one alerts show
    accepted: frozenset[str]


def basis_text(basis: Any) -> str:
    """A stored basis in words, for people (an em dash when none was recorded)."""
    try:
        return Basis(basis).noun
    except ValueError:
        return "—"


def usable_text(value: Any) -> str | None:
    """An attribute's value when it is non-blank text (an email, an identity), else None."""
    return value if isinstance(value, str) and value.strip() else None


def valid_identity(value: Any) -> bool:
    """True for a twilio_contact_identity Flex could have written: non-empty, escaped text."""
    return isinstance(value, str) and bool(value) and _recorded_identity(value)[0] is not None


def gather(email: str | None, recorded: Any, worker_name: str, policy: Policy) -> tuple[list[Evidence], str]:
    """The evidence for this worker, strongest first, and a note when some was unusable.

    `recorded` is the twilio_contact_identity attribute as it came, `email` the usable email.
    """
    if policy is Policy.EMAIL:
        return claimed(email, ""), ""
    evidence, note = _recorded_identity(recorded)
    if evidence:
        return [evidence], ""
    return claimed(email, worker_name), note


def claimed(email: str | None, worker_name: str) -> list[Evidence]:
    """The raw identities the worker claims: its email, and its name when that looks like an identity."""
    found = [_email(email)] if email else []
    if worker_name and not any(map(str.isspace, worker_name)) and worker_name != email:
        found.append(_raw(Basis.WORKER_NAME, worker_name))
    return found


def _email(email: str) -> Evidence:
    """Evidence from the email; with whitespace or zero-width characters around it, a value with or without them counts.

    A paste leaves them. Which of the two the login's identity had is not known: either may ring, so neither is a
    false alarm.
    """
    bare = trimmed(email)
    if bare == email or not bare:
        return _raw(Basis.EMAIL, email)
    accepted = accepted_contact_uris(bare) | accepted_contact_uris(email)
    return Evidence(Basis.EMAIL, bare, contact_uri_for(bare), accepted)


def _raw(basis: Basis, identity: str) -> Evidence:
    """Evidence from a raw identity: the strict form is expected, the JavaScript form accepted too."""
    return Evidence(basis, identity, contact_uri_for(identity), accepted_contact_uris(identity))


def _recorded_identity(value: Any) -> tuple[Evidence | None, str]:
    """The twilio_contact_identity Flex recorded (already escaped), or a note saying why it cannot count."""
    if value is None or value == "":
        return None, ""
    if not isinstance(value, str):
        return None, f"{IDENTITY_ATTRIBUTE} is not text, so it was not used"
    try:
        identity = decode(SCHEME + value)
    except DecodeError as err:
        return None, f"{IDENTITY_ATTRIBUTE} is not a valid escaped identity ({err}), so it was not used"
    expected = SCHEME + value
    return Evidence(Basis.TWILIO_CONTACT_IDENTITY, identity, expected, frozenset({expected})), ""
