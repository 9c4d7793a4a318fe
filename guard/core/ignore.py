"""IGNORE_WORKERS: worker SIDs and email globs whose contact_uri is deliberately custom."""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase

from guard.core.sid import is_sid


@dataclass(frozen=True)
class IgnoreRules:
    """Parsed IGNORE_WORKERS: exact worker SIDs plus case-insensitive email globs."""

    worker_sids: frozenset[str] = frozenset()
    email_globs: tuple[str, ...] = ()

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


NO_RULES = IgnoreRules()
