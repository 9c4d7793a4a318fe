"""A twilio_contact_identity a Flex login contradicted: set aside, so the login's own value is never removed.

After the guard removed a wrong value, Flex's login wrote exactly the value the guard expected from the email or
name, while the attribute named another identity (added or edited to fit the removed value). Flex registers the
login's identity; judging by the attribute would call the working value drift and remove it again.
"""

from __future__ import annotations

from typing import Any

from guard.core.contact_uri import same_identity
from guard.core.evidence import IDENTITY_ATTRIBUTE, Basis, Policy, gather, valid_identity
from guard.core.history import Known
from guard.core.text import shown
from guard.core.trusted import Trusted

ASIDE = "Flex's login wrote the value of the email or name after the guard removed the one it was edited to fit"


def set_aside(
    known: Known, email: str | None, recorded: Any, name: str, actual: Any, policy: Policy
) -> tuple[Any, str]:
    """The recorded identity to judge by, and a note when the one recorded is set aside (the last trusted instead).

    Set aside: a twilio_contact_identity a Flex login contradicted. After the guard removed a wrong value, the login
    wrote exactly the value the guard expected from the email or name, while the attribute named another identity
    (edited to fit the removed value): Flex registers the login's. Removing its value would take the agent off
    voice. The attribute stays set aside, dropped or re-escaped, until another identity is recorded (kept_aside).
    """
    if policy is not Policy.FLEX or not valid_identity(recorded):
        return recorded, ""
    note = f"{IDENTITY_ATTRIBUTE} {shown(recorded, 80)} set aside: {ASIDE}"
    if known.set_aside and same_identity(recorded, known.set_aside):
        return known.identity, note
    if known.actual is not None or known.removed is None or known.basis not in (Basis.EMAIL, Basis.WORKER_NAME):
        return recorded, ""  # not the first value after the guard's removal, or judged by a recorded identity then
    if known.identity and same_identity(recorded, known.identity):
        return recorded, ""
    evidence, _ = gather(email, None, name, policy)
    contradicted = any(item.expected == known.expected and actual in item.accepted for item in evidence)
    return (known.identity, note) if contradicted else (recorded, "")


def kept_aside(trusted: Trusted, recorded: Any, ok_otherwise: bool, policy: Policy) -> str | None:
    """The identity set aside after a verdict (set_aside): kept until another one is recorded.

    `ok_otherwise`: the verdict is `ok` by the email or name. A recorded identity alone decides, so such an `ok`
    beside one is set_aside at work.
    """
    if not valid_identity(recorded):  # dropped (or no identity at all): the one set aside stays so
        return trusted.set_aside
    if trusted.set_aside and same_identity(recorded, trusted.set_aside):
        return trusted.set_aside
    if policy is not Policy.FLEX or not ok_otherwise:
        return None
    return None if trusted.identity is not None and same_identity(recorded, trusted.identity) else recorded
