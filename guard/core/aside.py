"""A twilio_contact_identity a Flex login contradicted: set aside, so the login's own value is never removed.

After a wrong value was removed (by the guard or by hand), Flex's login wrote exactly the value the guard expected
from the email or name, while the attribute named another identity (added or edited to fit the removed value). Flex
registers the login's identity; judging by the attribute would call the working value drift and remove it again.
"""

from __future__ import annotations

from typing import Any

from guard.core.contact_uri import SCHEME, same_identity
from guard.core.evidence import IDENTITY_ATTRIBUTE, Policy, gather, valid_identity
from guard.core.history import Known
from guard.core.text import shown
from guard.core.trusted import Trusted

ASIDE = "Flex's login wrote the value of the email or name after this identity's was removed"


def set_aside(
    known: Known, email: str | None, recorded: Any, name: str, actual: Any, policy: Policy
) -> tuple[Any, str]:
    """The recorded identity to judge by, and a note when the one recorded is set aside (the last trusted instead).

    Set aside: a twilio_contact_identity a Flex login contradicted. It names the value the guard removed, and the
    first value written since is the email's or name's, not its own: Flex registers the login's identity, and
    removing that value would take the agent off voice. It stays set aside, dropped or re-escaped, until another
    identity is recorded (kept_aside). Whether the removal's own update event came first does not matter.
    """
    if policy is not Policy.FLEX or not valid_identity(recorded):
        return recorded, ""
    note = f"{IDENTITY_ATTRIBUTE} {shown(recorded, 80)} set aside: {ASIDE}"
    instead = None if known.identity and same_identity(known.identity, recorded) else known.identity
    if known.set_aside and same_identity(recorded, known.set_aside):
        return instead, note
    removed = (known.removed, known.dropped, *known.watched)  # by the guard, by hand, or before the guard's last
    if known.actual is not None or not any(_names(recorded, value) for value in removed) or _names(recorded, actual):
        return recorded, ""  # not the first value after this identity's was removed, or its own value
    evidence, _ = gather(email, None, name, policy)
    contradicted = isinstance(actual, str) and any(actual in item.accepted for item in evidence)
    return (instead, note) if contradicted else (recorded, "")


def still_dropped(before: str | None, drifting: bool, actual: str | None, kept: str | None) -> str | None:
    """The wrong value an update removed (`before`, as stored, when it was `drifting`), kept while none is back.

    Removed by hand, as Twilio advises, rather than by the guard: the login after it may contradict the identity too.
    """
    if actual is not None:
        return None
    return before if drifting and before is not None else kept


def _names(identity: str, value: Any) -> bool:
    """True when `value` is `client:` and `identity` (in either escape form)."""
    return isinstance(value, str) and value.startswith(SCHEME) and same_identity(value.removeprefix(SCHEME), identity)


def kept_aside(trusted: Trusted, recorded: Any, ok_otherwise: bool, policy: Policy) -> str | None:
    """The identity set aside after a verdict (set_aside): kept until another one is recorded.

    `ok_otherwise`: the verdict is `ok` by the email or name. A recorded identity alone decides, so such an `ok`
    beside one is set_aside at work.
    """
    if not valid_identity(recorded):  # dropped (or no identity at all): the one set aside stays so
        return trusted.set_aside
    if trusted.set_aside and same_identity(recorded, trusted.set_aside):
        return trusted.set_aside
    return recorded if policy is Policy.FLEX and ok_otherwise else None
