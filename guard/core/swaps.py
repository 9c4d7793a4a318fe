"""Which name or email the guard trusts for a worker, and one identity's value put in the place of another's.

Flex writes a value only where there is none, and renaming a worker changes nothing the browser registers: the
identity a value was ok against stays the one to judge by, through renames and swaps an update makes.
"""

from __future__ import annotations

from typing import Any

from guard.core.contact_uri import DecodeError, decode
from guard.core.diagnosis import Diagnosis
from guard.core.evidence import Basis, Evidence, Policy, claimed
from guard.core.history import Known
from guard.core.text import shown


def renamed(known: Known, name: str, actual: Any, policy: Policy) -> Evidence | None:
    """The name the guard trusts (one a value was judged ok against), when an update renamed the worker.

    Renaming a worker in TaskRouter changes nothing the browser registers: removing a value that matches the
    trusted name would take the agent off voice until the next login, for a value Flex would write again.
    """
    if policy is not Policy.FLEX or not known.name_matched or known.name == name:
        return None
    evidence = claimed(None, known.name)  # nothing when the known name is a display name
    return evidence[0] if evidence and isinstance(actual, str) and actual in evidence[0].accepted else None


def left_name(known: Known, matched: Evidence, actual: Any, policy: Policy) -> Evidence | None:
    """The trusted name, when the email's value took the place of one ok against it: the "normalised" drift.

    Flex writes a value only where there is none, and the browser still registers the name. So the email's value
    is drift where the guard saw it replace the name's (the next version), where the guard still expects the name's
    (this drift, wiped attributes), or where it is the value the guard removed, back. Anywhere else (written after
    no value, or after updates the guard missed) it may be Flex's own login: ok.
    """
    if matched.basis is not Basis.EMAIL or (name := trusted_name(known, policy)) is None:
        return None
    replaced = known.adjacent and known.actual is not None
    expecting = known.drifting and known.basis is Basis.WORKER_NAME
    back = known.removed is not None and shown(actual) == known.removed
    return name if (replaced or expecting or back) and actual not in name.accepted else None


def left_email(known: Known, matched: Evidence | None, actual: Any, policy: Policy) -> Evidence | None:
    """The email a value was ok against, when the next version put the name's value in its place.

    The mirror of `left_name`: Flex never swaps one value for another, and the browser still registers the email's
    identity. Where the guard saw the swap (the next version), or judges that drift's value again having missed no
    update (a re-check, an audit): after missed updates (a removal, then the login) it may be a login's own.
    """
    if policy is not Policy.FLEX or known.basis is not Basis.EMAIL or known.actual is None:
        return None
    if known.drifting:  # this rule's drift, its value judged again (renamed, the email edited): if no update was missed
        again = known.diagnosis is Diagnosis.NOT_IDENTITY and not known.skipped and shown(actual) == known.actual
        email = _evidence_of(known) if again else None
    else:  # the next version put the name's value where one ok against the email was
        named = matched is not None and matched.basis is Basis.WORKER_NAME
        email = claimed(known.email, "")[0] if named and known.adjacent and known.email else None
        email = email if email is not None and known.actual in email.accepted else None
    return email if email is not None and actual not in email.accepted else None


def _evidence_of(known: Known) -> Evidence | None:
    """The email evidence a drift's expected value was built from (the email may have changed since), else the email's.

    An expected value cut for display (over 1,024 characters) no longer decodes: the trusted email stands in.
    """
    try:
        return claimed(decode(known.expected or ""), "")[0]
    except (DecodeError, IndexError):
        return claimed(known.email, "")[0] if known.email else None


def trusted_name(known: Known, policy: Policy) -> Evidence | None:
    """The worker's name when a value was judged ok against it: its identity, which the next login writes again."""
    evidence = claimed(None, known.name) if policy is Policy.FLEX and known.name_matched else []
    return evidence[0] if evidence else None
