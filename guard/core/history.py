"""What the guard knew of a worker before this event, and the rules no single update can talk its way past.

An update can wipe the attributes, rewrite the recorded identity, or drop or edit the evidence instead of
fixing the value. Each of those would fool a judge that only sees the new attributes: a Flex user's identity
does not change on its own, and a drift ends only when its value is fixed or removed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from guard.core.contact_uri import SCHEME, DecodeError, accepted_contact_uris, decode, same_identity
from guard.core.diagnosis import Diagnosis
from guard.core.evidence import IDENTITY_ATTRIBUTE, Basis, Policy, gather
from guard.core.text import shown
from guard.core.verdict import Kind, Verdict

ABSENT = (None, "")
REMOVAL_END = "); Flex writes the value at the next login"  # ends "contact_uri removed (it was …", before any note


@dataclass(frozen=True)
class Known:
    """The evidence the guard trusts for a worker (frozen while it drifts), and its last verdict."""

    email: str | None = None
    name: str = ""
    identity: str | None = None  # the twilio_contact_identity Flex recorded, escaped
    expected: str | None = None
    actual: str | None = None
    drifting: bool = False
    basis: Basis | None = None
    removed: str | None = None  # the value the guard last removed, while the worker has no accepted one since
    name_matched: bool = False  # a value was judged ok against `name` (Trusted.name_matched)
    adjacent: bool = False  # the update being judged is the next version: no update between them was missed
    removal: str | None = None  # while no value is back since an update removed one: what the verdict said then
    diagnosis: Diagnosis | None = None  # the last verdict's
    skipped: bool = False  # the update being judged comes after versions the guard never received
    watched: tuple[str, ...] = ()  # earlier values the guard removed that a login writes (WorkerState.watched)
    set_aside: str | None = None  # a twilio_contact_identity a Flex login contradicted (Trusted.set_aside)
    dropped: str | None = None  # a wrong value an update removed, while none is back (Trusted.dropped)


# Twilio's fix removes a wrong value and Flex writes the right one at the next login. The same value back, one a
# login could write, means Flex (or a script) derives it: another removal only takes the agent off voice again.
CAME_BACK = (
    "this contact_uri came back after the guard removed it, so it is not removed again (that would loop): "
    "fix where it comes from (the user's identity at the IdP, a provisioning script), or mark it intended"
)


def came_back(known: Known | None, actual: str | None) -> bool:
    """True when `actual` (as shown) is the value the guard already removed, and one a Flex login could write.

    A `sip:` value or a raw email never came from a login and never rang: removing it again takes nobody off voice.
    """
    if known is None or actual is None or (actual != known.removed and actual not in known.watched):
        return False
    return login_writes(actual)


def login_writes(value: str) -> bool:
    """True when a Flex login could write `value` (as shown): `client:` and an escaped identity."""
    try:
        return value in accepted_contact_uris(decode(value))
    except DecodeError:
        return False


WATCHED_MAX = 16  # earlier removed values kept per worker: far past any login and scripts taking turns


def still_watched(removed: str | None, watched: tuple[str, ...], removing: str | None) -> tuple[str, ...]:
    """The earlier removed values to keep watching when the guard removes `removing`: each one a login writes.

    A script's value removed between two of a login's would otherwise end the watch on the login's, and the guard
    would remove it at every login, taking the agent off voice each time.
    """
    kept = [value for value in watched if value not in (removed, removing)]
    if removed is not None and removed != removing and login_writes(removed):
        kept.append(removed)
    return tuple(kept[-WATCHED_MAX:])


def re_escaped(known: Known | None, actual: Any, recorded: Any) -> bool:
    """True when the value is the identity the guard knew, and the recorded identity is only that one re-escaped.

    Editing the attribute changes nothing the browser registers (that comes from the user's identity): the value
    Flex wrote rings, and removing it would take the agent off voice; the guard keeps trusting the form it knew,
    through a removal and the value Flex writes back. An identity recorded for the first time is no re-escape: it
    tells which form Flex registers, and alone decides.
    """
    if known is None or not known.identity or not isinstance(recorded, str) or not isinstance(actual, str):
        return False
    if not same_identity(known.identity, recorded):
        return False
    if recorded != known.identity and actual == SCHEME + known.identity:
        return True
    # The value that was ok, in the other form of the same identity (the attribute alone went back to the other)
    kept = not known.drifting and known.actual == shown(actual) and actual.startswith(SCHEME)
    return kept and same_identity(actual.removeprefix(SCHEME), recorded)


def wiped(known: Known) -> Verdict:
    """The mismatch of a worker whose update dropped what the guard knew of it (its email, its contact_uri)."""
    had = [(label, value) for label, value in (("email", known.email), ("contact_uri", known.actual)) if value]
    dropped, values = " and ".join(label for label, _ in had), " and ".join(f"{lb} {v}" for lb, v in had)
    detail = f"attributes wiped: the update dropped {dropped} (the worker had {values})" if had else ""
    after = f", after: {known.removal}" if known.removal else " (none is back since)"
    detail = detail or f"attributes wiped: the update dropped every agent attribute{after}"
    email = shown(known.email) if known.email else None
    return Verdict(Kind.MISMATCH, email, known.expected, None, Diagnosis.WIPED, shown(detail), known.basis)


def remembered(
    known: Known, email: str | None, actual: Any, recorded: Any, name: str, policy: Policy
) -> Verdict | None:
    """The verdict the history forces (wiped, identity rewritten, evidence edited to fit the value), or None."""
    email_shown = shown(known.email) if known.email else None
    if known.set_aside and isinstance(recorded, str) and same_identity(recorded, known.set_aside):
        recorded = None  # set aside (core/aside.py): no evidence, so neither a rewrite nor an edit
    # Without an email, a value removed is a removal (rules.py), and an agent stripped of every attribute a wipe
    if known.email and email is None and actual is None and recorded in ABSENT:
        return wiped(known)
    # Any other value is a rewrite, text or not (123, true, a list): Flex records its identity only as text.
    same = isinstance(recorded, str) and same_identity(recorded, known.identity or "")
    rewritten = recorded not in ABSENT and not same
    if policy is Policy.FLEX and known.identity and rewritten:  # the email policy never judges by the identity
        expected, basis = shown(SCHEME + known.identity), Basis.TWILIO_CONTACT_IDENTITY
        changed = f"{IDENTITY_ATTRIBUTE} changed from {known.identity} to {shown(recorded, 80)}"
        diagnosis = Diagnosis.IDENTITY_CHANGED
        # No value (removed by Twilio's fix, or dropped with the rewrite: the state cannot tell which): the worker
        # waits for Flex at the next login, broken and shown as such, and the identity the guard knew still counts.
        if actual is None:
            detail = f"no contact_uri yet; Flex writes it at the next login ({changed})"
            return Verdict(Kind.PENDING, email_shown, expected, None, diagnosis, shown(detail), basis)
        follows = "; contact_uri follows the new one" if actual == SCHEME + str(recorded) else ""
        detail = (
            f"{changed}{follows}: a Flex user's identity does not change on its own, and the browser still "
            "registers the old one"
        )
        actual_shown = None if actual is None else shown(actual)
        return Verdict(Kind.MISMATCH, email_shown, expected, actual_shown, diagnosis, shown(detail), basis)
    wrong = known.drifting and actual is not None and known.actual != known.expected  # a value that cannot ring
    # The name's value that took the place of the email's (swaps.left_email) fits the name: that drift lasts anyway
    wrong = wrong and not (known.diagnosis is Diagnosis.NOT_IDENTITY and known.basis is Basis.EMAIL)
    edits = _edits(known, email, name, recorded) if wrong else ""
    identity = recorded if recorded not in ABSENT else known.identity  # a dropped one still judges (restored)
    if edits and shown(actual) == known.actual and _fits(actual, email or known.email, identity, name, policy):
        detail = (
            f"contact_uri unchanged, but the evidence was edited to fit it: {edits}; a drift ends when the value is "
            "fixed or removed (if the new evidence is right, mark the value intended)"
        )
        diagnosis = Diagnosis.EVIDENCE_CHANGED
        return Verdict(Kind.MISMATCH, email_shown, known.expected, known.actual, diagnosis, shown(detail), known.basis)
    return None


def _fits(actual: Any, email: str | None, recorded: Any, name: str, policy: Policy) -> bool:
    """True when the edited evidence makes the unchanged wrong value look right: the drift would end on paper only."""
    evidence, _ = gather(email, recorded, name, policy)
    return isinstance(actual, str) and any(actual in item.accepted for item in evidence)


def restored(known: Known, email: str | None, recorded: Any) -> tuple[str | None, Any, str]:
    """The evidence to judge against when the update dropped some: the last known email and identity, and a note."""
    notes = []
    if email is None and known.email:
        email = known.email
        notes.append(f"the email attribute is gone; judged against the last known one ({known.email})")
    if recorded in ABSENT and known.identity:
        recorded = known.identity
        notes.append(f"{IDENTITY_ATTRIBUTE} is gone; judged against the last recorded one ({known.identity})")
    return email, recorded, "; ".join(notes)


def _edits(known: Known, email: str | None, name: str, recorded: Any) -> str:
    """Which evidence an update changed, from what to what (a display name with spaces is no evidence)."""
    names = tuple("" if any(char.isspace() for char in value) else value for value in (known.name, name))
    pairs = (("email", known.email, email), ("worker name", *names), (IDENTITY_ATTRIBUTE, known.identity, recorded))
    return "; ".join(
        f"{label} {_named(before, 'added', 'from')} {_named(after, 'removed', 'to')}"
        for label, before, after in pairs
        if (shown(before) if before not in ABSENT else None) != (shown(after) if after not in ABSENT else None)
    )


def _named(value: Any, absent: str, word: str) -> str:
    """How an edit names a value before or after it ("from x", "to y"), or its absence ("added", "removed")."""
    return absent if value in ABSENT else f"{word} {shown(value, 80)}"
