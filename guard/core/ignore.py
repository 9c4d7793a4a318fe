"""Deliberately custom contact_uris: IGNORE_WORKERS, INTENDED_CONTACT_URIS, and values an approver marked intended."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from fnmatch import fnmatchcase

from guard.core.sid import canonical_sid, is_sid
from guard.core.text import trimmed

# How a verdict names a configured rule that ignores a worker (an approver's mark is no setting: it is in the database)
IGNORE_RULE = "matches IGNORE_WORKERS rule"
VALUE_RULE = "deliberate value: matches INTENDED_CONTACT_URIS rule"
RULE_REASONS = (IGNORE_RULE, VALUE_RULE)


@dataclass(frozen=True)
class IgnoreRules:
    """Parsed IGNORE_WORKERS (exact worker SIDs, case-insensitive email globs), INTENDED_CONTACT_URIS, intended values.

    `value_globs` match the whole contact_uri (SIP and PSTN agents: `sip:*@pbx.example.com`, `+1*`).
    `intended` maps a worker SID to who marked which value intended, and when (Slack's "ignore" button):
    that value only; a different one later is judged again.
    """

    worker_sids: frozenset[str] = frozenset()
    email_globs: tuple[str, ...] = ()
    intended: Mapping[str, tuple[str, str | None]] = field(default_factory=dict)  # SID -> (who and when, value)
    value_globs: tuple[str, ...] = ()

    @classmethod
    def parse(cls, text: str) -> IgnoreRules:
        """Parse a comma-separated list such as `WK…,*@contractors.example.com`."""
        entries = [entry.strip() for entry in text.split(",") if entry.strip()]
        sids = frozenset(canonical_sid(e) for e in entries if is_sid(e, "WK"))
        globs = tuple(e.lower() for e in entries if not is_sid(e, "WK"))
        return cls(sids, globs)

    def match(self, worker_sid: str, email: str | None) -> str | None:
        """Return the rule that matches this worker, or None."""
        if worker_sid in self.worker_sids:
            return worker_sid
        if email is None:
            return None
        # A pasted space around the email counts with or without it, as for the verdict (evidence.py)
        emails = {email, trimmed(email)}
        return next((glob for glob in self.email_globs if any(matches(e, glob) for e in emails)), None)

    def reason(self, worker_sid: str, email: str | None, actual: str | None = None) -> str | None:
        """Why this worker (with this shown contact_uri) is ignored, as the verdict says it, or None."""
        marked = self.intended.get(worker_sid)
        if marked is not None and marked[1] is not None and marked[1] == actual:  # that value only, never "none"
            return f"value marked intended by {marked[0]}"
        deliberate = next((glob for glob in self.value_globs if actual is not None and matches(actual, glob)), None)
        if deliberate:
            return f"{VALUE_RULE} {deliberate!r}"
        rule = self.match(worker_sid, email)
        return f"{IGNORE_RULE} {rule!r}" if rule else None

    def with_intended(self, intended: Mapping[str, tuple[str, str | None]]) -> IgnoreRules:
        """These rules plus intended values (worker SID -> (who and when, the value))."""
        return replace(self, intended={**self.intended, **intended}) if intended else self

    def with_values(self, text: str) -> IgnoreRules:
        """These rules plus INTENDED_CONTACT_URIS: comma-separated globs matched against the whole contact_uri."""
        return replace(self, value_globs=tuple(glob.strip() for glob in text.split(",") if glob.strip()))


NO_RULES = IgnoreRules()
# Anyone's Flex value (an email's, a username's) and the raw-email drift: a deliberate value is none of these
_FLEX_VALUES = ("client:ann_2Eveal_40example_2Ecom", "client:annveal", "client:ann.veal@example.com")
_EMAILS = ("ann.veal@example.com", "b@x.org", "jos\u00e9@d\u00e9mo.fr")  # unlike people at unlike domains
# `;+1*`, `;*@pbx2…`, `;4430*`, `;sip:…`: a second value; a SIP or tel parameter (`;transport=tls`) starts with a letter
_JOINED = re.compile(r";\s*([^A-Za-z\s]|[A-Za-z][A-Za-z0-9+.-]*:)")


def matches(value: str, glob: str) -> bool:
    """Whether `value` matches `glob`: `*` and `?` are its only wildcards, and letter case does not count.

    Email domains and a SIP URI's scheme and host are case-insensitive; `[` is a literal (`sip:*@[2001:db8::1]`).
    """
    return fnmatchcase(value.casefold(), glob.casefold().replace("[", "[[]"))


def email_glob_problem(glob: str) -> str | None:
    """Why an IGNORE_WORKERS email glob cannot be what was meant (it matches every email), or None."""
    if all(matches(email, glob) for email in _EMAILS):
        return "matches every email, so the guard would watch no agent: name a domain (*@contractors.example.com)"
    return None


def value_glob_problem(glob: str) -> str | None:
    """Why an INTENDED_CONTACT_URIS glob cannot be what was meant, or None when it can."""
    if any(matches(value, glob) for value in _FLEX_VALUES):
        return "matches Flex values (client:…) or their drift, so the guard would not alert on them"
    if _JOINED.search(glob):  # it matches nothing, and the values it was meant for are alerted on, even removed
        return "joins two values with ';': separate them with commas"
    return None
