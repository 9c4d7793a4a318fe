"""Workers whose contact_uri is deliberately custom: IGNORE_WORKERS, and values an approver marked intended."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from fnmatch import fnmatchcase

from guard.core.sid import is_sid


@dataclass(frozen=True)
class IgnoreRules:
    """Parsed IGNORE_WORKERS (exact worker SIDs, case-insensitive email globs), plus intended values.

    `intended` maps a worker SID to who marked its value intended, and when (Slack's "ignore" button).
    """

    worker_sids: frozenset[str] = frozenset()
    email_globs: tuple[str, ...] = ()
    intended: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str) -> IgnoreRules:
        """Parse a comma-separated list such as `WK…,*@contractors.example.com`."""
        entries = [entry.strip() for entry in text.split(",") if entry.strip()]
        sids = frozenset(e for e in entries if is_sid(e, "WK"))
        globs = tuple(e.lower() for e in entries if not is_sid(e, "WK"))
        return cls(sids, globs)

    def match(self, worker_sid: str, email: str | None) -> str | None:
        """Return the rule that matches this worker, or None."""
        if worker_sid in self.worker_sids:
            return worker_sid
        if email is None:
            return None
        # Email domains are case-insensitive and IdPs vary the case, so globs compare lowercased.
        lowered = email.lower()
        return next((glob for glob in self.email_globs if fnmatchcase(lowered, glob)), None)

    def reason(self, worker_sid: str, email: str | None) -> str | None:
        """Why this worker is ignored, as the verdict says it, or None."""
        if worker_sid in self.intended:
            return f"value marked intended by {self.intended[worker_sid]}"
        rule = self.match(worker_sid, email)
        return f"matches IGNORE_WORKERS rule {rule!r}" if rule else None

    def with_intended(self, intended: Mapping[str, str]) -> IgnoreRules:
        """These rules plus intended values (worker SID -> who and when)."""
        return replace(self, intended={**self.intended, **intended}) if intended else self


NO_RULES = IgnoreRules()
